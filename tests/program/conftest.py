"""Plans shared by the program tests: each is built once per session (a plan takes a
few hundred milliseconds warm, the first one ~2 s for pulumi_aws imports)."""

from __future__ import annotations

from pathlib import Path

import pytest

from payplat.plan import Plan, plan, read_manifest
from payplat.spec import parse_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def default_plan() -> Plan:
    """Every spec field defaulted: three services, one NAT, HTTP only."""
    return plan(parse_spec({}, name="payments"), name="payments", stack="default-payments")


@pytest.fixture(scope="session")
def example_plan() -> Plan:
    """examples/platform.yaml: PerAZ NAT over three zones, HTTPS, custom services."""
    manifest = read_manifest((EXAMPLES / "platform.yaml").read_text())
    return plan(manifest.spec, name=manifest.name, stack=manifest.stack)


@pytest.fixture(scope="session", params=["default", "example"])
def any_plan(request: pytest.FixtureRequest, default_plan: Plan, example_plan: Plan) -> Plan:
    """Properties that must hold for every plan run against both."""
    return default_plan if request.param == "default" else example_plan
