"""Plans the guardrail tests check: the examples, planned once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from payplat.program.manifest import Manifest, read_manifest
from payplat.program.plan import Plan, plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def planned(path: Path) -> tuple[Manifest, Plan]:
    manifest = read_manifest(path.read_text())
    return manifest, plan(manifest.spec, name=manifest.name, namespace=manifest.namespace)


@pytest.fixture(scope="session")
def example() -> tuple[Manifest, Plan]:
    """examples/platform.yaml: eu-west-1, three AZs with a NAT each, HTTPS."""
    return planned(EXAMPLES / "platform.yaml")


@pytest.fixture(scope="session")
def minimal() -> tuple[Manifest, Plan]:
    """examples/minimal.yaml: us-east-1, every default (one NAT, HTTP only)."""
    return planned(EXAMPLES / "minimal.yaml")
