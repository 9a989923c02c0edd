"""kopf handlers: turn PaymentPlatform events into engine operations and status.

Each handler reads the object, asks ``payplat.controller.status`` what the status becomes, and writes
it through kopf's ``patch``. Their dependencies (engine, settings, limits, metrics, the
Secret reader) arrive in ``memo.runtime`` (``payplat.controller.operations.Runtime``), built by
``payplat.controller.runner``, or by a test with a fake engine.

Concurrency: kopf runs the create/update/resume/delete handlers of one object strictly
one after another; the drift timer runs beside them, so every engine call also takes the
stack's lock and one of ``max_concurrent_operations`` global slots (``OperationGate``).

Handler ids are part of the stored state (progress annotations ``payplat.io/<id>``):
renaming one orphans the progress recorded on existing objects.

Kubernetes API calls made by this process (the RBAC the operator needs):

* ``payplat.io/paymentplatforms`` in the watched namespaces (cluster-wide with
  ``--cluster-wide``): ``get, list, watch, patch`` (``get``: ``kube.read_platform``, every
  engine call re-reads its object once it holds the stack) (kopf: watching, the finalizer
  ``payplat.io/finalizer``, progress and last-handled-configuration annotations).
* ``payplat.io/paymentplatforms/status``: ``get, patch`` (kopf's status patch and
  ``kube.publish_status`` when an operation starts).
* core ``events`` in the watched namespaces: ``create`` (kopf.info/warn events).
* core ``secrets`` in the watched namespaces: ``get`` (``spec.database.passwordSecretRef``;
  metadata first, the value only from a Secret that consents, ``kube.read_secret``).
* core ``configmaps`` in the watched namespaces: ``create`` of change control's plan
  ConfigMaps and ``delete`` of superseded ones, by name with a UID precondition, so only
  one this operator created (``kube.ConfigMapPlans``); never ``get``/``list``/``update``.
* core ``configmaps`` in the operator's namespace: ``get`` of the assume-role allow-list;
  ``get, update`` of the environment-suffix claims and ``create`` for the first claim
  (``payplat.controller.claims``).
* ``coordination.k8s.io/leases`` in the lease namespace (default: the operator's own):
  ``get, create, update`` (``payplat.controller.leadership``).
* core ``pods`` in the operator's own namespace: ``get`` (``kube.pod_gone``, whether the
  operator pod an operation record names, by UID, has ended: only then is its lock broken).
* ``apiextensions.k8s.io/customresourcedefinitions``: ``list, watch``, cluster-wide (kopf
  notices the CRD being installed or changed at runtime).
* core ``namespaces``: ``list, watch``, cluster-wide, only when watching a list of
  namespaces (kopf checks they exist). Without these two, kopf logs a warning and falls
  back to API discovery and the namespaces it was given.
* ``payplat.io/paymentplatformpolicies`` (cluster-scoped): ``get, list, watch`` (the
  ``policies`` index) and ``paymentplatformpolicies/status``: ``patch``
  (``kube.publish_policy_status``: whether each policy's CEL compiled).
* Not used: ``kopfpeerings`` (leadership is the Lease, kopf runs ``standalone``).

Guardrails: before every ``up`` (a reconcile, or a drift remediation) the platform is
planned under mocks and reviewed (``payplat.guardrails``: the built-in pack, the
``PaymentPlatformPolicy`` rules that select it, its waivers, the cost estimate and
``spec.budget``). An unwaived critical finding stalls it with reason PolicyViolation and
no engine call; kopf retries the check with backoff, so deleting the policy or adding a
waiver takes effect without a spec change.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import kopf

from payplat import API_GROUP, API_VERSION, PLURAL
from payplat.controller.approval import Applied, Held, applied, gated_up, held, record_destroy
from payplat.controller.changecontrol import APPROVE_ANNOTATION
from payplat.controller.freshness import superseded
from payplat.controller.gatekeeper import admit, release_other_claims
from payplat.controller.operations import Runtime
from payplat.controller.redaction import redact
from payplat.controller.settings import Settings
from payplat.controller.status import drift_check_due, is_settled, next_status, policy_status, status_patch
from payplat.controller.statusevents import (
    DriftCheckFailed,
    DriftRequestAnswered,
    Failed,
    Forgotten,
    Invalid,
    Phase,
    PolicyBlocked,
    Queued,
    ReconcileRequested,
    Remediated,
    RemediationFailed,
    Reviewed,
    Started,
    Suspended,
)
from payplat.engines.base import (
    Audit,
    DriftReport,
    EngineError,
    OperationResult,
    PermanentEngineError,
    StackRef,
    StackSecrets,
    TransientEngineError,
    UnrecognisedEngineError,
)
from payplat.guardrails import OrgPolicy, PlatformRef, Review, parse_policy, review
from payplat.model.parsing import SpecError, parse_spec
from payplat.model.parts import DeletionPolicy, DriftMode
from payplat.model.spec import PlatformSpec
from payplat.program.plan import PlannedResource, plan

__all__ = ["CHECK_DRIFT_ANNOTATION", "FINALIZER", "RECONCILE_REQUEST_ANNOTATION", "apply_kopf_settings", "check_drift",
           "configure", "delete", "policies", "policy_changed", "reconcile", "register_drift_timer"]

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


# --------------------------------------------------------------------------- startup


@kopf.on.startup(id="configure")
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    apply_kopf_settings(settings, _runtime(memo).settings)


def apply_kopf_settings(kopf_settings: kopf.OperatorSettings, ours: Settings) -> None:
    """Our names for kopf's state, and its watch/retry knobs from our settings."""
    persistence = kopf_settings.persistence
    persistence.finalizer = FINALIZER
    persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=API_GROUP, key="last-handled-configuration")
    kopf_settings.posting.level = logging.INFO
    kopf_settings.posting.reporting_component = "payplat-operator"
    kopf_settings.posting.reporting_instance = ours.identity
    kopf_settings.posting.event_name_prefix = "payplat-"
    # A watch that ends after resync_seconds makes kopf re-list: a periodic resync that
    # costs no engine call for unchanged objects (their essence has no diff).
    # The API server wants whole seconds (timeoutSeconds=600.0 is a 400 Bad Request).
    kopf_settings.watching.server_timeout = int(ours.resync_seconds)
    kopf_settings.watching.client_timeout = int(ours.resync_seconds) + 60
    kopf_settings.watching.connect_timeout = 30
    kopf_settings.execution.default_backoff = ours.backoff_base_seconds
    kopf_settings.execution.max_workers = ours.max_concurrent_operations + 2
    # Leadership is a Lease (payplat.controller.leadership), not kopf peering: equal-priority peers
    # would all keep running.
    kopf_settings.peering.standalone = True


