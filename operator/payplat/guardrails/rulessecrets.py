"""Built-in rules for secrets, keys and logs: what keeps a payment platform's credentials
and records confidential and auditable.

Credentials never as plain environment (by name or by value), secrets reached only as
``valueFrom <secret ARN>:<key>::`` of the platform's own secret, services starting after
the secret has a value; log groups and secrets encrypted with the platform's KMS key,
which rotates and which CloudWatch Logs may use; logs kept long enough for an audit. Kept
apart because these rules share the credential patterns and the key lookups.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from payplat.guardrails.findings import Resource, Severity
from payplat.guardrails.rulebook import (
    KEY,
    LOG_GROUP,
    SECRET,
    SECRET_VERSION,
    SERVICE,
    PlanView,
    Problems,
    RuleSet,
    containers,
    listed,
    statements,
)
from payplat.model.limits import CREDENTIAL_NAME

#: Values that are credentials whatever the variable is called. Every repetition is
#: bounded: an environment value is user input (up to the manifest's 1 MiB), and an
#: unbounded run tried from each start position is quadratic (a 300 kB value of letters
#: took 14 s per review). Where only existence matters the run is exactly its minimum.
CREDENTIAL_VALUE = re.compile(
    r"(?:A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA)[A-Z0-9]{16}"  # AWS access key ids
    r"|-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----"
    r"|[a-z][a-z0-9+.-]{0,31}://[^/\s:@]{1,256}:[^/\s@]{1,256}@"  # a URL with user:password@
    r"|\b(?:sk|rk)_live_[0-9A-Za-z]{10}"  # Stripe live secret / restricted keys
    r"|\bgh[pousr]_[0-9A-Za-z]{30}"  # GitHub tokens
    r"|\bxox[abpr]-[0-9A-Za-z-]{10}"  # Slack tokens
    r"|\beyJ[0-9A-Za-z_-]{8,512}\.eyJ[0-9A-Za-z_-]{8,8192}\.[0-9A-Za-z_-]{8}"  # JWTs
)
#: ``<secret ARN incl. the 6-character suffix>:<json key>::`` (version stage and id empty).
SECRET_REFERENCE = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}:[^:]+::$")
MIN_RETENTION_DAYS = 365

PACK = RuleSet()


def _without_platform_key(view: PlanView, type_: str) -> Iterator[Resource]:
    """Resources of ``type_`` whose ``kmsKeyId`` (ARN or id) is not one of the platform's keys."""
    keys = view.ids(KEY)
    for resource in view.of(type_):
        if str(resource.inputs.get("kmsKeyId") or "").rsplit("/", 1)[-1] not in keys:
            yield resource


@PACK.rule("plain-credentials", Severity.CRITICAL, "No credential in a container's plain environment")
def _plain_credentials(view: PlanView) -> Problems:
    for task, index, container in containers(view):
        for position, variable in enumerate(container.get("environment") or []):
            name, value = str(variable.get("name", "")), str(variable.get("value", ""))
            where = f"containerDefinitions[{index}].environment[{position}]"
            if CREDENTIAL_NAME.search(name):
                yield (
                    task,
                    f"{where}.name",
                    f"{name} looks like a credential and is a plain environment value",
                    "inject it from the database secret (spec.services[].secrets, valueFrom) instead",
                )
            elif CREDENTIAL_VALUE.search(value):
                yield (
                    task,
                    f"{where}.value",
                    f"the value of {name} looks like a credential (key, token or user:password URL)",
                    "move the credential to Secrets Manager and reference it with valueFrom",
                )


@PACK.rule("secret-reference", Severity.CRITICAL, "Secrets reach containers as valueFrom <secret ARN>:<key>::")
def _secret_reference(view: PlanView) -> Problems:
    platform_secrets = view.ids(SECRET)
    for task, index, container in containers(view):
        for position, secret in enumerate(container.get("secrets") or []):
            value = str(secret.get("valueFrom", ""))
            where = f"containerDefinitions[{index}].secrets[{position}].valueFrom"
            if not SECRET_REFERENCE.match(value):
                yield (
                    task,
                    where,
                    f"{value!r} is not '<secret ARN>:<json key>::' (ECS refuses the task)",
                    "reference the full secret ARN with the JSON key and two trailing colons",
                )
            elif value.rsplit(":", 3)[0] not in platform_secrets:
                yield (
                    task,
                    where,
                    "the secret is not the platform's own database secret",
                    "reference only the platform's secret (spec.services[].secrets)",
                )


@PACK.rule("secret-version-first", Severity.HIGH, "Services that read the secret start after its first version")
def _secret_version_first(view: PlanView) -> Problems:
    versions = {r.urn for r in view.of(SECRET_VERSION)}
    with_secrets = {str(t.inputs.get("family")) for t, _, c in containers(view) if c.get("secrets")}
    for service in view.of(SERVICE):
        family = str(service.inputs.get("taskDefinition", "")).rsplit("/", 1)[-1].rsplit(":", 1)[0]
        if family in with_secrets and not versions & set(getattr(service, "depends_on", []) or []):
            yield (
                service,
                "dependsOn",
                "the service may start tasks before the secret has a value",
                "make the service depend on the SecretVersion",
            )


@PACK.rule("log-group-encrypted", Severity.HIGH, "Every log group is encrypted with the platform's key", "CKV_AWS_158")
def _log_group_encrypted(view: PlanView) -> Problems:
    for group in _without_platform_key(view, LOG_GROUP):
        yield (
            group,
            "kmsKeyId",
            "the log group is not encrypted with the platform's KMS key",
            "set kms_key_id to the platform key's ARN",
        )


@PACK.rule("kms-serves-logs", Severity.HIGH, "The key policy lets CloudWatch Logs of the region use the key")
def _kms_serves_logs(view: PlanView) -> Problems:
    for key in view.of(KEY):
        services = {
            str(p)
            for _, s in statements(key)
            for p in listed((s.get("Principal") or {}).get("Service") if isinstance(s.get("Principal"), dict) else None)
        }
        if not any(re.fullmatch(r"logs\.[a-z0-9-]+\.amazonaws\.com", s) for s in services) and view.of(LOG_GROUP):
            yield (
                key,
                "policy",
                "no statement allows logs.<region>.amazonaws.com: encrypted log groups fail",
                "add a statement for the logs service principal conditioned on the log group ARN",
            )


PACK.must_be_true(
    "kms-rotation",
    Severity.HIGH,
    "KMS keys rotate",
    "CKV_AWS_7",
    KEY,
    "enableKeyRotation",
    "key rotation is off",
    "set enable_key_rotation=True",
)


@PACK.rule("secret-cmk", Severity.HIGH, "Secrets are encrypted with the platform's customer-managed key", "CKV_AWS_149")
def _secret_cmk(view: PlanView) -> Problems:
    for secret in _without_platform_key(view, SECRET):
        yield secret, "kmsKeyId", "the secret uses the AWS-managed key", "set kms_key_id to the platform key"


@PACK.rule("log-retention", Severity.LOW, "Log groups keep logs for at least a year", "CKV_AWS_338")
def _retention(view: PlanView) -> Problems:
    for group in view.of(LOG_GROUP):
        days = group.inputs.get("retentionInDays")
        if not days:
            yield (
                group,
                "retentionInDays",
                "logs are kept forever, unbudgeted (CKV_AWS_66)",
                "set spec.logs.retentionDays",
            )
        elif int(days) < MIN_RETENTION_DAYS:
            yield (
                group,
                "retentionInDays",
                f"{days} days is less than the year audits ask for",
                f"set spec.logs.retentionDays to {MIN_RETENTION_DAYS} or more",
            )
