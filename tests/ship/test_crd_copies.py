"""kustomize may not read files outside its tree and a Helm chart ships its own crds/
folder, so both hold copies of the generated CRD in crds/. These must never drift."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.ship.rendering import CHART, MANIFESTS, ROOT

SOURCE = ROOT / "crds"
COPIES = (MANIFESTS / "base" / "crd", CHART / "crds")


def _crd_files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("*.yaml")) if p.name != "kustomization.yaml"}


@pytest.mark.parametrize("copy", COPIES, ids=lambda p: str(p.relative_to(ROOT)))
def test_crd_copies_equal_crds(copy: Path) -> None:
    source = _crd_files(SOURCE)
    assert source, "crds/ is empty: run `payplat crd > crds/paymentplatforms.payplat.io.yaml`"
    fix = f"run: cp crds/*.yaml {copy.relative_to(ROOT)}/"
    assert sorted(_crd_files(copy)) == sorted(source), fix
    for name, text in source.items():
        assert _crd_files(copy)[name] == text, f"{copy.relative_to(ROOT)}/{name} differs from crds/{name}: {fix}"


def test_crd_kustomization_lists_every_copy() -> None:
    listed = yaml.safe_load((MANIFESTS / "base" / "crd" / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(_crd_files(SOURCE))
