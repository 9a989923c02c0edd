"""Change control's pure parts: the plan hash, protected kinds, the approve-or-wait
decision, the approver from managedFields, and what gets written (plan ConfigMap,
history), each tested directly."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from payplat.controller.changecontrol import (
    APPROVE_ANNOTATION,
    approver_of,
    cost_delta,
    decide,
    findings_delta,
    pending_change,
    plan_hash,
    protected_kind,
)
from payplat.controller.changerecords import (
    MAX_PLAN_BYTES,
    Audited,
    AwaitingApproval,
    history_entry,
    plan_config_map,
    plans_to_delete,
)
from payplat.controller.conditions import condition
from payplat.controller.status import next_status
from payplat.engines.base import Changes, OperationResult, Preview, ResourceChange
from payplat.engines.checkpoint import plan_steps
from payplat.engines.forcenew import replace_keys
from payplat.model.parsing import SpecError, parse_spec
from payplat.model.parts import ChangeControlSpec, ChangePolicy, ProtectedKind

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
STACK = "urn:pulumi:ns_shop::payplat::"
VPC = ResourceChange("replace", STACK + "aws:ec2/vpc:Vpc::shop-vpc", "aws:ec2/vpc:Vpc", ("cidrBlock",), ("cidrBlock",))
SERVICE = ResourceChange("create", STACK + "aws:ecs/service:Service::shop-api", "aws:ecs/service:Service")
RETAG = ResourceChange("update", STACK + "aws:ecs/cluster:Cluster::shop-cluster", "aws:ecs/cluster:Cluster", ("tags",))
GONE = ResourceChange("delete", STACK + "aws:ecs/service:Service::shop-old", "aws:ecs/service:Service")
SECRET = ResourceChange(
    "delete", STACK + "aws:secretsmanager/secret:Secret::shop-db", "aws:secretsmanager/secret:Secret"
)


def preview(*steps: ResourceChange) -> Preview:
    ops = [step.op for step in steps]
    return Preview(
        Changes(**{op: ops.count(op) for op in ("create", "update", "replace", "delete")}, same=7),
        tuple(steps),
        NOW,
        NOW,
    )


def change(*steps: ResourceChange, generation: int = 2):
    return pending_change(preview(*steps), owner="ns/shop", generation=generation)


def control(policy: str = "Automatic", allow: tuple[str, ...] = ()) -> ChangeControlSpec:
    return ChangeControlSpec(policy=ChangePolicy(policy), allow_protected=[ProtectedKind(kind) for kind in allow])


# --------------------------------------------------------------------------- the hash


def test_the_plan_hash_is_16_hex_and_stable() -> None:
    first, again = change(VPC, SERVICE), change(VPC, SERVICE)
    assert re.fullmatch(r"[0-9a-f]{16}", first.plan_hash)
    assert first.plan_hash == again.plan_hash


@pytest.mark.parametrize(
    "other",
    [
        lambda: change(VPC, SERVICE, generation=3),  # a newer spec
        lambda: pending_change(preview(VPC, SERVICE), owner="ns/other", generation=2),  # another platform
        lambda: change(VPC),  # one step fewer
        lambda: change(VPC, GONE),  # another op
        lambda: change(ResourceChange("replace", VPC.urn, VPC.type, VPC.diffs, ("instanceTenancy",)), SERVICE),
    ],
)
def test_the_plan_hash_changes_with_anything_it_covers(other) -> None:
    assert other().plan_hash != change(VPC, SERVICE).plan_hash


def test_the_hash_covers_exactly_the_change_not_the_deltas_shown_beside_it() -> None:
    shown = pending_change(
        preview(VPC), owner="ns/shop", generation=2, cost={"after": "1.00"}, findings={"added": ["x@y"], "removed": []}
    )
    assert shown.plan_hash == change(VPC).plan_hash
    assert plan_hash(preview(VPC).steps, change(VPC).counts, owner="ns/shop", generation=2) == change(VPC).plan_hash


# --------------------------------------------------------------------------- protected kinds


def test_protected_kinds_are_replacements_and_deletions_of_the_four_types() -> None:
    assert protected_kind(VPC) is ProtectedKind.VPC
    assert protected_kind(SECRET) is ProtectedKind.DATABASE_SECRET
    assert protected_kind(ResourceChange("update", VPC.urn, VPC.type, ("tags",))) is None  # in place
    assert protected_kind(GONE) is None
    summary = change(VPC, SECRET)
    assert summary.protected == (
        {"kind": "vpc", "name": "shop-vpc", "op": "replace"},
        {"kind": "databaseSecret", "name": "shop-db", "op": "delete"},
    )
    assert summary.status()["replacedOrDeleted"][0] == {
        "op": "replace",
        "name": "shop-vpc",
        "type": VPC.type,
        "reason": ["cidrBlock"],
        "diffs": ["cidrBlock"],
    }


def test_the_offline_engine_and_the_standin_share_one_force_new_table() -> None:
    from payplat_dev.standin.provider import diff

    old = {"cidrBlock": "10.0.0.0/16", "tags": {"a": "1"}}
    new = {"cidrBlock": "10.1.0.0/16", "tags": {"a": "2"}}
    (step,) = plan_steps(
        [{"urn": "u", "type": "aws:ec2/vpc:Vpc", "inputs": new}],
        [{"urn": "u", "type": "aws:ec2/vpc:Vpc", "inputs": old}],
    )
    assert step.op == "replace" and step.keys == ("cidrBlock",)
    assert diff("aws:ec2/vpc:Vpc", old, new)[1] == list(step.keys) == replace_keys("aws:ec2/vpc:Vpc", step.diffs)
    (retag,) = plan_steps(
        [{"urn": "u", "type": "aws:ec2/vpc:Vpc", "inputs": {**old, "tags": {"a": "2"}}}],
        [{"urn": "u", "type": "aws:ec2/vpc:Vpc", "inputs": old}],
    )
    assert retag.op == "update" and retag.keys == ()


# --------------------------------------------------------------------------- the decision


@pytest.mark.parametrize(
    ("policy", "allow", "steps", "applies"),
    [
        ("Automatic", (), (SERVICE, RETAG, GONE), True),
        ("Automatic", (), (VPC,), False),  # protected waits whatever the policy
        ("Automatic", ("vpc",), (VPC,), True),
        ("Automatic", ("vpc",), (VPC, SECRET), False),  # only the kinds listed
        ("Manual", (), (RETAG,), False),
        ("Manual", (), (), True),  # nothing to approve
        ("AutoAdditive", (), (SERVICE, RETAG), True),
        ("AutoAdditive", (), (SERVICE, GONE), False),
        ("AutoAdditive", ("vpc",), (VPC,), False),  # a replacement waits under AutoAdditive
    ],
)
def test_what_applies_at_once(
    policy: str, allow: tuple[str, ...], steps: tuple[ResourceChange, ...], applies: bool
) -> None:
    decision = decide(control(policy, allow), change(*steps), None)
    assert decision.apply is applies and not decision.approved
    if not applies:
        pending = change(*steps)
        assert f"{APPROVE_ANNOTATION}={pending.plan_hash}" in decision.message and decision.reasons


def test_only_the_exact_hash_approves() -> None:
    pending = change(VPC, SERVICE)
    wrong = decide(control("Manual"), pending, "0123456789abcdef")
    assert (
        not wrong.apply and "'0123456789abcdef' does not match the pending plan " + pending.plan_hash in wrong.message
    )
    stale = decide(control("Manual"), pending, change(VPC, SERVICE, generation=1).plan_hash)
    assert not stale.apply and "does not match" in stale.message
    right = decide(control("Manual"), pending, pending.plan_hash)
    assert right.apply and right.approved and "changeControl.policy is Manual" in right.reasons


# --------------------------------------------------------------------------- approver, deltas


def test_the_approver_is_the_field_manager_that_set_the_annotation() -> None:
    fields = [
        {
            "manager": "kubectl-client-side-apply",
            "time": "2026-12-02T10:00:00Z",
            "fieldsV1": {"f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/last-applied-configuration": {}}}},
        },
        {
            "manager": "alice-tool",
            "time": "2026-12-02T10:05:00Z",
            "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{APPROVE_ANNOTATION}": {}}}},
        },
        {
            "manager": "kubectl-annotate",
            "time": "2026-12-02T11:00:00Z",
            "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{APPROVE_ANNOTATION}": {}}}},
        },
    ]
    assert approver_of(fields) == "kubectl-annotate"
    assert approver_of(fields[:1]) == "" and approver_of(None) == ""


def test_cost_and_findings_deltas_against_the_last_applied_generation() -> None:
    assert cost_delta("130.99", {"monthly": "160.50"}) == {"after": "160.50", "before": "130.99", "delta": "+29.51"}
    assert cost_delta(None, {"monthly": "160.50"}) == {"after": "160.50"}
    assert cost_delta("1", {"error": "no prices"}) == {}
    assert findings_delta(["a@x", "b@y"], ["b@y", "c@z"]) == {"added": ["c@z"], "removed": ["a@x"]}
    assert findings_delta(None, ["c@z"]) == {}


# --------------------------------------------------------------------------- what is written


def test_the_plan_config_map_is_owned_bounded_and_secret_free() -> None:
    many = tuple(
        ResourceChange(
            "create",
            f"{STACK}aws:ecs/service:Service::svc-{i}-hunter2-pw",
            "aws:ecs/service:Service",
            ("image", "taskDefinition"),
        )
        for i in range(20000)
    )
    pending = pending_change(preview(*many), owner="ns/shop", generation=4)
    body = plan_config_map(
        namespace="ns", platform="shop", uid="uid-1", generation=4, change=pending, secrets=("hunter2-pw",)
    )
    assert body["metadata"]["name"] == f"shop-plan-{pending.plan_hash}"
    assert body["metadata"]["ownerReferences"] == [
        {"apiVersion": "payplat.io/v1alpha1", "kind": "PaymentPlatform", "name": "shop", "uid": "uid-1"}
    ]
    size = sum(len(value) for value in body["data"].values())
    assert size <= MAX_PLAN_BYTES
    document = json.loads(body["data"]["plan.json"])
    assert document["truncated"] > 0 and len(document["steps"]) + document["truncated"] == 20000
    assert "hunter2-pw" not in json.dumps(body)
    assert f"payplat.io/approve={pending.plan_hash}" in body["data"]["plan.txt"]


def test_superseded_plans_beyond_the_last_two_are_deleted() -> None:
    recorded = [{"name": f"p{i}", "uid": f"u{i}"} for i in range(4)]
    kept, stale = plans_to_delete(recorded)
    assert kept == recorded[2:] and stale == recorded[:2]
    assert plans_to_delete(recorded[:2]) == (recorded[:2], [])


def test_history_keeps_the_last_n_and_clears_the_pending_change() -> None:
    pending = change(VPC)
    status = next_status({}, 2, AwaitingApproval(pending.status("shop-plan-x"), "waiting"), NOW)
    assert status["phase"] == "AwaitingApproval" and status["pendingChange"]["planHash"] == pending.plan_hash
    assert condition(status, "Ready")["reason"] == "AwaitingApproval"
    assert condition(status, "Stalled")["status"] == "False"
    result = OperationResult("up", "offline", NOW, NOW, Changes(replace=1), update_id="7")
    for generation in range(5):
        entry = history_entry(
            result, generation=generation, change=pending, approver="kubectl-annotate", approval=pending.plan_hash
        )
        status = next_status(status, 2, Audited(entry, limit=3), NOW)
    assert [entry["generation"] for entry in status["history"]] == [2, 3, 4]
    assert status["history"][-1] == {
        "generation": 4,
        "operation": "up",
        "result": "Succeeded",
        "time": "2026-12-02T12:00:00Z",
        "changes": {"replace": 1},
        "updateId": "7",
        "planHash": pending.plan_hash,
        "approvedBy": {"manager": "kubectl-annotate", "annotation": pending.plan_hash},
    }
    assert "pendingChange" not in status and status["lastHandledApproval"] == pending.plan_hash


# --------------------------------------------------------------------------- the spec


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"policy": "Sometimes"}, "spec.changeControl.policy"),
        ({"allowProtected": ["vpc", "vpc"]}, "spec.changeControl.allowProtected"),
        ({"allowProtected": ["database"]}, "spec.changeControl.allowProtected"),
        ({"historyLimit": 0}, "spec.changeControl.historyLimit"),
        ({"historyLimit": 51}, "spec.changeControl.historyLimit"),
        ({"refreshBeforeUpdate": "yes"}, "spec.changeControl.refreshBeforeUpdate"),
    ],
)
def test_bad_change_control_is_refused_naming_the_field(section: dict, field: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec({"changeControl": section})
    assert any(problem.startswith(field) for problem in raised.value.problems), raised.value.problems


def test_change_control_defaults_to_automatic() -> None:
    spec = parse_spec({})
    assert spec.change_control == ChangeControlSpec()
    assert spec.change_control.policy is ChangePolicy.AUTOMATIC and spec.change_control.history_limit == 10


def test_payplat_approve_shows_what_is_approved() -> None:
    from payplat.approvecli import describe

    pending = change(VPC, SERVICE)
    text = describe({"pendingChange": pending.status("shop-plan-x")})
    assert text.splitlines()[0] == f"plan {pending.plan_hash}: 1 to create, 1 to replace"
    assert "PROTECTED vpc shop-vpc would be replaced" in text
    assert "replace aws:ec2/vpc:Vpc shop-vpc (because cidrBlock changed)" in text
    assert "kubectl get configmap shop-plan-x" in text


def test_the_hash_does_not_depend_on_the_order_steps_were_reported_in() -> None:
    assert change(VPC, SERVICE, GONE).plan_hash == change(GONE, VPC, SERVICE).plan_hash
