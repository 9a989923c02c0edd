"""The parts a PlatformSpec is made of: the shared base model, the enums and the leaf models
(network, load balancer, logs, drift detection, budget, database, change control, secret
references, scaling). ``spec`` assembles them into ``ServiceSpec`` and ``PlatformSpec``.
"""

from __future__ import annotations

import ipaddress
from enum import Enum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)
from pydantic.alias_generators import to_camel

from payplat.model.limits import (
    CERT_ARN,
    CIDR_FORM,
    ENV_NAME,
    K8S_NAME,
    LOG_PREFIX,
    LOG_RETENTION_DAYS,
    MAX_K8S_NAME,
    MAX_LOG_PREFIX,
    PRIVATE_RANGES,
    S3_BUCKET,
    SECRET_KEYS,
    VPC_PREFIXES,
)


class _Model(BaseModel):
    """camelCase in manifests, snake_case in Python; unknown fields are an error."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )


class NatGateways(str, Enum):
    """``Single``: one NAT gateway for all private subnets (cheaper, one AZ of failure).
    ``PerAZ``: one per availability zone (highly available)."""

    SINGLE = "Single"
    PER_AZ = "PerAZ"


class DeletionPolicy(str, Enum):
    """What deleting the PaymentPlatform does to AWS."""

    DELETE = "Delete"
    RETAIN = "Retain"


class DriftMode(str, Enum):
    OFF = "Off"
    DETECT = "Detect"
    REMEDIATE = "Remediate"


class NetworkSpec(_Model):
    cidr: str = "10.0.0.0/16"
    """IPv4 CIDR of the VPC, a /16 to /24 network (immutable)."""
    availability_zones: Annotated[int, Field(ge=2, le=3)] = 2
    """How many availability zones to spread subnets over (2-3)."""
    nat_gateways: NatGateways = NatGateways.SINGLE
    """Single (one NAT gateway) or PerAZ (one per availability zone, highly available)."""
    flow_logs: bool = True
    """Send VPC flow logs to a KMS-encrypted CloudWatch log group."""

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            if not CIDR_FORM.fullmatch(value):  # ipaddress also takes "10.0.0.0/255.255.0.0"; AWS and the CRD do not
                raise ValueError(value)
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 network in CIDR form, e.g. 10.0.0.0/16") from None
        if not VPC_PREFIXES[0] <= net.prefixlen <= VPC_PREFIXES[1]:
            raise ValueError(
                f"prefix /{net.prefixlen} is not allowed (allowed /{VPC_PREFIXES[0]} to /{VPC_PREFIXES[1]})"
            )
        if not any(net.subnet_of(private) for private in PRIVATE_RANGES):
            raise ValueError(f"{value} is not a private range (use 10/8, 172.16/12 or 192.168/16)")
        return value


class SecretRef(_Model):
    name: str
    """Environment variable the container sees."""
    key: str
    """JSON key of the platform's database secret: one of username, password, host, port, dbname, engine."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _env_name(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if value not in SECRET_KEYS:
            raise ValueError(f"{value!r} is not a key of the database secret (allowed: {', '.join(SECRET_KEYS)})")
        return value


class ScalingSpec(_Model):
    min: Annotated[int, Field(ge=1, le=100)] = 2
    """Fewest tasks the autoscaler keeps."""
    max: Annotated[int, Field(ge=1, le=100)] = 6
    """Most tasks the autoscaler runs."""
    cpu_target: Annotated[int, Field(ge=10, le=95)] = 70
    """Average CPU utilisation (%) the autoscaler tracks."""
    memory_target: Annotated[int, Field(ge=10, le=95)] = 70
    """Average memory utilisation (%) the autoscaler tracks."""


class DatabaseSpec(_Model):
    username: str = "payments"
    """Database user stored in the secret."""
    host: str = ""
    """Database host stored in the secret (empty until a database exists)."""
    port: Annotated[int, Field(ge=1, le=65535)] = 5432
    """Database port stored in the secret."""
    dbname: str = "payments"
    """Database name stored in the secret."""
    engine: str = "postgres"
    """Database engine stored in the secret."""
    password_secret_ref: PasswordRef | None = None
    """Kubernetes Secret (in the platform's namespace) holding the password; when absent a
    password is generated once and kept encrypted in the Pulumi stack's config."""
    recovery_window_days: Annotated[int, Field(ge=7, le=30)] = 30
    """Days Secrets Manager keeps the secret recoverable after deletion (7-30)."""


