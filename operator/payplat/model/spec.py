"""The PaymentPlatform spec: the single source of truth for defaults and validation.

Everything downstream (the Pulumi program, the plan, the CRD schema, the operator) reads
the typed ``PlatformSpec`` produced here, never the raw manifest. Validation happens in
two passes so every message can name the exact field:

1. pydantic checks each field on its own (types, ranges, formats);
2. ``parsing._cross_field_problems`` checks the rules that span fields (Fargate cpu/memory pairs,
   min <= desired <= max, unique names, ...) with hand-written paths.

Either pass fails with ``parsing.SpecError``, which carries one line per problem in the form
``spec.services[1].memory: 300 is not valid with cpu 256 (allowed 512-2048)``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    field_validator,
)

from payplat.model.identity import default_suffix
from payplat.model.limits import (
    AWS_LABEL,
    FARGATE_MEMORY,
    IMAGE,
    MAX_ENVIRONMENT,
    MAX_IMAGE,
    MAX_SECRETS,
    MAX_SERVICE_NAME,
    MAX_SUFFIX,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    MAX_TAGS,
    MAX_URL_PATH,
    MAX_USER,
    REGION,
    RESERVED_SERVICE_NAMES,
    ROLE_ARN,
    ROOT_USER,
    URL_PATH,
    USER_ID,
)
from payplat.model.parts import (
    BudgetSpec,
    ChangeControlSpec,
    DatabaseSpec,
    DeletionPolicy,
    DriftDetectionSpec,
    LoadBalancerSpec,
    LogsSpec,
    NetworkSpec,
    ScalingSpec,
    SecretRef,
    _env_name,
    _Model,
)

__all__ = [
    "PlatformSpec",
    "ServiceSpec",
    "default_services",
]


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
            raise ValueError(
                f"{value!r} is not a DNS label of 1-{MAX_SERVICE_NAME} lowercase letters, digits and "
                "single '-' ('--' joins AWS names)"
            )
        if value in RESERVED_SERVICE_NAMES:
            raise ValueError(
                f"{value!r} is reserved for the platform's own resources (reserved: "
                f"{', '.join(RESERVED_SERVICE_NAMES)})"
            )
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
            raise ValueError(
                f"{value!r} is not a DNS label of 1-{MAX_SUFFIX} lowercase letters, digits and single "
                "'-' ('--' joins AWS names)"
            )
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


# --------------------------------------------------------------------------- helpers


def _path(loc: tuple[str | int, ...]) -> str:
    out = "spec"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
