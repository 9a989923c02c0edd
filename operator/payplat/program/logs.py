"""CloudWatch log groups: every one KMS-encrypted with the platform key and with a retention."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from payplat.program.context import child

__all__ = ["encrypted_log_group"]


def encrypted_log_group(
    resource_name: str, *, parent: pulumi.Resource, name: str, key_arn: pulumi.Input[str], retention_days: int
) -> aws.cloudwatch.LogGroup:
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=name,
        kms_key_id=key_arn,
        retention_in_days=retention_days,
        opts=child(parent),
    )
