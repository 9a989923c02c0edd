"""The task execution role shared by a platform's services.

ECS (not the application) uses it to pull images, write logs and resolve ``valueFrom``
secrets before the container starts. The managed policy covers ECR and Logs; the inline
policy adds exactly one secret and one key. Each service has its own task role instead
(see ``service.py``), so application code never holds these rights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from payplat.program.context import Account, child
from payplat.program.naming import IAM_PATH, PlatformNames
from payplat.program.policies import EXECUTION_MANAGED_POLICY, assume_role_policy, execution_secret_policy

__all__ = ["ECS_TASKS", "ExecutionRole", "ExecutionRoleArgs", "ecs_task_trust"]

ECS_TASKS = "ecs-tasks.amazonaws.com"


@dataclass(frozen=True)
class ExecutionRoleArgs:
    suffix: str
    account: Account
    secret_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]


def ecs_task_trust(account: Account) -> pulumi.Output[str]:
    return account.id.apply(lambda account_id: json.dumps(assume_role_policy(ECS_TASKS, account_id)))


class ExecutionRole(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    #: Resources a service must wait for: a task started before them cannot read its secrets.
    grants: list[pulumi.Resource]

    def __init__(self, name: str, args: ExecutionRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payplat:index:ExecutionRole", name, None, opts)
        self.role = aws.iam.Role(
            f"{name}-execution-role",
            name=PlatformNames(args.suffix).execution_role(),
            path=IAM_PATH,
            description="ECS task execution: image pulls, log writes, the platform's database secret",
            assume_role_policy=ecs_task_trust(args.account),
            opts=child(self),
        )
        managed = aws.iam.RolePolicyAttachment(
            f"{name}-execution-managed",
            role=self.role.name,
            policy_arn=args.account.partition.apply(
                lambda partition: EXECUTION_MANAGED_POLICY.format(partition=partition)
            ),
            opts=child(self),
        )
        secret_access = aws.iam.RolePolicy(
            f"{name}-execution-secret",
            role=self.role.id,
            name="read-platform-secret",
            policy=pulumi.Output.all(args.secret_arn, args.key_arn).apply(
                lambda v: json.dumps(execution_secret_policy(secret_arn=v[0], key_arn=v[1]))
            ),
            opts=child(self),
        )
        self.grants = [managed, secret_access]
        self.role_arn = self.role.arn
        self.register_outputs({"roleArn": self.role_arn})
