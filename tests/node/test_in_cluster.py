"""The operator as users run it: the image built here (hack/image.sh, from the Dockerfile)
in pods on a real kubelet, installed with ``kubectl apply -k manifests/`` and with Helm.

One install serves the scenarios in order (each builds on the state the previous left, as
on a real cluster): rollout, the pod's hardening, a platform reconciled by the in-pod
operator, leader hand-over, drain against the PodDisruptionBudget.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import pytest
import yaml

from tests.node.cluster import NODE_NAME, NodeCluster
from tests.node.install import (
    DEPLOYMENT,
    NAMESPACE,
    ROOT,
    helm_install_args,
    install_with_kustomize,
    lease_holder,
    operator_pods,
    platform_ready,
    pod_of_identity,
    wait_for,
)

PY = "python"  # the image's venv python (on PATH)


@pytest.fixture(scope="module")
def installed(node: NodeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    install_with_kustomize(node, tmp_path_factory.mktemp("overlay"))
    yield node


def _exec(node: NodeCluster, pod: str, code: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return node.kubectl("exec", "-n", NAMESPACE, pod, "-c", "operator", "--", PY, "-c", code, check=check)


def test_rollout_runs_the_local_image_with_probes_passing(installed: NodeCluster) -> None:
    pods = operator_pods(installed)
    assert len(pods) == 2
    for pod in pods:
        status = pod["status"]["containerStatuses"][0]
        assert status["image"].endswith(installed.operator_image.split("/", 1)[1]), status["image"]
        assert status["ready"] is True and status["restartCount"] == 0, status
        assert pod["spec"]["nodeName"] == NODE_NAME


def test_pod_runs_as_10001_with_only_its_volumes_writable(installed: NodeCluster) -> None:
    pod = operator_pods(installed)[0]["metadata"]["name"]
    ids = _exec(installed, pod, "import os; print(os.getuid(), os.getgid(), os.getgroups())").stdout
    assert ids.split()[:2] == ["10001", "10001"], ids
    probe = (
        "import sys\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        open(path + '/.w', 'w').write('x'); print(path, 'writable')\n"
        "    except OSError as e:\n"
        "        print(path, 'denied', e.errno)\n"
    )
    out = installed.kubectl(
        "exec",
        "-n",
        NAMESPACE,
        pod,
        "--",
        PY,
        "-c",
        probe,
        "/",
        "/opt/venv",
        "/home/payplat",
        "/etc",
        "/tmp",
        "/home/payplat/.pulumi",
        "/var/lib/payplat",
    ).stdout
    result = dict(line.split(" ", 1) for line in out.splitlines())
    for path in ("/tmp", "/home/payplat/.pulumi", "/var/lib/payplat"):
        assert result[path] == "writable", out
    for path in ("/", "/opt/venv", "/home/payplat", "/etc"):
        assert result[path] == "denied 30", out  # EROFS: the root filesystem is read-only
    # The service account token is mounted and is the operator's own identity.
    token = _exec(installed, pod, "print(open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read())")
    assert token.stdout.strip() == NAMESPACE


def test_a_platform_goes_ready_through_the_in_pod_operator(installed: NodeCluster) -> None:
    installed.kubectl("apply", "-n", NAMESPACE, "-f", str(ROOT / "examples" / "minimal.yaml"))
    obj = wait_for("PaymentPlatform payments Ready", lambda: platform_ready(installed, "payments"), 240, 2)
    assert obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
    # It was the leader pod that did it: its log names the platform.
    holder = lease_holder(installed)
    assert holder, "no Lease holder"
    leader = pod_of_identity(holder, operator_pods(installed))
    assert leader, (holder, [p["metadata"]["name"] for p in operator_pods(installed)])
    logs = installed.kubectl("logs", "-n", NAMESPACE, leader, "-c", "operator").stdout
    assert "payments" in logs


def test_deleting_the_leader_pod_hands_the_lease_to_the_other_replica(installed: NodeCluster) -> None:
    pods = operator_pods(installed)
    holder = lease_holder(installed)
    assert holder
    leader = pod_of_identity(holder, pods)
    standby = next(p["metadata"]["name"] for p in pods if p["metadata"]["name"] != leader)
    # Cordoned, the node cannot start the Deployment's replacement pod at once: only the
    # standby can take the Lease (else the replacement may win the race for a released one).
    installed.kubectl("cordon", NODE_NAME)
    try:
        installed.kubectl("delete", "pod", "-n", NAMESPACE, leader, "--wait=false")
        new_holder = wait_for(
            "the standby to take the Lease", lambda: (h := lease_holder(installed)) and h != holder and h, 90
        )
        assert pod_of_identity(new_holder, operator_pods(installed)) == standby, new_holder
    finally:
        installed.kubectl("uncordon", NODE_NAME)
    # The new leader serves platforms: a change of spec is reconciled to Ready again.
    installed.kubectl(
        "annotate", "-n", NAMESPACE, "paymentplatform", "payments", "payplat.io/check-drift=now", "--overwrite"
    )
    installed.kubectl("rollout", "status", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE, "--timeout=180s", timeout=210)
    assert wait_for("payments still Ready", lambda: platform_ready(installed, "payments"), 120, 2)


GHOST = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "ghost-holder", "namespace": NAMESPACE},
    "spec": {
        "terminationGracePeriodSeconds": 0,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65535, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "pause",
                "image": "",
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    },
}

LOCK_WRITER = """
import json, os, sys, datetime
stacks = next(d for d, _, _ in os.walk('/var/lib/payplat') if d.endswith('/.pulumi/stacks/payplat'))
root = stacks[:-len('/.pulumi/stacks/payplat')]
stack = [n[:-5] for n in os.listdir(stacks) if n.endswith('.json')][0]
pod, namespace, uid, cluster = sys.argv[1:5]
started = datetime.datetime.now(datetime.timezone.utc)
# What an operator in pod `pod` writes before it runs an engine operation (its operation
# record) and the lock that operation then takes: the proof the lock is this operator's.
record_dir = f'{root}/.payplat/operations/payplat/{stack}'
os.makedirs(record_dir, exist_ok=True)
with open(f'{record_dir}/ghost.json', 'w') as fh:
    json.dump({'owner': {'hostname': pod, 'pid': 1, 'pod_name': pod, 'pod_namespace': namespace,
                         'pod_uid': uid, 'cluster': cluster},
               'operation': 'up', 'started': started.isoformat()}, fh)
