"""The real engine without a cluster: ``PulumiEngine`` with the Pulumi CLI built by
hack/pulumi-cli.sh, the stand-in AWS provider and moto (S3 backend, KMS secrets).

``moto_server`` (tests/conftest.py) fails in CI and skips elsewhere when a piece is missing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from payplat.engines.pulumi import PulumiEngine


@pytest.fixture
def kit(moto_server: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """A kit whose environment this test process takes on (the engine runs in-process)."""
    from payplat_dev.realengine import RealEngineKit

    made = RealEngineKit(moto_server, tmp_path / "real", prefix=tmp_path.name)  # type: ignore[arg-type]
    for key, value in made.env().items():
        if not key.startswith("PAYPLAT_") or key.startswith("PAYPLAT_STANDIN"):
            monkeypatch.setenv(key, value)
    return made


@pytest.fixture
def real_engine(kit: object, tmp_path: Path) -> PulumiEngine:
    return PulumiEngine(
        tmp_path / "state",
        backend_url=kit.backend_url,  # type: ignore[attr-defined]
        secrets_provider=kit.secrets_provider,  # type: ignore[attr-defined]
        log=logging.getLogger("payplat.engine.real"),
    )
