"""hack/test.sh's phases: each test runs as soon as what it needs is built, while the
rest still builds (``tests/phases.py``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.phases import phase_of, select_phase

ROOT = "/repo"


def item(path: str, fixtures: tuple[str, ...] = (), **params: Any) -> Any:
    callspec = SimpleNamespace(params=params) if params else None
    made = SimpleNamespace(path=Path(ROOT, path), fixturenames=fixtures)
    if callspec is not None:
        made.callspec = callspec
    return made


@pytest.mark.parametrize(
    ("path", "fixtures", "params", "phase"),
    [
        ("tests/test_spec.py", (), {}, "host"),
        ("tests/e2e/test_reconcile.py", ("cluster", "engine"), {"engine": "offline"}, "host"),
        ("tests/e2e/test_reconcile.py", ("cluster", "engine"), {"engine": "pulumi"}, "pulumi"),
        ("tests/e2e/test_reconcile.py", ("cluster", "engine"), {}, "host"),
        ("tests/engines/test_pulumi.py", ("world",), {}, "host"),
        ("tests/somewhere/test_x.py", ("kit", "moto_server"), {}, "pulumi"),
        ("tests/argocd/test_gitops.py", ("cluster",), {}, "argocd"),
        ("tests/realengine/test_standin.py", (), {}, "pulumi"),
        ("tests/node/test_image.py", (), {}, "node"),
        ("tests/node/test_real_engine_in_pod.py", ("moto_server",), {"engine": "pulumi"}, "node"),
        ("tests/realengines_elsewhere/test_x.py", (), {}, "host"),
    ],
)
def test_each_test_runs_in_the_first_phase_that_has_its_tools(
    path: str, fixtures: tuple[str, ...], params: dict[str, str], phase: str
) -> None:
    assert phase_of(item(path, fixtures, **params), ROOT) == phase


def run_phase(phase: str | None, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Any]]:
    if phase is None:
        monkeypatch.delenv("PAYPLAT_TEST_PHASE", raising=False)
    else:
        monkeypatch.setenv("PAYPLAT_TEST_PHASE", phase)
    items = [
        item("tests/test_spec.py"),
        item("tests/node/test_image.py"),
        item("tests/e2e/t.py", engine="pulumi"),
        item("tests/argocd/test_gitops.py"),
    ]
    dropped: list[Any] = []

    def deselected(items: list[Any]) -> None:  # pytest calls the hook with items=
        dropped.extend(items)

    config = SimpleNamespace(rootpath=Path(ROOT), hook=SimpleNamespace(pytest_deselected=deselected))
    select_phase(config, items)  # type: ignore[arg-type]
    return items, dropped


def test_the_phases_partition_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    selected = {phase: run_phase(phase, monkeypatch) for phase in ("host", "pulumi", "argocd", "node")}
    everything, nothing = run_phase(None, monkeypatch)
    assert {phase: [i.path.name for i in kept] for phase, (kept, _) in selected.items()} == {
        "host": ["test_spec.py"],
        "pulumi": ["t.py"],
        "argocd": ["test_gitops.py"],
        "node": ["test_image.py"],
    }
    for phase, (kept, dropped) in selected.items():
        assert sorted(i.path.name for i in kept + dropped) == sorted(i.path.name for i in everything), phase
    assert len(everything) == 4 and nothing == []


def test_an_unknown_phase_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        pytest.UsageError, match="PAYPLAT_TEST_PHASE='later': allowed are host, pulumi, argocd, node or unset"
    ):
        run_phase("later", monkeypatch)
