"""The README's main command, end to end: ``payplat demo --exit`` brings up its own
control plane, installs the CRD, runs the operator and the examples until Ready."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import payplat
from payplat_dev.demo import DEMO_NAMESPACE, demo_documents
from payplat_dev.testbin import find_bin_dir, missing_binaries, repo_root

pytestmark = pytest.mark.e2e


def test_payplat_demo_brings_every_example_to_ready_and_cleans_up(cluster: object) -> None:
    # `cluster` only for its skip/fail logic when the binaries are missing.
    root = repo_root()
    assert root is not None and not missing_binaries(find_bin_dir())
    examples = [d for d in demo_documents(root / "examples") if d["kind"] == "PaymentPlatform"]

    # The very code under test, whatever copy of the package the interpreter has installed.
    env = {**os.environ, "PYTHONPATH": str(Path(payplat.__file__).resolve().parents[1])}
    run = subprocess.run(
        [sys.executable, "-m", "payplat.cli", "demo", "--exit", "--timeout", "240"],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=root,
        env=env,
        check=False,
    )

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    for step in (
        "starting etcd",
        "kube-apiserver is ready",
        "installing CRDs",
        "started the operator",
        "waiting for Ready",
        "stopping the operator and the control plane",
    ):
        assert step in out
    table = out[out.index("NAMESPACE") :].splitlines()
    rows = [line.split() for line in table[1 : len(examples) + 1]]
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (d["metadata"].get("namespace", DEMO_NAMESPACE), d["metadata"]["name"]) for d in examples
    )
    assert all(r[2] == "True" and r[3] == "Ready" for r in rows)
    assert "albDnsName" in out  # the status shown has the outputs
    workdir = next(line.split(": ", 1)[1] for line in out.splitlines() if "working folder" in line)
    assert not Path(workdir).exists()  # stopped and cleaned up
