"""Seed failures 2 (images) and 8 (Fargate networking), and the ECS production practice."""

from __future__ import annotations

import re

from payplat.model.limits import FARGATE_MEMORY
from payplat.model.spec import PlatformSpec
from payplat.program.plan import Plan

from .queries import LOG_GROUP, container, ecs_service, one, task_definition

PRIVATE_SUBNET_TIER = "private"


def test_every_container_runs_the_pinned_image_from_the_spec(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        image = container(plan, service.name)["image"]
        assert image == service.image
        assert re.search(r"(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$", image) and not image.endswith(":latest")


def test_task_definitions_are_fargate_awsvpc_with_a_valid_cpu_memory_pair(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        task = task_definition(plan, service.name).inputs
        assert task["networkMode"] == "awsvpc" and task["requiresCompatibilities"] == ["FARGATE"]
        assert isinstance(task["cpu"], str) and isinstance(task["memory"], str)
        assert int(task["memory"]) in FARGATE_MEMORY[int(task["cpu"])]
        assert (task["cpu"], task["memory"]) == (str(service.cpu), str(service.memory))


def test_services_run_on_fargate_in_private_subnets_without_public_ips(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        inputs = ecs_service(plan, service.name).inputs
        assert inputs["launchType"] == "FARGATE"
        network = inputs["networkConfiguration"]
        assert network["assignPublicIp"] is False
        assert network["subnets"] == plan.outputs["privateSubnetIds"]


def test_services_use_a_platform_version_that_supports_json_key_secrets(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        assert ecs_service(plan, service.name).inputs["platformVersion"] == "1.4.0"


def test_deployments_use_the_circuit_breaker_with_rollback(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        assert ecs_service(plan, service.name).inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}


def test_ecs_exec_is_off_and_tags_propagate_from_the_service(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        inputs = ecs_service(plan, service.name).inputs
        assert inputs["enableExecuteCommand"] is False
        assert inputs["propagateTags"] == "SERVICE"


def test_cluster_has_container_insights(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    cluster = one(plan, "aws:ecs/cluster:Cluster")
    assert {"name": "containerInsights", "value": "enabled"} in cluster.inputs["settings"]
    assert all(ecs_service(plan, s).inputs["cluster"] == plan.outputs["clusterArn"] for s in plan.outputs["services"])


def test_only_public_services_get_a_health_check_grace_period(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        grace = ecs_service(plan, service.name).inputs.get("healthCheckGracePeriodSeconds")
        assert (grace is not None and grace > 0) if service.public else grace is None


def test_service_ignores_desired_count_changes_so_the_autoscaler_owns_it(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        resource = ecs_service(plan, service.name)
        assert "desired_count" in resource.ignore_changes or "desiredCount" in resource.ignore_changes
        assert resource.inputs["desiredCount"] == service.desired_count


def test_containers_run_as_the_spec_user_never_root_and_unprivileged(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        definition = container(plan, service.name)
        assert definition["user"] == service.user and definition["user"].split(":")[0] != "0"
        assert definition["privileged"] is False


def test_read_only_root_filesystem_with_a_writable_tmp_volume(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        definition = container(plan, service.name)
        assert definition["readonlyRootFilesystem"] is service.read_only_root_filesystem is True
        (mount,) = definition["mountPoints"]
        assert mount == {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}
        assert {"name": "tmp"} in task_definition(plan, service.name).inputs["volumes"]


def test_container_health_check_when_the_spec_gives_one(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        definition = container(plan, service.name)
        if service.container_health_check:
            assert definition["healthCheck"]["command"] == service.container_health_check
        else:
            assert "healthCheck" not in definition


def test_containers_log_to_their_own_encrypted_log_group(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    names = {g.inputs["name"] for g in plan.of_type(LOG_GROUP)}
    for service in spec.services:
        options = container(plan, service.name)["logConfiguration"]["options"]
        assert container(plan, service.name)["logConfiguration"]["logDriver"] == "awslogs"
        assert options["awslogs-group"] in names
        assert options["awslogs-region"] == spec.region
        assert plan.outputs["services"][service.name]["logGroup"] == options["awslogs-group"]


def test_container_port_command_and_environment_come_from_the_spec(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    for service in spec.services:
        definition = container(plan, service.name)
        assert definition["portMappings"][0]["containerPort"] == service.port
        assert definition.get("command") == (service.command or None)
        assert {e["name"]: e["value"] for e in definition["environment"]} == service.environment
