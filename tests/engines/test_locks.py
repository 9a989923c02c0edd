"""Stack locks: the Pulumi file format, the stale decision, and breaking locks in a bucket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from payplat.engines import locks, lockstore
from payplat.engines.base import StackLockedError
from payplat.engines.locks import LocalProcess, LockInfo, judge

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def lock(host: str = "op-0", pid: int = 42, at: datetime = T0) -> LockInfo:
    return LockInfo(pid=pid, username="payplat", hostname=host, timestamp=at)


def dead_pid() -> int:
    """A pid that certainly ran on this host and no longer does."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --------------------------------------------------------------------------- format


def test_reads_the_lock_file_the_pulumi_cli_writes() -> None:
    # Go's json.Marshal of diy.lockContent: RFC 3339 with nanoseconds and a zone.
    raw = b'{"pid":81,"username":"root","hostname":"payplat-operator-7d9f-x2","timestamp":"2026-11-28T12:00:00.123456789Z"}'
    info = locks.parse_lock(raw)
    assert info == LockInfo(
        81, "root", "payplat-operator-7d9f-x2", datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
    )
    assert locks.parse_lock(info.to_json()) == info
    assert set(json.loads(info.to_json())) == {"pid", "username", "hostname", "timestamp"}


def test_lock_key_follows_the_diy_layout() -> None:
    assert lockstore.lock_prefix("payplat", "ns-shop") == ".pulumi/locks/organization/payplat/ns-shop/"


# --------------------------------------------------------------------------- decision (pure)

HERE = locks.Identity(
    hostname="op-0",
    pid=7,
    boot_id="boot-1",
    machine_id="machine-1",
    pod_name="op-0",
    pod_namespace="payplat-system",
    pod_uid="uid-op-0",
    cluster="cluster-1",
)
DEAD = LocalProcess(alive=False)
RUNS = LocalProcess(alive=True, started=T0 - timedelta(minutes=5))
REUSED = LocalProcess(alive=True, started=T0 + timedelta(minutes=3))  # the pid now names a newer process


def record(*, at: datetime = T0 - timedelta(seconds=1), **owner: object) -> locks.OperationRecord:
    """An operation record as a crashed operator left it (by default: this host, an earlier process)."""
    identity = replace(HERE, pid=41, process_start=T0 - timedelta(minutes=10), **owner)  # type: ignore[arg-type]
    return locks.OperationRecord(owner=identity, operation="up", started=at)


OTHER_POD = {"hostname": "op-1", "pod_name": "op-1", "pod_uid": "uid-op-1", "boot_id": "boot-9"}


@pytest.mark.parametrize(
    ("held", "rec", "lock_process", "owner_process", "pod_gone", "stale"),
    [
        # Nothing of ours explains the lock: a person, CI or another installation. Alive.
        (lock(host="op-0", pid=42), None, DEAD, None, None, False),
        (lock(host="ci-runner-7"), None, None, None, True, False),
        (LockInfo(0, "?", locks.UNREADABLE, T0), None, None, None, None, False),
        # Our own operation on this very host and boot: judged by its processes.
        (lock(pid=42), record(), DEAD, DEAD, None, True),
        (lock(pid=42), record(), None, DEAD, None, False),  # the lock's pid: unknown, so alive
        (lock(pid=42), record(), RUNS, DEAD, None, False),  # the CLI outlived the operator: alive
        (lock(pid=42), record(), REUSED, DEAD, None, True),  # pid reused by a newer process
        (
            lock(pid=42),
            record(),
            DEAD,
            LocalProcess(alive=True, started=T0 - timedelta(minutes=10)),
            None,
            False,
        ),  # the recording operator still runs
        (lock(pid=42), record(), DEAD, RUNS, None, True),  # its pid now names another process
        (lock(pid=41), record(), DEAD, None, None, True),  # offline engine: lock pid is the operator's
        (lock(pid=42), record(boot_id=None), DEAD, DEAD, None, False),  # no boot id: cannot prove
        (lock(pid=42), record(boot_id="boot-0"), None, None, None, True),  # this machine rebooted since
        (lock(pid=42), record(boot_id="boot-0", machine_id=None), None, None, None, False),  # not provably this machine
        # Another operator pod: this cluster's API server decides, by pod UID.
        (lock(host="op-1"), record(**OTHER_POD), None, None, True, True),
        (lock(host="op-1"), record(**OTHER_POD), None, None, False, False),
        (lock(host="op-1"), record(**OTHER_POD), None, None, None, False),  # cannot ask: alive
        (lock(host="op-1"), record(**OTHER_POD, cluster="cluster-2"), None, None, True, False),  # another cluster's pod
        (lock(host="op-1"), record(**OTHER_POD, cluster=None), None, None, True, False),  # no cluster recorded
    ],
)
def test_judge(
    held: LockInfo,
    rec: locks.OperationRecord | None,
    lock_process: LocalProcess | None,
    owner_process: LocalProcess | None,
    pod_gone: bool | None,
    stale: bool,
) -> None:
    verdict = judge(
        held, record=rec, here=HERE, lock_process=lock_process, owner_process=owner_process, pod_gone=pod_gone
    )
    assert verdict.stale is stale
    assert verdict.why


