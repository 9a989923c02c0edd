"""The offline engine end to end in-process: real program under mocks, diy-shaped state,
locks, fake cloud journal, crash recovery, password, failures and drift on purpose."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from payplat.engines import create_engine, locks, lockstore
from payplat.engines.base import (
    Changes,
    PermanentEngineError,
    StackLockedError,
    StackRef,
    StackSecrets,
    TransientEngineError,
)
from payplat.engines.fakecloud import FakeCloud, simulate_drift
from payplat.engines.offline import OfflineEngine
from payplat.engines.passwords import CONFIG_KEY

from .helpers import WEB, small_spec

NONE = StackSecrets()


def run(coroutine):
    return asyncio.run(coroutine)


def checkpoint(state_dir: Path, stack: str = "ns_shop") -> dict:
    return json.loads((state_dir / ".pulumi" / "stacks" / "payplat" / f"{stack}.json").read_text())


def creates_per_urn(state_dir: Path) -> Counter[str]:
    return Counter(e["urn"] for e in FakeCloud(state_dir, "ns_shop").entries() if e["action"] == "create")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leave_stale_lock(state_dir: Path, pid: int) -> str:
    """What an operator of this host killed mid-operation leaves: its operation record and its lock."""
    bucket = lockstore.FileBucket(state_dir)
    now = datetime.now(UTC)
    owner = replace(locks.this_identity(), pid=pid, process_start=None)
    bucket.write(
        f"{lockstore.record_prefix('payplat', 'ns_shop')}crashed.json",
        locks.OperationRecord(owner, "up", now - timedelta(seconds=1)).to_json(),
    )
    key = f"{lockstore.lock_prefix('payplat', 'ns_shop')}crashed.json"
    info = locks.LockInfo(pid=pid, username="payplat", hostname=socket.gethostname(), timestamp=now)
    bucket.write(key, info.to_json())
    return key


# --------------------------------------------------------------------------- change counts


def test_create_noop_update_delete(engine: OfflineEngine, ref: StackRef, spec, tmp_path: Path) -> None:
    created = run(engine.up(ref, spec, NONE))
    total = created.changes.create
    assert total > 40 and created.changes.total == total
    assert created.engine == "offline" and "nothing in AWS was touched" in created.message
    assert created.outputs["clusterArn"].split(":")[4] == "000000000000"  # obviously fake
    assert {"vpcId", "albUrl", "secretArn", "services"} <= set(created.outputs)

    again = run(engine.up(ref, spec, NONE))
    assert again.changes == Changes(same=total)

    tagged = run(engine.up(ref, small_spec(tags={"team": "payments"}), NONE))
    assert tagged.changes.update > 10 and tagged.changes.create == tagged.changes.delete == 0

    second = {"name": "worker", "image": "docker.io/traefik/whoami:v1.10.3"}
    grown = run(engine.up(ref, small_spec(tags={"team": "payments"}, services=[WEB, second]), NONE))
    assert grown.changes.create > 5 and grown.changes.delete == 0
    shrunk = run(engine.up(ref, small_spec(tags={"team": "payments"}), NONE))
    assert shrunk.changes.delete == grown.changes.create and shrunk.changes.create == 0

    state = checkpoint(tmp_path)["checkpoint"]
    assert state["stack"] == "organization/payplat/ns_shop"
    assert state["latest"]["pending_operations"] == []
    assert len(state["latest"]["resources"]) == total
    assert max(creates_per_urn(tmp_path).values()) == 1
    assert lockstore.read_locks(lockstore.FileBucket(tmp_path), "payplat", "ns_shop") == {}  # released


def test_destroy_deletes_in_reverse_order_and_removes_state(engine, ref, spec, tmp_path: Path) -> None:
    run(engine.up(ref, spec, NONE))
    destroyed = run(engine.destroy(ref, spec))
    entries = FakeCloud(tmp_path, "ns_shop").entries()
    created = [e["urn"] for e in entries if e["action"] == "create"]
    deleted = [e["urn"] for e in entries if e["action"] == "delete"]
    assert deleted == created[::-1]
    assert destroyed.changes.delete > len(created)  # components and the provider too
    assert FakeCloud(tmp_path, "ns_shop").objects() == {}
    assert not (tmp_path / ".pulumi" / "stacks" / "payplat" / "ns_shop.json").exists()
    assert run(engine.destroy(ref, spec)).changes == Changes()  # nothing left: a no-op


def test_forget_drops_state_but_leaves_the_cloud(engine, ref, spec, tmp_path: Path) -> None:
    run(engine.up(ref, spec, NONE))
    before = FakeCloud(tmp_path, "ns_shop").objects()
    run(engine.forget(ref))
    assert not (tmp_path / ".pulumi" / "stacks" / "payplat" / "ns_shop.json").exists()
    assert FakeCloud(tmp_path, "ns_shop").objects() == before


# --------------------------------------------------------------------------- locks and crashes


def test_a_lock_held_by_a_live_process_refuses_the_operation(engine, ref, spec, tmp_path: Path) -> None:
    key = leave_stale_lock(tmp_path, os.getpid())  # "held" by this very (live) process
    with pytest.raises(StackLockedError) as caught:
        run(engine.up(ref, spec, NONE))
    assert f"pid {os.getpid()}" in caught.value.message
    assert (tmp_path / key).exists()
    assert FakeCloud(tmp_path, "ns_shop").entries() == []


def test_a_lock_of_another_operator_pod_is_broken_only_when_this_cluster_says_its_pod_is_gone(
    tmp_path: Path, ref, spec
) -> None:
    bucket = lockstore.FileBucket(tmp_path)
    now = datetime.now(UTC)
    old = locks.Identity(
        hostname="payplat-operator-old",
        pid=1,
        pod_name="payplat-operator-old",
        pod_namespace="payplat-system",
        pod_uid="uid-old",
        cluster="cluster-1",
    )
    bucket.write(
        f"{lockstore.record_prefix('payplat', 'ns_shop')}old.json",
        locks.OperationRecord(old, "up", now - timedelta(seconds=5)).to_json(),
    )
    key = f"{lockstore.lock_prefix('payplat', 'ns_shop')}other.json"
    bucket.write(key, locks.LockInfo(pid=1, username="payplat", hostname=old.hostname, timestamp=now).to_json())
    here = replace(locks.this_identity(), cluster="cluster-1")
    unknown = create_engine("offline", state_dir=tmp_path, pod_probe=lambda owner: None, identity=here)
    with pytest.raises(StackLockedError):
        run(unknown.up(ref, spec, NONE))
    elsewhere = create_engine(
        "offline", state_dir=tmp_path, pod_probe=lambda owner: True, identity=replace(here, cluster="cluster-2")
    )
    with pytest.raises(StackLockedError):  # another cluster's API server cannot vouch for that pod
        run(elsewhere.up(ref, spec, NONE))
    gone = create_engine(
        "offline", state_dir=tmp_path, pod_probe=lambda owner: owner.pod_uid == "uid-old", identity=here
    )
    assert run(gone.up(ref, spec, NONE)).changes.create > 40
    assert not bucket.list(
        lockstore.record_prefix("payplat", "ns_shop")
    )  # the proof went with the lock; ours with the run


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing handles it."""


