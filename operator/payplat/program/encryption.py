"""The platform's customer-managed KMS key: encrypts the database secret and every log group."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from payplat.program.context import Account, child
from payplat.program.naming import PlatformNames
from payplat.program.policies import kms_key_policy

__all__ = ["Encryption", "EncryptionArgs"]


@dataclass(frozen=True)
class EncryptionArgs:
    suffix: str
    account: Account


class Encryption(pulumi.ComponentResource):
    key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: EncryptionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payplat:index:Encryption", name, None, opts)
        account = args.account
        policy = pulumi.Output.all(account.partition, account.id).apply(
            lambda v: json.dumps(kms_key_policy(partition=v[0], account=v[1], region=account.region))
        )
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"payplat {args.suffix}: database secret and CloudWatch Logs",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=policy,
            opts=child(self),
        )
        self.alias = aws.kms.Alias(
            f"{name}-key-alias",
            name=PlatformNames(args.suffix).key_alias(),
            target_key_id=self.key.key_id,
            opts=child(self),
        )
        self.key_arn = self.key.arn
        self.register_outputs({"keyArn": self.key_arn, "alias": self.alias.name})