def test_a_lock_is_matched_only_by_a_record_of_its_host_written_before_it() -> None:
    earlier, later = record(at=T0 - timedelta(minutes=1)), record(at=T0 + timedelta(minutes=1))
    newest = record(at=T0 - timedelta(seconds=5))
    assert locks.matching_record(lock(host="op-0"), [earlier, later, newest]) is newest
    assert locks.matching_record(lock(host="op-0"), [later]) is None  # recorded after the lock was taken
    assert locks.matching_record(lock(host="ci-runner"), [earlier]) is None


def test_records_round_trip() -> None:
    rec = record()
    assert locks.OperationRecord.from_json(rec.to_json()) == rec


def test_local_process_facts_for_a_live_and_a_dead_pid() -> None:
    me = locks.local_process(os.getpid())
    assert me.alive
    if me.started is not None:  # /proc available
        assert me.started <= datetime.now(UTC) + locks.START_TIME_SLACK
    assert not locks.local_process(dead_pid()).alive


# --------------------------------------------------------------------------- breaking locks


def write(bucket: lockstore.StateBucket, key_id: str, info: LockInfo, stack: str = "ns-a") -> str:
    key = f"{lockstore.lock_prefix('payplat', stack)}{key_id}.json"
    bucket.write(key, info.to_json())
    return key


def crashed_here(bucket: lockstore.StateBucket, stack: str = "ns-a", pid: int | None = None) -> tuple[str, str]:
    """What an operator of this host killed mid-operation leaves: its record and its lock."""
    pid = pid or dead_pid()
    owner = replace(locks.this_identity(), pid=pid, process_start=None)
    now = datetime.now(UTC)
    record_key = f"{lockstore.record_prefix('payplat', stack)}crashed.json"
    bucket.write(record_key, locks.OperationRecord(owner, "up", now - timedelta(seconds=1)).to_json())
    return write(bucket, "crashed", lock(host=owner.hostname, pid=pid, at=now), stack=stack), record_key


def test_a_lock_of_our_own_dead_local_process_is_broken_with_its_record(tmp_path) -> None:
    bucket = lockstore.FileBucket(tmp_path)
    key, record_key = crashed_here(bucket)
    broken = lockstore.break_stale_locks(bucket, "payplat", "ns-a")
    assert [info.pid for info, _ in broken] and not (tmp_path / key).exists()
    assert not (tmp_path / record_key).exists()


def test_a_dead_local_holder_without_our_record_is_never_broken(tmp_path) -> None:
    """A person's ``pulumi refresh`` on the operator's host that crashed: not ours to judge."""
    bucket = lockstore.FileBucket(tmp_path)
    key = write(bucket, "a", lock(host=socket.gethostname(), pid=dead_pid(), at=datetime.now(UTC)))
    with pytest.raises(StackLockedError) as caught:
        lockstore.break_stale_locks(bucket, "payplat", "ns-a")
    assert (tmp_path / key).exists()
    holder = caught.value.holder
    assert holder is not None and holder["hostname"] == socket.gethostname() and holder["lockFile"] == key
    assert "not an operation this operator recorded" in holder["judgement"]


def test_a_live_holder_keeps_its_lock_and_is_named(tmp_path) -> None:
    bucket = lockstore.FileBucket(tmp_path)
    key = write(bucket, "a", locks.this_holder())
    with pytest.raises(StackLockedError) as caught:
        lockstore.break_stale_locks(bucket, "payplat", "ns-a")
    assert f"pid {os.getpid()}" in caught.value.message and caught.value.reason == "StackLocked"
    assert (tmp_path / key).exists()


