"""Built-in rules for IAM: what the platform's roles may do.

The execution role reaches only the platform's own secret and key, no policy allows a
wildcard action, and a task never runs with its execution role's permissions. Kept
apart because these rules read policy documents, not resource settings.
"""

from __future__ import annotations

from payplat.guardrails.findings import Severity
from payplat.guardrails.rulebook import KEY, ROLE_POLICY, SECRET, TASK, PlanView, Problems, RuleSet, listed, statements

PACK = RuleSet()


@PACK.rule("execution-secret-scope", Severity.CRITICAL, "Secret access is scoped to the platform's own secret and key")
def _execution_secret_scope(view: PlanView) -> Problems:
    secrets = view.ids(SECRET)
    keys = view.ids(KEY)
    for policy in view.of(ROLE_POLICY):
        for index, statement in statements(policy):
            actions = [str(a) for a in listed(statement.get("Action"))]
            resources = [str(r) for r in listed(statement.get("Resource"))]
            if any(a.lower().startswith("secretsmanager:") for a in actions) and not set(resources) <= secrets:
                yield (
                    policy,
                    f"policy.Statement[{index}].Resource",
                    "secret access reaches beyond the platform's secret (or names a ':key::' reference)",
                    "list only the platform secret's bare ARN",
                )
            if "kms:Decrypt" in actions and not {r.rsplit("/", 1)[-1] for r in resources} <= keys:
                yield (
                    policy,
                    f"policy.Statement[{index}].Resource",
                    "kms:Decrypt reaches beyond the platform's key",
                    "list only the platform key's ARN",
                )


@PACK.rule("iam-no-wildcard-actions", Severity.HIGH, "IAM policies name their actions", "CKV_AWS_63")
def _iam_wildcards(view: PlanView) -> Problems:
    for policy in view.of(ROLE_POLICY):
        for index, statement in statements(policy):
            if statement.get("Effect", "Allow") == "Allow" and any(
                str(a) == "*" or str(a).endswith(":*") for a in listed(statement.get("Action"))
            ):
                yield policy, f"policy.Statement[{index}].Action", "a wildcard action", "list the actions needed"


@PACK.rule("separate-task-roles", Severity.HIGH, "Task and execution roles are separate", "CKV_AWS_249")
def _separate_roles(view: PlanView) -> Problems:
    for task in view.of(TASK):
        if task.inputs.get("taskRoleArn") and task.inputs.get("taskRoleArn") == task.inputs.get("executionRoleArn"):
            yield (
                task,
                "taskRoleArn",
                "the task runs with its execution role's permissions",
                "give each service its own task role",
            )
