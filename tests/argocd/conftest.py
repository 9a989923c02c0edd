"""What the Argo CD tests share: the Argo CD that ``hack/argocd.sh`` built and cached.

Without it the tests are skipped with the reason, except in CI where it is a failure
(hack/test.sh builds it first), the same rule as the control plane's binaries."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from payplat_dev.localcluster import LocalCluster
from tests.controlplane import local_cluster

# The e2e lane's operator fixtures, shared rather than copied.
from tests.e2e.conftest import engine, real_kit, run_operator, state_dir  # noqa: F401

ROOT = Path(__file__).parent.parent.parent


@pytest.fixture(scope="session")
def argocd_home() -> Path:
    """The folder with bin/argocd (and its other names), crds/ and hack/."""
    out = subprocess.run(
        ["bash", str(ROOT / "hack" / "argocd.sh"), "--print"], capture_output=True, text=True, check=True
    )
    home = Path(out.stdout.strip().splitlines()[-1])
    if not os.access(home / "bin" / "argocd", os.X_OK):
        reason = f"Argo CD not built in {home}: run hack/argocd.sh"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return home


@pytest.fixture(scope="package")
def cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    """A control plane of this lane's own: Argo CD's CRDs and what the example
    Applications install (the chart's objects in payplat-system, the payments namespace)
    must not meet the other end-to-end tests' objects of the same names."""
    yield from local_cluster(request)
