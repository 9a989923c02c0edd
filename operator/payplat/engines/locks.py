"""Stack locks in the format of Pulumi's self-managed ("diy") backend, and when to break one.

A diy backend (``file://`` or ``s3://``) locks a stack by writing
``.pulumi/locks/<org>/<project>/<stack>/<lock-id>.json`` holding ``{"pid", "username",
"hostname", "timestamp"}`` of the process that holds it (see pulumi ``pkg/backend/diy/
lock.go``). A crashed holder never deletes its file, and ``pulumi cancel`` does not work on
these backends, so every later operation fails with "the stack is currently locked by 1
lock(s)" until someone deletes it. Both engines use this module to break such a lock, but
only when its holder is *provably* gone: a stolen live lock corrupts state, a kept stale
one only delays work.

The decision (``judge``) is pure and takes the facts as arguments; reading ``/proc`` and
listing the backend are separate functions.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from payplat.engines.base import StackLockedError

__all__ = [
    "DIY_ORG",
    "FileBucket",
    "HolderProbe",
    "LocalProcess",
    "LockInfo",
    "S3Bucket",
    "StateBucket",
    "Verdict",
    "acquire",
    "bucket_for",
    "break_stale_locks",
    "judge",
    "lock_prefix",
    "local_process",
    "parse_lock",
    "read_locks",
    "this_holder",
]

#: diy backends with project-scoped stacks file everything under this organization name.
DIY_ORG = "organization"

#: ``/proc`` start times are only precise to about a second (boot time is whole seconds).
START_TIME_SLACK = timedelta(seconds=2)

#: Asks whether a holder on another host still exists: True alive, False gone, None unknown.
HolderProbe = Callable[[str, int], "bool | None"]


@dataclass(frozen=True)
class LockInfo:
    """One lock file's content, exactly the fields Pulumi writes."""

    pid: int
    username: str
    hostname: str
    timestamp: datetime

    def describe(self) -> str:
        return f"{self.username}@{self.hostname} (pid {self.pid}) since {self.timestamp.isoformat(timespec='seconds')}"

    def to_json(self) -> bytes:
        # Go marshals time.Time as RFC 3339 with nanoseconds; microseconds parse the same.
        return json.dumps({
            "pid": self.pid,
            "username": self.username,
            "hostname": self.hostname,
            "timestamp": self.timestamp.isoformat(),
        }).encode()


@dataclass(frozen=True)
class LocalProcess:
    """What this host knows about a pid: whether it runs and, if known, since when."""

    alive: bool
    started: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    stale: bool
    why: str


def parse_lock(data: bytes) -> LockInfo:
    raw = json.loads(data)
    return LockInfo(
        pid=int(raw["pid"]),
        username=str(raw.get("username", "")),
        hostname=str(raw.get("hostname", "")),
        timestamp=_parse_time(str(raw["timestamp"])),
    )


def this_holder(now: datetime | None = None) -> LockInfo:
    """The lock content this process writes (what ``newLockContent`` does in Go)."""
    return LockInfo(
        pid=os.getpid(),
        username=_username(),
        hostname=socket.gethostname(),
        timestamp=now or datetime.now(UTC),
    )


def judge(lock: LockInfo, *, hostname: str, local: LocalProcess | None, remote_alive: bool | None) -> Verdict:
    """Is the holder of ``lock`` provably gone?

    ``local`` describes ``lock.pid`` on this host (only meaningful when the lock's hostname
    is ours); ``remote_alive`` is the probe's answer for another host. Unknown means alive.
    """
    if lock.hostname == hostname:
        if local is None or not local.alive:
            return Verdict(True, f"process {lock.pid} no longer runs on {hostname}")
        if local.started is not None and local.started > lock.timestamp + START_TIME_SLACK:
            return Verdict(True, f"pid {lock.pid} on {hostname} now belongs to a process started after the lock was taken")
        return Verdict(False, f"process {lock.pid} on {hostname} still runs")
    if remote_alive is False:
        return Verdict(True, f"host {lock.hostname} no longer exists")
    if remote_alive is None:
        return Verdict(False, f"cannot tell whether {lock.hostname} still runs (treated as alive)")
    return Verdict(False, f"host {lock.hostname} still runs")


def local_process(pid: int) -> LocalProcess:
    """Liveness and start time of ``pid`` on this host, from ``/proc`` where available."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return LocalProcess(alive=False)
    except PermissionError:
        pass  # exists, owned by someone else
    return LocalProcess(alive=not _is_zombie(pid), started=_start_time(pid))


# --------------------------------------------------------------------------- storage


class StateBucket(Protocol):
    """The few object-store calls a diy backend makes, over keys relative to its root."""

    def list(self, prefix: str) -> list[str]: ...

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...


class FileBucket:
    """A ``file://`` backend: keys are paths under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def list(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(str(path.relative_to(self.root)) for path in folder.iterdir() if path.is_file())

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def write(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)  # readers never see half a file

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


