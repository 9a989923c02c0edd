"""The offline engine: the real program under mocks, with state kept like a diy backend.

It is the embedded default for local runs and the engine of the end-to-end tests, so it
behaves like the Pulumi engine on everything the operator can observe:

* ``<state_dir>/.pulumi/stacks/payplat/<stack>.json`` is a Pulumi-shaped checkpoint; change
  counts come from diffing the program's resources against it by URN and inputs.
* ``<state_dir>/.pulumi/locks/organization/payplat/<stack>/<id>.json`` is a Pulumi lock
  file (pid, username, hostname, timestamp) held for the whole operation; a lock whose
  holder is provably gone is broken (``engines.locks``).
* Resources are applied one at a time; each step records a pending operation in the
  checkpoint before the fake cloud (``engines.fakecloud``) acts and clears it after, so a
  process killed mid-step leaves exactly what Pulumi leaves. The next operation resolves
  it against the fake cloud: an interrupted create that happened is adopted, one that did
  not is dropped, so no create is ever repeated.
* ``step_delay`` seconds pass inside each step (and per resource a drift check's
  refresh reads), which makes operations long enough for a test to kill the
  operator, or change the object, in the middle of one.
* The database password comes from ``StackSecrets`` or is generated once. The program
  runs with a placeholder (nothing here touches a real database), so the engine only needs
  to know whether the password *changed*: ``<state_dir>/config/<stack>.json`` (mode 0600)
  keeps a salted scrypt digest of it (``engines.offlineconfig``), never the password. Nothing under the state folder
  holds a secret in plaintext; it never reaches outputs, state or logs either.
* Failures on purpose: the spec tag ``payplat.io/offline-fail`` (``engines.faults``).
* Drift on purpose: ``engines.fakecloud.simulate_drift``.

Outputs are the mocks' deterministic, fake values (account 000000000000); every result's
message says that nothing in AWS was touched.

This module is the Engine protocol: which steps each operation takes and what it
reports. The checkpoint kept step by step under the lock, with crash recovery, is
``engines.offlinesteps``'s; the program under mocks, cached, is ``engines.offlineprogram``'s.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from payplat.engines import checkpoint as state
from payplat.engines import history, locks, lockstore, offlinesteps
from payplat.engines.base import (
    Audit,
    Changes,
    DriftReport,
    EngineError,
    Operation,
    OperationResult,
    PermanentEngineError,
    Preview,
    ResourceChange,
    StackRef,
    StackSecrets,
    TransientEngineError,
)
from payplat.engines.errors import classify
from payplat.engines.fakecloud import FakeCloud, journal_path
from payplat.engines.faults import injected_failure
from payplat.engines.inflight import InFlight
from payplat.engines.offlineconfig import PasswordConfig
from payplat.engines.offlineprogram import DesiredState
from payplat.model.identity import is_legacy, legacy_owner, stack_name
from payplat.model.parsing import SpecError
from payplat.model.spec import PlatformSpec
from payplat.program.stackkeys import PROJECT, root_name

__all__ = ["PROJECT", "OfflineEngine"]

FAKE_NOTE = "offline engine: outputs are mock values, nothing in AWS was touched"

T = TypeVar("T")


class OfflineEngine:
    name = "offline"

    def __init__(
        self,
        state_dir: Path,
        *,
        step_delay: float = 0.0,
        pod_probe: locks.PodProbe | None = None,
        identity: locks.Identity | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        """``identity`` is this operator as operation records name it (default: this
        process, no cluster); ``pod_probe`` asks the API server whether a recorded pod is gone."""
        self.state_dir = Path(state_dir)
        self.bucket = lockstore.FileBucket(self.state_dir)
        self.step_delay = step_delay
        self.pod_probe = pod_probe
        self.identity = identity or locks.this_identity()
        self.log = log or logging.getLogger("payplat.engine.offline")
        self._work = InFlight()
        self.passwords = PasswordConfig(self.state_dir)
        self._program = DesiredState()

    # ------------------------------------------------------------------ Engine protocol

    async def up(
        self,
        ref: StackRef,
        spec: PlatformSpec,
        secrets: StackSecrets,
        *,
        audit: Audit | None = None,
        refresh: bool = False,
    ) -> OperationResult:
        return await self._in_thread("up", self._up, ref, spec, secrets, audit, refresh)

    async def preview(
        self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets, *, refresh: bool = False
    ) -> Preview:
        return await self._in_thread("preview", self._preview, ref, spec, secrets, refresh)

    async def destroy(self, ref: StackRef, spec: PlatformSpec, *, audit: Audit | None = None) -> OperationResult:
        return await self._in_thread("destroy", self._destroy, ref, spec, audit)

    async def detect_drift(self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets) -> DriftReport:
        return await self._in_thread("drift detection", self._detect_drift, ref, spec)

    async def has_stack(self, ref: StackRef) -> bool:
        return await self._in_thread("stack lookup", self._has_stack, ref)

    async def forget(self, ref: StackRef) -> None:
        await self._in_thread("forget", self._forget, ref)

    async def migrate_stacks(self) -> list[tuple[str, str]]:
        """Rename stacks named before 0.2 (``<namespace>-<name>``) to their one-to-one names."""
        return await self._in_thread("stack migration", self._migrate_stacks)

    async def close(self, timeout: float = 60.0) -> None:
        """Let each running operation finish its current step, then stop it (like SIGINT
        to the Pulumi CLI); the next operation carries on from the saved state."""
        await self._work.drain(timeout)

    # ------------------------------------------------------------------ operations

    def _up(
        self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets, audit: Audit | None, refresh: bool
    ) -> OperationResult:
        started = _now()
        self._fail_on_purpose(ref, spec, "up")
        desired, outputs = self._program.of(ref, spec)
        secrets_pending = self.passwords.ensure(ref.stack_name, secrets)
        with self._locked(ref, "up") as checkpoint:
            if refresh:
                self._refresh(ref, checkpoint)
            steps = state.plan_steps(desired, _resources(checkpoint), secrets_changed=secrets_pending)
            changes, version = self._apply_recorded(ref, checkpoint, steps, "update", audit, started)
        self.passwords.mark_applied(ref.stack_name)
        return self._result("up", started, changes, outputs, version)

    def _preview(self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets, refresh: bool) -> Preview:
        """The steps ``_up`` would take now, computed like it (nothing saved: a preview's
        refresh, as Pulumi's, reads the cloud without writing the state)."""
        started = _now()
        self._fail_on_purpose(ref, spec, "preview")
        desired, _ = self._program.of(ref, spec)
        with self._locked(ref, "preview") as checkpoint:
            current = _resources(checkpoint)
            if refresh:
                current, _ = state.refresh(current, [], FakeCloud(self.state_dir, ref.stack_name).objects())
            steps = state.plan_steps(desired, current, secrets_changed=self.passwords.pending(ref.stack_name, secrets))
        changed = tuple(
            ResourceChange(step.op, step.urn, str(step.resource.get("type", "")), step.diffs, step.keys)
            for step in steps
            if step.op != "same"
        )
        return Preview(state.count(steps), changed, started, _now())

    def _destroy(self, ref: StackRef, spec: PlatformSpec, audit: Audit | None) -> OperationResult:
        started = _now()
        self._fail_on_purpose(ref, spec, "destroy")
        with self._locked(ref, "destroy") as checkpoint:
            steps = state.plan_steps([], _resources(checkpoint))
            changes, version = self._apply_recorded(ref, checkpoint, steps, "destroy", audit, started)
            self._remove_stack(ref)
        return self._result("destroy", started, changes, {}, version)

    def _apply_recorded(
        self,
        ref: StackRef,
        checkpoint: dict[str, Any],
        steps: list[state.Step],
        kind: str,
        audit: Audit | None,
        started: datetime,
    ) -> tuple[Changes, int]:
        """Apply ``steps``, then add the update to the stack's history (``pulumi stack
        history``, with the audit message): its counts and its version."""
        self._apply(ref, checkpoint, steps)
        changes = state.count(steps)
        version = history.append(
            self.bucket,
            PROJECT,
            ref.stack_name,
            kind=kind,
            message=(audit or Audit(0)).message(),
            started=started,
            finished=_now(),
            changes=changes,
        )
        return changes, version

    def _result(
        self, operation: Operation, started: datetime, changes: Changes, outputs: dict[str, Any], version: int
    ) -> OperationResult:
        return OperationResult(
            operation,
            self.name,
            started,
            _now(),
            changes,
            outputs,
            f"{FAKE_NOTE}; {_summary(changes)}",
            update_id=str(version),
        )

    def _refresh(self, ref: StackRef, checkpoint: dict[str, Any]) -> None:
        for note in offlinesteps.refresh_saved(self.bucket, self.state_dir, ref.stack_name, checkpoint):
            self.log.info("[%s] refresh: %s", ref.stack_name, note)

    def _detect_drift(self, ref: StackRef, spec: PlatformSpec) -> DriftReport:
        started = _now()
        self._fail_on_purpose(ref, spec, "drift")
        desired, _ = self._program.of(ref, spec)
        with self._locked(ref, "refresh") as checkpoint:
            latest = checkpoint["checkpoint"]["latest"]
            self.log.info("[%s] refresh: reading %d resources", ref.stack_name, len(latest["resources"]))
            for _ in latest["resources"]:  # a refresh reads every resource, as Pulumi's does
                if self._work.closing.is_set():
                    raise TransientEngineError("drift check stopped by operator shutdown", reason="Interrupted")
                time.sleep(self.step_delay)
            notes = offlinesteps.refresh_saved(self.bucket, self.state_dir, ref.stack_name, checkpoint)
            changes = state.count(state.plan_steps(desired, latest["resources"]))
        for note in notes:
            self.log.info("[%s] refresh: %s", ref.stack_name, note)
        drifted = bool(notes) or changes.total > 0
        message = "; ".join([*notes[:5], f"preview after refresh: {_summary(changes)}"])
        return DriftReport(drifted, changes, started, _now(), message)

    def _has_stack(self, ref: StackRef) -> bool:
        """A checkpoint (written before the first create), or anything in the fake cloud."""
        return bool(
            state.load(self.bucket, PROJECT, ref.stack_name) or FakeCloud(self.state_dir, ref.stack_name).objects()
        )

    def _forget(self, ref: StackRef) -> None:
        with self._locked(ref, "forget"):
            self._remove_stack(ref)

    def _migrate_stacks(self) -> list[tuple[str, str]]:
        renamed = []
        prefix = state.checkpoint_key(PROJECT, "").removesuffix(".json")  # .pulumi/stacks/<project>/
        for key in self.bucket.list(prefix):
            old = key.removeprefix(prefix).removesuffix(".json")
            if not is_legacy(old):
                continue
            checkpoint = state.load(self.bucket, PROJECT, old) or {}
            owner = legacy_owner(
                old, root_name(checkpoint.get("checkpoint", {}).get("latest", {}).get("resources", ())) or ""
            )
            if owner is None:
                self.log.warning("[%s] stack from before 0.2 with no PaymentPlatform in it: left as it is", old)
                continue
            new = stack_name(*owner)
            if state.load(self.bucket, PROJECT, new) is not None:
                self.log.warning("[%s] not migrated: stack %s already exists", old, new)
                continue
            self._rename(old, new)
            self.log.warning("[%s] migrated to stack %s (%s/%s)", old, new, *owner)
            renamed.append((old, new))
        return renamed

    def _rename(self, old: str, new: str) -> None:
        """Checkpoint, config, fake-cloud journal and fault file, URNs rewritten; the old
        checkpoint goes last, so a crash half-way leaves it to migrate again."""
        with lockstore.recorded(self.bucket, PROJECT, old, self.identity, "rename") as record:
            lock, _ = lockstore.acquire(
                self.bucket, PROJECT, old, here=self.identity, pod_probe=self.pod_probe, own_record=record
            )
            try:
                text = self.bucket.read(state.checkpoint_key(PROJECT, old)).decode()
                checkpoint = json.loads(_rename_urns(text, old, new))
                checkpoint["checkpoint"]["stack"] = state.new_checkpoint(PROJECT, new)["checkpoint"]["stack"]
                journal = journal_path(self.state_dir, old)
                if journal.exists():
                    target = journal_path(self.state_dir, new)
                    target.write_text(_rename_urns(journal.read_text(), old, new))
                    journal.unlink()
                for folder in ("config", "faults"):
                    path = self.state_dir / folder / f"{old}.json"
                    if path.exists():
                        os.replace(path, self.state_dir / folder / f"{new}.json")
                state.save(self.bucket, PROJECT, new, checkpoint)
                self.bucket.delete(state.checkpoint_key(PROJECT, old))
            finally:
                self.bucket.delete(lock)

    # ------------------------------------------------------------------ helpers

    async def _in_thread(self, operation: str, function: Callable[..., T], *args: Any) -> T:
        def translate(error: Exception) -> EngineError:
            if isinstance(error, SpecError):
                return PermanentEngineError(f"{operation} failed: the spec is invalid: {error}", reason="InvalidSpec")
            return classify(error, operation=operation)

        return await self._work.run(translate, function, *args)

    def _locked(self, ref: StackRef, operation: str) -> AbstractContextManager[dict[str, Any]]:
        return offlinesteps.locked(
            self.bucket,
            self.state_dir,
            ref.stack_name,
            operation,
            identity=self.identity,
            pod_probe=self.pod_probe,
            log=self.log,
        )

    def _apply(self, ref: StackRef, checkpoint: dict[str, Any], steps: list[state.Step]) -> None:
        offlinesteps.apply_steps(
            self.bucket,
            self.state_dir,
            ref.stack_name,
            checkpoint,
            steps,
            closing=self._work.closing,
            step_delay=self.step_delay,
            log=self.log,
        )

    def _fail_on_purpose(self, ref: StackRef, spec: PlatformSpec, operation: str) -> None:
        error = injected_failure(spec.tags, operation, self.state_dir / "faults" / f"{ref.stack_name}.json")
        if error is not None:
            raise error

    def _remove_stack(self, ref: StackRef) -> None:
        self.bucket.delete(state.checkpoint_key(PROJECT, ref.stack_name))
        self.passwords.remove(ref.stack_name)


def _now() -> datetime:
    return datetime.now(UTC)


def _rename_urns(text: str, old: str, new: str) -> str:
    return text.replace(f"urn:pulumi:{old}::", f"urn:pulumi:{new}::")


def _resources(checkpoint: dict[str, Any]) -> list[dict[str, Any]]:
    return list(checkpoint["checkpoint"]["latest"]["resources"])


def _summary(changes: Changes) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in changes.as_dict().items() if count) or "no changes"
