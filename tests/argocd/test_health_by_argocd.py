"""Argo CD itself judges the health check: every fixture of tests/data/argocd goes through
``argocd admin settings resource-overrides health`` with the shipped argocd-cm patch.
That command runs the Lua in Argo CD's own sandbox (gopher-lua, no string or math
library) and then the application controller's health code (gitops-engine), so it shows
what users see, including Argo CD 3.6's handling of objects being deleted.

CI runs the version hack/argocd.sh pins. ``ARGOCD_VERSION=v3.2.5 hack/argocd.sh`` builds an
older one next to it; with the same variable set, this file checks that version, expecting
what versions before 3.6 show for an object being deleted (they never run the script for
it)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent.parent
CM_PATCH = ROOT / "manifests" / "argocd" / "argocd-cm-patch.yaml"
DATA = ROOT / "tests" / "data" / "argocd"
CASES = yaml.safe_load((DATA / "health_test.yaml").read_text())["tests"]


def run_health(argocd_home: Path, obj_path: Path, cm_path: Path = CM_PATCH) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(argocd_home / "bin" / "argocd"),
            "admin",
            "settings",
            "resource-overrides",
            "health",
            str(obj_path),
            "--argocd-cm-path",
            str(cm_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def argocd_health(argocd_home: Path, obj_path: Path) -> dict[str, str]:
    """STATUS and MESSAGE as ``argocd admin settings resource-overrides health`` prints them."""
    result = run_health(argocd_home, obj_path)
    assert result.returncode == 0, f"argocd exited {result.returncode}: {result.stderr}{result.stdout}"
    fields: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in ("STATUS", "MESSAGE"):
            fields[key.lower()] = value.strip()
    assert "status" in fields, f"no STATUS in argocd's output: {result.stdout!r}"
    return {"status": fields["status"], "message": fields.get("message", "")}


def expected(case: dict[str, Any], version: tuple[int, ...]) -> dict[str, str]:
    obj = yaml.safe_load((DATA / case["inputPath"]).read_text())
    if version < (3, 6) and "deletionTimestamp" in obj["metadata"]:
        return {"status": "Progressing", "message": "Pending deletion"}
    return dict(case["healthStatus"])


def argocd_version(argocd_home: Path) -> tuple[int, ...]:
    """From the cache folder's name, argocd-vX.Y.Z (hack/argocd.sh names it)."""
    return tuple(int(part) for part in argocd_home.name.removeprefix("argocd-v").split("."))


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_argocd_shows_what_each_fixture_expects(argocd_home: Path, case: dict[str, Any]) -> None:
    shown = argocd_health(argocd_home, DATA / case["inputPath"])
    assert shown == expected(case, argocd_version(argocd_home))


def test_argocd_refuses_what_gopher_lua_lacks(argocd_home: Path, tmp_path: Path) -> None:
    """The sandbox this lane relies on is really Argo CD's: a script using string.format,
    which lupa would run, is an error inside Argo CD."""
    patch = yaml.safe_load(CM_PATCH.read_text())
    key = "resource.customizations.health.payplat.io_PaymentPlatform"
    patch["data"][key] = 'hs = {}\nhs.status = "Healthy"\nhs.message = string.format("%d", 1)\nreturn hs\n'
    cm = tmp_path / "argocd-cm.yaml"
    cm.write_text(yaml.safe_dump(patch))

    result = run_health(argocd_home, DATA / "testdata" / "ready.yaml", cm)

    assert result.returncode != 0
    assert "attempt to index a non-table object(nil) with key 'format'" in result.stderr
