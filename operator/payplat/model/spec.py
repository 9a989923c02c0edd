"""The PaymentPlatform spec: the single source of truth for defaults and validation.

Everything downstream (the Pulumi program, the plan, the CRD schema, the operator) reads
the typed ``PlatformSpec`` produced here, never the raw manifest. Validation happens in
two passes so every message can name the exact field:

1. pydantic checks each field on its own (types, ranges, formats);
2. ``_cross_field_problems`` checks the rules that span fields (Fargate cpu/memory pairs,
   min <= desired <= max, unique names, ...) with hand-written paths.

Either pass fails with ``SpecError``, which carries one line per problem in the form
``spec.services[1].memory: 300 is not valid with cpu 256 (allowed 512-2048)``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from enum import Enum
from itertools import pairwise
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from payplat.model.identity import default_suffix

__all__ = [
    "AWS_LABEL",
    "CREDENTIAL_NAME",
    "FARGATE_MEMORY",
    "LOG_RETENTION_DAYS",
    "PRIVATE_RANGES",
    "RESERVED_SERVICE_NAMES",
    "SECRET_KEYS",
    "BudgetSpec",
    "ChangeControlSpec",
    "ChangePolicy",
    "DatabaseSpec",
    "DeletionPolicy",
    "DriftMode",
    "PlatformSpec",
    "ProtectedKind",
    "ServiceSpec",
    "Severity",
    "SpecError",
    "default_services",
    "parse_spec",
]

#: A DNS label without ``--``: AWS names join a suffix and a service name with ``--``
#: (``payplat-<suffix>--<service>-task``), so neither part may contain it.
AWS_LABEL = re.compile(r"^[a-z](-?[a-z0-9])*$", re.ASCII)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$", re.ASCII)
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$", re.ASCII)
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$", re.ASCII)
#: An S3 bucket name (general purpose buckets: 3-63 lowercase letters, digits, dots, hyphens).
S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
#: An S3 key prefix: path segments of URL-safe characters, no leading or trailing slash.
LOG_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", re.ASCII)
MAX_LOG_PREFIX = 200
CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$", re.ASCII)
CIDR_FORM = re.compile(r"^[0-9.]+/[0-9]{1,2}$", re.ASCII)
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
#: A PaymentPlatform's metadata.name (and namespace): a DNS label, since stack and AWS names
#: are built from it. The CRD enforces it too, so kubectl and `payplat plan` agree.
RESOURCE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", re.ASCII)
MAX_RESOURCE_NAME = 63
URL_PATH = re.compile(r"^/[\x21-\x7e]*$", re.ASCII)  # RE2 (the API server's regex engine) caps repeats at 1000
USER_ID = re.compile(r"^\d+(:\d+)?$", re.ASCII)
ROOT_USER = re.compile(r"^0+(:|$)", re.ASCII)
CREDENTIAL_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY", re.IGNORECASE)
IMAGE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
IMAGE_DIGEST = r"sha256:[a-f0-9]{64}"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# [registry[:port]/]path[:tag][@sha256:digest]; a tag or a digest is required (checked
# below). A port only counts when a path follows it, so `redis:7` is repository + tag.
IMAGE = re.compile(
    rf"^(?P<repo>(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{IMAGE_TAG}))?"
    rf"(?:@(?P<digest>{IMAGE_DIGEST}))?$",
    re.ASCII,
)

# Every pattern is also the CRD's (RE2, the API server's engine): re.ASCII keeps \d and \w
# to ASCII as in RE2, and fullmatch keeps `$` from accepting a trailing newline, which
# Python's `$` does and RE2's does not.

#: Valid Fargate memory (MiB) for each cpu size (CPU units).
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
}

#: The only values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)

#: JSON keys of the platform's database secret; a service secret picks one of them.
SECRET_KEYS = ("username", "password", "host", "port", "dbname", "engine")

#: Longest environmentSuffix: AWS names such as the ALB's (32 chars) are built from it.
MAX_SUFFIX = 20
#: Longest service name: AWS names (target groups, 32 chars) are built from it and the suffix.
MAX_SERVICE_NAME = 24
#: Service names the platform's own resources use: a service called ``alb`` or ``peers``
#: would give its security group the logical name of the load balancer's or the peers'
#: group, ``flow`` its log group that of the VPC flow logs, and ``vpc-flow-logs`` its log
#: group ``/payplat/<suffix>/vpc-flow-logs``, the flow logs' own. Kept complete by
#: tests/program/test_ownership.py, which derives the list from the program.
RESERVED_SERVICE_NAMES = ("alb", "flow", "peers", "vpc-flow-logs")
MAX_K8S_NAME = 253
#: The ALB's limit for a health check path.
MAX_URL_PATH = 1024
#: Docker's limits: a 255-character name, a 128-character tag and a sha256 digest.
MAX_IMAGE = 255 + 1 + 128 + 1 + 71
#: "UID:GID" with two 32-bit ids.
MAX_USER = 21
#: AWS allows 50 tags per resource; the operator adds its own few.
MAX_TAGS = 40
#: Bounds on per-service lists and maps: far above real use, and they keep the API
#: server's CEL cost estimates for the CRD's rules within its budget.
MAX_ENVIRONMENT = 100
MAX_SECRETS = 20
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
#: The VPC's prefix length range, and the RFC 1918 ranges it must sit in.
VPC_PREFIXES = (16, 24)
PRIVATE_RANGES = tuple(ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


class SpecError(ValueError):
    """A manifest that cannot be deployed, with one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


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
            raise ValueError(f"prefix /{net.prefixlen} is not allowed (allowed /{VPC_PREFIXES[0]} to /{VPC_PREFIXES[1]})")
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