# --------------------------------------------------------------------------- create / update / resume


@kopf.on.resume(*RESOURCE, id="resume")
@kopf.on.update(*RESOURCE, id="update")
@kopf.on.create(*RESOURCE, id="create")  # type: ignore[arg-type]  # namespaced: namespace is never None
async def reconcile(name: str, namespace: str, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
                    patch: kopf.Patch, body: kopf.Body, retry: int, memo: kopf.Memo,
                    logger: logging.Logger | logging.LoggerAdapter[Any],
                    policies: kopf.Index[str, OrgPolicy] | None = None, **_: Any) -> None:
    """Converge AWS to the spec, unless this generation is already Ready/Stalled/Suspended
    (a resync, a metadata-only change or an operator restart then costs nothing)."""
    runtime = _runtime(memo)
    generation = int(meta.get("generation") or 0)
    requested = (meta.get("annotations") or {}).get(RECONCILE_REQUEST_ANNOTATION)
    approval = (meta.get("annotations") or {}).get(APPROVE_ANNOTATION)
    if is_settled(status, generation, requested, approval):
        logger.info("generation %s is already %s: no engine call", generation, status.get("phase"))
        runtime.metrics.platform_status(StackRef(namespace, name).stack_name, status.get("conditions") or ())
        if status.get("phase") == Phase.READY.value and "cost" not in status:
            await _review_settled(runtime, namespace, name, spec, meta, status, patch, body, generation, policies)
        return
    writer = _Writer(runtime, namespace, name, body, status, patch, generation)
    if requested:
        writer.write(ReconcileRequested(requested))
    platform = _validated(writer, spec, name)
    if platform.suspend:
        writer.write(Suspended())
        kopf.info(body, reason="Suspended", message="spec.suspend is true: no engine work")
        return
    ref = StackRef(namespace, name)
    try:
        await admit(runtime, ref, platform, claim=True)
    except EngineError as error:
        raise _failed(writer, "up", error, runtime.clock(), retry, always_retry=False) from None
    checked = await _review(writer, ref, platform, meta, policies, "up", retry)
    if checked.blocking:
        delay = runtime.backoff(retry)
        message = writer.clean(checked.blocking_message())
        writer.write(PolicyBlocked(message, checked.status_policy(), checked.cost.summary(), delay))
        kopf.warn(body, reason="PolicyViolation", message=message)
        raise kopf.TemporaryError(message, delay=delay)
    try:  # change control: preview, then up only what may apply now (payplat.controller.approval)
        outcome = await _operate(writer, ref, "up", retry, lambda secrets: gated_up(
            runtime, ref, platform, secrets, generation=generation, meta=meta, status=writer.current,
            review=checked), platform=platform)
    except Superseded as why:  # kopf runs the handler again for the newer object
        logger.info("up of generation %s not run: %s", generation, why)
        return
    if isinstance(outcome, Held):
        _post(body, await held(writer, platform, str(meta.get("uid") or ""), outcome))
        return
    writer.write(outcome.result)
    _post(body, applied(writer, platform, outcome, checked))
    try:
        await release_other_claims(runtime, ref, platform)
    except EngineError as error:  # AWS converged; a stale claim holds the old suffix until the next up
        logger.warning("could not release the old suffix claims of %s: %s", ref.owner, error.message)


