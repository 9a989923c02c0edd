"""Which tests need only the control plane, which the Pulumi CLI or Argo CD, which the node.

hack/test.sh runs the suite in three phases so that a cold CI run overlaps the long
builds with the tests that do not need them: ``PAYPLAT_TEST_PHASE=host`` runs the tests
that need at most the control plane (etcd, kube-apiserver, helm, kubectl) and checkov
while the Pulumi CLI and Argo CD build; ``tools`` runs the tests that need those two
while the node binaries and the images build; ``node`` runs the node lane last. Unset,
nothing is deselected. Every test has exactly one phase (``phase_of``), so none runs
twice and none is left out.
"""

from __future__ import annotations

import os

import pytest

PHASE_VARIABLE = "PAYPLAT_TEST_PHASE"
PHASES = ("host", "tools", "node")

#: The node lane: the node binaries and the images it imports.
NODE_LANE = "tests/node/"
#: Lanes whose every test runs Argo CD or the Pulumi CLI with the stand-in provider.
TOOL_LANES = ("tests/argocd/", "tests/realengine/")
#: The fixture every real-engine test reaches the Pulumi CLI through (tests/conftest.py).
REAL_ENGINE_FIXTURE = "moto_server"


def phase_of(item: pytest.Item, rootdir: str) -> str:
    """The first phase in which everything the test runs has been built.

    A scenario parametrized onto both engines needs the Pulumi CLI only in its ``pulumi``
    case, which asks for the real engine indirectly (tests/e2e/conftest.py's ``real_kit``),
    so the parameter is read too, not only the fixture closure."""
    path = os.path.relpath(str(item.path), rootdir).replace(os.sep, "/")
    if path.startswith(NODE_LANE):
        return "node"
    if path.startswith(TOOL_LANES) or REAL_ENGINE_FIXTURE in getattr(item, "fixturenames", ()):
        return "tools"
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("engine") == "pulumi":
        return "tools"
    return "host"


def select_phase(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect what the phase named by ``PAYPLAT_TEST_PHASE`` does not run."""
    phase = os.environ.get(PHASE_VARIABLE, "")
    if not phase:
        return
    if phase not in PHASES:
        raise pytest.UsageError(f"{PHASE_VARIABLE}={phase!r}: allowed are {', '.join(PHASES)} or unset")
    rootdir = str(config.rootpath)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (keep if phase_of(item, rootdir) == phase else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
