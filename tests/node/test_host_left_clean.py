"""Teardown leaves the host as it found it: no process, mount, cgroup, network link,
iptables rule, runtime folder or changed kernel setting (the kubelet rewrites several at
every start). Runs its own node, with a pod that has an emptyDir, a port mapping and a
projected token, so every kind of state the node creates exists before the teardown."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from tests.node.cluster import KERNEL_SETTINGS, HostState, read_kernel
from tests.node.conftest import start_node
from tests.node.install import wait_for

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "probe", "namespace": "default"},
    "spec": {
        "containers": [
            {
                "name": "pause",
                "image": "",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 8080, "hostPort": 18080}],
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
            }
        ],
        "volumes": [{"name": "scratch", "emptyDir": {}}],
    },
}


def _processes_in(cgroup_dirs: list[Path]) -> set[tuple[int, str]]:
    """(pid, start time) of every process in the node's cgroups: a pid alone may be reused
    by another process on a busy machine once ours is gone."""
    pids = {int(p) for d in cgroup_dirs if d.exists() for f in d.rglob("cgroup.procs") for p in f.read_text().split()}
    return {(pid, start) for pid in pids if (start := _start_time(pid))}


def wait_for_gone(processes: set[tuple[int, str]], timeout: float) -> list[tuple[int, str]]:
    deadline = time.monotonic() + timeout
    while (
        left := [(pid, start) for pid, start in processes if _start_time(pid) == start]
    ) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def test_teardown_restores_the_host() -> None:
    before = HostState.capture()
    node = start_node(images=("pause",))
    try:
        # What the kubelet rewrote (empty only if the host already had its values).
        changed = {k: read_kernel(k) for k in KERNEL_SETTINGS if read_kernel(k) != before.kernel[k]}
        pod = {
            **POD,
            "spec": {
                **POD["spec"],
                "containers": [
                    {**POD["spec"]["containers"][0], "image": (node.images / "pause.ref").read_text().strip()}
                ],
            },
        }
        node.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))
        wait_for(
            "the probe pod Running",
            lambda: node.kubectl("get", "pod", "probe", "-o", "jsonpath={.status.phase}").stdout == "Running",
            120,
        )
        during = HostState.capture()
        processes = _processes_in(node.cgroup_dirs)
        workdir, cgroups = node.workdir, node.cgroup_dirs
    finally:
        node.stop()
    after = HostState.capture()
    # ...and the node was visible on the host while it ran (the comparison can fail).
    assert during.differences(before), "the running node changed nothing the snapshot sees"
    assert len(processes) >= 8, processes  # control plane, containerd, kubelet, shim, pause, holder
    assert after.differences(before) == [], f"kubelet had changed {changed}"
    # Killed shims are reparented to PID 1, which reaps them: give it a moment.
    left = wait_for_gone(processes, 15)
    assert not left, [(pid, Path(f"/proc/{pid}/status").read_text().splitlines()[:3]) for pid, _ in left]
    assert not workdir.exists()
    assert not any(d.exists() for d in cgroups)