@pytest.mark.parametrize("cloud_acted", [True, False])
def test_stale_lock_is_broken_and_the_interrupted_create_resolved(
    ref, spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, cloud_acted: bool
) -> None:
    calls = {"n": 0}
    real_create = FakeCloud.create

    def dying_create(self, urn, type_, inputs, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            if cloud_acted:
                real_create(self, urn, type_, inputs, **kwargs)  # AWS created it; we died before recording it
            raise Crash
        return real_create(self, urn, type_, inputs, **kwargs)

    monkeypatch.setattr(FakeCloud, "create", dying_create)
    with pytest.raises(Crash):
        run(OfflineEngine(tmp_path).up(ref, spec, NONE))
    monkeypatch.setattr(FakeCloud, "create", real_create)
    pending = checkpoint(tmp_path)["checkpoint"]["latest"]["pending_operations"]
    assert [p["type"] for p in pending] == ["creating"]
    interrupted = pending[0]["resource"]["urn"]
    assert (interrupted in FakeCloud(tmp_path, "ns_shop").objects()) is cloud_acted
    leave_stale_lock(tmp_path, dead_pid())  # what a killed operator leaves behind

    with caplog.at_level(logging.WARNING):
        result = run(OfflineEngine(tmp_path).up(ref, spec, NONE))
    assert "broke the stale lock" in caplog.text
    assert ("adopted" if cloud_acted else "pending create dropped") in caplog.text
    assert set(creates_per_urn(tmp_path).values()) == {1}  # nothing created twice
    assert interrupted in FakeCloud(tmp_path, "ns_shop").objects()
    latest = checkpoint(tmp_path)["checkpoint"]["latest"]
    assert latest["pending_operations"] == []
    assert {r["urn"] for r in latest["resources"]} >= set(FakeCloud(tmp_path, "ns_shop").objects())
    assert result.changes.same >= 4


def test_sigkill_mid_operation_then_recovery_creates_nothing_twice(ref, spec, tmp_path: Path) -> None:
    """A real operator process killed with SIGKILL mid-up; the next one takes over."""
    script = (
        "import asyncio, sys; from pathlib import Path\n"
        "from payplat.engines.offline import OfflineEngine\n"
        "from payplat.engines.base import StackRef, StackSecrets\n"
        "from payplat.model.parsing import parse_spec\n"
        f"spec = parse_spec({{'services': [{WEB!r}], 'network': {{'flowLogs': False}}}}, name='shop')\n"
        "engine = OfflineEngine(Path(sys.argv[1]), step_delay=0.05)\n"
        "asyncio.run(engine.up(StackRef('ns', 'shop'), spec, StackSecrets()))\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root / "operator"), os.environ.get("PYTHONPATH")])),
    }
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=root, env=env)  # this checkout's code
    journal = FakeCloud(tmp_path, "ns_shop")
    try:
        deadline = datetime.now(UTC).timestamp() + 120
        while len(journal.entries()) < 10 and child.poll() is None and datetime.now(UTC).timestamp() < deadline:
            asyncio.run(asyncio.sleep(0.02))
    finally:
        child.kill()
        child.wait()
    done = len(journal.entries())
    assert done >= 10, "the child never got going"
    assert lockstore.read_locks(lockstore.FileBucket(tmp_path), "payplat", "ns_shop"), "a killed holder leaves its lock"

    result = run(OfflineEngine(tmp_path).up(ref, spec, NONE))
    assert set(creates_per_urn(tmp_path).values()) == {1}
    assert result.changes.create + result.changes.same == len(checkpoint(tmp_path)["checkpoint"]["latest"]["resources"])
    assert len([e for e in journal.entries() if e["action"] == "create"]) == len(journal.objects())


