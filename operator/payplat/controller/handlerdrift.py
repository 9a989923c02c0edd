"""The drift timer: registered at start-up with the configured interval, it checks a settled
platform's stack against AWS when due (or when asked by annotation), records the report on
status and, in remediate mode, runs a reviewed, change-controlled up.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from payplat.controller.approval import Held, applied, gated_up
from payplat.controller.gatekeeper import admit
from payplat.controller.handlerreview import _review
from payplat.controller.handlersteps import (
    CHECK_DRIFT_ANNOTATION,
    RECONCILE_REQUEST_ANNOTATION,
    RESOURCE,
    Superseded,
    _operate,
    _post,
    _runtime,
    _Writer,
)
from payplat.controller.status import drift_check_due, is_settled
from payplat.controller.statusevents import (
    DriftCheckFailed,
    DriftRequestAnswered,
    Phase,
    Remediated,
    RemediationFailed,
    Reviewed,
)
from payplat.engines.base import (
    EngineError,
    StackRef,
)
from payplat.guardrails import OrgPolicy
from payplat.model.parsing import SpecError, parse_spec
from payplat.model.parts import DriftMode


def register_drift_timer(interval: float, registry: kopf.OperatorRegistry | None = None) -> None:
    """kopf timers have one interval per handler, fixed at registration; the per-object
    ``driftDetection.intervalMinutes`` is honoured by ticking every ``interval`` seconds
    and checking only when ``status.lastDriftCheck`` is old enough (``drift_check_due``)."""
    kopf.timer(*RESOURCE, id="drift", interval=interval, initial_delay=interval, registry=registry)(check_drift)  # type: ignore[arg-type]  # namespace is never None


async def check_drift(
    name: str,
    namespace: str,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    patch: kopf.Patch,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    policies: kopf.Index[str, OrgPolicy] | None = None,
    **_: Any,
) -> None:
    """Refresh + preview when due; Drifted reports the result, Remediate also runs ``up``."""
    runtime = _runtime(memo)
    generation = int(meta.get("generation") or 0)
    if meta.get("deletionTimestamp") or status.get("phase") != Phase.READY.value or not is_settled(status, generation):
        return
    try:
        platform = parse_spec(dict(spec), name=name)
    except SpecError:
        return
    mode = platform.drift_detection.mode
    requested = (meta.get("annotations") or {}).get(CHECK_DRIFT_ANNOTATION)
    if platform.suspend or (mode is DriftMode.OFF and not requested):  # a person's request wins over Off
        return
    if not drift_check_due(status, platform.drift_detection.interval_minutes, runtime.clock(), requested):
        return
    writer = _Writer(runtime, namespace, name, body, status, patch, generation)
    ref = StackRef(namespace, name)
    try:
        await admit(runtime, ref, platform, claim=False)
        report = await _operate(
            writer,
            ref,
            "drift",
            None,
            lambda secrets: runtime.engine.detect_drift(ref, platform, secrets),
            platform=platform,
        )
    except Superseded as why:  # a newer spec, a deletion or a suspend came first: theirs to handle
        logger.info("drift check of generation %s not run: %s", generation, why)
        return
    except EngineError as error:  # the next due check tries again
        report = None
        writer.write(DriftCheckFailed(error, runtime.clock()))
    else:
        writer.write(report)
    if requested:
        writer.write(DriftRequestAnswered(requested))
    if report is None or not report.drifted:
        return
    runtime.metrics.drift_detected.inc()
    kopf.warn(body, reason="DriftDetected", message=writer.clean(report.message or "AWS differs from the stack"))
    if mode is DriftMode.REMEDIATE:
        started = runtime.clock()
        checked = await _review(writer, ref, platform, meta, policies, "up", None)
        if checked.blocking:  # Drifted stays True: the drift is reported, the fix is not allowed
            writer.write(Reviewed(checked.status_policy(), checked.cost.summary()))
            kopf.warn(
                body,
                reason="PolicyViolation",
                message=writer.clean("remediation blocked: " + checked.blocking_message()),
            )
            return
        try:  # change control applies to a remediation as to any up
            outcome = await _operate(
                writer,
                ref,
                "up",
                None,
                lambda secrets: gated_up(
                    runtime,
                    ref,
                    platform,
                    secrets,
                    generation=generation,
                    meta=meta,
                    status=writer.current,
                    review=checked,
                ),
                platform=platform,
            )
        except Superseded as why:  # never put back an older spec, nor re-create what a delete removed
            logger.warning("drift remediation of generation %s not run: %s", generation, why)
            writer.discard()  # this check's status describes an older generation than the one now Ready
            return
        except EngineError as error:  # the next due check tries again
            writer.write(RemediationFailed(error, started, runtime.clock()))
            return
        if isinstance(outcome, Held):  # Drifted stays True; a reconcile request turns it into a pending change
            kopf.warn(
                body,
                reason="RemediationAwaitsApproval",
                message=writer.clean(
                    f"remediating needs approval ({outcome.change.describe()}): annotate {RECONCILE_REQUEST_ANNOTATION}="
                    "<any new value> to preview it as a pending change, then approve its plan"
                ),
            )
            return
        writer.write(Remediated(outcome.result))
        _post(body, applied(writer, platform, outcome, checked))