@kopf.on.event(*RESOURCE, id="requests")  # type: ignore[arg-type]  # namespaced: namespace is never None
async def requests(name: str, namespace: str, spec: kopf.Spec, meta: kopf.Meta,
                   status: kopf.Status, patch: kopf.Patch, body: kopf.Body, memo: kopf.Memo,
                   logger: logging.Logger | logging.LoggerAdapter[Any], type: str | None = None,
                   policies: kopf.Index[str, OrgPolicy] | None = None, **_: Any) -> None:
    """Answer a new ``payplat.io/approve`` or ``payplat.io/reconcile-request`` value.

    kopf leaves every ``payplat.io/`` annotation out of an object's essence (its progress
    storage clears its own prefix), so setting one triggers no update handler; this
    watch-event handler notices the new value and reconciles. Only when the current
    generation was already handled: a spec change is the update handler's, which reads
    the annotations itself. A failure here is recorded in status and answered again on
    the next watch event (a resync at the latest), since the value stays unanswered.
    """
    if type == "DELETED" or meta.get("deletionTimestamp"):
        return
    generation = int(meta.get("generation") or 0)
    annotations = meta.get("annotations") or {}
    approval = annotations.get(APPROVE_ANNOTATION)
    requested = annotations.get(RECONCILE_REQUEST_ANNOTATION)
    new_approval = bool(approval) and approval != status.get("lastHandledApproval") and (
        status.get("phase") == Phase.AWAITING_APPROVAL.value
        or (status.get("phase") == Phase.FAILED.value and _backed_off(_runtime(memo), status)))
    new_request = bool(requested) and requested != status.get("lastHandledReconcileRequest")
    if status.get("observedGeneration") != generation or not (new_approval or new_request):
        return
    logger.info("answering %s", f"{APPROVE_ANNOTATION}={approval}" if new_approval
                else f"{RECONCILE_REQUEST_ANNOTATION}={requested}")
    try:
        # kopf's decorator types reconcile as its ChangingFn; called directly it is the plain function.
        await reconcile(  # type: ignore[misc,call-arg]
            name=name, namespace=namespace, spec=spec, meta=meta, status=status, patch=patch, body=body,
            retry=0, memo=memo, logger=logger, policies=policies)
    except (kopf.TemporaryError, kopf.PermanentError) as error:  # in status already; a later event retries
        logger.warning("answering the request failed: %s", error)


