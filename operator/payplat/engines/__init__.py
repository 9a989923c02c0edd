"""The engines behind the operator, chosen by the ``engine`` setting.

Handlers only see the ``Engine`` protocol (``engines.base``) and ``create_engine``; neither
engine module is imported until it is chosen, so ``payplat crd`` or a handler unit test
never pays for the Automation API.

Why there are two, decided once the real one ran on these machines (the Pulumi CLI built
from Go modules, a stand-in AWS provider, moto as S3 backend and KMS):

The offline engine emulates part of Pulumi itself: the checkpoint, the lock files, the
diff, recovery from pending operations. That is a second implementation of Pulumi's
semantics and it can drift from the real one (it already differs: it updates in place
where Pulumi replaces a resource on a force-new field). We keep it, deliberately small,
because it earns three things the real engine cannot give: it is the install default that
needs no AWS account, no 120 MB CLI and no provider plugin; it is an order of magnitude
faster (an ``up`` of ``examples/minimal.yaml`` is about a second against 10-15 s for
the CLI with the stand-in provider), which keeps the operator-level suite (RBAC,
leadership, tenancy, 50-platform bursts) inside CI's budget; and its fake cloud can adopt
an interrupted create, which makes operator-level crash tests exact.

What keeps the two honest: every scenario whose outcome depends on Pulumi's semantics runs
on the real engine as well (``tests/e2e`` parametrized with ``engine=pulumi``,
``tests/realengine``): apply, update, replacement, drift, delete with both policies,
SIGTERM and SIGKILL mid-``up`` with the CLI's real lock files and pending operations, the
error table on the CLI's real texts, concurrent stacks in one process. Where the two
disagree, the real engine is the reference; no scenario exists only on the offline one.

May import payplat.model and payplat.program (the stack keys, mocks and plan the offline
engine runs; the real engine loads ``program.build`` only when it runs); never the controller.
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
            state_dir,
            backend_url=backend_url,
            secrets_provider=secrets_provider,
            pod_probe=pod_probe,
            identity=identity,
            log=log,
        )
    raise ValueError(f"engine {kind!r} is not one of: offline, pulumi")