class S3Bucket:
    """An ``s3://bucket/prefix`` backend, through boto3 (imported only when used)."""

    def __init__(self, bucket: str, prefix: str = "", client: object | None = None, region: str | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3", region_name=region)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))  # type: ignore[attr-defined]
        strip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(item["Key"][strip:] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()  # type: ignore[attr-defined,no-any-return]

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)  # type: ignore[attr-defined]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))  # type: ignore[attr-defined]


def bucket_for(backend_url: str, *, s3_client: object | None = None) -> StateBucket:
    """The bucket behind a Pulumi backend URL (``file://<path>`` or ``s3://<bucket>[/prefix]``)."""
    parsed = urlparse(backend_url)
    if parsed.scheme == "file":
        return FileBucket(Path(parsed.netloc + parsed.path).expanduser())
    if parsed.scheme == "s3":
        region = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part).get("region")
        return S3Bucket(parsed.netloc, parsed.path, client=s3_client, region=region)
    raise ValueError(f"backend URL {backend_url!r} is not file:// or s3:// (the only self-managed backends supported)")


def lock_prefix(project: str, stack: str) -> str:
    return f".pulumi/locks/{DIY_ORG}/{project}/{stack}/"


def read_locks(bucket: StateBucket, project: str, stack: str) -> dict[str, LockInfo]:
    """Every lock on the stack by key; an unreadable lock file counts as held by nobody we know."""
    locks: dict[str, LockInfo] = {}
    for key in bucket.list(lock_prefix(project, stack)):
        if not key.endswith(".json"):
            continue
        try:
            locks[key] = parse_lock(bucket.read(key))
        except FileNotFoundError:
            continue  # released while we listed
        except (ValueError, KeyError, TypeError):
            locks[key] = LockInfo(pid=0, username="?", hostname="<unreadable lock file>", timestamp=datetime.now(UTC))
    return locks


def break_stale_locks(
    bucket: StateBucket,
    project: str,
    stack: str,
    *,
    probe: HolderProbe | None = None,
    hostname: str | None = None,
    process: Callable[[int], LocalProcess] = local_process,
    ignore: str | None = None,
) -> list[tuple[LockInfo, Verdict]]:
    """Delete the stack's locks whose holders are gone; return what was broken and why.

    Raises ``StackLockedError`` naming the holder when any lock (other than ``ignore``,
    our own) belongs to a holder that is, or may be, alive.
    """
    hostname = hostname or socket.gethostname()
    broken: list[tuple[LockInfo, Verdict]] = []
    for key, lock in read_locks(bucket, project, stack).items():
        if key == ignore:
            continue
        same_host = lock.hostname == hostname
        verdict = judge(
            lock,
            hostname=hostname,
            local=process(lock.pid) if same_host else None,
            remote_alive=None if same_host or probe is None else probe(lock.hostname, lock.pid),
        )
        if not verdict.stale:
            raise StackLockedError(
                f"stack {stack} is locked by {lock.describe()}: {verdict.why}; the operation will be retried. "
                f"If that holder is really gone, delete {key} from the state backend.",
                reason="StackLocked",
            )
        bucket.delete(key)
        broken.append((lock, verdict))
    return broken


def acquire(bucket: StateBucket, project: str, stack: str, *, probe: HolderProbe | None = None) -> tuple[str, list[tuple[LockInfo, Verdict]]]:
    """Take the stack's lock the way the Pulumi CLI does (check, write, check again).

    Stale locks are broken first. Returns our lock key (pass it to ``bucket.delete``) and
    the locks that were broken.
    """
    broken = break_stale_locks(bucket, project, stack, probe=probe)
    key = f"{lock_prefix(project, stack)}{uuid.uuid4()}.json"
    bucket.write(key, this_holder().to_json())
    try:
        break_stale_locks(bucket, project, stack, probe=probe, ignore=key)
    except StackLockedError:
        bucket.delete(key)  # someone else won the race
        raise
    return key, broken


# --------------------------------------------------------------------------- helpers


def _parse_time(text: str) -> datetime:
    """RFC 3339 as Go writes it (``Z`` suffix, up to nanoseconds) into an aware datetime."""
    text = text.replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for a random container UID
        return str(os.getuid())


def _is_zombie(pid: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[0] == "Z"


def _start_time(pid: int) -> datetime | None:
    stat = _proc_stat(pid)
    boot = _boot_time()
    if stat is None or boot is None:
        return None
    ticks = int(stat[19])  # field 22 (starttime), counted after the "comm" field
    return boot + timedelta(seconds=ticks / os.sysconf("SC_CLK_TCK"))


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after "pid (comm)" (comm may contain spaces)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _boot_time() -> datetime | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return datetime.fromtimestamp(int(line.split()[1]), UTC)
    except OSError:
        return None
    return None
