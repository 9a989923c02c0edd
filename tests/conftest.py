"""Fixtures shared across the test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from payplat_dev.localcluster import LocalCluster


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """hack/test.sh's phases (``tests/phases.py``)."""
    from tests.phases import select_phase

    select_phase(config, items)


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


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One moto server on loopback for the session: the real engine's S3 state backend and
    KMS secrets provider (``payplat_dev.moto``).

    Missing pieces of the real engine (the Pulumi CLI from ``hack/pulumi-cli.sh``, the
    stand-in provider, moto) fail the test in CI and skip it elsewhere, naming the command
    that provides them, like the control-plane binaries."""
    from payplat_dev.moto import start_moto
    from payplat_dev.realengine import missing_pieces

    missing = missing_pieces()
    if missing:
        reason = "the real engine cannot run here: " + "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    server = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        server.stop()
