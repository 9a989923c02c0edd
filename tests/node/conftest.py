"""The node lane: one real single-node cluster (``tests/node/cluster.py``) per session.

This lane never skips. A machine without what it needs (the binaries of hack/node.sh and
hack/testbin.sh, the images of hack/image.sh, root, namespaces, cgroups, runc, CNI
plugins) fails every test here with a message naming what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.node.cluster import IMAGES, HostState, NodeCluster, NodeUnavailable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/node/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.node)


def start_node(images: tuple[str, ...] = IMAGES) -> NodeCluster:
    try:
        return NodeCluster.start(say=lambda m: print(f"[node] {m}", flush=True), images=images)
    except NodeUnavailable as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(scope="session")
def node(request: pytest.FixtureRequest) -> Iterator[NodeCluster]:
    """The session's node; at the end it is torn down and the host compared with before."""
    before = HostState.capture()
    running = start_node()
    try:
        yield running
    finally:
        running.stop(keep_logs=request.session.testsfailed > 0)
    left = before.differences(HostState.capture())
    assert not left, f"the node left this behind on the host: {left}"
