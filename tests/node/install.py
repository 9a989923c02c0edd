"""Installing the operator on the node the way a user does, with the locally built image
(shared by the node tests and ``hack/demo.sh --node``; development tooling).

The only departures from the README's install commands are the image (the one
``hack/image.sh`` built and the harness imported into containerd) and its pull policy
(``IfNotPresent``: there is no registry to pull from, as with any side-loaded image).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

from tests.node.cluster import ROOT, NodeCluster

NAMESPACE = "payplat-system"
DEPLOYMENT = "payplat-operator"
UPSTREAM_IMAGE = "ghcr.io/payplat/payment-platform-operator"
CHART = ROOT / "charts" / "payment-platform-operator"


def kustomize_overlay(node: NodeCluster, directory: Path) -> Path:
    """An overlay on the repo's ``manifests/`` that only swaps in the local image."""
    repo, tag = node.operator_image.rsplit(":", 1)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(ROOT / "manifests", directory)],
                "images": [{"name": UPSTREAM_IMAGE, "newName": repo, "newTag": tag}],
                "patches": [
                    {
                        "target": {"kind": "Deployment", "name": DEPLOYMENT},
                        "patch": yaml.safe_dump(
                            [
                                {
                                    "op": "replace",
                                    "value": "IfNotPresent",
                                    "path": "/spec/template/spec/containers/0/imagePullPolicy",
                                }
                            ]
                        ),
                    }
                ],
            }
        )
    )
    return directory


def install_with_kustomize(node: NodeCluster, directory: Path, timeout: int = 240) -> None:
    """``kubectl apply -k`` then ``kubectl rollout status`` (raises if it does not finish)."""
    node.kubectl("apply", "-k", str(kustomize_overlay(node, directory)))
    node.kubectl(
        "rollout", "status", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE, f"--timeout={timeout}s", timeout=timeout + 30
    )


def helm_install_args(node: NodeCluster, release: str, namespace: str) -> list[str]:
    """``helm install`` of the chart with the local image; its own names (fullnameOverride)
    so it can sit next to the kustomize install (cluster-scoped RBAC names would clash)."""
    repo, tag = node.operator_image.rsplit(":", 1)
    return [
        "install",
        release,
        str(CHART),
        "-n",
        namespace,
        "--create-namespace",
        "--set",
        f"fullnameOverride={release}-operator",
        "--set",
        f"image.repository={repo}",
        "--set",
        f"image.tag={tag}",
        "--set",
        "image.pullPolicy=IfNotPresent",
    ]


def operator_pods(node: NodeCluster, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    pods = node.get_json("pods", "-n", namespace, "-l", "app.kubernetes.io/name=payment-platform-operator")["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def lease_holder(node: NodeCluster, namespace: str = NAMESPACE, name: str = DEPLOYMENT) -> str | None:
    out = node.kubectl("get", "lease", name, "-n", namespace, "-o", "jsonpath={.spec.holderIdentity}", check=False)
    return out.stdout.strip() or None if out.returncode == 0 else None


def pod_of_identity(identity: str, pods: list[dict[str, Any]]) -> str | None:
    """The pod whose operator holds ``identity`` (``<hostname>-<pid>``; hostname = pod name)."""
    names = [p["metadata"]["name"] for p in pods if identity.startswith(p["metadata"]["name"] + "-")]
    return names[0] if names else None


def wait_for(what: str, probe: Any, timeout: float, interval: float = 1.0) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c.get("type") == kind), None)


def platform_ready(node: NodeCluster, name: str, namespace: str = NAMESPACE) -> dict[str, Any] | None:
    out = node.kubectl("get", "paymentplatform", name, "-n", namespace, "-o", "json", check=False)
    if out.returncode:
        return None
    obj = json.loads(out.stdout)
    ready = condition(obj, "Ready")
    return obj if ready and ready.get("status") == "True" else None
