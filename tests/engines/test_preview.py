"""``preview`` on both engines: the offline engine's steps are exactly what its ``up``
then does, nothing is applied by a preview, replacements carry the inputs forcing them,
and every up/destroy lands in the backend's history with the audit message. The pulumi
engine's part that can be tested without the CLI: reading the engine events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from payplat.engines import history
from payplat.engines.base import Audit, Changes, StackRef, StackSecrets
from payplat.engines.fakecloud import FakeCloud, simulate_drift
from payplat.engines.offline import OfflineEngine
from payplat.engines.pulumi import steps_from
from payplat.program.stackkeys import PROJECT

from .helpers import WEB, small_spec

NONE = StackSecrets()


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_preview_applies_nothing_and_predicts_the_up_exactly(
    engine: OfflineEngine, ref: StackRef, tmp_path: Path
) -> None:
    spec = small_spec()
    first = run(engine.preview(ref, spec, NONE))
    assert first.changes.create > 20 and FakeCloud(tmp_path, ref.stack_name).entries() == []
    assert run(engine.up(ref, spec, NONE)).changes == first.changes

    renamed = small_spec(environment_suffix="other")
    predicted = run(engine.preview(ref, renamed, NONE))
    replaced = {step.type: step for step in predicted.steps if step.op == "replace"}
    assert replaced["aws:secretsmanager/secret:Secret"].keys == ("name",)
    assert replaced["aws:lb/loadBalancer:LoadBalancer"].keys == ("name",)
    journal = len(FakeCloud(tmp_path, ref.stack_name).entries())
    assert run(engine.preview(ref, renamed, NONE)).steps == predicted.steps  # stable
    assert len(FakeCloud(tmp_path, ref.stack_name).entries()) == journal
    assert run(engine.up(ref, renamed, NONE)).changes == predicted.changes


def test_refresh_before_update_previews_against_what_the_cloud_has(
    engine: OfflineEngine, ref: StackRef, tmp_path: Path
) -> None:
    spec = small_spec()
    run(engine.up(ref, spec, NONE))
    vpc = next(urn for urn in FakeCloud(tmp_path, ref.stack_name).objects() if "aws:ec2/vpc:Vpc" in urn)
    simulate_drift(tmp_path, ref.stack_name, vpc, inputs={"enableDnsHostnames": False})
    assert run(engine.preview(ref, spec, NONE)).changes.total == 0  # the state still says all is well
    refreshed = run(engine.preview(ref, spec, NONE, refresh=True))
    assert [step.urn for step in refreshed.steps] == [vpc] and refreshed.steps[0].diffs == ("enableDnsHostnames",)
    assert run(engine.up(ref, spec, NONE, refresh=True)).changes == refreshed.changes


def test_up_and_destroy_are_recorded_in_the_backend_history(
    engine: OfflineEngine, ref: StackRef, tmp_path: Path
) -> None:
    spec = small_spec(services=[WEB])
    up = run(engine.up(ref, spec, NONE, audit=Audit(1, "0123456789abcdef", "kubectl-annotate:0123456789abcdef")))
    gone = run(engine.destroy(ref, spec, audit=Audit(1)))
    records = history.read(engine.bucket, PROJECT, ref.stack_name)
    assert [(r["kind"], r["version"], r["message"]) for r in records] == [
        ("update", 1, "payplat generation=1 plan=0123456789abcdef approved-by=kubectl-annotate:0123456789abcdef"),
        ("destroy", 2, "payplat generation=1"),
    ]
    assert (up.update_id, gone.update_id) == ("1", "2")
    assert records[0]["resourceChanges"] == {"create": up.changes.create}


def event(op: str, name: str, type_: str, diffs=(), keys=()) -> SimpleNamespace:
    metadata = SimpleNamespace(
        op=SimpleNamespace(value=op),
        urn=f"urn:pulumi:s::payplat::{type_}::{name}",
        type=type_,
        diffs=list(diffs),
        keys=list(keys),
    )
    return SimpleNamespace(resource_pre_event=SimpleNamespace(metadata=metadata))


def test_the_pulumi_engine_reads_steps_from_engine_events() -> None:
    events = [
        SimpleNamespace(resource_pre_event=None, diagnostic_event=object()),
        event("same", "vpc", "aws:ec2/vpc:Vpc"),
        event("create-replacement", "lb", "aws:lb/loadBalancer:LoadBalancer", ["name"], ["name"]),
        event("replace", "lb", "aws:lb/loadBalancer:LoadBalancer", ["name"], ["name"]),
        event("delete-replaced", "lb", "aws:lb/loadBalancer:LoadBalancer"),
        event("update", "cluster", "aws:ecs/cluster:Cluster", ["tags"]),
        event("create", "api", "aws:ecs/service:Service"),
        event("delete", "old", "aws:ecs/service:Service"),
    ]
    steps = steps_from(events)
    assert [(s.op, s.name, s.keys) for s in steps] == [
        ("replace", "lb", ("name",)),
        ("update", "cluster", ()),
        ("create", "api", ()),
        ("delete", "old", ()),
    ]
    assert steps[1].diffs == ("tags",)


def test_history_versions_follow_the_highest_recorded(tmp_path: Path) -> None:
    from payplat.engines.lockstore import FileBucket

    bucket = FileBucket(tmp_path)
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert [
        history.append(
            bucket, PROJECT, "s", kind="update", message="m", started=now, finished=now, changes=Changes(update=1)
        )
        for _ in range(3)
    ] == [1, 2, 3]
