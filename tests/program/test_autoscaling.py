"""Seed failure 9 (autoscaling)."""

from __future__ import annotations

from payplat.model.spec import PlatformSpec
from payplat.program.plan import Plan

from .queries import ecs_service, sibling

TARGET = "aws:appautoscaling/target:Target"
POLICY = "aws:appautoscaling/policy:Policy"


def test_each_service_has_a_scalable_target_on_its_desired_count(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        (target,) = sibling(plan, ecs_service(plan, service.name), TARGET)
        assert target.inputs["serviceNamespace"] == "ecs"
        assert target.inputs["scalableDimension"] == "ecs:service:DesiredCount"
        assert target.inputs["resourceId"] == f"service/{plan.outputs['clusterName']}/{service.name}"
        assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (
            service.scaling.min,
            service.scaling.max,
        )


def test_each_service_tracks_cpu_and_memory_with_target_tracking_policies(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        (target,) = sibling(plan, ecs_service(plan, service.name), TARGET)
        policies = sibling(plan, target, POLICY)
        tracked = {}
        for policy in policies:
            assert policy.inputs["policyType"] == "TargetTrackingScaling"
            assert policy.inputs["resourceId"] == target.inputs["resourceId"]
            configuration = policy.inputs["targetTrackingScalingPolicyConfiguration"]
            metric = configuration["predefinedMetricSpecification"]["predefinedMetricType"]
            tracked[metric] = configuration["targetValue"]
        assert tracked == {
            "ECSServiceAverageCPUUtilization": service.scaling.cpu_target,
            "ECSServiceAverageMemoryUtilization": service.scaling.memory_target,
        }
