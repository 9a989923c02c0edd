"""Talking to a harness-run API server as a client: kubeconfigs and the real kubectl.

One job: how the harness reaches an API server it started, the same way for the local
control plane (``payplat_dev.localcluster``) and the node lane's cluster: a kubeconfig
written for a server, CA and user (a client certificate or a token); the real kubectl
run against it with its stderr kept for the error; and when a CRD counts as served.
Kept apart from the cluster's lifecycle (processes, certificates, readiness), which it
does not need.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml


class KubectlError(RuntimeError):
    """kubectl exited non-zero; ``stderr`` holds the API server's message."""

    def __init__(self, args: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(f"kubectl {' '.join(args)} exited {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def run_kubectl(
    bin_dir: Path,
    kubeconfig: Path,
    args: Sequence[str],
    *,
    input: str | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``bin_dir/kubectl`` with ``kubeconfig``; raises ``KubectlError`` if ``check``."""
    result = subprocess.run(
        [str(bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise KubectlError(args, result.returncode, result.stdout, result.stderr)
    return result


def write_kubeconfig(
    path: Path, server: str, ca_cert: Path, user: dict[str, str], namespace: str | None = None
) -> Path:
    """A one-context kubeconfig (mode 0600): ``user`` is a client certificate and key, or a token."""
    context: dict[str, str] = {"cluster": "payplat-local", "user": "user"}
    if namespace:
        context["namespace"] = namespace
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "payplat-local",
                        "cluster": {"server": server, "certificate-authority": str(ca_cert)},
                    }
                ],
                "users": [{"name": "user", "user": user}],
                "contexts": [{"name": "payplat-local", "context": context}],
                "current-context": "payplat-local",
            }
        )
    )
    path.chmod(0o600)
    return path


def crd_established(crd: Mapping[str, Any]) -> bool:
    """The API server serves this CRD. A CRD just created can read ``status: null`` or
    ``status.conditions: null`` for a moment (seen with Argo CD's CRDs): not yet."""
    conditions = (crd.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
