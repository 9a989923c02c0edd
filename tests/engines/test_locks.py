"""Stack locks: the Pulumi file format, the stale decision, and breaking locks in a bucket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from payplat.engines import locks
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
    assert info == LockInfo(81, "root", "payplat-operator-7d9f-x2", datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC))
    assert locks.parse_lock(info.to_json()) == info
    assert set(json.loads(info.to_json())) == {"pid", "username", "hostname", "timestamp"}


def test_lock_key_follows_the_diy_layout() -> None:
    assert locks.lock_prefix("payplat", "ns-shop") == ".pulumi/locks/organization/payplat/ns-shop/"


# --------------------------------------------------------------------------- decision (pure)


@pytest.mark.parametrize(
    ("held", "local", "remote", "stale"),
    [
        (lock(host="me"), LocalProcess(alive=False), None, True),  # our host, pid gone
        (lock(host="me"), None, None, True),
        (lock(host="me"), LocalProcess(alive=True, started=T0 - timedelta(minutes=5)), None, False),  # the holder
        (lock(host="me"), LocalProcess(alive=True, started=None), None, False),  # alive, age unknown
        (lock(host="me"), LocalProcess(alive=True, started=T0 + timedelta(seconds=1)), None, False),  # within clock slack
        (lock(host="me"), LocalProcess(alive=True, started=T0 + timedelta(minutes=3)), None, True),  # pid reused
        (lock(host="other-pod"), None, False, True),  # probe: that pod is gone
        (lock(host="other-pod"), None, True, False),
        (lock(host="other-pod"), None, None, False),  # unknown counts as alive
        (lock(host="other-pod"), LocalProcess(alive=False), None, False),  # a local pid says nothing about another host
    ],
)
def test_judge(held: LockInfo, local: LocalProcess | None, remote: bool | None, stale: bool) -> None:
    verdict = judge(held, hostname="me", local=local, remote_alive=remote)
    assert verdict.stale is stale
    assert verdict.why


def test_local_process_facts_for_a_live_and_a_dead_pid() -> None:
    me = locks.local_process(os.getpid())
    assert me.alive
    if me.started is not None:  # /proc available
        assert me.started <= datetime.now(UTC) + locks.START_TIME_SLACK
    assert not locks.local_process(dead_pid()).alive


# --------------------------------------------------------------------------- breaking locks


def write(bucket: locks.StateBucket, key_id: str, info: LockInfo, stack: str = "ns-a") -> str:
    key = f"{locks.lock_prefix('payplat', stack)}{key_id}.json"
    bucket.write(key, info.to_json())
    return key


def test_a_lock_of_a_dead_local_process_is_broken(tmp_path) -> None:
    bucket = locks.FileBucket(tmp_path)
    key = write(bucket, "a", lock(host=socket.gethostname(), pid=dead_pid(), at=datetime.now(UTC)))
    broken = locks.break_stale_locks(bucket, "payplat", "ns-a")
    assert [info.pid for info, _ in broken] and not (tmp_path / key).exists()


def test_a_live_holder_keeps_its_lock_and_is_named(tmp_path) -> None:
    bucket = locks.FileBucket(tmp_path)
    key = write(bucket, "a", locks.this_holder())
    with pytest.raises(StackLockedError) as caught:
        locks.break_stale_locks(bucket, "payplat", "ns-a")
    assert f"pid {os.getpid()}" in caught.value.message and caught.value.reason == "StackLocked"
    assert (tmp_path / key).exists()


def test_remote_holder_is_broken_only_when_the_probe_says_gone(tmp_path) -> None:
    bucket = locks.FileBucket(tmp_path)
    asked: list[tuple[str, int]] = []

    def probe(answer: bool | None):
        def ask(host: str, pid: int) -> bool | None:
            asked.append((host, pid))
            return answer
        return ask

    key = write(bucket, "a", lock(host="payplat-operator-old", pid=7))
    with pytest.raises(StackLockedError):
        locks.break_stale_locks(bucket, "payplat", "ns-a", probe=probe(None))
    with pytest.raises(StackLockedError):
        locks.break_stale_locks(bucket, "payplat", "ns-a")  # no probe wired: unknown
    assert (tmp_path / key).exists()
    locks.break_stale_locks(bucket, "payplat", "ns-a", probe=probe(False))
    assert not (tmp_path / key).exists()
    assert asked == [("payplat-operator-old", 7), ("payplat-operator-old", 7)]


def test_acquire_writes_our_lock_and_a_second_acquire_is_refused(tmp_path) -> None:
    bucket = locks.FileBucket(tmp_path)
    key, broken = locks.acquire(bucket, "payplat", "ns-a")
    assert broken == []
    assert locks.parse_lock(bucket.read(key)).pid == os.getpid()
    with pytest.raises(StackLockedError):
        locks.acquire(bucket, "payplat", "ns-a")
    assert bucket.list(locks.lock_prefix("payplat", "ns-a")) == [key]  # the loser removed its own
    bucket.delete(key)
    assert bucket.list(locks.lock_prefix("payplat", "ns-a")) == []


def test_locks_of_other_stacks_are_ignored(tmp_path) -> None:
    bucket = locks.FileBucket(tmp_path)
    write(bucket, "a", locks.this_holder(), stack="ns-other")
    assert locks.break_stale_locks(bucket, "payplat", "ns-a") == []


def test_bucket_for_backend_urls(tmp_path) -> None:
    assert isinstance(locks.bucket_for(f"file://{tmp_path}"), locks.FileBucket)
    with pytest.raises(ValueError, match="file:// or s3://"):
        locks.bucket_for("https://api.pulumi.com")


@mock_aws
def test_s3_backend_locks() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="state")
    bucket = locks.bucket_for("s3://state/payplat?region=us-east-1", s3_client=client)
    key = write(bucket, "a", lock(host="payplat-operator-old", pid=7))
    assert client.list_objects_v2(Bucket="state")["Contents"][0]["Key"] == f"payplat/{key}"
    assert list(locks.read_locks(bucket, "payplat", "ns-a")) == [key]
    locks.break_stale_locks(bucket, "payplat", "ns-a", probe=lambda host, pid: False)
    assert client.list_objects_v2(Bucket="state").get("KeyCount") == 0
