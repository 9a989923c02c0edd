"""Starting a local control plane for a pytest fixture (tests/conftest.py's session-wide
one, and the Argo CD lane's own)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from payplat_dev.localcluster import LocalCluster
from payplat_dev.testbin import find_bin_dir, missing_binaries


def local_cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    """A real etcd + kube-apiserver with crds/ installed, for as long as the fixture lives.

    Without the binaries (``hack/testbin.sh`` builds them) the tests using it are skipped
    with the reason, except in CI where a missing binary is a failure. The cluster's
    folder (logs of etcd, kube-apiserver and every process started for it) is kept, and
    its path printed, when any test failed.
    """
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
