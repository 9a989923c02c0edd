"""The guardrails in the handlers: the PaymentPlatformPolicy index and status, the plan of a
platform (cached by spec), and ``_review`` before every up: a blocking finding stops the
engine call, the rest become events.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from payplat.controller.conditions import policy_status
from payplat.controller.handlersteps import (
    POLICY_RESOURCE,
    _failed,
    _runtime,
    _Writer,
)
from payplat.controller.operations import Runtime
from payplat.controller.status import status_patch
from payplat.controller.statusevents import (
    Reviewed,
)
from payplat.engines.base import (
    StackRef,
    TransientEngineError,
)
from payplat.guardrails import OrgPolicy, PlatformRef, Review, parse_policy, review
from payplat.model.parsing import SpecError, parse_spec
from payplat.model.spec import PlatformSpec
from payplat.program.plan import PlannedResource, plan


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
    new = policy_status(
        previous, parsed.generation, parsed.problems, len(parsed.spec.rules) if parsed.spec else 0, runtime.clock()
    )
    changes = status_patch(previous, new)
    if not changes:
        return
    try:
        await runtime.publish_policy_status(name, changes)
    except Exception as error:  # noqa: BLE001 - the next event tries again; evaluation does not depend on it
        logging.getLogger(__name__).warning(
            "could not write status of PaymentPlatformPolicy %s: %s", name, error.__class__.__name__
        )


@functools.lru_cache(maxsize=64)
def _plan_of(spec_json: str, name: str, namespace: str) -> tuple[PlannedResource, ...]:
    return tuple(plan(PlatformSpec.model_validate_json(spec_json), name=name, namespace=namespace).resources)


def planned_resources(platform: PlatformSpec, name: str, namespace: str) -> tuple[PlannedResource, ...]:
    """The platform's plan under mocks, cached by spec: a blocked platform's re-checks
    and a drift remediation of an unchanged spec cost no new plan."""
    return _plan_of(platform.model_dump_json(), name, namespace)


async def _review_settled(
    runtime: Runtime,
    namespace: str,
    name: str,
    spec: Mapping[str, Any],
    meta: Mapping[str, Any],
    status: Mapping[str, Any],
    patch: kopf.Patch,
    body: kopf.Body,
    generation: int,
    index: Mapping[str, Iterable[OrgPolicy]] | None,
) -> None:
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


async def _review(
    writer: _Writer,
    ref: StackRef,
    platform: PlatformSpec,
    meta: Mapping[str, Any],
    index: Mapping[str, Iterable[OrgPolicy]] | None,
    operation: str,
    retry: int | None,
) -> Review:
    """Plan under mocks (off the event loop) and review the plan. Findings and waivers
    go to events; status.policy and status.cost to the status (the caller decides what
    a blocking finding does)."""
    try:
        planned = await asyncio.get_running_loop().run_in_executor(
            _PLANNER, planned_resources, platform, ref.name, ref.namespace
        )
    except Exception as error:  # the engine's own run would fail the same way: retried, reported
        logging.getLogger(__name__).exception("planning %s under mocks failed", ref.stack_name)
        now = writer.runtime.clock()
        raise _failed(
            writer,
            operation,
            TransientEngineError(
                f"the guardrails could not plan the platform: {type(error).__name__}: {error}", reason="PlanFailed"
            ),
            now,
            retry,
            False,
        ) from None
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    selected = [policy for store in (index or {}).values() for policy in store]
    checked = review(
        planned,
        platform,
        PlatformRef(ref.name, ref.namespace, labels, platform.region),
        annotations=annotations,
        policies=selected,
    )
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
