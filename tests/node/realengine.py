"""The real engine in a pod (development tooling for the node lane): moto running as a pod
(the S3 state backend and the KMS secrets provider), the AWS side prepared as README's
"The AWS side" asks (a state bucket, a KMS alias), and the operator installed with Helm
for ``engine=pulumi`` the way a user without IRSA would: chart values for the engine,
the backend and the secrets provider, the AWS SDKs' own variables in ``extraEnv`` and the
credentials in a Secret (``extraEnvFrom``).

The image is hack/image.sh's test build (``operator-standin``): the project's Dockerfile
with the stand-in AWS provider as ``pulumi-resource-aws``. Its "cloud" is a folder on the
operator pod's state emptyDir (``$PAYPLAT_STATE_DIR/standin-cloud``).

There is no kube-proxy and no cluster DNS on this node (tests/node/cluster.py), so the
operator reaches moto at its pod IP; the host reaches it through the node's network
namespace (``NodeCluster.run_in_namespace``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from payplat_dev.moto import MotoServer
from tests.node.cluster import ROOT, NodeCluster
from tests.node.install import CHART, wait_for

NAMESPACE = "payplat-real"
RELEASE = "real"
MOTO_PORT = 5000
BUCKET, PREFIX, KMS_ALIAS = "payplat-state", "stacks", "payplat-pulumi"
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
STANDIN_CLOUD = "/var/lib/payplat/standin-cloud"  # $PAYPLAT_STATE_DIR/standin-cloud (the launcher's default)


@dataclass
class PodMoto(MotoServer):
    """The host lane's moto helper (bucket, KMS alias, the SDKs' variables, reading the
    backend) for a moto this process did not start: the pod, at its IP."""

    host: str = "127.0.0.1"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"


def pod_moto(ip: str) -> PodMoto:
    return PodMoto(None, MOTO_PORT, host=ip)  # type: ignore[arg-type]  # no process of ours


def image_ref(node: NodeCluster, name: str) -> str:
    return (node.images / f"{name}.ref").read_text().strip()


def moto_pod(image: str) -> dict[str, Any]:
    """moto's server as a pod that passes Pod Security ``restricted``."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "moto", "namespace": NAMESPACE, "labels": {"app": "moto"}},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "moto",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "args": ["-H", "0.0.0.0", "-p", str(MOTO_PORT)],
                    "ports": [{"containerPort": MOTO_PORT, "name": "http"}],
                    "readinessProbe": {"httpGet": {"path": "/moto-api/", "port": MOTO_PORT}, "periodSeconds": 2},
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }


def start_moto(node: NodeCluster) -> str:
    """Run the moto pod; its IP once it answers."""
    node.kubectl("apply", "-f", "-", input=yaml.safe_dump(moto_pod(image_ref(node, "moto"))))
    node.kubectl("wait", "-n", NAMESPACE, "pod/moto", "--for=condition=Ready", "--timeout=180s", timeout=210)
    return str(node.get_json("pod", "moto", "-n", NAMESPACE)["status"]["podIP"])


_IN_NODE = """
import json, sys
from tests.node.realengine import pod_moto
host, what, bucket, prefix, alias = sys.argv[1:6]
moto = pod_moto(host)
if what == "prepare":
    print(json.dumps({"backend": moto.backend_url(bucket, prefix), "secrets": moto.kms_secrets_provider(alias)}))
else:
    print(json.dumps({k: v.decode() for k, v in moto.objects(bucket, prefix).items()}))
"""


def _in_node(node: NodeCluster, moto_ip: str, what: str) -> Any:
    """``payplat_dev.moto`` against the moto pod, from the node's network namespace."""
    out = node.run_in_namespace(
        "env",
        f"PYTHONPATH={ROOT / 'operator'}:{ROOT}",
        sys.executable,
        "-c",
        _IN_NODE,
        moto_ip,
        what,
        BUCKET,
        PREFIX,
        KMS_ALIAS,
        timeout=120,
    )
    return json.loads(out.stdout)


def prepare_aws_side(node: NodeCluster, moto_ip: str) -> dict[str, str]:
    """The state bucket and the KMS alias; the backend URL and secrets provider to use."""
    return _in_node(node, moto_ip, "prepare")  # type: ignore[no-any-return]


def state_objects(node: NodeCluster, moto_ip: str) -> dict[str, str]:
    """Everything the S3 backend holds under the prefix: checkpoints, locks, history."""
    return _in_node(node, moto_ip, "objects")  # type: ignore[no-any-return]


