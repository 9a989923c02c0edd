"""Operator settings: environment variables ``PAYPLAT_*``, overridden by ``payplat run`` flags.

One validated object instead of scattered ``os.environ`` reads, so a bad value stops the
operator at start-up with a message naming the variable, not minutes later in a handler.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "DURABLE_BACKENDS",
    "KMS_PROVIDERS",
    "SERVICE_ACCOUNT_NAMESPACE",
    "Settings",
    "default_state_dir",
    "in_cluster",
    "own_namespace",
]

_CONFIGMAP_NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"

#: Mounted into every pod with a service account token; its presence means "in-cluster".
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_NAMESPACE.exists()


def own_namespace() -> str | None:
    """The namespace this pod runs in (downward API env first), or None outside a cluster."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    if in_cluster():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    return None


def default_state_dir() -> Path:
    """XDG state home for local runs; the container image sets PAYPLAT_STATE_DIR=/var/lib/payplat."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "payplat"


#: Backends whose state outlives the operator pod (the Helm schema allows the same).
DURABLE_BACKENDS = ("s3", "gs", "azblob")
#: Secrets providers whose key outlives the operator pod.
KMS_PROVIDERS = ("awskms", "gcpkms", "azurekeyvault", "hashivault")


def _scheme(url: str | None) -> str | None:
    if not url or "://" not in url:
        return None
    scheme, _, rest = url.partition("://")
    return scheme if rest.strip("/") else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYPLAT_", extra="forbid", frozen=True, use_attribute_docstrings=True)

    engine: Literal["offline", "pulumi"] = "offline"
    """offline: the program under mocks with local state (no AWS); pulumi: the real Automation API."""
    state_dir: Path = Field(default_factory=default_state_dir)
    """Where engines keep local state (offline stacks, file:// backend, workspaces)."""
    backend_url: str | None = None
    """Pulumi backend, e.g. s3://bucket/prefix; required (durable: s3, gs, azblob) with engine pulumi."""
    secrets_provider: str | None = None
    """Pulumi secrets provider, e.g. awskms://alias/payplat; required (a KMS) with engine pulumi."""
    max_concurrent_operations: Annotated[int, Field(ge=1, le=64)] = 4
    """Engine operations running at once across all platforms."""
    resync_seconds: Annotated[int, Field(ge=10, le=86400)] = 600
    """How often watches are re-listed; an unchanged platform costs no engine call."""
    drift_tick_seconds: Annotated[float, Field(ge=1, le=3600)] = 60
    """How often each platform checks whether its drift check (spec interval) is due."""
    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Namespaces to watch (comma-separated); default: the operator's own in-cluster, else all."""
    cluster_wide: bool = False
    """Watch PaymentPlatforms in all namespaces."""
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9090
    """Prometheus /metrics port; 0 disables."""
    liveness_endpoint: str | None = "http://0.0.0.0:8080/healthz"
    """kopf liveness endpoint (host:port/path); empty disables."""
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    offline_step_delay: Annotated[float, Field(ge=0, le=60)] = 0.0
    """Seconds the offline engine pauses per resource, to make operations observable."""
    leader_election: bool = True
    """Only the Lease holder reconciles; other replicas wait as standbys."""
    lease_name: str = "payplat-operator"
    lease_namespace: str | None = None
    """Default: the operator's own namespace in-cluster, else 'default'."""
    lease_duration_seconds: Annotated[int, Field(ge=5, le=600)] = 15
    identity: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    """Lease holder identity: unique per process."""
    backoff_base_seconds: Annotated[float, Field(gt=0, le=600)] = 5
    """First retry delay of a transient failure; doubles each retry."""
    backoff_cap_seconds: Annotated[float, Field(gt=0, le=3600)] = 300
    """Longest retry delay."""
    assume_role_allowlist: Annotated[str, Field(pattern=_CONFIGMAP_NAME)] = "payplat-assume-roles"
    """ConfigMap (operator's namespace) mapping each namespace to the role ARNs or account ids its platforms may assume."""
    claims_configmap: Annotated[str, Field(pattern=_CONFIGMAP_NAME)] = "payplat-environment-claims"
    """ConfigMap (operator's namespace) holding which platform owns each environment suffix per account and region."""
    max_unrecognised_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    """Attempts an engine error no rule recognises gets before the platform stalls (the
    payplat.io/reconcile-request annotation asks for a new round)."""

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("liveness_endpoint", "backend_url", "secrets_provider", "lease_namespace", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _durable_state(self) -> Settings:
        """The real engine keeps every stack in its backend and encrypts its secrets with its
        secrets provider: on the pod's emptyDir with a generated passphrase, a restart would
        lose every stack (and with it any way to destroy what it created)."""
        if self.engine != "pulumi":
            return self
        problems = []
        if _scheme(self.backend_url) not in DURABLE_BACKENDS:
            problems.append(
                f"PAYPLAT_BACKEND_URL (flag --backend-url) must be a durable backend "
                f"({', '.join(f'{s}://' for s in DURABLE_BACKENDS)}), e.g. s3://payplat-state-<account>/pulumi; "
                f"got {self.backend_url or 'nothing'} (the default file:// state is lost when the pod restarts)"
            )
        if _scheme(self.secrets_provider) not in KMS_PROVIDERS:
            problems.append(
                f"PAYPLAT_SECRETS_PROVIDER (flag --secrets-provider) must be a KMS "
                f"({', '.join(f'{s}://' for s in KMS_PROVIDERS)}), e.g. awskms://alias/payplat-pulumi?region=<region>; "
                f"got {self.secrets_provider or 'nothing'} (a generated passphrase is lost with the pod)"
            )
        if problems:
            raise ValueError("engine pulumi refuses to start: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _scope(self) -> Settings:
        if self.cluster_wide and self.namespaces:
            raise ValueError("cluster_wide and namespaces are exclusive: pick one watch scope")
        if self.backoff_base_seconds > self.backoff_cap_seconds:
            raise ValueError("backoff_base_seconds must not exceed backoff_cap_seconds")
        return self

    def watch_scope(self) -> tuple[bool, list[str]]:
        """(clusterwide, namespaces) for kopf: explicit flags first, then the default."""
        if self.cluster_wide or self.namespaces:
            return self.cluster_wide, list(self.namespaces)
        namespace = own_namespace()
        return (False, [namespace]) if namespace else (True, [])

    def lease_namespace_in_force(self) -> str:
        return self.lease_namespace or own_namespace() or "default"
