"""Fixtures shared across the test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from payplat.localcluster import LocalCluster


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    """One real etcd + kube-apiserver for the whole session, with crds/ installed.

    Without the binaries (``hack/testbin.sh`` builds them) the e2e tests are skipped
    with the reason, except in CI where a missing binary is a failure. The cluster's
    folder (logs of etcd, kube-apiserver and every operator run) is kept, and its path
    printed, when any test failed.
    """
    from payplat.localcluster import LocalCluster, find_bin_dir, missing_binaries

    bin_dir = find_bin_dir()
    missing = missing_binaries(bin_dir)
    if missing:
        reason = f"{', '.join(missing)} not in {bin_dir}: run hack/testbin.sh"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    running = LocalCluster.start(bin_dir=bin_dir)
    try:
        yield running
    finally:
        running.stop(keep_workdir=request.session.testsfailed > 0)


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
