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

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

import kopf

from payplat import API_GROUP
from payplat.controller.approval import Held, applied, gated_up, held, record_destroy
from payplat.controller.changecontrol import APPROVE_ANNOTATION
from payplat.controller.gatekeeper import admit, release_other_claims
from payplat.controller.handlerreview import _review, _review_settled
from payplat.controller.handlersteps import (
    FINALIZER,
    RECONCILE_REQUEST_ANNOTATION,
    RESOURCE,
    Superseded,
    _failed,
    _operate,
    _post,
    _runtime,
    _validated,
    _Writer,
)
from payplat.controller.operations import Runtime
from payplat.controller.settings import Settings
from payplat.controller.status import is_settled
from payplat.controller.statusevents import (
    Failed,
    Forgotten,
    Phase,
    PolicyBlocked,
    ReconcileRequested,
    Suspended,
)
from payplat.engines.base import (
    Audit,
    EngineError,
    PermanentEngineError,
    StackRef,
)
from payplat.guardrails import OrgPolicy
from payplat.model.parsing import SpecError, parse_spec
from payplat.model.parts import DeletionPolicy

__all__ = ["apply_kopf_settings", "configure", "delete", "reconcile", "requests"]


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
async def reconcile(
    name: str,
    namespace: str,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    patch: kopf.Patch,
    body: kopf.Body,
    retry: int,
    memo: kopf.Memo,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    policies: kopf.Index[str, OrgPolicy] | None = None,
    **_: Any,
) -> None:
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
        outcome = await _operate(
            writer,
            ref,
            "up",
            retry,
            lambda secrets: gated_up(
                runtime, ref, platform, secrets, generation=generation, meta=meta, status=writer.current, review=checked
            ),
            platform=platform,
        )
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
async def requests(
    name: str,
    namespace: str,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    patch: kopf.Patch,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    type: str | None = None,
    policies: kopf.Index[str, OrgPolicy] | None = None,
    **_: Any,
) -> None:
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
    new_approval = (
        bool(approval)
        and approval != status.get("lastHandledApproval")
        and (
            status.get("phase") == Phase.AWAITING_APPROVAL.value
            or (status.get("phase") == Phase.FAILED.value and _backed_off(_runtime(memo), status))
        )
    )
    new_request = bool(requested) and requested != status.get("lastHandledReconcileRequest")
    if status.get("observedGeneration") != generation or not (new_approval or new_request):
        return
    logger.info(
        "answering %s",
        f"{APPROVE_ANNOTATION}={approval}" if new_approval else f"{RECONCILE_REQUEST_ANNOTATION}={requested}",
    )
    try:
        # kopf's decorator types reconcile as its ChangingFn; called directly it is the plain function.
        await reconcile(  # type: ignore[misc,call-arg]
            name=name,
            namespace=namespace,
            spec=spec,
            meta=meta,
            status=status,
            patch=patch,
            body=body,
            retry=0,
            memo=memo,
            logger=logger,
            policies=policies,
        )
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


# --------------------------------------------------------------------------- delete


@kopf.on.delete(*RESOURCE, id="delete")  # type: ignore[arg-type]  # namespaced: namespace is never None
async def delete(
    name: str,
    namespace: str,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    patch: kopf.Patch,
    body: kopf.Body,
    retry: int,
    memo: kopf.Memo,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **_: Any,
) -> None:
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
        message = (
            "deletionPolicy Retain: AWS resources left in place"
            if retain
            else "the engine holds no stack for this platform: nothing to destroy"
        )
        kopf.info(body, reason="Retained" if retain else "NothingToDestroy", message=message)
        if not retain:  # retained AWS resources keep their names, and so the claim (payplat.controller.claims)
            await release_other_claims(runtime, ref, None)
        _forget(runtime, ref)
        return
    try:
        platform = parse_spec(dict(spec), name=name)
    except SpecError as error:
        _blocked(
            writer,
            PermanentEngineError(
                "cannot destroy with an invalid spec (" + "; ".join(error.problems) + "); fix the spec or set "
                "deletionPolicy: Retain",
                reason="InvalidSpec",
            ),
        )
    if platform.suspend:
        _blocked(
            writer,
            PermanentEngineError(
                "spec.suspend is true, so the destroy waits; set suspend: false to let it run, or deletionPolicy: "
                "Retain to keep AWS",
                reason="Suspended",
            ),
        )
    try:
        await admit(runtime, ref, platform, claim=False)
    except EngineError as error:
        _blocked(writer, error)
    try:
        result = await _operate(
            writer,
            ref,
            "destroy",
            retry,
            lambda _secrets: runtime.engine.destroy(ref, platform, audit=Audit(generation)),
            platform=None,
            always_retry=True,
        )
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


# --------------------------------------------------------------------------- the shared steps