def test_close_stops_after_the_current_step_and_the_next_run_continues(ref, spec, tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = OfflineEngine(tmp_path, step_delay=0.02)
        task = asyncio.create_task(engine.up(ref, spec, NONE))
        while len(FakeCloud(tmp_path, "ns_shop").entries()) < 3:  # noqa: ASYNC110 - polls the journal on disk
            await asyncio.sleep(0.01)
        await engine.close()
        with pytest.raises(TransientEngineError, match="shutdown") as caught:
            await task
        assert caught.value.reason == "Interrupted"
        with pytest.raises(TransientEngineError, match="shutting down"):
            await engine.up(ref, spec, NONE)

    run(scenario())
    assert checkpoint(tmp_path)["checkpoint"]["latest"]["pending_operations"] == []
    assert lockstore.read_locks(lockstore.FileBucket(tmp_path), "payplat", "ns_shop") == {}
    result = run(OfflineEngine(tmp_path).up(ref, spec, NONE))
    assert result.changes.create > 0 and result.changes.same > 0
    assert set(creates_per_urn(tmp_path).values()) == {1}


# --------------------------------------------------------------------------- the password


def files_holding(root: Path, secret: str) -> list[str]:
    """Every file under ``root`` whose bytes contain ``secret`` (plain, or JSON-escaped)."""
    needles = {secret.encode(), json.dumps(secret)[1:-1].encode()}
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and any(needle in path.read_bytes() for needle in needles)
    )


