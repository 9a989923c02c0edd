"""The real engine: the Pulumi Automation API with the inline program, against AWS.

Each PaymentPlatform is the stack ``<namespace>-<name>`` of project ``payplat`` in a
self-managed backend (``file://<state_dir>/backend`` by default, ``s3://...`` in
production) with its secrets provider (``awskms://...`` in production; a passphrase kept
in ``<state_dir>/passphrase`` by default). Every operation:

1. selects the stack with the inline program ``make_program(spec, name=...)`` and a
   per-stack work dir ``<state_dir>/workspaces/<stack>`` (it holds ``Pulumi.<stack>.yaml``,
   which a pod restart on an emptyDir loses; see step 2 for why that is safe);
2. sets the stack config: ``aws:region``, ``aws:assumeRoles[0].roleArn`` (pulumi-aws 7
   replaced ``aws:assumeRole`` with the list ``aws:assumeRoles``) and the secret
   ``payplat:dbPassword``: the one given, else the one already in config, else the one the
   last ``up`` exported as a secret output (kept in the backend, so a lost workspace does
   not rotate the database password), else a new one;
3. breaks a stale stack lock only when this operator's own operation record proves its
   holder gone (``engines.locks.judge``: the record's pod UID no longer runs, or it ran on
   this host and neither the operator's nor the CLI's pid still runs; the record is
   written before the CLI starts and deleted after) and, if the checkpoint holds pending operations
   of an interrupted run, resolves them with ``refresh --clear-pending-creates`` (then, if
   any remain, by exporting the state without them and importing it back);
4. runs the operation with engine output streamed to the operator log line by line.

Steps 1-3 (and the operation record around each run) are ``engines.pulumistack``'s, a
base class of the engine; this module is the operations and their results.

Failures go through the one table in ``engines.errors``. ``close()`` sends SIGINT to the
running CLI processes (``engines.command``) and waits for them to finish their steps.

What only a real AWS run can verify (the fakes in ``tests/engines`` cannot):
* the CLI's own behaviour: that one SIGINT ends with the lock released and no pending
  operations, the exact lock-file path and JSON written by this CLI version, the stderr
  texts the error table matches, the ``resourceChanges`` keys of the summary;
* that ``aws:assumeRoles[0].roleArn`` set with ``path=True`` reaches the provider, and
  that the S3 backend and ``awskms://`` provider work with the operator's IAM role;
* that ``--clear-pending-creates`` drops an interrupted create that *did* happen in AWS:
  the resource then exists outside the state (a duplicate on the next ``up`` for
  auto-named resources, a name conflict for fixed names) and must be imported by hand;
  the offline engine's fake cloud can adopt it, AWS gives no such guarantee;
* running several inline programs at once in one process (the Python SDK keeps some
  runtime state per process; the operator's concurrency limit bounds this).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from payplat.engines import locks, lockstore
from payplat.engines.base import (
    Audit,
    DriftReport,
    EngineError,
    OperationResult,
    PermanentEngineError,
    Preview,
    StackRef,
    StackSecrets,
    TransientEngineError,
)
from payplat.engines.errors import classify
from payplat.engines.inflight import InFlight
from payplat.engines.pulumiresults import (
    changes_from,
    desired_config,
    masked_outputs,
    settings_from_state,
    steps_from,
    version_of,
)
from payplat.engines.pulumistack import StackPreparation
from payplat.model.identity import is_legacy, legacy_owner, stack_name
from payplat.model.spec import PlatformSpec
from payplat.program.stackkeys import PROJECT, root_name

__all__ = [
    "PROJECT",
    "PulumiEngine",
    "changes_from",
    "desired_config",
    "masked_outputs",
    "settings_from_state",
    "steps_from",
]

T = TypeVar("T")


class PulumiEngine(StackPreparation):
    name = "pulumi"

    def __init__(
        self,
        state_dir: Path,
        *,
        backend_url: str | None = None,
        secrets_provider: str | None = None,
        pod_probe: locks.PodProbe | None = None,
        identity: locks.Identity | None = None,
        log: logging.Logger | None = None,
        select_stack: Callable[..., Any] | None = None,
        command: Any | None = None,
        bucket: lockstore.StateBucket | None = None,
    ) -> None:
        """``select_stack``, ``command`` and ``bucket`` replace the Automation API's
        ``create_or_select_stack``, the CLI runner and the backend's storage in tests."""
        self.state_dir = Path(state_dir)
        self.backend_url = backend_url or f"file://{(self.state_dir / 'backend').resolve()}"
        self.secrets_provider = secrets_provider
        self.pod_probe = pod_probe
        self.identity = identity or locks.this_identity()
        self._records: dict[str, str] = {}  # stack -> the running operation's record key
        self.log = log or logging.getLogger("payplat.engine.pulumi")
        self._select_stack = select_stack
        self._command = command
        self._bucket = bucket
        self._work = InFlight()
        # Passwords handled, per stack: an error goes to that platform's status, so it is
        # scrubbed of that platform's password only (another's would be an oracle).
        self._known_secrets: dict[str, set[str]] = {}

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
        return await self._in_thread("up", self._recorded, "up", self._up, ref, spec, secrets, audit, refresh)

    async def preview(
        self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets, *, refresh: bool = False
    ) -> Preview:
        return await self._in_thread("preview", self._recorded, "preview", self._preview, ref, spec, secrets, refresh)

    async def destroy(self, ref: StackRef, spec: PlatformSpec, *, audit: Audit | None = None) -> OperationResult:
        return await self._in_thread("destroy", self._recorded, "destroy", self._destroy, ref, spec, audit)

    async def detect_drift(self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets) -> DriftReport:
        return await self._in_thread(
            "drift detection", self._recorded, "refresh", self._detect_drift, ref, spec, secrets
        )

    async def has_stack(self, ref: StackRef) -> bool:
        return await self._in_thread("stack lookup", self._has_stack, ref)

    async def forget(self, ref: StackRef) -> None:
        await self._in_thread("forget", self._recorded, "forget", self._forget, ref)

    async def migrate_stacks(self) -> list[tuple[str, str]]:
        """Rename stacks named before 0.2 (``<namespace>-<name>``) to their one-to-one names
        with ``pulumi stack rename`` (state, URNs and the stack's config file move with it)."""
        return await self._in_thread("stack migration", self._migrate_stacks)

    async def close(self, timeout: float = 120.0) -> None:
        """SIGINT to every running CLI (it finishes in-flight steps and releases the
        lock), then wait up to ``timeout`` seconds for the operations to return."""
        self._work.closing.set()
        command = self._command
        if command is not None and hasattr(command, "interrupt"):
            signalled = command.interrupt()
            if signalled:
                self.log.warning(
                    "shutdown: asked %d running pulumi process(es) to stop after their current steps", signalled
                )
        await self._work.drain(timeout)

    # ------------------------------------------------------------------ operations

    def _up(
        self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets, audit: Audit | None, refresh: bool
    ) -> OperationResult:
        started = _now()
        stack = self._stack(ref, spec, secrets)
        # The message is the update's record in the backend: `pulumi stack history` shows it.
        result = stack.up(
            on_output=self._stream(ref),
            color="never",
            suppress_progress=True,
            show_secrets=False,
            message=(audit or Audit(0)).message(),
            refresh=refresh or None,
        )
        changes = changes_from(result.summary.resource_changes if result.summary else None)
        return OperationResult(
            "up",
            self.name,
            started,
            _now(),
            changes,
            masked_outputs(result.outputs),
            "",
            update_id=self._update_id(stack, result.summary),
        )

    def _preview(self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets, refresh: bool) -> Preview:
        started = _now()
        stack = self._stack(ref, spec, secrets)
        events: list[Any] = []
        result = stack.preview(
            on_output=self._stream(ref),
            color="never",
            suppress_progress=True,
            refresh=refresh or None,
            on_event=events.append,
        )
        return Preview(changes_from(result.change_summary), steps_from(events), started, _now())

    def _destroy(self, ref: StackRef, spec: PlatformSpec, audit: Audit | None) -> OperationResult:
        started = _now()
        stack = self._stack(ref, spec, StackSecrets())
        result = stack.destroy(
            on_output=self._stream(ref),
            color="never",
            suppress_progress=True,
            show_secrets=False,
            message=(audit or Audit(0)).message(),
        )
        changes = changes_from(result.summary.resource_changes if result.summary else None)
        update_id = self._update_id(stack, result.summary)
        stack.workspace.remove_stack(ref.stack_name)  # state and config go with the resources
        return OperationResult("destroy", self.name, started, _now(), changes, {}, "", update_id=update_id)

    def _update_id(self, stack: Any, summary: Any) -> str:
        """The update's version, as Pulumi Cloud numbers it; a self-managed backend records
        version 0 for every update, so there it is the update's place in the stack's
        history (1 for the oldest), which ``pulumi stack history`` lists newest first."""
        version = version_of(summary)
        if version not in ("", "0"):
            return version
        try:
            return str(len(stack.history()))
        except Exception as error:  # noqa: BLE001 - the update succeeded; only its id is unknown
            self.log.warning(
                "[%s] could not read the stack history for the update id: %s", stack.name, type(error).__name__
            )
            return ""

    def _detect_drift(self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets) -> DriftReport:
        started = _now()
        stack = self._stack(ref, spec, secrets)
        refreshed = stack.refresh(
            on_output=self._stream(ref), color="never", suppress_progress=True, show_secrets=False
        )
        refresh_changes = changes_from(refreshed.summary.resource_changes if refreshed.summary else None)
        preview = stack.preview(on_output=self._stream(ref), color="never", suppress_progress=True)
        changes = changes_from(preview.change_summary)
        drifted = refresh_changes.total > 0 or changes.total > 0
        message = (
            f"refresh found {refresh_changes.total} resource(s) changed outside Pulumi; "
            f"preview: {changes.create} to create, {changes.update} to update, "
            f"{changes.replace} to replace, {changes.delete} to delete"
        )
        return DriftReport(drifted, changes, started, _now(), message)

    def _has_stack(self, ref: StackRef) -> bool:
        """The backend's own checkpoint file (``.pulumi/stacks/<project>/<stack>.json``,
        gzipped when the backend compresses), not the workspace, which a restart loses."""
        return lockstore.stack_exists(self._state_bucket(), PROJECT, ref.stack_name)

    def _forget(self, ref: StackRef) -> None:
        from pulumi.automation.errors import StackNotFoundError

        stack = self._select(ref, program=_no_program)
        self._clear_stale_lock(ref)
        try:
            stack.workspace.remove_stack(ref.stack_name, force=True)
        except StackNotFoundError:
            pass

    def _migrate_stacks(self) -> list[tuple[str, str]]:
        bucket = self._state_bucket()
        prefix = f".pulumi/stacks/{PROJECT}/"
        existing = {key.removeprefix(prefix).split(".json")[0] for key in bucket.list(prefix)}
        renamed = []
        for old in sorted(name for name in existing if is_legacy(name)):
            stack = self._select_named(old, program=_no_program)
            owner = legacy_owner(old, root_name((stack.export_stack().deployment or {}).get("resources") or ()) or "")
            if owner is None:
                self.log.warning("[%s] stack from before 0.2 with no PaymentPlatform in it: left as it is", old)
                continue
            new = stack_name(*owner)
            if new in existing:
                self.log.warning("[%s] not migrated: stack %s already exists", old, new)
                continue
            stack.rename(new, on_output=self._stream_named(old))
            workspace = self.state_dir / "workspaces"
            if (workspace / old).exists() and not (workspace / new).exists():
                os.replace(workspace / old, workspace / new)  # Pulumi.<new>.yaml, renamed by the CLI
            self.log.warning("[%s] migrated to stack %s (%s/%s)", old, new, *owner)
            renamed.append((old, new))
        return renamed

    # ------------------------------------------------------------------ plumbing

    async def _in_thread(self, operation: str, function: Callable[..., T], *args: Any) -> T:
        def translate(error: Exception) -> EngineError:
            if isinstance(error, FileNotFoundError) and "pulumi" in str(error):
                return PermanentEngineError(
                    "the pulumi CLI is not installed here: run the operator's container image, or use the offline engine",
                    reason="EngineUnavailable",
                )
            if self._work.closing.is_set():
                return TransientEngineError(
                    f"{operation} stopped by operator shutdown; it resumes on the next start", reason="Interrupted"
                )
            ref = next((arg for arg in args if isinstance(arg, StackRef)), None)  # after _recorded's own arguments
            stack = ref.stack_name if ref is not None else None
            return classify(error, operation=operation, known_secrets=tuple(self._known_secrets.get(stack or "", ())))

        return await self._work.run(translate, function, *args)


# --------------------------------------------------------------------------- helpers


def _no_program() -> None:
    """Forget needs a workspace, not a program."""


def _now() -> datetime:
    return datetime.now(UTC)
