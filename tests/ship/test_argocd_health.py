"""The Argo CD health check is Lua that Argo CD runs, so the test runs that very Lua (Lua
5.1 through lupa, like Argo CD's gopher-lua, with the same restricted standard library)
against the fixtures listed in Argo CD's own ``health_test.yaml`` layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa.lua51 as lua51
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).parent.parent.parent
HEALTH_LUA = (ROOT / "manifests" / "argocd" / "health.lua").read_text()
CM_PATCH = ROOT / "manifests" / "argocd" / "argocd-cm-patch.yaml"
DATA = ROOT / "tests" / "data" / "argocd"
CASES = yaml.safe_load((DATA / "health_test.yaml").read_text())["tests"]
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def _to_lua(runtime: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return runtime.table_from({k: _to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    return value


def health(obj: dict[str, Any]) -> dict[str, str]:
    """Run health.lua the way Argo CD does: ``obj`` global in, ``hs`` table out."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    # Argo CD opens only the base, table, string and math libraries.
    runtime.execute("os, io, debug, package, require, dofile, loadfile = nil, nil, nil, nil, nil, nil, nil")
    runtime.globals().obj = _to_lua(runtime, obj)
    result = runtime.execute(HEALTH_LUA)
    return dict(result.items())


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_health_of_each_fixture(case: dict[str, Any]) -> None:
    obj = yaml.safe_load((DATA / case["inputPath"]).read_text())
    assert health(obj) == case["healthStatus"]


def test_every_fixture_is_listed() -> None:
    listed = {c["inputPath"] for c in CASES}
    on_disk = {f"testdata/{p.name}" for p in (DATA / "testdata").glob("*.yaml")}
    assert listed == on_disk


def test_argocd_cm_patch_embeds_the_same_lua() -> None:
    patch = yaml.safe_load(CM_PATCH.read_text())
    assert patch["kind"] == "ConfigMap" and patch["metadata"]["name"] == "argocd-cm"
    assert patch["data"]["resource.customizations.health.payplat.io_PaymentPlatform"] == HEALTH_LUA


_condition_status = st.sampled_from(["True", "False", "Unknown"])
_generation = st.integers(min_value=1, max_value=4)


@st.composite
def _platforms(draw: st.DrawFn) -> dict[str, Any]:
    generation = draw(_generation)
    conditions = [
        {"type": kind, "status": draw(_condition_status), "reason": "R", "message": draw(st.sampled_from(["", "m"])),
         **({"observedGeneration": draw(_generation)} if draw(st.booleans()) else {})}
        for kind in draw(st.lists(st.sampled_from(["Ready", "Reconciling", "Stalled", "Drifted"]), unique=True))
    ]
    status: dict[str, Any] = {"conditions": conditions}
    if draw(st.booleans()):
        status["observedGeneration"] = draw(_generation)
    metadata: dict[str, Any] = {"name": "p", "namespace": "n", "generation": generation}
    if draw(st.booleans()):
        metadata["deletionTimestamp"] = "2026-11-21T09:00:00Z"
    return {"metadata": metadata, "spec": {"suspend": draw(st.booleans())},
            **({"status": status} if draw(st.booleans()) else {})}


@given(_platforms())
def test_healthy_only_when_ready_is_true_for_the_current_generation(obj: dict[str, Any]) -> None:
    hs = health(obj)
    assert hs["status"] in ARGO_STATUSES and hs["message"]
    if hs["status"] == "Healthy":
        generation = obj["metadata"]["generation"]
        status = obj["status"]
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
        assert status["observedGeneration"] == generation
        assert ready.get("observedGeneration", generation) == generation
        assert "deletionTimestamp" not in obj["metadata"] and not obj["spec"]["suspend"]
