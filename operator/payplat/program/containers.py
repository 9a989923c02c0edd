"""The ECS container definition of one service, as pure data.

``container_definitions`` is a JSON string whose keys go to the ECS API verbatim, so
they are camelCase. Building it from resolved strings here (the service component calls
this inside an ``apply``) keeps the rules testable without Pulumi: secrets only through
``valueFrom`` with the ``<secret ARN>:<json key>::`` form, a read-only root filesystem
with a writable /tmp, a non-root user, logs to the service's encrypted log group.
"""

from __future__ import annotations

from typing import Any

from payplat.model.spec import ServiceSpec

__all__ = ["TMP_VOLUME", "container_definition", "secret_value_from"]

#: Scratch space for images that write temp files despite the read-only root filesystem.
TMP_VOLUME = "tmp"


def secret_value_from(secret_arn: str, key: str) -> str:
    """One JSON key of a secret: ``<full ARN>:<key>::`` (version stage and id left empty,
    i.e. AWSCURRENT). The trailing colons are required."""
    return f"{secret_arn}:{key}::"


def container_definition(service: ServiceSpec, *, secret_arn: str, log_group: str, region: str) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "name": service.name,
        "image": service.image,
        "essential": True,
        "user": service.user,
        "privileged": False,
        "readonlyRootFilesystem": service.read_only_root_filesystem,
        "portMappings": [{"containerPort": service.port, "protocol": "tcp", "name": "http"}],
        "environment": [{"name": k, "value": v} for k, v in sorted(service.environment.items())],
        "secrets": [{"name": s.name, "valueFrom": secret_value_from(secret_arn, s.key)} for s in service.secrets],
        "mountPoints": [{"sourceVolume": TMP_VOLUME, "containerPath": "/tmp", "readOnly": False}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": service.name,
            },
        },
    }
    if service.command:
        definition["command"] = list(service.command)
    if service.container_health_check:
        definition["healthCheck"] = {
            "command": list(service.container_health_check),
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 30,
        }
    return definition
