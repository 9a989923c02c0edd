"""Seed failure 5 (KMS key policy for CloudWatch Logs) and log group hygiene."""

from __future__ import annotations

from payplat.model.spec import PlatformSpec
from payplat.program.plan import Plan

from .queries import KMS_KEY, LOG_GROUP, one, statements


def test_kms_key_rotation_is_enabled(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    assert one(plan, KMS_KEY).inputs["enableKeyRotation"] is True


def test_kms_key_policy_lets_the_account_root_administer_the_key(case: tuple[PlatformSpec, Plan]) -> None:
    _, plan = case
    root = [s for s in statements(one(plan, KMS_KEY)) if s["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}]
    assert len(root) == 1 and root[0]["Action"] == "kms:*" and root[0]["Effect"] == "Allow"


def test_kms_key_policy_lets_cloudwatch_logs_of_this_account_and_region_use_it(case: tuple[PlatformSpec, Plan]) -> None:
    spec, plan = case
    (logs,) = [
        s for s in statements(one(plan, KMS_KEY)) if s["Principal"] == {"Service": f"logs.{spec.region}.amazonaws.com"}
    ]
    assert set(logs["Action"]) == {
        "kms:Encrypt*",
        "kms:Decrypt*",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:Describe*",
    }
    assert logs["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{spec.region}:123456789012:*"}
    }


def test_every_log_group_is_encrypted_with_the_platform_key_and_has_the_spec_retention(
    case: tuple[PlatformSpec, Plan],
) -> None:
    spec, plan = case
    groups = plan.of_type(LOG_GROUP)
    assert len(groups) == len(spec.services) + (1 if spec.network.flow_logs else 0)
    for group in groups:
        assert group.inputs["kmsKeyId"] == plan.outputs["kmsKeyArn"]
        assert group.inputs["retentionInDays"] == spec.logs.retention_days
