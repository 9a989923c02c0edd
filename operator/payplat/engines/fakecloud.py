"""The offline engine's stand-in for AWS: an append-only journal per stack.

``<state_dir>/cloud/<stack>.jsonl`` holds one JSON line per create / update / delete the
fake cloud performed, with the resource's URN, type, fake physical id and inputs. The
journal is the cloud's truth: replaying it gives what "exists in AWS", which is what crash
recovery and drift detection compare the stack's state against, and what tests read to
prove a create was never repeated after a crash.

``simulate_drift`` is the documented test hook for an out-of-band change (someone edited or
deleted a resource in the console): it appends a line with ``"actor": "out-of-band"``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = ["CloudObject", "FakeCloud", "journal_path", "simulate_drift"]

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class CloudObject:
    urn: str
    type: str
    id: str
    inputs: dict[str, Any]


def journal_path(state_dir: Path, stack: str) -> Path:
    return Path(state_dir) / "cloud" / f"{stack}.jsonl"


class FakeCloud:
    """One stack's fake cloud. Every write is flushed to disk before it returns, so a
    process killed right after a call leaves the cloud changed and the state not: the
    window real crash recovery has to handle."""

    def __init__(self, state_dir: Path, stack: str) -> None:
        self.path = journal_path(state_dir, stack)

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def objects(self) -> dict[str, CloudObject]:
        """What exists now, by URN: the journal replayed."""
        live: dict[str, CloudObject] = {}
        for entry in self.entries():
            if entry["action"] == "delete":
                # By id: a create-before-delete replacement's delete removes the old object only.
                if entry["urn"] in live and live[entry["urn"]].id == entry["id"]:
                    del live[entry["urn"]]
            else:
                live[entry["urn"]] = CloudObject(entry["urn"], entry["type"], entry["id"], entry["inputs"])
        return live

    def create(self, urn: str, type_: str, inputs: dict[str, Any], *, physical_id: str | None = None) -> str:
        """Create and return the physical id: ``physical_id`` (the plan's mock id, so state
        and outputs agree) the first time, a derived one if the URN was created before."""
        attempt = sum(1 for entry in self.entries() if entry["urn"] == urn and entry["action"] == "create")
        if attempt or not physical_id:
            physical_id = f"offline-{hashlib.sha256(f'{urn}#{attempt}'.encode()).hexdigest()[:12]}"
        self._append("create", urn, type_, physical_id, inputs)
        return physical_id

    def update(self, obj: CloudObject, inputs: dict[str, Any], *, actor: str = "pulumi") -> None:
        self._append("update", obj.urn, obj.type, obj.id, inputs, actor=actor)

    def delete(self, obj: CloudObject, *, actor: str = "pulumi") -> None:
        self._append("delete", obj.urn, obj.type, obj.id, obj.inputs, actor=actor)

    def _append(
        self, action: Action, urn: str, type_: str, physical_id: str, inputs: dict[str, Any], *, actor: str = "pulumi"
    ) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {
                "time": datetime.now(UTC).isoformat(),
                "action": action,
                "actor": actor,
                "urn": urn,
                "type": type_,
                "id": physical_id,
                "inputs": inputs,
            },
            sort_keys=True,
        )
        with self.path.open("a") as journal:
            journal.write(line + "\n")
            journal.flush()
            os.fsync(journal.fileno())


def simulate_drift(
    state_dir: Path, stack: str, urn: str, *, inputs: dict[str, Any] | None = None, delete: bool = False
) -> None:
    """Test hook: change (merge ``inputs`` into) or delete one resource behind Pulumi's back.

    ``urn`` may be a full URN or its last ``::``-separated part (the resource name).
    """
    cloud = FakeCloud(state_dir, stack)
    objects = cloud.objects()
    matches = [obj for key, obj in objects.items() if key == urn or key.rsplit("::", 1)[-1] == urn]
    if len(matches) != 1:
        raise KeyError(f"{urn!r} matches {len(matches)} resources in the fake cloud of {stack}")
    target = matches[0]
    if delete:
        cloud.delete(target, actor="out-of-band")
    else:
        cloud.update(target, {**target.inputs, **(inputs or {})}, actor="out-of-band")
