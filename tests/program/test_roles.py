"""Seed failure 10 (task execution role) and IAM hygiene."""

from __future__ import annotations

from payplat.model.spec import PlatformSpec
from payplat.program.plan import Plan, PlannedResource

from .queries import ROLE, ROLE_POLICY, SECRET, as_list, document, ecs_service, one, statements, task_definition

ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def _execution_role(plan: Plan) -> PlannedResource:
    """Followed from a task definition's executionRoleArn, not looked up by name."""
    first_service = next(iter(plan.outputs["services"]))
    arn = task_definition(plan, first_service).inputs["executionRoleArn"]
    return next(r for r in plan.of_type(ROLE) if arn.endswith(f":role{r.inputs['path']}{r.inputs['name']}"))


def test_execution_role_trusts_ecs_tasks_for_this_account_only(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    (statement,) = statements(_execution_role(plan), "assumeRolePolicy")
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_execution_role_has_the_managed_execution_policy_attached(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    role = _execution_role(plan)
    (attachment,) = [a for a in plan.of_type(ATTACHMENT) if a.inputs["role"] == role.inputs["name"]]
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


def test_execution_role_reads_only_the_platform_secret(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    role = _execution_role(plan)
    (policy,) = [p for p in plan.of_type(ROLE_POLICY) if p.inputs["role"] == role.id]
    by_action = {tuple(as_list(s["Action"])): as_list(s["Resource"]) for s in statements(policy)}
    secret_arn = one(plan, SECRET).id
    assert by_action == {
        ("secretsmanager:GetSecretValue",): [secret_arn],
        ("kms:Decrypt",): [plan.outputs["kmsKeyArn"]],
    }
    assert not secret_arn.endswith("::"), "IAM resources take the bare secret ARN"


def test_each_service_has_its_own_task_role_distinct_from_the_execution_role(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    execution_arn = task_definition(plan, spec.services[0].name).inputs["executionRoleArn"]
    task_roles = [task_definition(plan, s.name).inputs["taskRoleArn"] for s in spec.services]
    assert len(set(task_roles)) == len(spec.services)
    assert execution_arn not in task_roles
    assert {task_definition(plan, s.name).inputs["executionRoleArn"] for s in spec.services} == {execution_arn}


def test_service_waits_for_the_execution_role_grants(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    grants = {r.urn for r in plan.of_type(ATTACHMENT)} | {
        p.urn for p in plan.of_type(ROLE_POLICY) if p.inputs["name"] == "read-platform-secret"
    }
    for service in spec.services:
        assert grants <= set(ecs_service(plan, service.name).depends_on)


def test_roles_use_no_deprecated_inline_or_managed_policy_arguments(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    for role in plan.of_type(ROLE):
        assert not role.inputs.get("managedPolicyArns") and not role.inputs.get("inlinePolicies")


def test_no_iam_policy_grants_wildcard_actions(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    for policy in plan.of_type(ROLE_POLICY):
        for statement in statements(policy):
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{policy.name}: {action}"
            for resource in as_list(statement["Resource"]):
                assert resource != "*", f"{policy.name} is not scoped"


def test_every_trust_policy_names_one_service_principal(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    for role in plan.of_type(ROLE):
        principals = [s["Principal"] for s in document(role, "assumeRolePolicy")["Statement"]]
        assert all(set(p) == {"Service"} for p in principals), role.name


def test_every_aws_name_carries_the_prefix_the_operator_policy_scopes_on(case: tuple[PlatformSpec, Plan]) -> None:
    """the README's Install section scopes the operator's IAM policy to ``role/payplat/*`` and
    ``payplat-*`` clusters, load balancers and target groups: a name outside those
    patterns would be an AccessDenied on the first real deploy."""
    _, plan = case
    for role in plan.of_type(ROLE):
        assert role.inputs["path"] == "/payplat/" and role.inputs["name"].startswith("payplat-")
    for kind in (
        "aws:ecs/cluster:Cluster",
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:lb/targetGroup:TargetGroup",
        "aws:ec2/securityGroup:SecurityGroup",
    ):
        for resource in plan.of_type(kind):
            assert resource.inputs["name"].startswith("payplat-"), (kind, resource.inputs["name"])
