"""Stack locks in the format of Pulumi's self-managed ("diy") backend, and when to break one.

A diy backend (``file://`` or ``s3://``) locks a stack by writing
``.pulumi/locks/<org>/<project>/<stack>/<lock-id>.json`` holding ``{"pid", "username",
"hostname", "timestamp"}`` of the process that holds it (see pulumi ``pkg/backend/diy/
lock.go``). A crashed holder never deletes its file, so every later operation fails with
"the stack is currently locked by 1 lock(s)" until someone deletes it; ``pulumi cancel
--yes`` deletes every lock of a stack without asking whether its holder still runs.

Breaking a live lock corrupts state; keeping a stale one only delays work. So a lock is
broken only when its holder is *provably one of this operator's own dead processes*:

* before an engine operation starts, the operator writes an **operation record**
  (``.payplat/operations/<project>/<stack>/<id>.json``, next to the state, see
  ``recorded``) saying who it is (``Identity``: host, pid and its start time, boot and
  machine id, pod name and UID, and which cluster), and deletes it when the operation ends.
  A crash leaves the record behind, next to the lock it left.
* ``judge`` (pure) breaks a lock only when such a record matches it (same host, taken
  after the record was written) and the record's process is provably gone: its pod UID is
  gone according to *this* cluster's API server, or it ran on this very host (same machine
  and boot) and neither its pid nor the lock's pid still runs as the same process.

Everything else is alive and reported (``StackLockedError.holder``): a CI runner, a person
running ``pulumi refresh``, another cluster sharing the backend, an unreadable lock file,
a pod the API server cannot be asked about. ``judge`` is what both engines call, whatever
wrote the lock (the offline engine or the real CLI).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = [
    "DIY_ORG",
    "Identity",
    "LocalProcess",
    "LockInfo",
    "OperationRecord",
    "PodProbe",
    "Verdict",
    "judge",
    "local_process",
    "matching_record",
    "parse_lock",
    "this_holder",
    "this_identity",
]

#: diy backends with project-scoped stacks file everything under this organization name.
DIY_ORG = "organization"

#: ``/proc`` start times are only precise to about a second (boot time is whole seconds).
START_TIME_SLACK = timedelta(seconds=2)

#: Shown (and judged) for a lock file that cannot be parsed: its holder is unknown.
UNREADABLE = "<unreadable lock file>"


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
        return json.dumps(
            {
                "pid": self.pid,
                "username": self.username,
                "hostname": self.hostname,
                "timestamp": self.timestamp.isoformat(),
            }
        ).encode()


@dataclass(frozen=True)
class Identity:
    """Who this operator process is, as far as proving it dead later needs.

    ``cluster`` names the Kubernetes cluster whose API server can vouch for ``pod_uid``
    (the UID of the operator's leader Lease); without it a pod is never judged gone.
    """

    hostname: str
    pid: int
    process_start: datetime | None = None
    boot_id: str | None = None
    machine_id: str | None = None
    pod_name: str | None = None
    pod_namespace: str | None = None
    pod_uid: str | None = None
    cluster: str | None = None


@dataclass(frozen=True)
class OperationRecord:
    """Written before an engine operation starts, deleted when it ends."""

    owner: Identity
    operation: str
    started: datetime

    def to_json(self) -> bytes:
        owner = {
            key: (value.isoformat() if isinstance(value, datetime) else value)
            for key, value in asdict(self.owner).items()
        }
        return json.dumps({"owner": owner, "operation": self.operation, "started": self.started.isoformat()}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> OperationRecord:
        raw = json.loads(data)
        owner = dict(raw["owner"])
        if owner.get("process_start"):
            owner["process_start"] = _parse_time(str(owner["process_start"]))
        known = set(Identity.__dataclass_fields__)
        identity = Identity(**{k: v for k, v in owner.items() if k in known})
        return cls(owner=identity, operation=str(raw.get("operation", "")), started=_parse_time(str(raw["started"])))


@dataclass(frozen=True)
class LocalProcess:
    """What this host knows about a pid: whether it runs and, if known, since when."""

    alive: bool
    started: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    stale: bool
    why: str


#: Asks this cluster's API server whether a recorded operator pod is gone: True gone (no
#: pod of that name, or one with another UID, or terminated), False still there, None
#: unknown (no access, API trouble).
PodProbe = Callable[[Identity], "bool | None"]


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


def this_identity(*, cluster: str | None = None) -> Identity:
    """This process: host, pid and start time, boot and machine id; in a pod, the pod's
    name, namespace and UID from the downward API (``POD_NAME``, ``POD_NAMESPACE``, ``POD_UID``)."""
    pid = os.getpid()
    return Identity(
        hostname=socket.gethostname(),
        pid=pid,
        process_start=_start_time(pid),
        boot_id=_read_id(Path("/proc/sys/kernel/random/boot_id")),
        machine_id=_read_id(Path("/etc/machine-id")),
        pod_name=os.environ.get("POD_NAME") or None,
        pod_namespace=os.environ.get("POD_NAMESPACE") or None,
        pod_uid=os.environ.get("POD_UID") or None,
        cluster=cluster,
    )


def matching_record(lock: LockInfo, records: list[OperationRecord]) -> OperationRecord | None:
    """The operation record that explains ``lock``: written on the lock's host before the
    lock was taken (the newest such, when a host crashed more than once)."""
    candidates = [
        r for r in records if r.owner.hostname == lock.hostname and r.started <= lock.timestamp + START_TIME_SLACK
    ]
    return max(candidates, key=lambda r: r.started, default=None)


def judge(
    lock: LockInfo,
    *,
    record: OperationRecord | None,
    here: Identity,
    lock_process: LocalProcess | None = None,
    owner_process: LocalProcess | None = None,
    pod_gone: bool | None = None,
) -> Verdict:
    """Is the holder of ``lock`` provably one of this operator's own dead processes?

    ``record`` is the operation record matching the lock (``matching_record``), ``here``
    this process. When the record was written on this very host, ``lock_process`` and
    ``owner_process`` describe the lock's pid and the record's pid on it; ``pod_gone`` is
    this cluster's answer about the record's pod. Anything not proven gone is alive.
    """
    who = lock.describe()
    if lock.hostname == UNREADABLE:
        return Verdict(False, "the lock file cannot be read, so its holder is unknown (treated as alive)")
    if record is None:
        return Verdict(
            False,
            f"{who} is not an operation this operator recorded (a person, CI or another "
            "installation): treated as alive",
        )
    owner = record.owner
    if owner.pod_uid and owner.cluster and owner.cluster == here.cluster:
        if owner.pod_uid == here.pod_uid:
            pass  # our own pod: judged by its processes below
        elif pod_gone is True:
            return Verdict(
                True, f"operator pod {owner.pod_namespace}/{owner.pod_name} (uid {owner.pod_uid}) no longer runs"
            )
        elif pod_gone is False:
            return Verdict(False, f"operator pod {owner.pod_namespace}/{owner.pod_name} still runs")
    same_machine = bool(owner.machine_id) and owner.machine_id == here.machine_id and owner.hostname == here.hostname
    if same_machine and owner.boot_id and here.boot_id and owner.boot_id != here.boot_id:
        return Verdict(True, f"{owner.hostname} has rebooted since operation {record.operation!r} started")
    same_boot = bool(owner.boot_id) and owner.boot_id == here.boot_id and owner.hostname == here.hostname
    if not same_boot:
        return Verdict(
            False,
            f"cannot prove that {who} has ended (recorded by operator {owner.hostname} pid "
            f"{owner.pid}, which this process cannot observe): treated as alive",
        )
    if _runs(lock_process, lock.pid, lock.timestamp):
        return Verdict(False, f"process {lock.pid} on {lock.hostname} still runs")
    if owner.pid != lock.pid and _runs(owner_process, owner.pid, owner.process_start or record.started):
        return Verdict(False, f"operator process {owner.pid} on {owner.hostname} still runs")
    return Verdict(
        True,
        f"process {lock.pid} of operation {record.operation!r} (operator pid {owner.pid}) "
        f"no longer runs on {lock.hostname}",
    )


def _runs(process: LocalProcess | None, pid: int, since: datetime) -> bool:
    """Does ``pid`` still run as the process that started around ``since``? Unknown: yes."""
    if process is None:
        return True
    if not process.alive:
        return False
    return not (process.started is not None and process.started > since + START_TIME_SLACK)


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


# --------------------------------------------------------------------------- helpers


def _parse_time(text: str) -> datetime:
    """RFC 3339 as Go writes it (``Z`` suffix, up to nanoseconds) into an aware datetime."""
    text = text.replace("Z", "+00:00")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for a random container UID
        return str(os.getuid())


def _read_id(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


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
    return text[text.rindex(")") + 2 :].split()


def _boot_time() -> datetime | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return datetime.fromtimestamp(int(line.split()[1]), UTC)
    except OSError:
        return None
    return None