def _backed_off(runtime: Runtime, status: Mapping[str, Any]) -> bool:
    """An approved change whose ``up`` failed is tried again from a later watch event, at
    most once per backoff cap (its own status write is such an event: no hot loop)."""
    ended = (status.get("lastUpdate") or {}).get("endTime")
    if not ended:
        return True
    since = runtime.clock() - datetime.strptime(ended, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return since.total_seconds() >= runtime.settings.backoff_cap_seconds


# --------------------------------------------------------------------------- guardrails


@kopf.index(*POLICY_RESOURCE, id="policies")
async def policies(name: str, body: kopf.Body, **_: Any) -> dict[str, OrgPolicy]:
    """Every PaymentPlatformPolicy, parsed and compiled once per change (kopf keeps the
    index current from its watch; handlers receive it as ``policies``)."""
    return {name: parse_policy(body)}


@kopf.on.event(*POLICY_RESOURCE, id="policy-status")
async def policy_changed(type: str | None, name: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Report in the policy's own status whether it compiled: CRD validation cannot
    compile CEL, so a typo shows here (and fails closed on the platforms it selects)."""
    runtime = _runtime(memo)
    if type == "DELETED" or runtime.publish_policy_status is None:
        return
    parsed = parse_policy(body)
    previous = dict(body.get("status") or {})
    new = policy_status(previous, parsed.generation, parsed.problems, len(parsed.spec.rules) if parsed.spec else 0,
                        runtime.clock())
    changes = status_patch(previous, new)
    if not changes:
        return
    try:
        await runtime.publish_policy_status(name, changes)
    except Exception as error:  # noqa: BLE001 - the next event tries again; evaluation does not depend on it
        logging.getLogger(__name__).warning("could not write status of PaymentPlatformPolicy %s: %s", name,
                                            error.__class__.__name__)


@functools.lru_cache(maxsize=64)
def _plan_of(spec_json: str, name: str, namespace: str) -> tuple[PlannedResource, ...]:
    return tuple(plan(PlatformSpec.model_validate_json(spec_json), name=name, namespace=namespace).resources)


def planned_resources(platform: PlatformSpec, name: str, namespace: str) -> tuple[PlannedResource, ...]:
    """The platform's plan under mocks, cached by spec: a blocked platform's re-checks
    and a drift remediation of an unchanged spec cost no new plan."""
    return _plan_of(platform.model_dump_json(), name, namespace)


async def _review_settled(runtime: Runtime, namespace: str, name: str, spec: Mapping[str, Any], meta: Mapping[str, Any],
                          status: Mapping[str, Any], patch: kopf.Patch, body: kopf.Body, generation: int,
                          index: Mapping[str, Iterable[OrgPolicy]] | None) -> None:
    """A platform made Ready by an operator without guardrails gets status.policy and
    status.cost on the next resume, without an engine call and without changing Ready
    (a finding that would block is shown, and blocks the next up)."""
    writer = _Writer(runtime, namespace, name, body, status, patch, generation)
    try:
        platform = parse_spec(dict(spec), name=name)
    except SpecError:
        return
    checked = await _review(writer, StackRef(namespace, name), platform, meta, index, "up", None)
    writer.write(Reviewed(checked.status_policy(), checked.cost.summary()))


#: The guardrails plan one platform at a time, in a thread of their own: planning under
#: mocks is CPU-bound Python, and a burst of platforms planned on the default executor's
#: threads starved the event loop (the Lease renewal timed out and the leader stepped down).
_PLANNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="payplat-guardrails")


async def _review(writer: _Writer, ref: StackRef, platform: PlatformSpec, meta: Mapping[str, Any],
                  index: Mapping[str, Iterable[OrgPolicy]] | None, operation: str, retry: int | None) -> Review:
    """Plan under mocks (off the event loop) and review the plan. Findings and waivers
    go to events; status.policy and status.cost to the status (the caller decides what
    a blocking finding does)."""
    try:
        planned = await asyncio.get_running_loop().run_in_executor(
            _PLANNER, planned_resources, platform, ref.name, ref.namespace)
    except Exception as error:  # the engine's own run would fail the same way: retried, reported
        logging.getLogger(__name__).exception("planning %s under mocks failed", ref.stack_name)
        now = writer.runtime.clock()
        raise _failed(writer, operation, TransientEngineError(
            f"the guardrails could not plan the platform: {type(error).__name__}: {error}", reason="PlanFailed"),
            now, retry, False) from None
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    selected = [policy for store in (index or {}).values() for policy in store]
    checked = review(planned, platform, PlatformRef(ref.name, ref.namespace, labels, platform.region),
                     annotations=annotations, policies=selected)
    if not checked.blocking:
        writer.write(Reviewed(checked.status_policy(), checked.cost.summary()))
    for waiver in checked.waivers:
        kopf.info(writer.body, reason="PolicyWaived", message=writer.clean(f"{waiver.rule} waived: {waiver.reason}"))
    counts = checked.counts()
    reported = [f for f in checked.findings if f.waived is None and not f.blocks]
    if reported:
        summary = ", ".join(f"{n} {severity}" for severity, n in counts.items() if n)
        top = "; ".join(f"{f.rule} on {f.resource}" for f in reported[:3])
        post = kopf.warn if counts["high"] else kopf.info
        post(writer.body, reason="PolicyFindings", message=writer.clean(f"{summary}: {top}"))
    return checked


# --------------------------------------------------------------------------- delete


@kopf.on.delete(*RESOURCE, id="delete")  # type: ignore[arg-type]  # namespaced: namespace is never None
async def delete(name: str, namespace: str, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
                 patch: kopf.Patch, body: kopf.Body, retry: int, memo: kopf.Memo,
                 logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any) -> None:
    """Delete destroys the stack, and the finalizer goes only once that succeeded; Retain
    forgets the stack and leaves AWS alone. This handler never gives up (a permanent
    failure would let kopf drop the finalizer and silently skip the destroy)."""
    runtime = _runtime(memo)
    generation = int(meta.get("generation") or 0)
    writer = _Writer(runtime, namespace, name, body, status, patch, generation)
    ref = StackRef(namespace, name)
    retain = spec.get("deletionPolicy", DeletionPolicy.RETAIN.value) != DeletionPolicy.DELETE.value
    deployed = True if retain else await _has_stack(writer, ref)
    if retain or not deployed:
        async with runtime.gate.hold(ref.stack_name):
            await runtime.engine.forget(ref)
        writer.write(Forgotten())
        message = ("deletionPolicy Retain: AWS resources left in place" if retain
                   else "the engine holds no stack for this platform: nothing to destroy")
        kopf.info(body, reason="Retained" if retain else "NothingToDestroy", message=message)
        if not retain:  # retained AWS resources keep their names, and so the claim (payplat.controller.claims)
            await release_other_claims(runtime, ref, None)
        _forget(runtime, ref)
        return
    try:
        platform = parse_spec(dict(spec), name=name)
    except SpecError as error:
        _blocked(writer, PermanentEngineError(
            "cannot destroy with an invalid spec (" + "; ".join(error.problems) + "); fix the spec or set "
            "deletionPolicy: Retain", reason="InvalidSpec"))
    if platform.suspend:
        _blocked(writer, PermanentEngineError(
            "spec.suspend is true, so the destroy waits; set suspend: false to let it run, or deletionPolicy: "
            "Retain to keep AWS", reason="Suspended"))
    try:
        await admit(runtime, ref, platform, claim=False)
    except EngineError as error:
        _blocked(writer, error)
    try:
        result = await _operate(writer, ref, "destroy", retry,
                                lambda _secrets: runtime.engine.destroy(ref, platform, audit=Audit(generation)),
                                platform=None, always_retry=True)
    except Superseded as why:
        logger.info("destroy not run: %s", why)
        return
    writer.write(result)
    record_destroy(writer, result, platform.change_control.history_limit)
    await release_other_claims(runtime, ref, None)
    _forget(runtime, ref)


async def _has_stack(writer: _Writer, ref: StackRef) -> bool:
    """Whether the engine holds a stack for ``ref``: the engine's state, not the object's
    status, decides (a lost status patch or a restored object says nothing of AWS)."""
    try:
        async with writer.runtime.gate.hold(ref.stack_name):
            return await writer.runtime.engine.has_stack(ref)
    except EngineError as error:
        _blocked(writer, error)


def _blocked(writer: _Writer, error: EngineError) -> NoReturn:
    """The delete cannot proceed now: say why, keep the finalizer, look again later."""
    now = writer.runtime.clock()
    delay = writer.runtime.settings.backoff_cap_seconds
    writer.write(Failed("destroy", error, now, now, retry_in=delay))
    kopf.warn(writer.body, reason="DestroyBlocked", message=writer.clean(error.message))
    raise kopf.TemporaryError(writer.clean(error.message), delay=delay)


def _forget(runtime: Runtime, ref: StackRef) -> None:
    runtime.gate.forget(ref.stack_name)
    runtime.metrics.platform_gone(ref.stack_name)


# --------------------------------------------------------------------------- drift


def register_drift_timer(interval: float, registry: kopf.OperatorRegistry | None = None) -> None:
    """kopf timers have one interval per handler, fixed at registration; the per-object
    ``driftDetection.intervalMinutes`` is honoured by ticking every ``interval`` seconds
    and checking only when ``status.lastDriftCheck`` is old enough (``drift_check_due``)."""
    kopf.timer(*RESOURCE, id="drift", interval=interval, initial_delay=interval, registry=registry)(check_drift)  # type: ignore[arg-type]  # namespace is never None


async def check_drift(name: str, namespace: str, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status,
                      patch: kopf.Patch, body: kopf.Body, memo: kopf.Memo,
                      logger: logging.Logger | logging.LoggerAdapter[Any],
                      policies: kopf.Index[str, OrgPolicy] | None = None, **_: Any) -> None:
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
        report = await _operate(writer, ref, "drift", None,
                                lambda secrets: runtime.engine.detect_drift(ref, platform, secrets), platform=platform)
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
            kopf.warn(body, reason="PolicyViolation",
                      message=writer.clean("remediation blocked: " + checked.blocking_message()))
            return
        try:  # change control applies to a remediation as to any up
            outcome = await _operate(writer, ref, "up", None, lambda secrets: gated_up(
                runtime, ref, platform, secrets, generation=generation, meta=meta, status=writer.current,
                review=checked), platform=platform)
        except Superseded as why:  # never put back an older spec, nor re-create what a delete removed
            logger.warning("drift remediation of generation %s not run: %s", generation, why)
            writer.discard()  # this check's status describes an older generation than the one now Ready
            return
        except EngineError as error:  # the next due check tries again
            writer.write(RemediationFailed(error, started, runtime.clock()))
            return
        if isinstance(outcome, Held):  # Drifted stays True; a reconcile request turns it into a pending change
            kopf.warn(body, reason="RemediationAwaitsApproval", message=writer.clean(
                f"remediating needs approval ({outcome.change.describe()}): annotate {RECONCILE_REQUEST_ANNOTATION}="
                "<any new value> to preview it as a pending change, then approve its plan"))
            return
        writer.write(Remediated(outcome.result))
        _post(body, applied(writer, platform, outcome, checked))


# --------------------------------------------------------------------------- the shared steps


class _Writer:
    """The status as this handler invocation has built it so far, and where it goes."""

    def __init__(self, runtime: Runtime, namespace: str, name: str, body: kopf.Body, status: Mapping[str, Any],
                 patch: kopf.Patch, generation: int) -> None:
        self.runtime, self.namespace, self.name, self.body = runtime, namespace, name, body
        self.patch, self.generation = patch, generation
        self.original: dict[str, Any] = dict(status)
        self.current: dict[str, Any] = dict(status)
        self.secrets: tuple[str, ...] = ()

    def clean(self, text: str) -> str:
        return redact(text, self.secrets)

    def compute(self, event: object) -> dict[str, Any]:
        self.current = next_status(self.current, self.generation, event, self.runtime.clock(), secrets=self.secrets)
        self.runtime.metrics.platform_status(StackRef(self.namespace, self.name).stack_name,
                                             self.current.get("conditions", ()))
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
            logging.getLogger(__name__).warning("could not publish status of %s/%s: %s", self.namespace, self.name,
                                                type(error).__name__)
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


async def _operate(writer: _Writer, ref: StackRef, operation: str, retry: int | None,
                   call: Callable[[StackSecrets], Awaitable[Result]], *, platform: PlatformSpec | None,
                   always_retry: bool = False) -> Result:
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
            kopf.info(writer.body, reason=f"{verb}Started", message=f"{operation} started ({runtime.engine.name} engine)")
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
        raise TransientEngineError(f"could not re-read {writer.namespace}/{writer.name} before the {operation} "
                                   f"({type(error).__name__}); retrying", reason="ApiUnavailable") from None
    why = superseded(current, generation=writer.generation, operation=operation)
    if why is not None:
        raise Superseded(why)


def _failed(writer: _Writer, operation: str, error: EngineError, started: datetime, retry: int | None,
            always_retry: bool) -> Exception:
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
            "value> to try again)", reason=error.reason)
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
