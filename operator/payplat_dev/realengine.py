"""Everything the real ``pulumi`` engine needs on a machine without AWS, in one place.

The e2e lane, ``payplat demo --engine pulumi`` and bench/ all run ``PulumiEngine`` (or
``payplat run`` with ``PAYPLAT_ENGINE=pulumi``) exactly as production does, with three
things swapped for local ones:

* the Pulumi CLI built by ``hack/pulumi-cli.sh`` (found by asking the script, ``--print``);
* the AWS provider plugin: ``hack/aws-standin/pulumi-resource-aws`` on PATH, keeping its
  "cloud" in ``PAYPLAT_STANDIN_DIR``;
* AWS's S3 and KMS: moto on loopback (``payplat_dev.moto``), behind the production URL forms.

``RealEngineKit.env()`` is the environment of such a process. Nothing here is downloaded:
``PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION`` makes a missing plugin an error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from payplat_dev.moto import MotoServer
from payplat_dev.standin.cloud import STANDIN_DIR_ENV, StandinCloud
from payplat_dev.testbin import repo_root

__all__ = ["PULUMI_CLI_VERSION", "RealEngineKit", "cli_binary", "missing_pieces", "standin_bin_dir"]

#: Kept equal to hack/pulumi-cli.sh, the Dockerfile and pyproject by tests/ship.
PULUMI_CLI_VERSION = "v3.274.0"


def _root() -> Path:
    root = repo_root()
    if root is None:
        raise RuntimeError(
            "the real-engine kit runs from a source checkout (hack/ holds the CLI build and the stand-in)"
        )
    return root


def cli_binary() -> Path:
    """The cached CLI binary (``PAYPLAT_PULUMI_CLI`` overrides), built or not."""
    override = os.environ.get("PAYPLAT_PULUMI_CLI")
    if override:
        return Path(override)
    out = subprocess.run(
        ["bash", str(_root() / "hack" / "pulumi-cli.sh"), "--print"], capture_output=True, text=True, check=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def standin_bin_dir() -> Path:
    """The folder holding only the ``pulumi-resource-aws`` launcher (put it on PATH)."""
    return _root() / "hack" / "aws-standin"


def missing_pieces() -> list[str]:
    """What is missing to run the real engine here, each with the command that makes it."""
    missing = []
    cli = cli_binary()
    if not os.access(cli, os.X_OK):
        missing.append(f"the Pulumi CLI {PULUMI_CLI_VERSION} ({cli}): run hack/pulumi-cli.sh (cold: 8-13 minutes)")
    if not os.access(standin_bin_dir() / "pulumi-resource-aws", os.X_OK):
        missing.append(f"the stand-in provider launcher {standin_bin_dir() / 'pulumi-resource-aws'}")
    try:
        import moto  # noqa: F401
    except ImportError:
        missing.append("moto[server]: pip install -e '.[test]'")
    return missing


@dataclass
class RealEngineKit:
    """One isolated real-engine setup: its moto bucket prefix and KMS alias, its stand-in
    cloud folder and its ``PULUMI_HOME``."""

    moto: MotoServer
    workdir: Path
    bucket: str = "payplat-state"
    prefix: str = "stacks"
    kms_alias: str = "payplat-secrets"

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cli_dir = self.workdir / "cli"
        cli_dir.mkdir(exist_ok=True)
        link = cli_dir / "pulumi"
        if not link.exists():
            link.symlink_to(cli_binary())
        self.cli_dir = cli_dir
        self.backend_url = self.moto.backend_url(self.bucket, self.prefix)
        self.secrets_provider = self.moto.kms_secrets_provider(self.kms_alias)

    @property
    def standin_dir(self) -> Path:
        return self.workdir / "standin-cloud"

    @property
    def cloud(self) -> StandinCloud:
        return StandinCloud(self.standin_dir)

    def env(self, *, path: str | None = None) -> dict[str, str]:
        """Environment of a process running the real engine against this kit."""
        path = path if path is not None else os.environ.get("PATH", "")
        return {
            **self.moto.env(),
            "PATH": os.pathsep.join([str(self.cli_dir), str(standin_bin_dir()), path]),
            "PULUMI_HOME": str(self.workdir / "pulumi-home"),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            STANDIN_DIR_ENV: str(self.standin_dir),
            "PAYPLAT_STANDIN_PYTHON": sys.executable,
            "PAYPLAT_ENGINE": "pulumi",
            "PAYPLAT_BACKEND_URL": self.backend_url,
            "PAYPLAT_SECRETS_PROVIDER": self.secrets_provider,
        }

    def state_objects(self) -> dict[str, bytes]:
        """Everything the S3 backend holds for this kit (checkpoints, locks, history)."""
        return self.moto.objects(self.bucket, self.prefix)
