"""Change control through the reconcile handler, with the fake engine of test_handlers:
what waits, what an approval does, what is recorded. The real API server and both real
engines: tests/e2e/test_change_control.py."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from typing import Any

import kopf
import pytest

from payplat.controller.changecontrol import APPROVE_ANNOTATION
from payplat.controller.handlers import delete, reconcile, requests
from payplat.controller.handlersteps import RECONCILE_REQUEST_ANNOTATION
from payplat.controller.operations import Runtime
from payplat.engines.base import ResourceChange
from tests.test_handlers import (  # noqa: F401 - pytest fixtures
    BIG,
    CPU_CAP,
    FakeEngine,
    call,
    cond,
    engine,
    events,
    platform,
    published,
    runtime,
    with_policies,
)

STACK = "urn:pulumi:team-a_shop::payplat::"
ADD = ResourceChange("create", STACK + "aws:ecs/service:Service::shop-new", "aws:ecs/service:Service")
REMOVE = ResourceChange("delete", STACK + "aws:ecs/service:Service::shop-old", "aws:ecs/service:Service")
SECRET = ResourceChange(
    "replace",
    STACK + "aws:secretsmanager/secret:Secret::shop-db",
    "aws:secretsmanager/secret:Secret",
    ("name",),
    ("name",),
)
MANAGED = [
    {
        "manager": "kubectl-annotate",
        "time": "2026-11-28T12:01:00Z",
        "fieldsV1": {"f:metadata": {"f:annotations": {f"f:{APPROVE_ANNOTATION}": {}}}},
    }
]


def approve(obj: dict, value: str) -> None:
    obj["metadata"].setdefault("annotations", {})[APPROVE_ANNOTATION] = value
    obj["metadata"]["managedFields"] = MANAGED


async def test_manual_waits_then_only_the_exact_hash_applies(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    engine.steps = (ADD,)
    obj = platform(changeControl={"policy": "Manual"})
    await call(reconcile, obj, runtime)
    status = obj["status"]
    plan = status["pendingChange"]["planHash"]
    assert engine.calls == [] and engine.previews == ["team-a_shop"]
    assert status["phase"] == "AwaitingApproval" and cond(obj, "Ready") == ("False", "AwaitingApproval")
    assert f"kubectl annotate pp shop -n team-a {APPROVE_ANNOTATION}={plan}" in status["message"]
    assert status["pendingChange"]["configMap"] == f"shop-plan-{plan}"
    ((stored_uid, body),) = runtime.plans.objects.values()  # type: ignore[attr-defined]
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-shop"
    assert status["planConfigMaps"] == [{"name": f"shop-plan-{plan}", "uid": stored_uid}]
    assert ("Normal", "AwaitingApproval") in [(kind, reason) for kind, reason, _ in events]

    await call(reconcile, obj, runtime)  # a resync: settled, not even a preview
    assert engine.previews == ["team-a_shop"]

    # An annotation changes no generation and kopf's update handlers never see ours: the
    # watch-event handler answers it.
    approve(obj, "0123456789abcdef")
    await call(requests, obj, runtime)
    assert engine.calls == [] and obj["status"]["phase"] == "AwaitingApproval"
    assert "does not match the pending plan" in obj["status"]["message"]
    assert obj["status"]["lastHandledApproval"] == "0123456789abcdef"
    assert any(reason == "ApprovalIgnored" for _, reason, _ in events)
    await call(requests, obj, runtime)  # the same wrong value again: answered already
    await call(reconcile, obj, runtime)
    assert len(engine.previews) == 2

    approve(obj, plan)
    await call(requests, obj, runtime)
    assert engine.calls == [("up", "team-a_shop")]
    audit = engine.audits[-1]
    assert audit is not None and audit.plan_hash == plan and audit.approver == f"kubectl-annotate:{plan}"
    assert f"plan={plan}" in audit.message() and "approved-by=kubectl-annotate" in audit.message()
    status = obj["status"]
    assert status["phase"] == "Ready" and "pendingChange" not in status
    assert status["history"][-1]["approvedBy"] == {"manager": "kubectl-annotate", "annotation": plan}
    assert status["history"][-1]["planHash"] == plan and status["history"][-1]["updateId"] == "1"
    assert status["history"][-1]["configMap"] == f"shop-plan-{plan}"


async def test_auto_additive_applies_additions_and_waits_for_removals(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    engine.steps = (ADD,)
    obj = platform(changeControl={"policy": "AutoAdditive"})
    await call(reconcile, obj, runtime)
    assert engine.calls == [("up", "team-a_shop")] and obj["status"]["phase"] == "Ready"
    assert "approvedBy" not in obj["status"]["history"][-1]

    engine.steps = (REMOVE,)
    obj["metadata"]["generation"] = 2
    await call(reconcile, obj, runtime)
    assert engine.calls == [("up", "team-a_shop")]
    assert obj["status"]["phase"] == "AwaitingApproval"
    assert obj["status"]["pendingChange"]["replacedOrDeleted"] == [
        {"op": "delete", "name": "shop-old", "type": "aws:ecs/service:Service"}
    ]


@pytest.mark.parametrize("allow", [[], ["databaseSecret"]])
async def test_a_protected_replacement_waits_under_automatic_unless_allowed(
    runtime: Runtime, engine: FakeEngine, events: list, allow: list
) -> None:
    engine.steps = (SECRET,)
    obj = platform(changeControl={"allowProtected": allow})
    await call(reconcile, obj, runtime)
    if allow:
        assert engine.calls == [("up", "team-a_shop")]
        return
    assert engine.calls == []
    pending = obj["status"]["pendingChange"]
    assert pending["protected"] == [{"kind": "databaseSecret", "name": "shop-db", "op": "replace"}]
    assert pending["replacedOrDeleted"][0]["reason"] == ["name"]
    assert "protected kind(s) databaseSecret" in obj["status"]["message"]


async def test_automatic_with_every_kind_allowed_skips_the_preview(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    obj = platform(changeControl={"allowProtected": ["kmsKey", "databaseSecret", "vpc", "loadBalancer"]})
    await call(reconcile, obj, runtime)
    assert engine.previews == [] and engine.calls == [("up", "team-a_shop")]


async def test_a_policy_block_comes_before_any_preview_or_approval(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    obj = platform(services=BIG, changeControl={"policy": "Manual"})
    approve(obj, "0123456789abcdef")
    with pytest.raises(kopf.TemporaryError, match="policy violation"):
        await call(with_policies(reconcile, CPU_CAP), obj, runtime)
    assert engine.previews == [] and engine.calls == []
    assert cond(obj, "Stalled") == ("True", "PolicyViolation") and obj["status"]["phase"] == "Stalled"


async def test_a_new_plan_deletes_superseded_plan_config_maps(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    obj = platform(changeControl={"policy": "Manual"})
    names = []
    for generation in range(1, 5):
        engine.steps = (
            ResourceChange("create", f"{STACK}aws:ecs/service:Service::s{generation}", "aws:ecs/service:Service"),
        )
        obj["metadata"]["generation"] = generation
        await call(reconcile, obj, runtime)
        names.append(obj["status"]["pendingChange"]["configMap"])
    stored = sorted(name for _, name in runtime.plans.objects)  # type: ignore[attr-defined]
    assert stored == sorted(names[-2:]) and [p["name"] for p in obj["status"]["planConfigMaps"]] == names[-2:]


async def test_a_destroy_is_recorded_and_no_password_anywhere(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    from tests.test_handlers import PASSWORD

    obj = platform(
        deletionPolicy="Delete",
        loadBalancer={"deletionProtection": False},
        database={"passwordSecretRef": {"name": "db"}},
        changeControl={"policy": "Manual"},
    )
    engine.steps = (ADD,)
    await call(reconcile, obj, runtime)
    approve(obj, obj["status"]["pendingChange"]["planHash"])
    await call(requests, obj, runtime)
    await call(delete, obj, runtime)
    assert [entry["operation"] for entry in obj["status"]["history"]] == ["up", "destroy"]
    everything = json.dumps([obj, events, list(runtime.plans.objects.values())])  # type: ignore[attr-defined]
    assert PASSWORD not in everything


async def test_the_event_handler_leaves_spec_changes_to_the_update_handler(
    runtime: Runtime, engine: FakeEngine, events: list
) -> None:
    engine.steps = (ADD,)
    obj = platform(changeControl={"policy": "Manual"})
    await call(reconcile, obj, runtime)
    approve(obj, obj["status"]["pendingChange"]["planHash"])
    obj["metadata"]["generation"] = 2  # a spec change arrived with it: the update handler's
    await call(requests, obj, runtime)
    assert engine.calls == [] and len(engine.previews) == 1


async def test_a_reconcile_request_annotation_is_answered(runtime: Runtime, engine: FakeEngine, events: list) -> None:
    obj = platform()
    await call(reconcile, obj, runtime)
    await call(requests, obj, runtime)  # nothing asked: nothing done
    assert engine.calls == [("up", "team-a_shop")]
    obj["metadata"]["annotations"] = {RECONCILE_REQUEST_ANNOTATION: "2026-12-02T12:00:00Z"}
    await call(requests, obj, runtime)
    await call(requests, obj, runtime)  # answered once
    assert engine.calls == [("up", "team-a_shop")] * 2
    assert obj["status"]["lastHandledReconcileRequest"] == "2026-12-02T12:00:00Z"


# No asyncio plugin in this project: every ``async def test_*`` runs in its own loop.
def _in_event_loop(test: Any) -> Any:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return run


for _name, _test in list(globals().items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_test):
        globals()[_name] = _in_event_loop(_test)
