"""The offline engine's checkpoint, step by step: what a Pulumi CLI does to its state.

One job: keep ``<state_dir>/.pulumi/stacks/payplat/<stack>.json`` exactly as Pulumi
would while resources change, so a process killed at any point leaves what Pulumi
leaves. Each step that touches the (fake) cloud is bracketed by a pending operation in
the checkpoint; the stack's lock is held, under this operator's operation record, for
the whole operation; and the next operation resolves the pending operations a crashed
run left against the fake cloud (an interrupted create that happened is adopted, one
that did not is dropped). Kept apart from ``engines.offline``, whose job is the Engine
protocol: which steps an operation takes and what it reports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from payplat.engines import checkpoint as state
from payplat.engines import locks, lockstore
from payplat.engines.base import TransientEngineError
from payplat.engines.fakecloud import FakeCloud
from payplat.program.stackkeys import PROJECT

_SYMBOL = {"create": "+ create", "update": "~ update", "replace": "+-replace", "delete": "- delete"}
_PENDING = {"create": "creating", "update": "updating", "replace": "updating", "delete": "deleting"}


@contextmanager
def locked(
    bucket: lockstore.StateBucket,
    state_dir: Path,
    stack: str,
    operation: str,
    *,
    identity: locks.Identity,
    pod_probe: locks.PodProbe | None,
    log: logging.Logger,
) -> Iterator[dict[str, Any]]:
    """Record the operation, hold the stack's lock; resolve pending operations a
    crashed run left behind. Yields the stack's checkpoint."""
    with lockstore.recorded(bucket, PROJECT, stack, identity, operation) as record:
        key, broken = lockstore.acquire(bucket, PROJECT, stack, here=identity, pod_probe=pod_probe, own_record=record)
        yield from _holding(bucket, state_dir, stack, key, broken, log)


def _holding(
    bucket: lockstore.StateBucket,
    state_dir: Path,
    stack: str,
    key: str,
    broken: list[tuple[locks.LockInfo, locks.Verdict]],
    log: logging.Logger,
) -> Iterator[dict[str, Any]]:
    try:
        for lock, verdict in broken:
            log.warning("[%s] broke the stale lock of %s: %s", stack, lock.describe(), verdict.why)
        checkpoint = state.load(bucket, PROJECT, stack) or state.new_checkpoint(PROJECT, stack)
        latest = checkpoint["checkpoint"]["latest"]
        if latest["pending_operations"]:
            cloud = FakeCloud(state_dir, stack).objects()
            latest["resources"], notes = state.refresh(latest["resources"], latest["pending_operations"], cloud)
            latest["pending_operations"] = []
            state.save(bucket, PROJECT, stack, checkpoint)
            for note in notes:
                log.warning("[%s] recovered: %s", stack, note)
        yield checkpoint
    finally:
        bucket.delete(key)


def refresh_saved(bucket: lockstore.StateBucket, state_dir: Path, stack: str, checkpoint: dict[str, Any]) -> list[str]:
    """Read every resource back from the fake cloud into the checkpoint and save it, as
    ``pulumi refresh`` does; returns what changed outside Pulumi, one note each."""
    latest = checkpoint["checkpoint"]["latest"]
    latest["resources"], notes = state.refresh(latest["resources"], [], FakeCloud(state_dir, stack).objects())
    state.save(bucket, PROJECT, stack, checkpoint)
    return notes


def apply_steps(
    bucket: lockstore.StateBucket,
    state_dir: Path,
    stack: str,
    checkpoint: dict[str, Any],
    steps: list[state.Step],
    *,
    closing: threading.Event,
    step_delay: float,
    log: logging.Logger,
) -> None:
    """One step at a time, each bracketed by a pending operation in the checkpoint."""
    cloud = FakeCloud(state_dir, stack)
    latest = checkpoint["checkpoint"]["latest"]
    todo = [step for step in steps if step.op != "same"]
    for done, step in enumerate(todo):
        if closing.is_set():
            raise TransientEngineError(
                f"stopped by operator shutdown after {done} of {len(todo)} steps; the next run continues from there",
                reason="Interrupted",
            )
        record = step.resource if step.op == "delete" else _record(step.resource)
        log.info("[%s] %s %s", stack, _SYMBOL[step.op], step.urn)
        if state.is_cloud_backed(record):
            latest["pending_operations"].append({"resource": record, "type": _PENDING[step.op]})
            state.save(bucket, PROJECT, stack, checkpoint)
            time.sleep(step_delay)
            record = call_cloud(cloud, step.op, record)
            latest["pending_operations"] = [p for p in latest["pending_operations"] if p["resource"]["urn"] != step.urn]
        latest["resources"] = _replace(latest["resources"], step.urn, None if step.op == "delete" else record)
        state.save(bucket, PROJECT, stack, checkpoint)


def _record(resource: dict[str, Any]) -> dict[str, Any]:
    return {**resource, "outputs": {**resource.get("inputs", {}), "id": resource.get("id")}}


def _replace(resources: list[dict[str, Any]], urn: str, record: dict[str, Any] | None) -> list[dict[str, Any]]:
    """``resources`` with ``urn``'s entry swapped for ``record`` (appended if new, removed if None)."""
    if record is None:
        return [item for item in resources if item["urn"] != urn]
    out = [record if item["urn"] == urn else item for item in resources]
    if all(item["urn"] != urn for item in resources):
        out.append(record)
    return out


def call_cloud(cloud: FakeCloud, op: str, record: dict[str, Any]) -> dict[str, Any]:
    """Do ``op`` to ``record`` in the fake cloud; the record as the checkpoint keeps it after."""
    existing = cloud.objects().get(record["urn"])
    if op == "create":
        physical_id = cloud.create(record["urn"], record["type"], record["inputs"], physical_id=record.get("id"))
        return {**record, "id": physical_id, "outputs": {**record["inputs"], "id": physical_id}}
    if existing is None:  # updated or deleted in the cloud behind our back
        if op == "delete":
            return record
        physical_id = cloud.create(record["urn"], record["type"], record["inputs"], physical_id=record.get("id"))
        return {**record, "id": physical_id, "outputs": {**record["inputs"], "id": physical_id}}
    if op == "replace":  # create-before-delete, as Pulumi replaces: a new physical id
        physical_id = cloud.create(record["urn"], record["type"], record["inputs"])
        cloud.delete(existing)
        return {**record, "id": physical_id, "outputs": {**record["inputs"], "id": physical_id}}
    if op == "update":
        cloud.update(existing, record["inputs"])
        return {**record, "id": existing.id, "outputs": {**record["inputs"], "id": existing.id}}
    cloud.delete(existing)
    return record