def test_a_foreign_lock_is_never_broken_even_when_a_pod_of_that_name_is_gone(tmp_path) -> None:
    """The old rule (a 404 for a pod named like the lock's hostname means gone) broke the
    locks of CI runners, people and other clusters: without our record, nothing is asked."""
    bucket = lockstore.FileBucket(tmp_path)
    asked: list[locks.Identity] = []

    def gone(owner: locks.Identity) -> bool:
        asked.append(owner)
        return True

    for host in ("payplat-operator-old", "ci-runner-7", "laptop.corp"):
        key = write(bucket, host, lock(host=host, pid=7, at=datetime.now(UTC)))
        with pytest.raises(StackLockedError) as caught:
            lockstore.break_stale_locks(bucket, "payplat", "ns-a", pod_probe=gone)
        assert (tmp_path / key).exists() and caught.value.holder["who"] == f"payplat@{host}"
        bucket.delete(key)
    assert asked == []


def test_a_recorded_pod_of_this_cluster_is_broken_only_when_the_api_server_says_gone(tmp_path) -> None:
    bucket = lockstore.FileBucket(tmp_path)
    here = replace(HERE, hostname="op-0")
    owner = replace(HERE, **OTHER_POD)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    bucket.write(
        f"{lockstore.record_prefix('payplat', 'ns-a')}r.json",
        locks.OperationRecord(owner, "up", now - timedelta(seconds=3)).to_json(),
    )
    key = write(bucket, "a", lock(host="op-1", pid=7, at=now))
    for answer in (None, False):
        with pytest.raises(StackLockedError):
            lockstore.break_stale_locks(bucket, "payplat", "ns-a", here=here, pod_probe=lambda _owner, a=answer: a)
    assert (tmp_path / key).exists()
    lockstore.break_stale_locks(bucket, "payplat", "ns-a", here=here, pod_probe=lambda _owner: True)
    assert not (tmp_path / key).exists()


def test_acquire_writes_our_lock_and_a_second_acquire_is_refused(tmp_path) -> None:
    bucket = lockstore.FileBucket(tmp_path)
    key, broken = lockstore.acquire(bucket, "payplat", "ns-a")
    assert broken == []
    assert locks.parse_lock(bucket.read(key)).pid == os.getpid()
    with pytest.raises(StackLockedError):
        lockstore.acquire(bucket, "payplat", "ns-a")
    assert bucket.list(lockstore.lock_prefix("payplat", "ns-a")) == [key]  # the loser removed its own
    bucket.delete(key)
    assert bucket.list(lockstore.lock_prefix("payplat", "ns-a")) == []


def test_locks_of_other_stacks_are_ignored(tmp_path) -> None:
    bucket = lockstore.FileBucket(tmp_path)
    write(bucket, "a", locks.this_holder(), stack="ns-other")
    assert lockstore.break_stale_locks(bucket, "payplat", "ns-a") == []


def test_bucket_for_backend_urls(tmp_path) -> None:
    assert isinstance(lockstore.bucket_for(f"file://{tmp_path}"), lockstore.FileBucket)
    with pytest.raises(ValueError, match="file:// or s3://"):
        lockstore.bucket_for("https://api.pulumi.com")


@mock_aws
def test_s3_backend_locks() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="state")
    bucket = lockstore.bucket_for("s3://state/payplat?region=us-east-1", s3_client=client)
    key, record_key = crashed_here(bucket)
    assert {item["Key"] for item in client.list_objects_v2(Bucket="state")["Contents"]} == {
        f"payplat/{key}",
        f"payplat/{record_key}",
    }
    assert list(lockstore.read_locks(bucket, "payplat", "ns-a")) == [key]
    lockstore.break_stale_locks(bucket, "payplat", "ns-a")
    assert client.list_objects_v2(Bucket="state").get("KeyCount") == 0


def test_s3_backend_follows_the_urls_path_style_and_the_standard_endpoint_variable(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    path = lockstore.bucket_for("s3://state/payplat?region=us-east-1&s3ForcePathStyle=true")
    virtual = lockstore.bucket_for("s3://state/payplat?region=us-east-1")
    assert path.client.meta.endpoint_url == "http://127.0.0.1:9"  # what the CLI's Go SDK uses too
    assert path.client.meta.config.s3 == {"addressing_style": "path"}
    assert (virtual.client.meta.config.s3 or {}).get("addressing_style") != "path"


def test_file_backend_folder(tmp_path) -> None:
    assert lockstore.file_backend_folder(f"file://{tmp_path}/backend") == tmp_path / "backend"
    assert lockstore.file_backend_folder("s3://state/payplat") is None


@mock_aws
def test_a_lock_released_between_list_and_read_counts_as_gone() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="state")
    bucket = lockstore.bucket_for("s3://state/payplat?region=us-east-1", s3_client=client)
    with pytest.raises(FileNotFoundError):
        bucket.read(".pulumi/locks/organization/payplat/ns-a/gone.json")
