"""The image hack/image.sh built from the project's Dockerfile (podman, Debian-package
base, no registry): what it promises, checked on the image itself rather than on the
Dockerfile's text."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.node.cluster import images_dir

IMAGES = images_dir()


def _ref(name: str = "operator") -> str:
    ref = IMAGES / f"{name}.ref"
    if not ref.is_file():
        pytest.fail(f"{ref} missing: run hack/image.sh", pytrace=False)
    return ref.read_text().strip()


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(IMAGES / "containers.conf")}
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=env, check=True)


def _run(*argv: str, image: str = "operator") -> str:
    """A command in the image as the image runs: its user, read-only, no network."""
    return _podman(
        "run", "--rm", "--network=none", "--read-only", "--entrypoint", argv[0], _ref(image), *argv[1:]
    ).stdout


def test_image_metadata_says_who_runs_it_and_what_starts() -> None:
    config = json.loads(_podman("image", "inspect", _ref()).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["payplat"] and config["Cmd"] == ["run"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "payment-platform-operator"
    assert len(labels["org.opencontainers.image.revision"]) == 40


def test_payplat_runs_from_the_image_as_10001() -> None:
    assert _run("id", "-u").strip() == "10001"
    assert "run" in _run("payplat", "--help")


def test_build_time_proxy_ca_is_not_in_the_image() -> None:
    """pip needed the host's bundle (an intercepting proxy's CA) mounted during the build;
    the image must carry its own distribution bundle, never the host's."""
    local = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    image_bundle = _run("cat", "/etc/ssl/certs/ca-certificates.crt")
    assert "BEGIN CERTIFICATE" in image_bundle
    host_bundle = Path("/etc/ssl/certs/ca-certificates.crt").read_text()
    assert image_bundle != host_bundle or not local
    for cert in local:
        body = "".join(cert.read_text().split("-----")[2].split())
        assert body[:64] not in "".join(image_bundle.split()), cert


def test_the_pulumi_cli_built_here_runs_in_the_image() -> None:
    """The CLI comes in through PULUMI_FROM (hack/pulumi-cli.sh's build from Go modules),
    where a production build downloads the checksummed release. A checkout that can build
    the CLI must have it in the image, and a CLI in the image must run as the image's user."""
    buildable = (Path(__file__).resolve().parents[2] / "hack" / "pulumi-cli.sh").is_file()
    present = _run("sh", "-c", "test -x /opt/pulumi/bin/pulumi && echo yes || echo no").strip() == "yes"
    assert present or not buildable, "hack/pulumi-cli.sh exists but the image has no Pulumi CLI"
    if present:
        version = _run("pulumi", "version").strip()
        assert version.startswith("v3."), version


def test_only_the_test_build_carries_the_stand_in_provider_and_says_so() -> None:
    """operator-standin is the same Dockerfile with PULUMI_FROM holding the stand-in as
    pulumi-resource-aws; the no-registry build has no AWS plugin, and the label tells them
    apart (a production build says "release")."""

    def label(name: str) -> str:
        config = json.loads(_podman("image", "inspect", _ref(name)).stdout)[0]["Config"]
        return str(config["Labels"]["io.payplat.pulumi-aws.source"])

    assert label("operator-standin") == "standin"
    assert label("operator") in {"none", "given"}
    assert (
        _run("sh", "-c", "test -e /opt/pulumi/bin/pulumi-resource-aws && echo yes || echo no").strip() == "no"
        or label("operator") == "given"
    )
    # The stand-in's launcher finds its package next to it and runs on the image's venv.
    found = _run(
        "python",
        "-c",
        "import sys; sys.path.insert(0, '/opt/pulumi/standin'); "
        "import payplat_dev.standin.provider as p; print(p.__file__)",
        image="operator-standin",
    )
    assert found.strip() == "/opt/pulumi/standin/payplat_dev/standin/provider.py"
