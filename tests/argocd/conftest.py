"""What the Argo CD tests share: the Argo CD that ``hack/argocd.sh`` built and cached.

Without it the tests are skipped with the reason, except in CI where it is a failure
(hack/test.sh builds it first), the same rule as the control plane's binaries."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

# The e2e lane's operator fixtures, shared rather than copied.
from tests.e2e.conftest import run_operator, state_dir  # noqa: F401

ROOT = Path(__file__).parent.parent.parent


@pytest.fixture(scope="session")
def argocd_home() -> Path:
    """The folder with bin/argocd (and its other names), crds/ and hack/."""
    out = subprocess.run(["bash", str(ROOT / "hack" / "argocd.sh"), "--print"],
                         capture_output=True, text=True, check=True)
    home = Path(out.stdout.strip().splitlines()[-1])
    if not os.access(home / "bin" / "argocd", os.X_OK):
        reason = f"Argo CD not built in {home}: run hack/argocd.sh"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return home
