"""The harness itself: what the other e2e tests rely on about the local control plane."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from payplat_dev.localcluster import LocalCluster
from payplat_dev.processes import ManagedProcess

pytestmark = pytest.mark.e2e


def test_the_api_server_serves_core_apis_over_tls_with_the_admin_kubeconfig(cluster: LocalCluster) -> None:
    out = cluster.kubectl("version", "-o", "json").stdout
    assert '"gitVersion": "v1.37.2"' in out
    assert cluster.server.startswith("https://127.0.0.1:")


def test_a_service_account_token_from_the_api_server_authenticates_with_no_rights(
    cluster: LocalCluster, namespace: str
) -> None:
    cluster.kubectl("create", "serviceaccount", "someone", "-n", namespace)
    kubeconfig = cluster.kubeconfig_for_token(cluster.create_token(namespace, "someone"), namespace)

    whoami = cluster.kubectl("auth", "whoami", kubeconfig=kubeconfig).stdout
    denied = cluster.kubectl("get", "configmaps", kubeconfig=kubeconfig, check=False)

    assert f"system:serviceaccount:{namespace}:someone" in whoami
    assert denied.returncode != 0 and "forbidden" in denied.stderr


def test_each_test_gets_its_own_namespace(cluster: LocalCluster, namespace: str) -> None:
    assert cluster.get_json("namespace", namespace)["status"]["phase"] == "Active"
    assert cluster.create_namespace() != namespace


def test_a_managed_process_group_is_killed_with_its_children(tmp_path: Path) -> None:
    # A shell that starts a grandchild: stopping must take the whole group down.
    proc = ManagedProcess.start(
        "sleeper", ["bash", "-c", "sleep 300 & echo $! > child; wait"], tmp_path / "sleeper.log", cwd=tmp_path
    )
    child = _wait_for_pid(tmp_path / "child")

    proc.kill()

    assert not proc.alive()
    # SIGKILL to the group is delivered at once but the grandchild dies when it next runs:
    # on loaded cores (CI builds in the background) that is not instantaneous.
    deadline = time.monotonic() + 10
    while _pid_running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_running(child)


def test_children_die_with_a_harness_that_is_sigkilled(cluster: LocalCluster, tmp_path: Path) -> None:
    """No orphans even when the test run itself is killed -9 (PR_SET_PDEATHSIG).
    (``cluster`` only for its skip-or-fail rule on missing binaries.)"""
    bin_dir = cluster.bin_dir
    script = textwrap.dedent(f"""
        import pathlib, time
        from payplat_dev.localcluster import LocalCluster
        c = LocalCluster.start(bin_dir=pathlib.Path({str(bin_dir)!r}), crds=pathlib.Path('/nonexistent'))
        pathlib.Path({str(tmp_path / "pids")!r}).write_text(' '.join(str(p.pid) for p in c.processes))
        time.sleep(300)
    """)
    harness = subprocess.Popen([sys.executable, "-c", script])
    pids_file = tmp_path / "pids"
    deadline = time.monotonic() + 90
    while not pids_file.exists() and time.monotonic() < deadline and harness.poll() is None:
        time.sleep(0.2)
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) == 2 and all(_pid_running(p) for p in pids)

    harness.send_signal(signal.SIGKILL)
    harness.wait()

    deadline = time.monotonic() + 20
    while any(_pid_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids if _pid_running(p)]


def _wait_for_pid(path: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose; it only waits for its parent to reap it
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"
