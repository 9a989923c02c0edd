"""Built-in rules for the workloads: how the platform's containers and services run.

Images pinned, root filesystems read-only, containers non-root and unprivileged, no ECS
Exec, Container Insights on, autoscaling by target tracking with the service leaving
``desiredCount`` to it, and every payplat component registering its outputs (the
program's own shape, checked on the plan). Kept apart because these rules read task
definitions, services and clusters.
"""

from __future__ import annotations

import re

from payplat.guardrails.findings import Severity
from payplat.guardrails.rulebook import CLUSTER, SCALING_POLICY, SERVICE, PlanView, Problems, RuleSet, containers

PACK = RuleSet()


@PACK.rule("pinned-image", Severity.CRITICAL, "Every container image is pinned by tag or digest, never latest")
def _pinned_image(view: PlanView) -> Problems:
    for task, index, container in containers(view):
        image = str(container.get("image") or "")
        last = image.rsplit("/", 1)[-1]
        if not image or ("@sha256:" not in image and (":" not in last or last.endswith(":latest"))):
            yield (
                task,
                f"containerDefinitions[{index}].image",
                f"image {image!r} is not pinned",
                "use repo:tag (not latest) or repo@sha256:<digest>",
            )


@PACK.rule("readonly-root-filesystem", Severity.MEDIUM, "Containers have a read-only root filesystem", "CKV_AWS_336")
def _readonly_root(view: PlanView) -> Problems:
    for task, index, container in containers(view):
        if container.get("readonlyRootFilesystem") is not True:
            yield (
                task,
                f"containerDefinitions[{index}].readonlyRootFilesystem",
                "the root filesystem is writable",
                "set spec.services[].readOnlyRootFilesystem: true (a writable /tmp is always mounted)",
            )


@PACK.rule("non-root-unprivileged", Severity.HIGH, "Containers run as a non-root user, unprivileged")
def _non_root(view: PlanView) -> Problems:
    for task, index, container in containers(view):
        user = str(container.get("user") or "")
        if not user or re.match(r"^(0+|root)(:|$)", user):
            yield (
                task,
                f"containerDefinitions[{index}].user",
                f"runs as root ({user or 'image default'})",
                "set spec.services[].user to a non-zero UID",
            )
        if container.get("privileged"):
            yield task, f"containerDefinitions[{index}].privileged", "a privileged container", "remove privileged"


@PACK.rule("ecs-exec-off", Severity.MEDIUM, "ECS Exec is off (no shell into payment workloads)")
def _exec_off(view: PlanView) -> Problems:
    for service in view.of(SERVICE):
        if service.inputs.get("enableExecuteCommand"):
            yield service, "enableExecuteCommand", "ECS Exec is on", "set enable_execute_command=False"


@PACK.rule("ecs-container-insights", Severity.LOW, "ECS clusters have Container Insights", "CKV_AWS_65")
def _insights(view: PlanView) -> Problems:
    for cluster in view.of(CLUSTER):
        settings = {s.get("name"): s.get("value") for s in cluster.inputs.get("settings") or []}
        if settings.get("containerInsights") not in ("enabled", "enhanced"):
            yield cluster, "settings", "Container Insights is off", "enable containerInsights"


@PACK.rule(
    "scaling-target-tracking", Severity.MEDIUM, "Autoscaling tracks targets and the service leaves desiredCount to it"
)
def _scaling(view: PlanView) -> Problems:
    for policy in view.of(SCALING_POLICY):
        if policy.inputs.get("policyType") != "TargetTrackingScaling":
            yield (
                policy,
                "policyType",
                "not a target tracking policy (the default is StepScaling)",
                "set policy_type='TargetTrackingScaling'",
            )
    if view.of(SCALING_POLICY):
        for service in view.of(SERVICE):
            if "desiredCount" not in (getattr(service, "ignore_changes", ()) or ()) and "desired_count" not in (
                getattr(service, "ignore_changes", ()) or ()
            ):
                yield (
                    service,
                    "ignoreChanges",
                    "every update would reset the autoscaler's desiredCount",
                    "add ignore_changes=['desired_count'] to the service",
                )


@PACK.rule("component-outputs", Severity.MEDIUM, "Every payplat component registers its outputs")
def _component_outputs(view: PlanView) -> Problems:
    for resource in view.resources:
        if (
            not resource.custom
            and resource.type.startswith("payplat:")
            and getattr(resource, "registered_outputs", None) is None
        ):
            yield (
                resource,
                "registerOutputs",
                "the component never called register_outputs",
                "end the component's constructor with self.register_outputs({...})",
            )
