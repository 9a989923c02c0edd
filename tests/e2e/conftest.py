"""What the end-to-end tests share: running ``payplat run`` as a real process against the
session's API server, and waiting on what it writes back.

Each test gets its own namespace (from ``tests/conftest.py``) and, through
``run_operator``, its own operator process scoped to that namespace, with its own state
folder and its own Lease, so tests never see each other's work.

The ``engine`` fixture picks the engine the operator runs: ``offline`` by default;
``@pytest.mark.parametrize("engine", ENGINES, indirect=True)`` runs a scenario on both,
``pulumi`` meaning the real Pulumi CLI with the stand-in AWS provider and moto as the S3
backend and KMS secrets provider (``payplat_dev.realengine``). ``cloud`` is what "AWS"
holds for either engine (journal, live resources, drift made behind Pulumi's back).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from payplat_dev.localcluster import LocalCluster
from payplat_dev.operatorproc import OperatorProcess, start_operator

from .support import ENGINES, CloudView, OfflineCloud, RunOperator, StandinCloudView

__all__ = ["ENGINES"]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """``offline`` unless a test parametrizes it (indirect) with ``pulumi``."""
    return str(getattr(request, "param", "offline"))


@pytest.fixture
def real_kit(request: pytest.FixtureRequest, engine: str, tmp_path: Path, namespace: str) -> object | None:
    """The real engine's per-test setup (its own S3 prefix, stand-in cloud, PULUMI_HOME)."""
    if engine != "pulumi":
        return None
    from payplat_dev.realengine import RealEngineKit

    moto = request.getfixturevalue("moto_server")
    return RealEngineKit(moto, tmp_path / "real", prefix=namespace)  # type: ignore[arg-type]


@pytest.fixture
def cloud(engine: str, state_dir: Path, real_kit: object | None) -> CloudView:
    if engine == "pulumi":
        return StandinCloudView(real_kit)  # type: ignore[arg-type]
    return OfflineCloud(state_dir)


@pytest.fixture
def run_operator(
    cluster: LocalCluster, namespace: str, state_dir: Path, engine: str, real_kit: object | None
) -> Iterator[RunOperator]:
    """Start ``payplat run`` (the test's engine) watching the test's namespace; every
    operator started here is stopped when the test ends, pass or fail."""
    started: list[OperatorProcess] = []
    engine_env = real_kit.env() if real_kit is not None else {}  # type: ignore[attr-defined]

    def run(
        *,
        env: dict[str, str] | None = None,
        kubeconfig: Path | None = None,
        name: str = "operator",
        watch: str | None = None,
    ) -> OperatorProcess:
        settings = {
            "PAYPLAT_NAMESPACES": watch or namespace,
            "PAYPLAT_LEASE_NAMESPACE": namespace,
            "PAYPLAT_LOG_FORMAT": "json",
            "PAYPLAT_BACKOFF_BASE_SECONDS": "1",
            "PAYPLAT_BACKOFF_CAP_SECONDS": "5",
            **engine_env,
            **(env or {}),
        }
        operator = start_operator(cluster, state_dir, kubeconfig=kubeconfig, env=settings, name=f"{namespace}-{name}")
        started.append(operator)
        return operator

    yield run
    for operator in started:
        # SIGKILL of the whole process group (operator, Pulumi CLI, stand-in provider): a
        # graceful stop takes seconds and each test has its own namespace, Lease and state
        # folder, so nothing is left for the next one. (Tests that need the graceful path
        # call ``operator.process.stop()`` themselves.)
        operator.process.kill()
