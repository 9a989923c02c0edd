"""The steps every kopf handler shares: the resources and annotations they watch, the status
writer, validating a spec, reading a stack's secrets, and ``_operate`` (one engine call
that acts on the newest generation only, reports its start, result or failure on status and
decides the retry). Superseded means a newer object came first: the call is not wanted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import kopf

from payplat import API_GROUP, API_VERSION, PLURAL
from payplat.controller.approval import Applied, Held
from payplat.controller.freshness import superseded
from payplat.controller.operations import Runtime
from payplat.controller.redaction import redact
from payplat.controller.status import next_status, status_patch
from payplat.controller.statusevents import (
    Failed,
    Invalid,
    Queued,
    Started,
)
from payplat.engines.base import (
    DriftReport,
    EngineError,
    OperationResult,
    PermanentEngineError,
    StackRef,
    StackSecrets,
    TransientEngineError,
    UnrecognisedEngineError,
)
from payplat.model.parsing import SpecError, parse_spec
from payplat.model.spec import PlatformSpec

RESOURCE = (API_GROUP, API_VERSION, PLURAL)


POLICY_RESOURCE = (API_GROUP, API_VERSION, "paymentplatformpolicies")


FINALIZER = f"{API_GROUP}/finalizer"


#: Set it to any new value (e.g. the time) for a new attempt without a spec change: it
#: retries a Stalled platform (or one that gave up on an unrecognised error) now, as
#: Flux's reconcile.fluxcd.io/requestedAt does. status.lastHandledReconcileRequest answers it.
RECONCILE_REQUEST_ANNOTATION = f"{API_GROUP}/reconcile-request"


#: Set it to any new value (e.g. the time) to have drift checked on the next timer tick,
#: whatever the interval, as Flux's reconcile.fluxcd.io/requestedAt does for a reconcile.
CHECK_DRIFT_ANNOTATION = f"{API_GROUP}/check-drift"


Result = TypeVar("Result", OperationResult, DriftReport, Applied | Held)


class _Writer:
    """The status as this handler invocation has built it so far, and where it goes."""

    def __init__(
        self,
        runtime: Runtime,
        namespace: str,
        name: str,
        body: kopf.Body,
        status: Mapping[str, Any],
        patch: kopf.Patch,
        generation: int,
    ) -> None:
        self.runtime, self.namespace, self.name, self.body = runtime, namespace, name, body
        self.patch, self.generation = patch, generation
        self.original: dict[str, Any] = dict(status)
        self.current: dict[str, Any] = dict(status)
        self.secrets: tuple[str, ...] = ()

    def clean(self, text: str) -> str:
        return redact(text, self.secrets)

    def compute(self, event: object) -> dict[str, Any]:
        self.current = next_status(self.current, self.generation, event, self.runtime.clock(), secrets=self.secrets)
        self.runtime.metrics.platform_status(
            StackRef(self.namespace, self.name).stack_name, self.current.get("conditions", ())
        )
        return self.current

    def write(self, event: object) -> None:
        """Record ``event`` in kopf's patch (applied when the handler returns or raises)."""
        self.compute(event)
        for key, value in status_patch(self.original, self.current).items():
            self.patch.status[key] = value

    def discard(self) -> None:
        """Forget what this invocation recorded: kopf applies the patch when the handler
        returns, after a newer generation's handler may have written its own status, and
        an older generation's status must not overwrite it (observedGeneration, Ready)."""
        for key in list(self.patch.status.keys()):
            del self.patch.status[key]
        self.current = dict(self.original)

    async def publish(self, event: object) -> None:
        """Record ``event`` and write it to the API server right now."""
        self.compute(event)
        try:
            await self.runtime.publish_status(self.namespace, self.name, status_patch(self.original, self.current))
        except Exception as error:  # noqa: BLE001 - an early status write is a courtesy only
            logging.getLogger(__name__).warning(
                "could not publish status of %s/%s: %s", self.namespace, self.name, type(error).__name__
            )
            return
        self.original = dict(self.current)


def _validated(writer: _Writer, spec: Mapping[str, Any], name: str) -> PlatformSpec:
    try:
        return parse_spec(dict(spec), name=name)
    except SpecError as error:
        writer.write(Invalid(tuple(error.problems)))
        message = "invalid spec: " + "; ".join(error.problems)
        kopf.warn(writer.body, reason="InvalidSpec", message=message)
        raise kopf.PermanentError(message) from None


async def _stack_secrets(runtime: Runtime, stack: StackRef, platform: PlatformSpec | None) -> StackSecrets:
    ref = platform.database.password_secret_ref if platform else None
    if ref is None:
        return StackSecrets()
    return StackSecrets(db_password=await runtime.read_secret(stack.namespace, stack.name, ref.name, ref.key))


