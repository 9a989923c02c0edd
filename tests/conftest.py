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
