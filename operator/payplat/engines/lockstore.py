"""Where the locks and operation records live: the state bucket (a folder for file://
backends, S3 for s3://), the Pulumi lock and record prefixes, and the storage side of lock
breaking: read the locks and records, judge each lock (locks.judge), break only the stale,
then take our own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from payplat.engines.base import StackLockedError
from payplat.engines.locks import (
    DIY_ORG,
    UNREADABLE,
    Identity,
    LocalProcess,
    LockInfo,
    OperationRecord,
    PodProbe,
    Verdict,
    judge,
    local_process,
    matching_record,
    parse_lock,
    this_holder,
    this_identity,
)


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

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: object | None = None,
        region: str | None = None,
        path_style: bool = False,
    ) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(s3={"addressing_style": "path"}) if path_style else None
            client = boto3.client("s3", region_name=region, config=config)
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
        missing = getattr(getattr(self.client, "exceptions", None), "NoSuchKey", None)
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()  # type: ignore[attr-defined,no-any-return]
        except Exception as error:
            if missing is not None and isinstance(error, missing):
                raise FileNotFoundError(key) from None  # released between list and read, as for files
            raise

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)  # type: ignore[attr-defined]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))  # type: ignore[attr-defined]


#: Query parameters of an ``s3://`` backend URL that ask for path-style addressing (Go CDK).
_PATH_STYLE = ("s3ForcePathStyle", "use_path_style")


def file_backend_folder(backend_url: str) -> Path | None:
    """The folder of a ``file://`` backend URL; None for any other scheme."""
    parsed = urlparse(backend_url)
    return Path(parsed.netloc + parsed.path).expanduser() if parsed.scheme == "file" else None


def bucket_for(backend_url: str, *, s3_client: object | None = None) -> StateBucket:
    """The bucket behind a Pulumi backend URL (``file://<path>`` or ``s3://<bucket>[/prefix]``).

    For ``s3://`` the endpoint comes from the environment as for the CLI
    (``AWS_ENDPOINT_URL_S3``), and path-style addressing follows the URL's query."""
    parsed = urlparse(backend_url)
    folder = file_backend_folder(backend_url)
    if folder is not None:
        return FileBucket(folder)
    if parsed.scheme == "s3":
        query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
        path_style = any(query.get(key, "").lower() == "true" for key in _PATH_STYLE)
        return S3Bucket(parsed.netloc, parsed.path, client=s3_client, region=query.get("region"), path_style=path_style)
    raise ValueError(f"backend URL {backend_url!r} is not file:// or s3:// (the only self-managed backends supported)")


def lock_prefix(project: str, stack: str) -> str:
    return f".pulumi/locks/{DIY_ORG}/{project}/{stack}/"


def record_prefix(project: str, stack: str) -> str:
    return f".payplat/operations/{project}/{stack}/"


def stack_exists(bucket: StateBucket, project: str, stack: str) -> bool:
    """Whether the backend holds the stack's checkpoint (plain or gzipped)."""
    wanted = {f".pulumi/stacks/{project}/{stack}.json", f".pulumi/stacks/{project}/{stack}.json.gz"}
    return any(key in wanted for key in bucket.list(f".pulumi/stacks/{project}/"))


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
            locks[key] = LockInfo(pid=0, username="?", hostname=UNREADABLE, timestamp=datetime.now(UTC))
    return locks


def read_records(bucket: StateBucket, project: str, stack: str) -> dict[str, OperationRecord]:
    """The stack's operation records by key (unreadable ones prove nothing and are skipped)."""
    records: dict[str, OperationRecord] = {}
    for key in bucket.list(record_prefix(project, stack)):
        try:
            records[key] = OperationRecord.from_json(bucket.read(key))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            continue
    return records


@contextmanager
def recorded(bucket: StateBucket, project: str, stack: str, owner: Identity, operation: str) -> Iterator[str]:
    """Write the operation record before the engine starts; delete it when it ends."""
    key = f"{record_prefix(project, stack)}{uuid.uuid4()}.json"
    bucket.write(key, OperationRecord(owner, operation, datetime.now(UTC)).to_json())
    try:
        yield key
    finally:
        bucket.delete(key)


def break_stale_locks(
    bucket: StateBucket,
    project: str,
    stack: str,
    *,
    here: Identity | None = None,
    pod_probe: PodProbe | None = None,
    process: Callable[[int], LocalProcess] = local_process,
    ignore: frozenset[str] = frozenset(),
) -> list[tuple[LockInfo, Verdict]]:
    """Delete the stack's locks whose holders are provably our own dead processes (with
    the records that proved it); return what was broken and why.

    Raises ``StackLockedError`` naming the holder (``holder`` carries who and since when)
    when any lock other than ours (``ignore``) is, or may be, alive.
    """
    here = here or this_identity()
    records = read_records(bucket, project, stack)
    broken: list[tuple[LockInfo, Verdict]] = []
    for key, lock in read_locks(bucket, project, stack).items():
        if key in ignore:
            continue
        match = matching_record(lock, [r for k, r in records.items() if k not in ignore])
        local = match is not None and match.owner.hostname == here.hostname
        verdict = judge(
            lock,
            record=match,
            here=here,
            lock_process=process(lock.pid) if local else None,
            owner_process=process(match.owner.pid) if local and match is not None else None,
            pod_gone=pod_probe(match.owner)
            if match is not None and pod_probe is not None and match.owner.pod_uid
            else None,
        )
        if not verdict.stale:
            raise StackLockedError(
                f"stack {stack} is locked by {lock.describe()}: {verdict.why}; the operation will be retried. "
                f"If that holder has really ended, delete {key} from the state backend.",
                reason="StackLocked",
                holder=_holder(lock, verdict, key),
            )
        bucket.delete(key)
        for record_key, record in records.items():
            if record is match:
                bucket.delete(record_key)
        broken.append((lock, verdict))
    return broken


def acquire(
    bucket: StateBucket,
    project: str,
    stack: str,
    *,
    here: Identity | None = None,
    pod_probe: PodProbe | None = None,
    own_record: str | None = None,
) -> tuple[str, list[tuple[LockInfo, Verdict]]]:
    """Take the stack's lock the way the Pulumi CLI does (check, write, check again).

    Stale locks are broken first. Returns our lock key (pass it to ``bucket.delete``) and
    the locks that were broken. ``own_record`` is this operation's record key.
    """
    ours = frozenset({own_record} if own_record else ())
    broken = break_stale_locks(bucket, project, stack, here=here, pod_probe=pod_probe, ignore=ours)
    key = f"{lock_prefix(project, stack)}{uuid.uuid4()}.json"
    bucket.write(key, this_holder().to_json())
    try:
        break_stale_locks(bucket, project, stack, here=here, pod_probe=pod_probe, ignore=ours | {key})
    except StackLockedError:
        bucket.delete(key)  # someone else won the race
        raise
    return key, broken


def _holder(lock: LockInfo, verdict: Verdict, key: str) -> dict[str, Any]:
    """The structured holder for status: who, since when, and why it counts as alive."""
    return {
        "who": f"{lock.username}@{lock.hostname}",
        "hostname": lock.hostname,
        "username": lock.username,
        "pid": lock.pid,
        "since": lock.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lockFile": key,
        "judgement": verdict.why,
    }