def helm_values(node: NodeCluster, moto_ip: str, aws: dict[str, str]) -> dict[str, Any]:
    """The chart values of a user running engine=pulumi against an S3-compatible endpoint
    with static credentials (the test image and its pull policy are the only lane-specific
    parts)."""
    repo, tag = image_ref(node, "operator-standin").rsplit(":", 1)
    sdk_env = {k: v for k, v in pod_moto(moto_ip).env().items() if k not in CREDENTIALS}
    return {
        "fullnameOverride": f"{RELEASE}-operator",
        # One replica: the stand-in's "cloud" is the pod's own emptyDir, so a second
        # replica taking over would see an empty account (hand-over is shown offline).
        "replicaCount": 1,
        "image": {"repository": repo, "tag": tag, "pullPolicy": "IfNotPresent"},
        "engine": "pulumi",
        "backendUrl": aws["backend"],
        "secretsProvider": aws["secrets"],
        "extraEnv": [{"name": k, "value": v} for k, v in sorted(sdk_env.items())],
        "extraEnvFrom": [{"secretRef": {"name": "aws-credentials"}}],
        # moto listens on 5000, which the default policy (443/6443) would refuse on a
        # policy-enforcing CNI: the rule a user of such an endpoint adds.
        "networkPolicy": {
            "extraEgress": [
                {
                    "to": [{"podSelector": {"matchLabels": {"app": "moto"}}}],
                    "ports": [{"protocol": "TCP", "port": MOTO_PORT}],
                }
            ]
        },
    }


def install(node: NodeCluster, workdir: Path) -> str:
    """moto, the AWS side, the credentials Secret, then ``helm install`` of the chart;
    returns moto's pod IP once the operator has rolled out."""
    node.kubectl("create", "namespace", NAMESPACE)
    moto_ip = start_moto(node)
    aws = prepare_aws_side(node, moto_ip)
    node.kubectl(
        "create",
        "secret",
        "generic",
        "aws-credentials",
        "-n",
        NAMESPACE,
        *[f"--from-literal={k}=testing" for k in CREDENTIALS],
    )
    values = workdir / "values.yaml"
    values.write_text(yaml.safe_dump(helm_values(node, moto_ip, aws)))
    node.helm("install", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(values), "--wait", "--timeout=5m", timeout=360)
    # helm's --wait counts a Deployment ready at replicas - maxUnavailable (0 here).
    node.kubectl("rollout", "status", f"deployment/{RELEASE}-operator", "-n", NAMESPACE, "--timeout=240s", timeout=270)
    return moto_ip


def uninstall(node: NodeCluster) -> None:
    """Best effort: platforms' finalizers dropped if the operator could not finish them."""
    for name in node.kubectl("get", "paymentplatforms", "-n", NAMESPACE, "-o", "name", check=False).stdout.split():
        node.kubectl(
            "patch", "-n", NAMESPACE, name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False
        )
    node.helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", check=False)
    node.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def operator_pod(node: NodeCluster) -> dict[str, Any]:
    pods = [
        p
        for p in node.get_json("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=payment-platform-operator")[
            "items"
        ]
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


_READ_CLOUD = """
import json, os, sys
root, stack = sys.argv[1:3]
def lines(path):
    return [json.loads(l) for l in open(path)] if os.path.exists(path) else []
live = os.path.join(root, 'objects', stack)
print(json.dumps({'journal': lines(os.path.join(root, 'journal', stack + '.jsonl')),
                  'live': sorted(os.listdir(live)) if os.path.isdir(live) else []}))
"""


def standin_cloud(node: NodeCluster, pod: str, stack: str) -> dict[str, Any]:
    """What the stand-in provider, run by the CLI inside ``pod``, did to its account."""
    out = node.kubectl(
        "exec", "-n", NAMESPACE, pod, "-c", "operator", "--", "python", "-c", _READ_CLOUD, STANDIN_CLOUD, stack
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def platform(node: NodeCluster, name: str) -> dict[str, Any] | None:
    out = node.kubectl("get", "paymentplatform", name, "-n", NAMESPACE, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def wait_gone(node: NodeCluster, name: str, timeout: float) -> None:
    wait_for(f"PaymentPlatform {name} deleted (its finalizer done)", lambda: platform(node, name) is None, timeout, 2)
