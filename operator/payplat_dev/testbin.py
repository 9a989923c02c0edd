"""Where the development harness finds its binaries and its checkout.

One job: answer "which etcd, kube-apiserver and kubectl?" the way ``hack/testbin.sh``
(which builds and caches them) does, by asking the script rather than re-deriving its
cache rules, and "which checkout am I running from?" (for ``crds/``, ``hack/`` and the
examples). Kept apart from the local cluster because the node lane, the shipping tests,
the demo and the real-engine kit need these answers without starting a control plane.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REQUIRED_BINARIES = ("etcd", "kube-apiserver", "kubectl")


def repo_root() -> Path | None:
    """The source checkout this package runs from (editable install), if any."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def find_bin_dir() -> Path:
    """Where ``hack/testbin.sh`` caches the binaries; ``PAYPLAT_TESTBIN_BIN`` overrides.

    The script is asked (``--print``) rather than re-deriving its cache rules here.
    """
    override = os.environ.get("PAYPLAT_TESTBIN_BIN")
    if override:
        return Path(override)
    root = repo_root()
    if root and (root / "hack" / "testbin.sh").is_file():
        out = subprocess.run(
            ["bash", str(root / "hack" / "testbin.sh"), "--print"], capture_output=True, text=True, check=False
        )
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip().splitlines()[-1])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("PAYPLAT_TESTBIN_CACHE", f"{cache}/payplat/testbin")) / "bin"


def missing_binaries(bin_dir: Path) -> list[str]:
    """Names of the binaries the control plane needs that are not in ``bin_dir``."""
    return [name for name in REQUIRED_BINARIES if not os.access(bin_dir / name, os.X_OK)]
