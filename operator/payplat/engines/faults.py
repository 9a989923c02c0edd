"""Failures on purpose, for the offline engine only.

A spec tag ``payplat.io/offline-fail`` makes chosen operations fail, so tests (unit and
end-to-end) can drive the operator's error paths through a real manifest::

    tags:
      payplat.io/offline-fail: destroy-permanent        # every destroy fails, Stalled
      payplat.io/offline-fail: up-transient-2           # the first 2 ups fail, then succeed
      payplat.io/offline-fail: up-transient,drift-permanent

Grammar: comma-separated ``<operation>-<permanent|transient>[-<times>]`` with operation
``up``, ``destroy`` or ``drift``; without ``times`` it fails every time. Attempts are
counted in ``<state_dir>/faults/<stack>.json`` and the count restarts when the tag's value
changes. The real engine ignores the tag (it is only a tag on AWS resources there).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from payplat.engines.base import EngineError, PermanentEngineError, TransientEngineError

__all__ = ["FAULT_TAG", "Fault", "injected_failure", "parse_faults"]

FAULT_TAG = "payplat.io/offline-fail"
_ITEM = re.compile(r"^(?P<op>up|destroy|drift)-(?P<kind>permanent|transient)(?:-(?P<times>[1-9]\d*))?$")


@dataclass(frozen=True)
class Fault:
    operation: str
    permanent: bool
    times: int | None = None  # None: every attempt


def parse_faults(value: str) -> list[Fault]:
    faults = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        match = _ITEM.match(item)
        if not match:
            raise PermanentEngineError(
                f"spec.tags.{FAULT_TAG}: {item!r} is not <up|destroy|drift>-<permanent|transient>[-<times>]",
                reason="InvalidConfiguration",
            )
        faults.append(Fault(match["op"], match["kind"] == "permanent", int(match["times"]) if match["times"] else None))
    return faults


def injected_failure(tags: dict[str, str], operation: str, counter: Path) -> EngineError | None:
    """The error this attempt of ``operation`` must raise, if the spec asks for one."""
    value = tags.get(FAULT_TAG)
    if not value:
        return None
    fault = next((f for f in parse_faults(value) if f.operation == operation), None)
    if fault is None:
        return None
    attempt = _next_attempt(counter, value, operation)
    if fault.times is not None and attempt > fault.times:
        return None
    kind = PermanentEngineError if fault.permanent else TransientEngineError
    return kind(
        f"offline engine: {operation} failed on purpose (attempt {attempt}; tag {FAULT_TAG}={value}); "
        "remove the tag to let it succeed",
        reason="InjectedFailure",
    )


def _next_attempt(counter: Path, value: str, operation: str) -> int:
    try:
        data = json.loads(counter.read_text())
    except (FileNotFoundError, ValueError):
        data = {}
    if data.get("tag") != value:
        data = {"tag": value, "attempts": {}}
    data["attempts"][operation] = data["attempts"].get(operation, 0) + 1
    counter.parent.mkdir(parents=True, exist_ok=True)
    counter.write_text(json.dumps(data))
    return int(data["attempts"][operation])
