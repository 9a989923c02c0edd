"""The offline engine's desired state: the real program run under mocks, cached.

One job: turn a spec into the resources and outputs an ``up`` should reach, the way the
offline engine compares them with its checkpoint. Kept apart from the engine because it
is the one CPU-bound, pulumi-aws-loading part (seconds to import, so only on first use)
and the one cache: the program is deterministic, and change control previews before
each up, so the same spec is planned again and again.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from payplat.engines.base import StackRef, public_outputs
from payplat.model.spec import PlatformSpec

#: The account in every offline ARN: no real AWS account has this id.
FAKE_ACCOUNT = "000000000000"
#: How many (stack, spec) results the cache keeps, oldest dropped first.
CACHE_SIZE = 64

Desired = tuple[list[dict[str, Any]], dict[str, Any]]


class DesiredState:
    """The program's resources and outputs under mocks, cached by stack and spec."""

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def of(self, ref: StackRef, spec: PlatformSpec) -> Desired:
        """Cached as JSON text, so every call returns fresh objects, like for like with
        the ones the checkpoint stores."""
        key = f"{ref.stack_name}\n{spec.model_dump_json()}"
        with self._lock:
            text = self._cache.get(key)
        if text is None:
            text = json.dumps(run_program(ref, spec), default=str)
            with self._lock:
                self._cache[key] = text
                while len(self._cache) > CACHE_SIZE:
                    self._cache.pop(next(iter(self._cache)))
        resources, outputs = json.loads(text)
        return resources, outputs


def run_program(ref: StackRef, spec: PlatformSpec) -> Desired:
    # The program and pulumi-aws take seconds to import: only when this engine runs.
    from payplat.program.build import make_program
    from payplat.program.mocks import PlatformMocks
    from payplat.program.plan import plan_program

    mocks = PlatformMocks(region=spec.region, account_id=FAKE_ACCOUNT)
    result = plan_program(
        make_program(spec, namespace=ref.namespace, name=ref.name),
        region=spec.region,
        stack=ref.stack_name,
        mocks=mocks,
    )
    resources = [
        {
            "urn": item.urn,
            "type": item.type,
            "custom": item.custom,
            "id": item.id,
            "parent": item.parent,
            "inputs": item.inputs,
            "dependencies": list(item.depends_on),
        }
        for item in result.resources
    ]
    return resources, public_outputs(result.outputs)
