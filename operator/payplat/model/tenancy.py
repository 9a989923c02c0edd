"""Who may use what, decided without I/O: the tenancy rules of a shared operator.

One operator serves many teams, one namespace each. A PaymentPlatform ``namespace/name``
may only

* assume an IAM role its namespace is allowed (``AllowList``: the platform
  administrators' ConfigMap in the operator's namespace, also the parameters of the
  ValidatingAdmissionPolicy, so admission and the operator judge from the same data);
* read a Kubernetes Secret that names it in the consent annotation
  (``SECRET_CONSENT_ANNOTATION``);
* use an environment suffix no other platform holds in the same account and region
  (``claim_key``; the claims themselves live in ``payplat.controller.claims``).

The session the operator opens in an assumed role carries the namespace three ways
(``AssumeRoleSession``), so the role's trust policy can pin the tenant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from payplat.model.identity import owner

__all__ = [
    "ALLOWLIST_CONFIGMAP",
    "DEFAULT_ACCOUNT",
    "MIN_PASSWORD_LENGTH",
    "SECRET_CONSENT_ANNOTATION",
    "SESSION_TAG_NAMESPACE",
    "SESSION_TAG_PLATFORM",
    "AllowList",
    "AssumeRoleSession",
    "account_of",
    "assume_role_session",
    "claim_key",
    "consenting_platforms",
    "password_problem",
    "role_refusal",
    "secret_refusal",
]

#: Default name of the ConfigMap (in the operator's namespace) mapping namespaces to roles.
ALLOWLIST_CONFIGMAP = "payplat-assume-roles"
#: On a Secret: comma-separated names of the PaymentPlatforms (same namespace) that may read it.
SECRET_CONSENT_ANNOTATION = "payplat.io/allowed-platforms"
SESSION_TAG_NAMESPACE = "payplat-namespace"
SESSION_TAG_PLATFORM = "payplat-platform"
#: The account a platform without ``assumeRoleArn`` deploys into: the operator's own.
DEFAULT_ACCOUNT = "operator"
#: Shorter database passwords are refused: they are weak, and a short value cannot be
#: scrubbed from text without mangling it (``redaction``), so it could leak.
MIN_PASSWORD_LENGTH = 12

_ACCOUNT = re.compile(r"^\d{12}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")
_SESSION_NAME = re.compile(r"[^\w+=,.@-]")
_MAX_SESSION_NAME = 64


def account_of(role_arn: str | None) -> str:
    """The 12-digit account of a role ARN; ``DEFAULT_ACCOUNT`` without one."""
    if not role_arn:
        return DEFAULT_ACCOUNT
    match = _ROLE_ARN.match(role_arn)
    return match.group(1) if match else DEFAULT_ACCOUNT


@dataclass(frozen=True)
class AllowList:
    """Namespace -> role ARNs or 12-digit account ids its platforms may assume.

    The ConfigMap's data keys are namespaces; each value lists entries separated by
    commas or whitespace. An account id allows every role in that account. Nothing is
    allowed by default: a namespace without a key may not assume any role.
    """

    entries: Mapping[str, frozenset[str]]

    @classmethod
    def from_data(cls, data: Mapping[str, str] | None) -> AllowList:
        return cls(
            {
                namespace: frozenset(re.split(r"[\s,]+", value.strip())) - {""}
                for namespace, value in (data or {}).items()
            }
        )

    def allows(self, namespace: str, role_arn: str) -> bool:
        allowed = self.entries.get(namespace, frozenset())
        return role_arn in allowed or account_of(role_arn) in {e for e in allowed if _ACCOUNT.match(e)}


def role_refusal(allowlist: AllowList, namespace: str, role_arn: str | None, *, source: str) -> str | None:
    """Why ``namespace`` may not assume ``role_arn`` (None: it may, or no role is asked)."""
    if role_arn is None or allowlist.allows(namespace, role_arn):
        return None
    allowed = sorted(allowlist.entries.get(namespace, ()))
    listed = ", ".join(allowed) if allowed else "nothing"
    return (
        f"spec.assumeRoleArn: {role_arn} is not allowed for namespace {namespace} (allowed: {listed}); "
        f"a platform administrator adds it to {source}"
    )


@dataclass(frozen=True)
class AssumeRoleSession:
    """What the operator's STS session in a tenant's role says about the tenant."""

    session_name: str
    external_id: str
    tags: dict[str, str]


def assume_role_session(namespace: str, name: str) -> AssumeRoleSession:
    """Session name ``payplat-<namespace>`` (informational: 64 characters at most),
    external id ``payplat:<namespace>`` and session tags with the namespace and platform,
    exact values a trust policy can require (``sts:ExternalId``,
    ``aws:RequestTag/payplat-namespace``)."""
    session = _SESSION_NAME.sub("-", f"payplat-{namespace}")[:_MAX_SESSION_NAME]
    return AssumeRoleSession(
        session_name=session,
        external_id=f"payplat:{namespace}",
        tags={SESSION_TAG_NAMESPACE: namespace, SESSION_TAG_PLATFORM: name},
    )


def claim_key(role_arn: str | None, region: str, suffix: str) -> str:
    """Where an environment suffix is unique: ``<account>.<region>.<suffix>`` (a valid
    ConfigMap key: digits, letters, '-' and '.')."""
    return f"{account_of(role_arn)}.{region}.{suffix}"


def consenting_platforms(annotations: Mapping[str, str] | None) -> frozenset[str]:
    """The platform names a Secret's consent annotation lists."""
    value = (annotations or {}).get(SECRET_CONSENT_ANNOTATION, "")
    return frozenset(re.split(r"[\s,]+", value.strip())) - {""}


def secret_refusal(namespace: str, platform: str, secret: str, annotations: Mapping[str, str] | None) -> str | None:
    """Why ``namespace/platform`` may not read Secret ``secret`` (None: it consented)."""
    if platform in consenting_platforms(annotations):
        return None
    return (
        f"Secret {namespace}/{secret} does not consent to {owner(namespace, platform)}: annotate it with "
        f'{SECRET_CONSENT_ANNOTATION}: "{platform}" (a comma-separated list of PaymentPlatform names) to let '
        "this platform read it"
    )


def password_problem(namespace: str, secret: str, key: str, value: str) -> str | None:
    """A database password the operator refuses to use (None: fine)."""
    if len(value) < MIN_PASSWORD_LENGTH:
        return (
            f"Secret {namespace}/{secret} key '{key}' holds a password of {len(value)} characters; at least "
            f"{MIN_PASSWORD_LENGTH} are required"
        )
    return None