class PasswordRef(_Model):
    name: str
    """Name of the Kubernetes Secret."""
    key: str = "password"
    """Key inside the Kubernetes Secret."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not K8S_NAME.fullmatch(value) or len(value) > MAX_K8S_NAME:
            raise ValueError(f"{value!r} is not a Kubernetes object name")
        return value


class AccessLogsSpec(_Model):
    """Where the load balancer writes its access logs: an existing bucket, because the
    bucket policy Elastic Load Balancing needs differs by region (an ELB account id in
    regions older than August 2022, a service principal in newer ones) and log archives
    are usually central; the README lists what the bucket must allow."""

    bucket: str
    """Existing S3 bucket in the platform's region, encrypted with SSE-S3 (ELB cannot write to SSE-KMS), whose policy lets Elastic Load Balancing write."""
    prefix: str = "payplat"
    """Key prefix inside the bucket; ELB appends AWSLogs/<account>/..., so the prefix must not contain AWSLogs."""

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not S3_BUCKET.fullmatch(value) or ".." in value:
            raise ValueError(f"{value!r} is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not LOG_PREFIX.fullmatch(value) or len(value) > MAX_LOG_PREFIX:
            raise ValueError(
                f"{value!r} is not a key prefix (segments of letters, digits, '_.-' joined by '/', at most {MAX_LOG_PREFIX} characters)"
            )
        if "AWSLogs" in value:
            raise ValueError(f"{value!r} contains AWSLogs, which Elastic Load Balancing adds itself")
        return value


class LoadBalancerSpec(_Model):
    certificate_arn: str | None = None
    """ACM certificate ARN: when given, HTTPS (TLS 1.3 policy) and an HTTP listener that only redirects to it."""
    deletion_protection: bool = True
    """Protect the load balancer from deletion; must be false when deletionPolicy is Delete."""
    access_logs: AccessLogsSpec | None = None
    """Write ALB access logs to an existing S3 bucket (recommended for production; off when absent)."""

    @field_validator("certificate_arn")
    @classmethod
    def _cert(cls, value: str | None) -> str | None:
        if value is not None and not CERT_ARN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<uuid>)"
            )
        return value


class LogsSpec(_Model):
    retention_days: int = 365
    """CloudWatch retention in days: one of the values CloudWatch allows."""

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a CloudWatch retention (allowed: {', '.join(map(str, LOG_RETENTION_DAYS))})"
            )
        return value


class DriftDetectionSpec(_Model):
    mode: DriftMode = DriftMode.DETECT
    """Off, Detect (refresh and preview, report in the Drifted condition) or Remediate (also run up)."""
    interval_minutes: Annotated[int, Field(ge=5, le=10080)] = 60
    """Minutes between drift checks (5 to 10080)."""


class Severity(str, Enum):
    """How bad a guardrail finding is (payplat.guardrails): critical blocks the apply;
    the others are reported."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for critical: sorting by rank lists the worst first."""
        return list(Severity).index(self)


class BudgetSpec(_Model):
    monthly_limit: Annotated[float, Field(ge=1, le=10_000_000)]
    """Monthly budget in USD; a plan whose cost estimate exceeds it is a finding."""
    severity: Severity = Severity.HIGH
    """Severity of the over-budget finding (critical blocks); an organisation policy's budgetSeverity overrides it."""


class ChangePolicy(str, Enum):
    """When a previewed change applies (``payplat.controller.changecontrol``): ``Automatic`` at once;
    ``Manual`` only after a person approves its plan hash; ``AutoAdditive`` creates and
    in-place updates at once, deletes and replacements after approval."""

    AUTOMATIC = "Automatic"
    MANUAL = "Manual"
    AUTO_ADDITIVE = "AutoAdditive"


class ProtectedKind(str, Enum):
    """Stateful resources whose deletion or replacement always waits for approval."""

    KMS_KEY = "kmsKey"
    DATABASE_SECRET = "databaseSecret"
    VPC = "vpc"
    LOAD_BALANCER = "loadBalancer"


#: Bounds of ``changeControl.historyLimit``: status stays small (etcd's 1.5 MiB object limit).
HISTORY_LIMITS = (1, 50)


class ChangeControlSpec(_Model):
    policy: ChangePolicy = ChangePolicy.AUTOMATIC
    """Automatic (apply every change), Manual (every change waits for approval) or AutoAdditive (creates and updates apply, deletes and replacements wait)."""
    allow_protected: list[ProtectedKind] = Field(default_factory=list, max_length=len(ProtectedKind))
    """Protected kinds (kmsKey, databaseSecret, vpc, loadBalancer) that may be deleted or replaced without approval; by default each waits whatever the policy."""
    refresh_before_update: bool = False
    """Refresh the stack from AWS before each preview, so the change is computed against what AWS really has."""
    history_limit: Annotated[int, Field(ge=HISTORY_LIMITS[0], le=HISTORY_LIMITS[1])] = 10
    """How many operations status.history keeps (1-50)."""

    @field_validator("allow_protected")
    @classmethod
    def _unique(cls, value: list[ProtectedKind]) -> list[ProtectedKind]:
        if len(set(value)) != len(value):
            raise ValueError("lists a kind twice")
        return value


def _env_name(value: str) -> str:
    if not ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return value
