"""The lane fails loudly: what is missing is named, with the step that provides it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.cluster import NODE_BINARIES, HostState, NodeCluster, NodeUnavailable, missing_capabilities


def test_every_missing_binary_and_image_is_named_with_its_build_step(tmp_path: Path) -> None:
    missing = missing_capabilities(tmp_path / "bin", tmp_path / "images")
    text = "; ".join(missing)
    for name in NODE_BINARIES:
        assert f"{name} (hack/" in text
    assert f"{tmp_path / 'images' / 'operator.oci.tar'} (hack/image.sh)" in text


def test_a_machine_without_the_binaries_gets_an_error_not_a_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYPLAT_TESTBIN_BIN", str(tmp_path))
    with pytest.raises(NodeUnavailable, match=r"the node lane needs: .*kubelet"):
        NodeCluster.start()


def test_host_differences_name_what_was_left_behind() -> None:
    before = HostState.capture()
    after = HostState(
        kernel={**before.kernel, "kernel/panic": "10"},
        links=before.links | {"ppnx"},
        mounts=before.mounts,
        cgroups=before.cgroups - set(list(before.cgroups)[:1]),
        iptables=before.iptables + "\n-A X",
        paths=before.paths,
    )
    diffs = after.differences(before)
    assert (
        f"kernel kernel/panic: 10 -> {before.kernel['kernel/panic']}" in diffs or before.kernel["kernel/panic"] == "10"
    )
    assert "links: gone ppnx" in diffs
    assert "iptables rules changed" in diffs
    assert before.differences(before) == []
