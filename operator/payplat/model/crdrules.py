"""The CRD's CEL rules and per-field formats: what the API server checks before the operator
sees an object (cross-field rules, immutable fields, formats, ranges), derived from the
spec model so the two cannot disagree.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from pydantic import BaseModel

from payplat.guardrails.orgpolicy import PolicySpec
from payplat.model.limits import (
    AWS_LABEL,
    CERT_ARN,
    CREDENTIAL_NAME,
    ENV_NAME,
    FARGATE_MEMORY,
    IMAGE,
    IMAGE_DIGEST,
    IMAGE_TAG,
    K8S_NAME,
    LOG_PREFIX,
    LOG_RETENTION_DAYS,
    MAX_K8S_NAME,
    MAX_LOG_PREFIX,
    MAX_RESOURCE_NAME,
    MAX_SERVICE_NAME,
    MAX_SUFFIX,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    MAX_URL_PATH,
    PRIVATE_RANGES,
    REGION,
    RESERVED_SERVICE_NAMES,
    RESOURCE_NAME,
    ROLE_ARN,
    ROOT_USER,
    S3_BUCKET,
    SECRET_KEYS,
    URL_PATH,
    USER_ID,
    VPC_PREFIXES,
)
from payplat.model.parsing import _ranges
from payplat.model.parts import (
    AccessLogsSpec,
    ChangeControlSpec,
    DeletionPolicy,
    LoadBalancerSpec,
    LogsSpec,
    NetworkSpec,
    PasswordRef,
    ScalingSpec,
    SecretRef,
)
from payplat.model.spec import PlatformSpec, ServiceSpec

#: An IPv4 CIDR is at most "255.255.255.255/32"; the bound keeps CEL cost estimates small.
MAX_CIDR = len("255.255.255.255/32")


def _literal(value: Any) -> str:
    """A Python default as a CEL literal."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"no CEL literal for {value!r}")


def _default(model: type[BaseModel], field: str) -> Any:
    return model.model_fields[field].get_default(call_default_factory=True)


def _alias(model: type[BaseModel], field: str) -> str:
    return model.model_fields[field].alias or field


def _default_at(model: type[BaseModel], *path: str) -> Any:
    """The model's default for a nested field, e.g. ``ServiceSpec().scaling.min``."""
    head, *rest = path
    value = _default(model, head)
    for name in rest:
        value = getattr(value, name)
    return value


def _value(var: str, model: type[BaseModel], *path: str) -> str:
    """CEL for a field's value as the model will see it: the manifest's, else the default.

    ``_value("self", ServiceSpec, "scaling", "min")`` reads ``self.scaling.min``, falling
    back to ``ServiceSpec().scaling.min`` when ``scaling`` is absent and to
    ``ScalingSpec.min``'s default when only ``min`` is.
    """
    head, *rest = path
    attr = f"{var}.{_alias(model, head)}"
    if not rest:
        return f"(has({attr}) ? {attr} : {_literal(_default(model, head))})"
    inner_model = type(_default(model, head))
    return f"(has({attr}) ? {_value(attr, inner_model, *rest)} : {_literal(_default_at(model, *path))})"


def _rule(
    rule: str, message: str, *, field_path: str | None = None, message_expression: str | None = None
) -> dict[str, Any]:
    """One x-kubernetes-validations entry. ``message_expression`` (CEL returning a string)
    can name the offending key; ``message`` stays as the fallback the API server uses if
    that expression fails."""
    out: dict[str, Any] = {"rule": rule, "message": message}
    if message_expression:
        out["messageExpression"] = message_expression
    if field_path:
        out["fieldPath"] = field_path
    return out


def _every_key(condition: str, problem: str) -> dict[str, Any]:
    """A rule on a map's keys (``k``) whose message names the first key that breaks it."""
    return _rule(
        f"self.all(k, {condition})",
        f"a key {problem}",
        message_expression=f"'key ' + self.filter(k, !({condition}))[0] + {json.dumps(' ' + problem)}",
    )


def _cel_string(value: str) -> str:
    """A CEL string literal for a regex: raw, so backslashes reach RE2 unchanged."""
    assert "'" not in value, value
    return f"r'{value}'"


