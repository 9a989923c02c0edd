"""Which tests need only the control plane, which the Pulumi CLI, Argo CD or the node.

hack/test.sh runs the suite in phases so that a cold CI run overlaps the long builds
with the tests that do not need them: ``PAYPLAT_TEST_PHASE=host`` runs the tests that
need at most the control plane (etcd, kube-apiserver, helm, kubectl) and checkov while
the Pulumi CLI builds; ``pulumi`` the real engine's tests while Argo CD builds; ``argocd``
the Argo CD lane while the node binaries and the images build; ``node`` the node lane
last. Unset, nothing is deselected. Every test has exactly one phase (``phase_of``), so
none runs twice and none is left out.
"""

from __future__ import annotations

import os

import pytest

PHASE_VARIABLE = "PAYPLAT_TEST_PHASE"
PHASES = ("host", "pulumi", "argocd", "node")

#: The node lane: the node binaries and the images it imports.
NODE_LANE = "tests/node/"
#: Argo CD's lane.
ARGOCD_LANE = "tests/argocd/"
#: The real engine's lane: the Pulumi CLI with the stand-in provider, no cluster.
REAL_ENGINE_LANE = "tests/realengine/"
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
    if path.startswith(ARGOCD_LANE):
        return "argocd"
    if path.startswith(REAL_ENGINE_LANE) or REAL_ENGINE_FIXTURE in getattr(item, "fixturenames", ()):
        return "pulumi"
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("engine") == "pulumi":
        return "pulumi"
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
