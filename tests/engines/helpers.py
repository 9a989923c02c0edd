"""Shared helpers of the engine tests (fixtures live in conftest.py)."""

from __future__ import annotations

from payplat.model.parsing import parse_spec
from payplat.model.spec import PlatformSpec

WEB = {"name": "web", "image": "docker.io/nginxinc/nginx-unprivileged:1.27.5-alpine", "public": True}


def small_spec(**overrides: object) -> PlatformSpec:
    """One public service and no flow logs: about 60 resources, quick to plan."""
    raw: dict[str, object] = {"services": [WEB], "network": {"flowLogs": False}, **overrides}
    return parse_spec(raw, name="shop")
