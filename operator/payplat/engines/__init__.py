"""The engines behind the operator, chosen by the ``engine`` setting.

Handlers only see the ``Engine`` protocol (``engines.base``) and ``create_engine``; neither
engine module is imported until it is chosen, so ``payplat crd`` or a handler unit test
never pays for the Automation API.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from payplat.engines.base import Engine
from payplat.engines.locks import Identity, PodProbe

__all__ = ["create_engine"]


def create_engine(
    kind: Literal["offline", "pulumi"],
    *,
    state_dir: Path,
    backend_url: str | None = None,
    secrets_provider: str | None = None,
    step_delay: float = 0.0,
    pod_probe: PodProbe | None = None,
    identity: Identity | None = None,
    log: logging.Logger | None = None,
) -> Engine:
    """``identity`` is this operator as its operation records name it; ``pod_probe``
    answers whether a recorded operator pod is gone (``engines.locks``)."""
    if kind == "offline":
        from payplat.engines.offline import OfflineEngine

        return OfflineEngine(state_dir, step_delay=step_delay, pod_probe=pod_probe, identity=identity, log=log)
    if kind == "pulumi":
        from payplat.engines.pulumi import PulumiEngine

        return PulumiEngine(
            state_dir, backend_url=backend_url, secrets_provider=secrets_provider, pod_probe=pod_probe,
            identity=identity, log=log
        )
    raise ValueError(f"engine {kind!r} is not one of: offline, pulumi")
