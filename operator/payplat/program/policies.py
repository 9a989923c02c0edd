"""IAM and KMS policy documents, as plain functions of already-resolved ARNs.

The components call these inside ``Output.all(...).apply`` so the documents stay pure
data: tests read them directly, and the rules (no ``*`` actions, resources scoped to
the platform's own ARNs) are visible in one place.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXECUTION_MANAGED_POLICY",
    "assume_role_policy",
    "execution_secret_policy",
    "flow_logs_policy",
    "kms_key_policy",
    "partition_of",
]

Document = dict[str, Any]

#: Grants ECR image pulls and CloudWatch Logs writes only (no secrets, no KMS).
EXECUTION_MANAGED_POLICY = "arn:{partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


def partition_of(arn: str) -> str:
    """``aws``, ``aws-cn`` or ``aws-us-gov``: the second field of any ARN."""
    return arn.split(":")[1]


def kms_key_policy(*, partition: str, account: str, region: str) -> Document:
    """The account root may administer the key (this is what makes IAM grants such as the
    execution role's ``kms:Decrypt`` effective); CloudWatch Logs may use it for log groups
    of this account and region only. The log-group ARN is a wildcard on purpose: naming
    each group would make key -> log group -> key a dependency cycle."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnableRootAccountAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "AllowCloudWatchLogsEncryption",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:*"}
                },
            },
        ],
    }


def assume_role_policy(service: str, account: str) -> Document:
    """Trust ``service`` acting for this account only (guards against the confused deputy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


def execution_secret_policy(*, secret_arn: str, key_arn: str) -> Document:
    """What ECS needs to resolve ``valueFrom`` secrets before a task starts: read this one
    secret (the bare ARN: IAM never sees the ``:key::`` suffix) and decrypt with its CMK."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadPlatformSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [secret_arn],
            },
            {"Sid": "DecryptPlatformSecret", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [key_arn]},
        ],
    }


def flow_logs_policy(log_group_arn: str) -> Document:
    """VPC Flow Logs writes into its own log group, nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteFlowLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            }
        ],
    }
