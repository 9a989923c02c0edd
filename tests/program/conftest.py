"""Plans shared by the program tests: each is built once per session (a plan takes a
few hundred milliseconds warm, the first one ~2 s for pulumi_aws imports)."""

from __future__ import annotations

from pathlib import Path

import pytest

from payplat.model.parsing import parse_spec
from payplat.model.spec import PlatformSpec
from payplat.program.manifest import Manifest, read_manifest
from payplat.program.plan import Plan, plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def default_spec() -> PlatformSpec:
    """Every field defaulted: three services, one NAT, HTTP only."""
    return parse_spec({}, name="payments")


@pytest.fixture(scope="session")
def default_plan(default_spec: PlatformSpec) -> Plan:
    return plan(default_spec, name="payments")


@pytest.fixture(scope="session")
def example_manifest() -> Manifest:
    """examples/platform.yaml: PerAZ NAT over three zones, HTTPS, custom services."""
    return read_manifest((EXAMPLES / "platform.yaml").read_text())


@pytest.fixture(scope="session")
def example_plan(example_manifest: Manifest) -> Plan:
    return plan(example_manifest.spec, name=example_manifest.name, namespace=example_manifest.namespace)


@pytest.fixture(scope="session", params=["default", "example"])
def case(
    request: pytest.FixtureRequest,
    default_spec: PlatformSpec,
    default_plan: Plan,
    example_manifest: Manifest,
    example_plan: Plan,
) -> tuple[PlatformSpec, Plan]:
    """A (spec, plan) pair: properties every plan must have are checked against both."""
    if request.param == "default":
        return default_spec, default_plan
    return example_manifest.spec, example_plan
