"""Seed failure 1 (secrets injected into ECS) and the secret's own hygiene."""

from __future__ import annotations

import json
from typing import Any

from payplat.model.identity import default_suffix
from payplat.model.limits import SECRET_KEYS
from payplat.model.spec import PlatformSpec
from payplat.program.build import make_program
from payplat.program.mocks import PlatformMocks
from payplat.program.plan import PLACEHOLDER_PASSWORD, Plan, plan_program

from .queries import KMS_KEY, SECRET, SECRET_VERSION, container, ecs_service, one


def test_task_definition_injects_secrets_through_value_from(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    secret_arn = one(plan, SECRET).id
    injected = [s for s in spec.services if s.secrets]
    assert injected, "the cases must exercise secrets"
    for service in injected:
        definition = container(plan, service.name)
        assert definition["secrets"] == [
            {"name": ref.name, "valueFrom": f"{secret_arn}:{ref.key}::"} for ref in service.secrets
        ]
        plain = {variable["name"] for variable in definition["environment"]}
        assert not plain & {ref.name for ref in service.secrets}


def test_value_from_names_the_full_secret_arn_with_its_random_suffix(default_plan: Plan) -> None:
    arn = one(default_plan, SECRET).id
    suffix = default_suffix("default", "payments")
    assert arn.startswith(f"arn:aws:secretsmanager:us-east-1:123456789012:secret:payplat/{suffix}/database-")
    assert len(arn.rsplit("-", 1)[1]) == 6
    assert container(default_plan, "payment-processor")["secrets"][0]["valueFrom"] == f"{arn}:username::"


def test_services_without_secrets_inject_none(default_plan: Plan) -> None:
    assert container(default_plan, "api-gateway")["secrets"] == []


def test_service_depends_on_secret_version(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    version = one(plan, SECRET_VERSION)
    for service in spec.services:
        assert version.urn in ecs_service(plan, service.name).depends_on


def test_secret_is_encrypted_with_the_platform_key_and_has_the_spec_recovery_window(
    case: tuple[PlatformSpec, Plan],
) -> None:
    spec, plan = case
    secret = one(plan, SECRET)
    assert secret.inputs["kmsKeyId"] == plan.outputs["kmsKeyArn"]
    assert plan.outputs["kmsKeyArn"].endswith(f":key/{one(plan, KMS_KEY).id}")
    assert secret.inputs["recoveryWindowInDays"] == spec.database.recovery_window_days


def test_secret_version_value_is_masked_in_the_plan(default_plan: Plan) -> None:
    version = one(default_plan, SECRET_VERSION)
    assert version.inputs["secretString"] == "[secret]"
    assert PLACEHOLDER_PASSWORD not in json.dumps(default_plan.to_json_dict())


def test_secret_document_carries_every_database_key_and_the_configured_password(default_spec: PlatformSpec) -> None:
    """The mocks see the real (unmasked) value; the plan never does."""
    seen: dict[str, Any] = {}

    class Recording(PlatformMocks):
        def new_resource(self, args):  # type: ignore[no-untyped-def]
            if args.typ == SECRET_VERSION:
                value = args.inputs["secretString"]
                # The mock monitor hands secrets over still wrapped in their marker.
                seen.update(json.loads(value["value"] if isinstance(value, dict) else value))
            return super().new_resource(args)

    plan_program(
        make_program(default_spec, namespace="default", name="payments"),
        region="us-east-1",
        stack="s",
        mocks=Recording(),
    )
    assert set(seen) == set(SECRET_KEYS)
    assert seen["password"] == PLACEHOLDER_PASSWORD
    assert seen["username"] == default_spec.database.username
    assert seen["port"] == default_spec.database.port
