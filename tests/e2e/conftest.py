"""What the end-to-end tests share: running ``payplat run`` as a real process against the
session's API server, and waiting on what it writes back.

Each test gets its own namespace (from ``tests/conftest.py``) and, through
``run_operator``, its own operator process scoped to that namespace, with its own state
folder (the offline engine's stacks and fake-cloud journals) and its own Lease, so tests
never see each other's work.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from payplat.localcluster import LocalCluster, OperatorProcess, start_operator

from .support import RunOperator


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def run_operator(cluster: LocalCluster, namespace: str, state_dir: Path) -> Iterator[RunOperator]:
    """Start ``payplat run`` (offline engine) watching the test's namespace; every operator
    started here is stopped when the test ends, pass or fail."""
    started: list[OperatorProcess] = []

    def run(*, env: dict[str, str] | None = None, kubeconfig: Path | None = None,
            name: str = "operator", watch: str | None = None) -> OperatorProcess:
        settings = {
            "PAYPLAT_NAMESPACES": watch or namespace,
            "PAYPLAT_LEASE_NAMESPACE": namespace,
            "PAYPLAT_LOG_FORMAT": "json",
            "PAYPLAT_BACKOFF_BASE_SECONDS": "1",
            "PAYPLAT_BACKOFF_CAP_SECONDS": "5",
            **(env or {}),
        }
        operator = start_operator(cluster, state_dir, kubeconfig=kubeconfig, env=settings,
                                  name=f"{namespace}-{name}")
        started.append(operator)
        return operator

    yield run
    for operator in started:
        # SIGKILL: a graceful stop takes seconds and each test has its own namespace, Lease
        # and state folder, so nothing is left for the next one. (Tests that need the
        # graceful path call ``operator.process.stop()`` themselves.)
        operator.process.kill()