def test_password_generated_once_reused_and_never_shown(
    engine, ref, spec, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        first = run(engine.up(ref, spec, NONE))
        config_path = tmp_path / "config" / "ns_shop.json"
        digest = json.loads(config_path.read_text())["payplat:dbPasswordDigest"]
        assert digest.startswith("scrypt$") and CONFIG_KEY not in json.loads(config_path.read_text())
        assert oct(config_path.stat().st_mode & 0o777) == "0o600"
        second = run(engine.up(ref, spec, NONE))
        assert json.loads(config_path.read_text())["payplat:dbPasswordDigest"] == digest  # kept, not regenerated
        assert second.changes.update == 0
        run(engine.detect_drift(ref, spec, NONE))
    shown = json.dumps([first.outputs, second.outputs, first.message]) + caplog.text
    assert "[secret]" in (tmp_path / ".pulumi" / "stacks" / "payplat" / "ns_shop.json").read_text()  # masked input
    assert digest not in shown


def test_no_file_under_the_state_folder_holds_the_password(engine, ref, spec, tmp_path: Path) -> None:
    """The referenced Secret's password, through create, rotation, drift check and an
    interrupted run: grep the whole state folder, as a person with a backup of it would."""
    password, rotated = "Referenced-Secret-Pw-7f3a9", "Rotated-Secret-Pw-2b81c"
    run(engine.up(ref, spec, StackSecrets(db_password=password)))
    run(engine.detect_drift(ref, spec, StackSecrets(db_password=password)))
    assert files_holding(tmp_path, password) == []
    assert run(engine.up(ref, spec, StackSecrets(db_password=rotated))).changes.update == 1
    assert files_holding(tmp_path, password) == [] and files_holding(tmp_path, rotated) == []
    assert any(tmp_path.rglob("*.json"))  # the grep looked at something


def test_a_plaintext_password_left_by_an_older_version_becomes_a_digest(engine, ref, spec, tmp_path: Path) -> None:
    config = tmp_path / "config" / "ns_shop.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({CONFIG_KEY: "Old-Plaintext-Pw-123", "applied": True}))
    result = run(engine.up(ref, spec, StackSecrets(db_password="Old-Plaintext-Pw-123")))
    assert result.changes.update == 0  # the same password: nothing to rotate
    assert files_holding(tmp_path, "Old-Plaintext-Pw-123") == []


def test_a_given_password_replaces_the_stored_one_and_updates_the_secret(engine, ref, spec, tmp_path: Path) -> None:
    run(engine.up(ref, spec, NONE))
    rotated = run(engine.up(ref, spec, StackSecrets(db_password="rotated-password-123")))
    assert rotated.changes.update == 1  # the secret version, nothing else
    assert run(engine.up(ref, spec, StackSecrets(db_password="rotated-password-123"))).changes.update == 0


# --------------------------------------------------------------------------- failures and drift on purpose


def test_a_destroy_failing_on_purpose_keeps_the_state(engine, ref, tmp_path: Path) -> None:
    spec = small_spec(tags={"payplat.io/offline-fail": "destroy-permanent"})
    run(engine.up(ref, spec, NONE))
    for _ in range(2):
        with pytest.raises(PermanentEngineError) as caught:
            run(engine.destroy(ref, spec))
        assert caught.value.reason == "InjectedFailure" and "remove the tag" in caught.value.message
    assert checkpoint(tmp_path)["checkpoint"]["latest"]["resources"]
    assert run(engine.destroy(ref, small_spec())).changes.delete > 0


def test_a_transient_failure_on_purpose_fails_n_times_then_succeeds(engine, ref) -> None:
    spec = small_spec(tags={"payplat.io/offline-fail": "up-transient-2"})
    for attempt in (1, 2):
        with pytest.raises(TransientEngineError, match=f"attempt {attempt}"):
            run(engine.up(ref, spec, NONE))
    assert run(engine.up(ref, spec, NONE)).changes.create > 0


def test_a_malformed_failure_tag_is_a_permanent_error_naming_the_tag(engine, ref) -> None:
    with pytest.raises(PermanentEngineError, match=r"spec.tags.payplat.io/offline-fail: 'up-sometimes'"):
        run(engine.up(ref, small_spec(tags={"payplat.io/offline-fail": "up-sometimes"}), NONE))


def test_drift_is_detected_then_remediated_by_up(engine, ref, spec, tmp_path: Path) -> None:
    run(engine.up(ref, spec, NONE))
    assert not run(engine.detect_drift(ref, spec, NONE)).drifted
    cluster = next(urn for urn in FakeCloud(tmp_path, "ns_shop").objects() if "aws:ecs/cluster:Cluster" in urn)
    simulate_drift(tmp_path, "ns_shop", cluster, inputs={"name": "renamed-by-hand"})

    report = run(engine.detect_drift(ref, spec, NONE))
    # An ECS cluster's name forces a new cluster (engines.forcenew), as the real provider says.
    assert report.drifted and report.changes.replace == 1 and "changed outside Pulumi" in report.message
    fixed = run(engine.up(ref, spec, NONE))
    assert fixed.changes.replace == 1 and fixed.changes.update == 0
    assert FakeCloud(tmp_path, "ns_shop").objects()[cluster].inputs["name"] != "renamed-by-hand"
    assert not run(engine.detect_drift(ref, spec, NONE)).drifted


def test_a_resource_deleted_out_of_band_is_drift_and_recreated(engine, ref, spec, tmp_path: Path) -> None:
    run(engine.up(ref, spec, NONE))
    simulate_drift(tmp_path, "ns_shop", "shop-cluster", delete=True)
    report = run(engine.detect_drift(ref, spec, NONE))
    assert report.drifted and report.changes.create == 1
    assert run(engine.up(ref, spec, NONE)).changes.create == 1


def test_a_drift_check_can_fail_on_purpose(engine, ref) -> None:
    with pytest.raises(PermanentEngineError):
        run(engine.detect_drift(ref, small_spec(tags={"payplat.io/offline-fail": "drift-permanent"}), NONE))


# --------------------------------------------------------------------------- stacks named before 0.2


def legacy(engine: OfflineEngine, ref: StackRef) -> str:
    """Turn ``ref``'s stack into what 0.1 left on disk: the same files under the stack
    name ``<namespace>-<name>``, every URN saying so."""
    old = f"{ref.namespace}-{ref.name}"
    engine._rename(ref.stack_name, old)
    assert f"urn:pulumi:{old}::" in (tmp := engine.bucket.read(f".pulumi/stacks/payplat/{old}.json").decode())
    assert f"urn:pulumi:{ref.stack_name}::" not in tmp
    return old


def test_stacks_named_before_0_2_migrate_to_their_owners_at_start_up(tmp_path: Path, spec) -> None:
    """``a-b/c`` and ``a/b-c`` were both stack ``a-b-c``; the state's root component says
    whose it is. After migration the owner's next up changes nothing, and the other
    platform gets a stack of its own that it can destroy without touching the first."""
    engine = OfflineEngine(tmp_path, log=logging.getLogger("payplat.engine.test"))
    first, other = StackRef("a-b", "c"), StackRef("a", "b-c")
    created = run(engine.up(first, spec, StackSecrets(db_password="first-platform-password")))
    live = FakeCloud(tmp_path, first.stack_name).objects()
    old = legacy(engine, first)

    assert run(engine.migrate_stacks()) == [(old, "a-b_c")]
    assert run(engine.migrate_stacks()) == []  # idempotent
    assert not (tmp_path / ".pulumi" / "stacks" / "payplat" / f"{old}.json").exists()
    again = run(engine.up(first, spec, StackSecrets(db_password="first-platform-password")))
    assert again.changes == Changes(same=created.changes.create)  # adopted, nothing replaced
    assert set(FakeCloud(tmp_path, first.stack_name).objects()) == set(live)

    run(engine.up(other, spec, NONE))
    run(engine.destroy(other, spec))
    assert set(FakeCloud(tmp_path, first.stack_name).objects()) == set(live)
    assert run(engine.up(first, spec, StackSecrets(db_password="first-platform-password"))).changes.total == 0


def test_a_legacy_stack_without_a_platform_in_it_is_left_alone(tmp_path: Path) -> None:
    engine = OfflineEngine(tmp_path)
    bucket = lockstore.FileBucket(tmp_path)
    bucket.write(".pulumi/stacks/payplat/x-y.json", b'{"checkpoint": {"latest": {"resources": []}}}')
    assert run(engine.migrate_stacks()) == []
    assert bucket.read(".pulumi/stacks/payplat/x-y.json")
