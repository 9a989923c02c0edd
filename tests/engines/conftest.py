"""Fixtures for the engine tests: a small spec and an offline engine in a temporary folder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from payplat.engines.base import StackRef
from payplat.engines.offline import OfflineEngine
from payplat.model.spec import PlatformSpec

from .helpers import small_spec


@pytest.fixture
def ref() -> StackRef:
    return StackRef(namespace="ns", name="shop")


@pytest.fixture
def spec() -> PlatformSpec:
    return small_spec()


@pytest.fixture
def engine(tmp_path: Path) -> OfflineEngine:
    return OfflineEngine(tmp_path, log=logging.getLogger("payplat.engine.test"))