lock_dir = f'{root}/.pulumi/locks/organization/payplat/{stack}'
os.makedirs(lock_dir, exist_ok=True)
with open(f'{lock_dir}/ghost.json', 'w') as fh:
    json.dump({'pid': 1, 'username': 'payplat', 'hostname': pod,
               'timestamp': (started + datetime.timedelta(seconds=1)).isoformat()}, fh)
print(f'{lock_dir}/ghost.json')
"""


def _leader(node: NodeCluster) -> str:
    holder = lease_holder(node)
    assert holder
    leader = pod_of_identity(holder, operator_pods(node))
    assert leader, holder
    return leader


def _set_tag_and_wait_ready(node: NodeCluster, value: str) -> None:
    node.kubectl(
        "patch",
        "-n",
        NAMESPACE,
        "paymentplatform",
        "payments",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"tags": {"lock-check": value}}}),
    )
    generation = node.get_json("paymentplatform", "payments", "-n", NAMESPACE)["metadata"]["generation"]
    wait_for(
        f"payments Ready at generation {generation}",
        lambda: (o := platform_ready(node, "payments")) and o["status"].get("observedGeneration") == generation,
        180,
        2,
    )


def _exists_in_pod(node: NodeCluster, pod: str, path: str) -> bool:
    out = _exec(node, pod, f"import os; print(os.path.exists({path!r}))").stdout.strip()
    return out == "True"


def test_a_stack_lock_of_another_pod_is_broken_only_once_that_pod_is_gone(installed: NodeCluster) -> None:
    """A lock recorded by an operator pod the API server still has is kept (the operation
    waits); once that pod is deleted the API server answers 404 and the lock is broken."""
    pause = (installed.images / "pause.ref").read_text().strip()
    ghost = {**GHOST, "spec": {**GHOST["spec"], "containers": [{**GHOST["spec"]["containers"][0], "image": pause}]}}
    installed.kubectl("apply", "-f", "-", input=yaml.safe_dump(ghost))
    installed.kubectl("wait", "-n", NAMESPACE, "pod/ghost-holder", "--for=condition=Ready", "--timeout=60s")
    leader = _leader(installed)
    # The leader's state folder (an emptyDir) holds the stack once it has run an up.
    _set_tag_and_wait_ready(installed, "before")
    ghost_uid = installed.get_json("pod", "ghost-holder", "-n", NAMESPACE)["metadata"]["uid"]
    cluster = installed.get_json("lease", DEPLOYMENT, "-n", NAMESPACE)["metadata"]["uid"]
    lock = installed.kubectl(
        "exec",
        "-n",
        NAMESPACE,
        leader,
        "-c",
        "operator",
        "--",
        PY,
        "-c",
        LOCK_WRITER,
        "ghost-holder",
        NAMESPACE,
        ghost_uid,
        cluster,
    ).stdout.strip()
    installed.kubectl(
        "patch",
        "-n",
        NAMESPACE,
        "paymentplatform",
        "payments",
        "--type=merge",
        "-p",
        '{"spec":{"tags":{"lock-check":"held"}}}',
    )
    generation = installed.get_json("paymentplatform", "payments", "-n", NAMESPACE)["metadata"]["generation"]
    # The operator tries (and retries) the up: the lock of a live pod stays.
    wait_for(
        "the operator to meet the lock",
        lambda: "ghost-holder" in installed.kubectl("logs", "-n", NAMESPACE, leader, "-c", "operator").stdout,
        60,
    )
    time.sleep(5)
    assert _exists_in_pod(installed, leader, lock)
    obj = installed.get_json("paymentplatform", "payments", "-n", NAMESPACE)
    assert obj["status"].get("observedGeneration") != generation or not platform_ready(installed, "payments")
    # The API server says the holder is gone: the next attempt breaks the lock and applies.
    installed.kubectl("delete", "pod", "-n", NAMESPACE, "ghost-holder", "--wait=true", "--timeout=60s")
    wait_for(
        "payments Ready at the new generation",
        lambda: (o := platform_ready(installed, "payments")) and o["status"].get("observedGeneration") == generation,
        180,
        2,
    )
    assert not _exists_in_pod(installed, leader, lock)


def test_drain_stops_at_the_pod_disruption_budget(installed: NodeCluster) -> None:
    installed.kubectl("rollout", "status", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE, "--timeout=180s", timeout=210)
    try:
        drain = installed.kubectl(
            "drain",
            NODE_NAME,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--pod-selector=app.kubernetes.io/name=payment-platform-operator",
            "--timeout=40s",
            check=False,
            timeout=120,
        )
        # One pod may go (minAvailable: 1); its replacement cannot schedule on the cordoned
        # only node, so the second eviction is refused and the drain gives up.
        assert drain.returncode != 0, drain.stdout
        assert "disruption budget" in drain.stderr + drain.stdout, drain.stderr
        running = [p for p in operator_pods(installed) if p["status"].get("phase") == "Running"]
        assert len(running) >= 1
    finally:
        installed.kubectl("uncordon", NODE_NAME)
    installed.kubectl("rollout", "status", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE, "--timeout=180s", timeout=210)


def test_helm_install_rolls_out_the_same_image(node: NodeCluster, installed: NodeCluster) -> None:
    release, namespace = "pp", "payplat-helm"
    node.helm(*helm_install_args(node, release, namespace), "--wait", "--timeout=4m")
    try:
        deployments = node.get_json("deployments", "-n", namespace)["items"]
        assert len(deployments) == 1
        name = deployments[0]["metadata"]["name"]
        node.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=60s")
        pods = operator_pods(node, namespace)
        assert len(pods) == 2 and all(p["status"]["containerStatuses"][0]["ready"] for p in pods)
        spec = pods[0]["spec"]
        assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
        assert (
            json.loads(node.kubectl("get", "pod", "-n", namespace, pods[0]["metadata"]["name"], "-o", "json").stdout)[
                "spec"
            ]["securityContext"]["runAsUser"]
            == 10001
        )
    finally:
        node.helm("uninstall", release, "-n", namespace, "--wait", check=False)
