"""Pure state logic: steps and change counts, and refresh / pending-operation resolution."""

from __future__ import annotations

from payplat.engines.base import Changes
from payplat.engines.checkpoint import count, plan_steps, refresh
from payplat.engines.fakecloud import CloudObject


def res(name: str, custom: bool = True, **inputs: object) -> dict:
    return {
        "urn": f"urn:pulumi:s::payplat::aws:x/y:Y::{name}",
        "type": "aws:x/y:Y",
        "custom": custom,
        "id": f"id-{name}",
        "inputs": dict(inputs),
    }


def urn(name: str) -> str:
    return res(name)["urn"]


def test_steps_create_update_same_delete() -> None:
    stored = [res("a", v=1), res("b", v=1), res("c", v=1), res("d", v=1)]
    desired = [res("a", v=1), res("b", v=2), res("e", v=1)]
    steps = plan_steps(desired, stored)
    assert [(s.op, s.urn) for s in steps] == [
        ("same", urn("a")),
        ("update", urn("b")),
        ("create", urn("e")),
        ("delete", urn("d")),
        ("delete", urn("c")),  # deletes in reverse dependency order, last
    ]
    assert count(steps) == Changes(create=1, update=1, delete=2, same=1)


def test_a_changed_secret_updates_only_resources_that_take_it() -> None:
    stored = [res("secret", value="[secret]"), res("plain", v=1)]
    assert count(plan_steps(stored, stored)) == Changes(same=2)
    assert count(plan_steps(stored, stored, secrets_changed=True)) == Changes(update=1, same=1)


def test_refresh_adopts_an_interrupted_create_the_cloud_performed() -> None:
    cloud = {
        urn("a"): CloudObject(urn("a"), "aws:x/y:Y", "id-a", {"v": 1}),
        urn("b"): CloudObject(urn("b"), "aws:x/y:Y", "real-b", {"v": 1}),
    }
    resources, notes = refresh([res("a", v=1)], [{"resource": res("b", v=1), "type": "creating"}], cloud)
    assert [r["urn"] for r in resources] == [urn("a"), urn("b")]
    assert resources[1]["id"] == "real-b"
    assert len(notes) == 1 and "adopted" in notes[0]


def test_refresh_drops_an_interrupted_create_that_never_happened() -> None:
    cloud = {urn("a"): CloudObject(urn("a"), "aws:x/y:Y", "id-a", {"v": 1})}
    resources, notes = refresh([res("a", v=1)], [{"resource": res("b", v=1), "type": "creating"}], cloud)
    assert [r["urn"] for r in resources] == [urn("a")]
    assert "dropped" in notes[0]


def test_refresh_takes_the_clouds_view_of_stored_resources() -> None:
    component = res("component", custom=False)
    cloud = {urn("a"): CloudObject(urn("a"), "aws:x/y:Y", "id-a", {"v": 9})}
    resources, notes = refresh([component, res("a", v=1), res("gone", v=1)], [], cloud)
    assert [r["urn"] for r in resources] == [urn("component"), urn("a")]  # components have no cloud side
    assert resources[1]["inputs"] == {"v": 9}
    assert len(notes) == 2


def test_refresh_of_a_state_that_matches_the_cloud_changes_nothing() -> None:
    cloud = {urn("a"): CloudObject(urn("a"), "aws:x/y:Y", "id-a", {"v": 1})}
    assert refresh([res("a", v=1)], [], cloud) == ([res("a", v=1)], [])