class ServiceSpec(_Model):
    name: str
    """Service name: a DNS label of at most 24 characters, unique in the platform."""
    image: Annotated[str, Field(max_length=MAX_IMAGE)]
    """Container image with an explicit tag or sha256 digest; never `latest`."""
    port: Annotated[int, Field(ge=1024, le=65535)] = 8080
    """Container port (1024-65535: containers run as a non-root user)."""
    cpu: int = 256
    """Fargate CPU units: 256, 512, 1024, 2048 or 4096."""
    memory: int = 512
    """Fargate memory (MiB), valid for the chosen cpu."""
    desired_count: Annotated[int, Field(ge=1, le=100)] = 2
    """Tasks to start with; the autoscaler owns the count afterwards."""
    public: bool = False
    """Whether the service sits behind the internet-facing load balancer."""
    health_check_path: str = "/"
    """HTTP path the load balancer probes (public services)."""
    command: list[str] | None = None
    """Overrides the image's CMD (arguments to its entrypoint)."""
    container_health_check: list[str] | None = None
    """ECS container health check command, e.g. ["CMD-SHELL", "wget -q -O- http://127.0.0.1:8080/ || exit 1"]; only for images that ship a probe tool."""
    user: Annotated[str, Field(max_length=MAX_USER)] = "65534"
    """Numeric UID (or UID:GID) the container runs as; never root."""
    read_only_root_filesystem: bool = True
    """Mount the root filesystem read-only (a writable /tmp volume is provided)."""
    environment: dict[str, str] = Field(default_factory=dict, max_length=MAX_ENVIRONMENT)
    """Plain environment variables; put credentials in secrets instead."""
    secrets: list[SecretRef] = Field(default_factory=list, max_length=MAX_SECRETS)
    """Environment variables injected from the database secret through ECS `valueFrom`."""
    scaling: ScalingSpec = Field(default_factory=ScalingSpec)
    """Target-tracking autoscaling."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not AWS_LABEL.fullmatch(value) or len(value) > MAX_SERVICE_NAME:
            raise ValueError(f"{value!r} is not a DNS label of 1-{MAX_SERVICE_NAME} lowercase letters, digits and "
                             "single '-' ('--' joins AWS names)")
        if value in RESERVED_SERVICE_NAMES:
            raise ValueError(f"{value!r} is reserved for the platform's own resources (reserved: "
                             f"{', '.join(RESERVED_SERVICE_NAMES)})")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        match = IMAGE.fullmatch(value)
        if not match:
            raise ValueError(f"{value!r} is not an image reference (repository:tag or repository@sha256:digest)")
        if match["tag"] == "latest":
            raise ValueError(f"{value!r} uses the tag 'latest' (pin a version tag or a sha256 digest)")
        if not match["tag"] and not match["digest"]:
            raise ValueError(f"{value!r} has no tag or digest (an implicit 'latest' is not allowed)")
        return value

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: int) -> int:
        if value not in FARGATE_MEMORY:
            raise ValueError(f"{value} is not a Fargate cpu size (allowed: {', '.join(map(str, FARGATE_MEMORY))})")
        return value

    @field_validator("health_check_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if len(value) > MAX_URL_PATH or not URL_PATH.fullmatch(value):
            raise ValueError(f"{value!r} is not an absolute URL path starting with '/'")
        return value

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if not USER_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a numeric UID or UID:GID")
        if ROOT_USER.match(value):
            raise ValueError("containers may not run as root (UID 0)")
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            _env_name(key)
        return value


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
            raise ValueError(f"{value!r} is not a key prefix (segments of letters, digits, '_.-' joined by '/', at most {MAX_LOG_PREFIX} characters)")
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
            raise ValueError(f"{value!r} is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<uuid>)")
        return value


class LogsSpec(_Model):
    retention_days: int = 365
    """CloudWatch retention in days: one of the values CloudWatch allows."""

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch retention (allowed: {', '.join(map(str, LOG_RETENTION_DAYS))})")
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


def default_services() -> list[ServiceSpec]:
    """The three services a payment platform starts with.

    Each image is pinned, serves HTTP on 8080 as a non-root user and stays up, so the
    ALB and ECS health checks pass on the first deploy (a bare busybox or alpine exits at
    once and would flap forever).
    """
    db_credentials = [SecretRef(name="DB_USERNAME", key="username"), SecretRef(name="DB_PASSWORD", key="password")]
    return [
        ServiceSpec(
            name="api-gateway",
            image="docker.io/nginxinc/nginx-unprivileged:1.27.5-alpine",
            port=8080,
            public=True,
            user="101",
            health_check_path="/",
            container_health_check=["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"],
        ),
        ServiceSpec(
            name="payment-processor",
            image="docker.io/hashicorp/http-echo:1.0.0",
            port=8080,
            command=["-listen=:8080", "-text=payment-processor ok"],
            secrets=db_credentials,
        ),
        ServiceSpec(
            name="fraud-detector",
            image="docker.io/traefik/whoami:v1.10.3",
            port=8080,
            command=["--port", "8080"],
            health_check_path="/health",
            secrets=db_credentials,
        ),
    ]


class PlatformSpec(_Model):
    """What a PaymentPlatform declares. Field order here is the order in the CRD."""

    environment_suffix: str | None = None
    """Suffix of every AWS name (a DNS label of at most 20 characters); defaults to the resource name."""
    region: str = "us-east-1"
    """AWS region (immutable)."""
    assume_role_arn: str | None = None
    """IAM role the operator assumes for this platform's AWS calls."""
    tags: dict[str, str] = Field(default_factory=dict, max_length=MAX_TAGS)
    """Tags on every AWS resource (on top of the operator's own)."""
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    """VPC layout."""
    services: list[ServiceSpec] = Field(default_factory=default_services, min_length=1, max_length=50)
    """Fargate services (1-50)."""
    database: DatabaseSpec = Field(default_factory=DatabaseSpec)
    """The Secrets Manager secret holding the database credentials."""
    load_balancer: LoadBalancerSpec = Field(default_factory=LoadBalancerSpec)
    """The internet-facing application load balancer."""
    logs: LogsSpec = Field(default_factory=LogsSpec)
    """CloudWatch Logs settings."""
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    """Delete destroys the AWS stack with the resource; Retain (default) leaves AWS untouched."""
    suspend: bool = False
    """Stop all engine work for this platform."""
    drift_detection: DriftDetectionSpec = Field(default_factory=DriftDetectionSpec)
    """Periodic drift checks."""
    budget: BudgetSpec | None = None
    """Monthly cost budget checked against the plan's cost estimate; none: no budget finding."""
    change_control: ChangeControlSpec = Field(default_factory=ChangeControlSpec)
    """Which changes wait for a person's approval of their exact plan, and the audit trail kept."""

    @field_validator("environment_suffix")
    @classmethod
    def _suffix(cls, value: str | None) -> str | None:
        if value is not None and (not AWS_LABEL.fullmatch(value) or len(value) > MAX_SUFFIX):
            raise ValueError(f"{value!r} is not a DNS label of 1-{MAX_SUFFIX} lowercase letters, digits and single "
                             "'-' ('--' joins AWS names)")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not REGION.fullmatch(value):
            raise ValueError(f"{value!r} is not an AWS region name, e.g. us-east-1")
        return value

    @field_validator("assume_role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not ROLE_ARN.fullmatch(value):
            raise ValueError(f"{value!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag in value.items():
            if not 1 <= len(key) <= MAX_TAG_KEY or key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r} must be 1-{MAX_TAG_KEY} characters and not start with 'aws:'")
            if len(tag) > MAX_TAG_VALUE:
                raise ValueError(f"tag {key!r} has a value longer than {MAX_TAG_VALUE} characters")
        return value

    def suffix(self, namespace: str, name: str) -> str:
        """The environment suffix in force: the spec's, or one derived from the owner
        ``namespace/name`` (``identity.default_suffix``, distinct per owner)."""
        return self.environment_suffix or default_suffix(namespace, name)

    def public_services(self) -> list[ServiceSpec]:
        return [service for service in self.services if service.public]


DatabaseSpec.model_rebuild()


def parse_spec(raw: dict[str, Any] | None, *, name: str = "platform") -> PlatformSpec:
    """Validate a manifest's ``spec`` and return it with every default filled in.

    ``name`` is the resource's metadata.name, used only to derive default names.
    Raises ``SpecError`` listing every problem; never anything else for bad input.
    """
    if raw is not None and not isinstance(raw, dict):
        raise SpecError([f"spec: must be an object, not {type(raw).__name__}"])
    try:
        document = json.dumps(_without_nulls(raw or {}), allow_nan=False)
    except (TypeError, ValueError):
        raise SpecError([("spec: holds a value JSON cannot carry (only strings, numbers, booleans, null, "
                          "objects and lists)")]) from None
    try:
        # Strict, from JSON: what the API server's schema does ("8080" is no port, "yes"
        # no boolean, true no count), so the CLI and the CRD accept the same specs.
        spec = PlatformSpec.model_validate_json(document, strict=True)
    except ValidationError as error:
        raise SpecError([_describe(item) for item in error.errors()]) from None
    problems = _cross_field_problems(spec)
    if problems:
        raise SpecError(problems)
    return spec


# --------------------------------------------------------------------------- helpers


def _without_nulls(value: Any) -> Any:
    """A field set to null is a field left out: the API server prunes such values before
    validating (fields are not nullable in the CRD), so the CLI must read them alike."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _env_name(value: str) -> str:
    if not ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return value


#: Longest problem message: values are quoted in messages, and a value can be megabytes.
MAX_MESSAGE = 300


def _path(loc: tuple[str | int, ...]) -> str:
    out = "spec"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _describe(error: Any) -> str:
    """One pydantic error as ``spec.<path>: <what is wrong and what is allowed>``."""
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "value_error":
        message = str(error["ctx"]["error"])
    elif kind == "extra_forbidden":
        message = "unknown field (see `kubectl explain paymentplatform.spec`)"
    elif kind == "enum":
        message = f"{error['input']!r} is not allowed (allowed: {error['ctx']['expected']})"
    elif kind == "missing":
        message = "required"
    else:
        message = f"{error['msg']} (got {error['input']!r})" if "input" in error else error["msg"]
    if any(part == "environment" and index + 1 < len(loc) and _looks_secret(str(loc[index + 1]))
           for index, part in enumerate(loc)):
        message = f"{error['msg']} (value hidden: the variable's name looks like a credential)"
    if len(message) > MAX_MESSAGE:  # a 5 MB value is named, not echoed
        message = message[: MAX_MESSAGE - 3] + "..."
    return f"{_path(loc)}: {message}"


def _cross_field_problems(spec: PlatformSpec) -> list[str]:
    """Rules that span fields, each reported at the field a person would change."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, service in enumerate(spec.services):
        at = f"spec.services[{index}]"
        if service.name in seen:
            problems.append(f"{at}.name: {service.name!r} is already used by spec.services[{seen[service.name]}] (names must be unique)")
        seen.setdefault(service.name, index)
        allowed = FARGATE_MEMORY.get(service.cpu)
        if allowed and service.memory not in allowed:
            problems.append(
                f"{at}.memory: {service.memory} is not valid with cpu {service.cpu} "
                f"(allowed {_ranges(allowed)})"
            )
        scaling = service.scaling
        if scaling.min > scaling.max:
            problems.append(f"{at}.scaling.min: {scaling.min} is greater than scaling.max {scaling.max}")
        elif not scaling.min <= service.desired_count <= scaling.max:
            problems.append(
                f"{at}.desiredCount: {service.desired_count} is outside scaling "
                f"min {scaling.min} .. max {scaling.max}"
            )
        secret_names: set[str] = set()
        for s_index, secret in enumerate(service.secrets):
            if secret.name in secret_names:
                problems.append(f"{at}.secrets[{s_index}].name: {secret.name!r} is injected twice")
            secret_names.add(secret.name)
            if secret.name in service.environment:
                problems.append(
                    f"{at}.secrets[{s_index}].name: {secret.name!r} is also set in environment "
                    "(a variable comes from one place)"
                )
        for key in service.environment:
            if _looks_secret(key):
                problems.append(
                    f"{at}.environment.{key}: looks like a credential; inject it through "
                    "secrets (valueFrom the database secret) instead of a plain value"
                )
    if spec.services and not spec.public_services():
        problems.append("spec.services: at least one service must be public (it sits behind the load balancer)")
    if spec.deletion_policy is DeletionPolicy.DELETE and spec.load_balancer.deletion_protection:
        problems.append(
            "spec.loadBalancer.deletionProtection: must be false when spec.deletionPolicy is Delete "
            "(destroy would fail on the protected load balancer)"
        )
    return problems


def _looks_secret(name: str) -> bool:
    return bool(CREDENTIAL_NAME.search(name))


def _ranges(values: tuple[int, ...]) -> str:
    """(1024, 2048, 3072, 4096) -> '1024-4096 in steps of 1024'; others listed in full."""
    if {b - a for a, b in pairwise(values)} == {1024}:
        return f"{values[0]}-{values[-1]} in steps of 1024"
    return f"{values[0]}-{values[-1]}: {', '.join(map(str, values))}"
