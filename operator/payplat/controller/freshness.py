"""Whether an engine call a handler is about to make still belongs to the object as it is now.

A handler acts on the body kopf handed it, which can be minutes old by the time the
operation gets its stack's turn (``OperationGate``): the drift timer's remediating ``up``
waits behind the update handler's ``up`` of a newer spec, or behind the delete handler's
``destroy``. Run then, it would put back the old spec, or re-create everything the destroy
just removed after the finalizer is gone. So every engine call, once it holds the stack,
re-reads the object and asks ``superseded``: it must act on the newest generation, never
after a deletion started (except the destroy itself), never while suspended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["superseded"]


def superseded(current: Mapping[str, Any] | None, *, generation: int, operation: str) -> str | None:
    """Why an ``operation`` planned for ``generation`` must not run on ``current`` (the
    object as the API server has it now, None once it is gone), or None when it may."""
    if current is None:
        return "the PaymentPlatform no longer exists"
    if operation == "destroy":
        return None  # the deletion is the newest intent whatever the generation
    meta = current.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return "its deletion has started"
    newest = int(meta.get("generation") or 0)
    if newest != generation:
        return f"generation {generation} was superseded by generation {newest}"
    if (current.get("spec") or {}).get("suspend") is True:
        return "spec.suspend is now true"
    return None
