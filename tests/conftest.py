"""Fixtures shared across the test suite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from payplat.localcluster import LocalCluster


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    """One real etcd + kube-apiserver for the whole session, with crds/ installed
    (skipped without the binaries, failed in CI: ``tests/controlplane.py``)."""
    from tests.controlplane import local_cluster

    yield from local_cluster(request)


@pytest.fixture
def namespace(cluster: LocalCluster) -> str:
    """A fresh namespace per test; never deleted-and-waited (no namespace controller)."""
    return cluster.create_namespace()
