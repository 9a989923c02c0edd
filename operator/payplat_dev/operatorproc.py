"""The operator as a child process of the local cluster (``python -m payplat.cli run``): its
environment (kubeconfig, state folder, metrics port, settings) and the handle tests and the
demo stop it with.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from payplat_dev.localcluster import LocalCluster
from payplat_dev.processes import ManagedProcess, free_port


@dataclass
class OperatorProcess:
    """A ``payplat run`` process started against a local cluster, and where to look at it."""

    process: ManagedProcess
    state_dir: Path
    metrics_port: int

    def metrics_text(self) -> str:
        """The Prometheus exposition from its /metrics endpoint ("" while not serving)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            return ""


def operator_env(
    cluster: LocalCluster, state_dir: Path, kubeconfig: Path | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment for ``payplat run`` against this cluster with the offline engine.

    Ports are picked free so several operators (tests, replicas) can run side by side;
    ``PAYPLAT_*`` variables of the caller are dropped so a developer's shell can't leak in.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYPLAT_")}
    env.update(
        {
            # The operator runs the very code of this process, whatever else is installed.
            "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).resolve().parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "KUBECONFIG": str(kubeconfig or cluster.kubeconfig),
            "PAYPLAT_ENGINE": "offline",
            "PAYPLAT_STATE_DIR": str(state_dir),
            "PAYPLAT_METRICS_PORT": str(free_port()),
            "PAYPLAT_LIVENESS_ENDPOINT": f"http://127.0.0.1:{free_port()}/healthz",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def start_operator(
    cluster: LocalCluster,
    state_dir: Path,
    args: Sequence[str] = (),
    kubeconfig: Path | None = None,
    env: Mapping[str, str] | None = None,
    name: str = "operator",
) -> OperatorProcess:
    """``payplat run`` as a real process (its own interpreter, its own kopf loop)."""
    full_env = operator_env(cluster, state_dir, kubeconfig, env)
    process = cluster.spawn(name, [sys.executable, "-m", "payplat.cli", "run", *args], env=full_env)
    return OperatorProcess(process, state_dir, int(full_env["PAYPLAT_METRICS_PORT"]))