async def _operate(
    writer: _Writer,
    ref: StackRef,
    operation: str,
    retry: int | None,
    call: Callable[[StackSecrets], Awaitable[Result]],
    *,
    platform: PlatformSpec | None,
    always_retry: bool = False,
) -> Result:
    """One engine operation with its events, status, metrics and failure policy.

    ``retry`` is kopf's attempt counter; None means a timer, which gets the
    ``EngineError`` back to record in status as it sees fit.
    """
    runtime = writer.runtime
    verb = operation.capitalize()
    started = runtime.clock()
    try:
        secrets = await _stack_secrets(runtime, ref, platform)
        writer.secrets = tuple(value for value in (secrets.db_password,) if value)
        # Only a handler publishes Queued: a timer's status write could land after the
        # newer generation's and leave an old observedGeneration behind.
        if retry is not None and operation != "drift" and runtime.gate.busy(ref.stack_name):
            await writer.publish(Queued(operation))
        async with runtime.gate.hold(ref.stack_name):
            await _ensure_current(writer, operation)
            started, begin = runtime.clock(), runtime.monotonic()
            kopf.info(
                writer.body, reason=f"{verb}Started", message=f"{operation} started ({runtime.engine.name} engine)"
            )
            if operation != "drift":  # a read-only check must not flip Ready while it runs
                await writer.publish(Started(operation, started))
            try:
                result = await call(secrets)
            finally:
                seconds = runtime.monotonic() - begin
    except Superseded:
        raise
    except EngineError as error:
        failure = error
    except Exception as error:  # any engine bug becomes a retried, reported failure
        logging.getLogger(__name__).exception("%s of %s crashed", operation, ref.stack_name)
        failure = UnrecognisedEngineError(f"unexpected {type(error).__name__}: {error}", reason="InternalError")
    else:
        if isinstance(result, Held):  # nothing applied: the caller reports the waiting change
            return result
        runtime.metrics.operation_finished(operation, "succeeded", seconds)
        kopf.info(writer.body, reason=f"{verb}Succeeded", message=writer.clean(_describe(result)))
        return result
    raise _failed(writer, operation, failure, started, retry, always_retry)


class Superseded(Exception):  # not an error: the operation is simply not wanted any more
    """The object changed while its operation waited for the stack (``freshness``)."""


async def _ensure_current(writer: _Writer, operation: str) -> None:
    """Re-read the object once the stack is ours; raise ``Superseded`` if the operation
    no longer belongs to it. An unreadable object is a transient failure, never a guess."""
    try:
        current = await writer.runtime.read_platform(writer.namespace, writer.name)
    except EngineError:
        raise
    except Exception as error:  # noqa: BLE001 - any API trouble: retry later rather than act blind
        raise TransientEngineError(
            f"could not re-read {writer.namespace}/{writer.name} before the {operation} "
            f"({type(error).__name__}); retrying",
            reason="ApiUnavailable",
        ) from None
    why = superseded(current, generation=writer.generation, operation=operation)
    if why is not None:
        raise Superseded(why)


def _failed(
    writer: _Writer, operation: str, error: EngineError, started: datetime, retry: int | None, always_retry: bool
) -> Exception:
    """Record the failure; return what to raise so kopf retries (or does not)."""
    runtime = writer.runtime
    runtime.metrics.operation_finished(operation, "failed", max(0.0, (runtime.clock() - started).total_seconds()))
    message = writer.clean(error.message)
    if retry is None:  # a timer: it records the failure itself and the next due check retries
        kopf.warn(writer.body, reason=f"{operation.capitalize()}Failed", message=message)
        return error
    attempts = retry + 1
    if error.unrecognised and attempts >= runtime.settings.max_unrecognised_attempts:
        error = PermanentEngineError(
            f"{error.message} (gave up after {attempts} attempts; annotate {RECONCILE_REQUEST_ANNOTATION}=<any new "
            "value> to try again)",
            reason=error.reason,
        )
        message = writer.clean(error.message)
    if error.permanent and not always_retry:
        writer.write(Failed(operation, error, started, runtime.clock(), retry_in=None))
        kopf.warn(writer.body, reason=f"{operation.capitalize()}Failed", message=f"{message} (stalled)")
        return kopf.PermanentError(f"{error.reason}: {message}")
    delay = runtime.settings.backoff_cap_seconds if error.permanent else runtime.backoff(retry)
    writer.write(Failed(operation, error, started, runtime.clock(), retry_in=delay))
    kopf.warn(writer.body, reason=f"{operation.capitalize()}Failed", message=f"{message} (retry in {delay:g}s)")
    return kopf.TemporaryError(f"{error.reason}: {message}", delay=delay)


def _describe(result: OperationResult | DriftReport | Applied) -> str:
    if isinstance(result, Applied):
        result = result.result
    if isinstance(result, DriftReport):
        return result.message or ("drift detected" if result.drifted else "no drift")
    changes = ", ".join(f"{kind} {count}" for kind, count in result.changes.as_dict().items() if count)
    return f"{result.operation} succeeded in {(result.finished - result.started).total_seconds():.1f}s ({changes or 'no changes'})"


def _post(body: kopf.Body, notes: Iterable[tuple[str, str, str]]) -> None:
    """Events other modules asked for (``approval``): only the handlers know kopf."""
    for kind, reason, message in notes:
        (kopf.warn if kind == "Warning" else kopf.info)(body, reason=reason, message=message)


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime = memo.get("runtime")
    if not isinstance(runtime, Runtime):
        raise kopf.PermanentError("operator misconfigured: memo.runtime is missing (start it with `payplat run`)")
    return runtime
