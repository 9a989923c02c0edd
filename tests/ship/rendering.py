"""What the install artefacts are and how to render them with the real binaries: the
kustomize builds (kubectl kustomize) and the Helm chart (helm template) in the variants
the tests and the security scan look at. Shared by tests/ship and tests/e2e."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent.parent
CHART = ROOT / "charts" / "payment-platform-operator"
MANIFESTS = ROOT / "manifests"
NAMESPACE = "payplat-system"

#: Chart variants rendered for the tests and the security scan: name -> --set values.
CHART_VARIANTS: dict[str, tuple[str, ...]] = {
    "default": (),
    "namespaces": ("watchNamespaces={payments,payments-eu}",),
    "cluster": ("watchScope=cluster", "secretNamespaces={payments}"),
    "aws": (
        "engine=pulumi",
        "backendUrl=s3://payplat-state/pulumi",
        "secretsProvider=awskms://alias/payplat-pulumi?region=eu-west-1",
        "serviceAccount.irsaRoleArn=arn:aws:iam::111122223333:role/payplat-operator",
        "image.digest=sha256:" + "a" * 64,
    ),
}
#: Kustomize entry points: name -> folder.
KUSTOMIZE_VARIANTS = {"default": MANIFESTS, "cluster": MANIFESTS / "overlays" / "cluster-wide"}


def require(path: Path, how: str) -> Path:
    if os.access(path, os.X_OK):
        return path
    reason = f"{path} is missing: {how}"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=300, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    return result


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind_name(text: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(kind, namespace, name) -> object."""
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in documents(text)}