def _field_formats() -> dict[tuple[type[BaseModel], str], dict[str, Any]]:
    """What each field validator in spec.py checks, as schema keywords or CEL.

    Plain ``pattern`` where the API server's message (the regex) is clear enough; CEL
    where a person needs words (images, CIDRs, root users). ``tests/test_crd.py`` checks
    that every field validator has an entry here.
    """
    image = _cel_string(IMAGE.pattern)
    cidr = "cidr(self)"
    private = " || ".join(f"cidr('{net}').containsCIDR({cidr})" for net in PRIVATE_RANGES)
    low, high = VPC_PREFIXES
    return {
        (PlatformSpec, "environment_suffix"): {"pattern": AWS_LABEL.pattern, "maxLength": MAX_SUFFIX},
        (PlatformSpec, "region"): {"pattern": REGION.pattern},
        (PlatformSpec, "assume_role_arn"): {"pattern": ROLE_ARN.pattern},
        (PlatformSpec, "tags"): {
            "additionalProperties": {"maxLength": MAX_TAG_VALUE},
            "x-kubernetes-validations": [
                _every_key(
                    f"size(k) >= 1 && size(k) <= {MAX_TAG_KEY} && !k.matches(r'^(?i)aws:')",
                    f"must be 1-{MAX_TAG_KEY} characters and not start with 'aws:' (reserved by AWS)",
                ),
            ],
        },
        (NetworkSpec, "cidr"): {
            "maxLength": MAX_CIDR,
            "x-kubernetes-validations": [
                _rule(
                    f"isCIDR(self) && {cidr}.ip().family() == 4 && {cidr} == {cidr}.masked()",
                    "must be an IPv4 network in CIDR form with no host bits set, e.g. 10.0.0.0/16",
                ),
                _rule(
                    f"!isCIDR(self) || ({cidr}.prefixLength() >= {low} && {cidr}.prefixLength() <= {high})",
                    f"prefix length must be /{low} to /{high}",
                ),
                _rule(
                    f"!isCIDR(self) || {cidr}.ip().family() != 4 || {private}",
                    f"must be inside a private range ({', '.join(map(str, PRIVATE_RANGES))})",
                ),
            ],
        },
        # Unique names as a list-map: the API server checks it natively ("Duplicate value"),
        # where a CEL rule comparing every pair of unbounded names would be over budget.
        (ServiceSpec, "secrets"): {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        (SecretRef, "name"): {"pattern": ENV_NAME.pattern},
        (SecretRef, "key"): {"enum": list(SECRET_KEYS)},
        (ServiceSpec, "name"): {
            "pattern": AWS_LABEL.pattern,
            "maxLength": MAX_SERVICE_NAME,
            "x-kubernetes-validations": [
                _rule(
                    f"!(self in {json.dumps(list(RESERVED_SERVICE_NAMES))})",
                    f"is reserved for the platform's own resources (reserved: {', '.join(RESERVED_SERVICE_NAMES)})",
                ),
            ],
        },
        (ServiceSpec, "image"): {
            "x-kubernetes-validations": [
                _rule(
                    f"self.matches({image})",
                    "must be an image reference: [registry[:port]/]repository[:tag][@sha256:digest]",
                ),
                _rule(
                    f"!self.matches({image}) || !self.matches(r':latest(@{IMAGE_DIGEST})?$')",
                    "the tag 'latest' is not allowed: pin a version tag or a sha256 digest",
                ),
                _rule(
                    f"!self.matches({image}) || self.matches(r'(:{IMAGE_TAG}|@{IMAGE_DIGEST})$')",
                    "needs an explicit tag or sha256 digest (an implicit 'latest' is not allowed)",
                ),
            ],
        },
        (ServiceSpec, "cpu"): {"enum": list(FARGATE_MEMORY)},
        (ServiceSpec, "health_check_path"): {"pattern": URL_PATH.pattern, "maxLength": MAX_URL_PATH},
        (ServiceSpec, "user"): {
            "pattern": USER_ID.pattern,
            "x-kubernetes-validations": [
                _rule(f"!self.matches({_cel_string(ROOT_USER.pattern)})", "containers may not run as root (UID 0)"),
            ],
        },
        (ServiceSpec, "environment"): {
            "x-kubernetes-validations": [
                _every_key(
                    f"k.matches({_cel_string(ENV_NAME.pattern)})",
                    f"is not an environment variable name ({ENV_NAME.pattern})",
                ),
            ],
        },
        (PasswordRef, "name"): {"pattern": K8S_NAME.pattern, "maxLength": MAX_K8S_NAME},
        (LoadBalancerSpec, "certificate_arn"): {"pattern": CERT_ARN.pattern},
        (AccessLogsSpec, "bucket"): {
            "pattern": S3_BUCKET.pattern,
            "x-kubernetes-validations": [_rule("!self.contains('..')", "an S3 bucket name has no '..'")],
        },
        (AccessLogsSpec, "prefix"): {
            "pattern": LOG_PREFIX.pattern,
            "maxLength": MAX_LOG_PREFIX,
            "x-kubernetes-validations": [
                _rule("!self.contains('AWSLogs')", "must not contain AWSLogs, which Elastic Load Balancing adds itself")
            ],
        },
        (LogsSpec, "retention_days"): {"enum": list(LOG_RETENTION_DAYS)},
        # A set: the API server refuses a kind listed twice ("Duplicate value"), as the model does.
        (ChangeControlSpec, "allow_protected"): {"x-kubernetes-list-type": "set"},
    }


def _fargate_rules() -> list[dict[str, Any]]:
    """One rule per cpu size, so each message names exactly the memory sizes allowed.

    (A single rule with a ``messageExpression`` would need ``string(int)``, whose
    estimated cost the API server refuses.)
    """
    cpu = _value("self", ServiceSpec, "cpu")
    memory = _value("self", ServiceSpec, "memory")
    return [
        _rule(
            f"{cpu} != {size} || {memory} in [{', '.join(map(str, allowed))}]",
            f"with cpu {size}, memory must be {_ranges(allowed)}",
            field_path=".memory",
        )
        for size, allowed in FARGATE_MEMORY.items()
    ]


def _service_rules() -> list[dict[str, Any]]:
    low = _value("self", ServiceSpec, "scaling", "min")
    high = _value("self", ServiceSpec, "scaling", "max")
    desired = _value("self", ServiceSpec, "desired_count")
    secrets, environment = _alias(ServiceSpec, "secrets"), _alias(ServiceSpec, "environment")
    return [
        *_fargate_rules(),
        _rule(
            f"!({low} <= {high}) || ({low} <= {desired} && {desired} <= {high})",
            "desiredCount must be between scaling.min and scaling.max",
            field_path=".desiredCount",
        ),
        _rule(
            f"!has(self.{secrets}) || !has(self.{environment}) || "
            f"self.{secrets}.all(s, !(s.name in self.{environment}))",
            "a variable comes from one place: a secrets[].name is also set in environment",
            field_path=f".{secrets}",
        ),
    ]


def _scaling_rules() -> list[dict[str, Any]]:
    low, high = _value("self", ScalingSpec, "min"), _value("self", ScalingSpec, "max")
    return [_rule(f"{low} <= {high}", "scaling.min must not be greater than scaling.max", field_path=".min")]


def _unique_names(what: str) -> dict[str, Any]:
    # No reason=FieldValueDuplicate: the API server then prints "Duplicate value" and drops the message.
    # (A messageExpression naming the duplicate is over the API server's cost budget.)
    return _rule("self.all(x, self.exists_one(y, y.name == x.name))", f"{what} names must be unique")


def _spec_rules() -> list[dict[str, Any]]:
    policy = _value("self", PlatformSpec, "deletion_policy")
    protected = _value("self", PlatformSpec, "load_balancer", "deletion_protection")
    return [
        _rule(
            f"!({policy} == {_literal(DeletionPolicy.DELETE)} && {protected})",
            "must be false when spec.deletionPolicy is Delete (destroy would fail on the protected load balancer)",
            field_path=".loadBalancer.deletionProtection",
        )
    ]


def _name_rule() -> dict[str, Any]:
    """metadata.name must be a DNS label: the API server alone would take any DNS
    subdomain (dots, 253 characters), which ``payplat plan`` and the stack names refuse."""
    return _rule(
        f"size(self.metadata.name) <= {MAX_RESOURCE_NAME} && self.metadata.name.matches("
        f"{_cel_string(RESOURCE_NAME.pattern)})",
        f"metadata.name must be a DNS label (lowercase letters, digits and '-', at most {MAX_RESOURCE_NAME} "
        "characters): stack and AWS names are built from it",
    )


def _immutable_rules() -> list[dict[str, Any]]:
    """``self == oldSelf`` on the effective values, at the object's root.

    A rule on the field itself runs only when both old and new objects have the field, so
    adding ``region: eu-west-1`` to a platform that relied on the default would slip
    through; a rule on ``spec`` would miss an object created without a spec at all.
    """
    rules = []
    for name, path in (("spec.region", ("region",)), ("spec.network.cidr", ("network", "cidr"))):
        default = _literal(_default_at(PlatformSpec, *path))
        new = _value("self.spec", PlatformSpec, *path)
        old = _value("oldSelf.spec", PlatformSpec, *path)
        rules.append(
            _rule(
                f"(has(self.spec) ? {new} : {default}) == (has(oldSelf.spec) ? {old} : {default})",
                f"{name} is immutable: the platform's AWS resources cannot move; create a new PaymentPlatform instead",
                field_path="." + name,
            )
        )
    return rules


#: Rules on a model's object node, and on particular fields of it.
OBJECT_RULES = {ServiceSpec: _service_rules, ScalingSpec: _scaling_rules, PlatformSpec: _spec_rules}


def _field_rules() -> dict[tuple[type[BaseModel], str], list[dict[str, Any]]]:
    public = _value("s", ServiceSpec, "public")
    return {
        (PlatformSpec, "services"): [
            _unique_names("service"),
            _rule(
                f"self.exists(s, {public})", "at least one service must be public (it sits behind the load balancer)"
            ),
        ],
        (PolicySpec, "rules"): [_unique_names("rule")],
        (ServiceSpec, "environment"): [
            _every_key(
                f"!k.matches({_cel_string('(?i)' + CREDENTIAL_NAME.pattern)})",
                "looks like a credential; inject it through secrets (valueFrom the database secret) instead",
            ),
        ],
    }
