"""The security scan: checkov over the Dockerfile, manifests/, both kustomize builds and
every chart variant, rendered. No check may fail; a check that does not apply is skipped
inline, next to the object, with a one-line reason.

checkov lives in its own virtualenv (hack/checkov.sh). Missing, it skips the test with
the command to run, except in CI where the script installs it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.ship.rendering import MANIFESTS, ROOT, require, run

SCRIPT = ROOT / "hack" / "checkov.sh"


@pytest.fixture(scope="module")
def checkov_report(
    tmp_path_factory: pytest.TempPathFactory, kustomize_renders: dict[str, str], chart_renders: dict[str, str]
) -> list[dict[str, Any]]:
    executable = Path(run(["bash", str(SCRIPT), "--print"]).stdout.strip())
    if os.environ.get("CI"):
        run(["bash", str(SCRIPT), "--version"])  # installs it when missing
    require(executable, "run hack/checkov.sh --version (installs checkov into its own venv)")
    # One folder, one run: checkov reports one result per framework for it.
    scan = tmp_path_factory.mktemp("scan")
    shutil.copytree(MANIFESTS, scan / "manifests")
    shutil.copy(ROOT / "Dockerfile", scan / "Dockerfile")
    (scan / "rendered").mkdir()
    for name, text in kustomize_renders.items():
        (scan / "rendered" / f"kustomize-{name}.yaml").write_text(text)
    for name, text in chart_renders.items():
        (scan / "rendered" / f"chart-{name}.yaml").write_text(text)
    result = run(
        ["bash", str(SCRIPT), "--framework", "kubernetes", "dockerfile", "--output", "json", "--directory", str(scan)],
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    return report if isinstance(report, list) else [report]


def _checks(report: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [check for framework in report for check in framework["results"][kind]]


def test_every_target_was_scanned(checkov_report: list[dict[str, Any]]) -> None:
    assert {framework["check_type"] for framework in checkov_report} == {"kubernetes", "dockerfile"}
    files = {check["file_path"] for check in _checks(checkov_report, "passed_checks")}
    for expected in (
        "Dockerfile",
        "kustomize-default.yaml",
        "kustomize-cluster.yaml",
        "chart-default.yaml",
        "chart-cluster.yaml",
        "chart-aws.yaml",
        "deployment.yaml",
        "clusterrole.yaml",
    ):
        assert any(path.endswith(expected) for path in files), expected


def test_no_failed_checks(checkov_report: list[dict[str, Any]]) -> None:
    failed = [
        f"{c['check_id']} {c['check_name']} ({c['file_path']}: {c['resource']})"
        for c in _checks(checkov_report, "failed_checks")
    ]
    assert failed == []


def test_every_skip_says_why(checkov_report: list[dict[str, Any]]) -> None:
    skipped = _checks(checkov_report, "skipped_checks")
    assert skipped, "expected the documented inline skips"
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.split()) >= 5, f"{check['check_id']} on {check['resource']} skipped without a reason"
    assert {c["check_id"] for c in skipped} <= {"CKV_K8S_43", "CKV_K8S_38", "CKV2_K8S_5", "CKV_DOCKER_7"}
