"""The offline engine's update history, kept the way a Pulumi diy backend keeps it.

``.pulumi/history/<project>/<stack>/<stack>-<version>.history.json``, one record per
``up``/``destroy`` with Pulumi's ``UpdateSummary`` fields (kind, message, result, version,
start/end time, resourceChanges), so ``status.history``'s update id and the backend's own
record line up on both engines. The message carries the change control audit facts
(``engines.base.Audit``): it is what ``pulumi stack history`` shows for the real engine.
Never a secret: the message is built from a generation, a hash and an approver's name.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from payplat.engines.base import Changes
from payplat.engines.lockstore import StateBucket

__all__ = ["append", "read"]


def _prefix(project: str, stack: str) -> str:
    return f".pulumi/history/{project}/{stack}/"


def read(bucket: StateBucket, project: str, stack: str) -> list[dict[str, Any]]:
    """The stack's history, oldest first."""
    records = [
        json.loads(bucket.read(key)) for key in bucket.list(_prefix(project, stack)) if key.endswith(".history.json")
    ]
    return sorted(records, key=lambda record: int(record.get("version", 0)))


def append(
    bucket: StateBucket,
    project: str,
    stack: str,
    *,
    kind: str,
    message: str,
    started: datetime,
    finished: datetime,
    changes: Changes,
) -> int:
    """Record one successful operation; returns its version (the update id)."""
    version = 1 + max((int(record.get("version", 0)) for record in read(bucket, project, stack)), default=0)
    record = {
        "kind": kind,
        "message": message,
        "result": "succeeded",
        "version": version,
        "startTime": int(started.timestamp()),
        "endTime": int(finished.timestamp()),
        "resourceChanges": {key: value for key, value in changes.as_dict().items() if value},
    }
    bucket.write(f"{_prefix(project, stack)}{stack}-{version:08d}.history.json", json.dumps(record).encode())
    return version
