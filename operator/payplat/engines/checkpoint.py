"""Stack state the way a Pulumi diy backend stores it, and the pure diffing over it.

The offline engine keeps ``.pulumi/stacks/<project>/<stack>.json`` in Pulumi's checkpoint
shape (``{"version": 3, "checkpoint": {"stack", "latest": {"manifest", "resources",
"pending_operations"}}}``), so the same tools and the same mental model apply to both
engines. Everything here except ``load``/``save`` is pure: steps and change counts are
computed from lists of resource dicts, and crash recovery (``refresh``) from the state and
what the fake cloud says exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from payplat.engines.base import SECRET_MASK, Changes
from payplat.engines.fakecloud import CloudObject
from payplat.engines.forcenew import replace_keys
from payplat.engines.locks import DIY_ORG
from payplat.engines.lockstore import StateBucket

__all__ = [
    "Step",
    "checkpoint_key",
    "count",
    "is_cloud_backed",
    "load",
    "new_checkpoint",
    "plan_steps",
    "refresh",
    "save",
]

Resource = dict[str, Any]
StepOp = Literal["create", "update", "replace", "delete", "same"]


@dataclass(frozen=True)
class Step:
    op: StepOp
    urn: str
    resource: Resource  # the desired state for create/update/replace/same, the stored one for delete
    #: The inputs that differ (update, replace) and those of them forcing the replacement.
    diffs: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


def checkpoint_key(project: str, stack: str) -> str:
    return f".pulumi/stacks/{project}/{stack}.json"


def new_checkpoint(project: str, stack: str) -> dict[str, Any]:
    return {
        "version": 3,
        "checkpoint": {
            "stack": f"{DIY_ORG}/{project}/{stack}",
            "latest": {
                "manifest": {"time": datetime.now(UTC).isoformat(), "magic": "", "version": "payplat-offline"},
                "resources": [],
                "pending_operations": [],
            },
        },
    }


def load(bucket: StateBucket, project: str, stack: str) -> dict[str, Any] | None:
    try:
        return json.loads(bucket.read(checkpoint_key(project, stack)))  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


def save(bucket: StateBucket, project: str, stack: str, checkpoint: dict[str, Any]) -> None:
    checkpoint["checkpoint"]["latest"]["manifest"]["time"] = datetime.now(UTC).isoformat()
    bucket.write(
        checkpoint_key(project, stack), json.dumps(checkpoint, sort_keys=True).encode()
    )  # no indent: the C encoder


def is_cloud_backed(resource: Mapping[str, Any]) -> bool:
    """Custom resources other than providers make cloud calls; components and providers don't."""
    return bool(resource.get("custom")) and not str(resource.get("type", "")).startswith("pulumi:")


def plan_steps(
    desired: Iterable[Resource], current: Iterable[Resource], *, secrets_changed: bool = False
) -> list[Step]:
    """Creates and updates in program (dependency) order, then deletes in reverse state order.

    A resource is updated when its inputs differ from the stored ones, or when a secret it
    takes (shown as ``[secret]``) changed value: the masked inputs alone can't show that.
    It is replaced when a differing input forces it (``engines.forcenew``), as the
    provider's Diff would answer.
    """
    stored = {resource["urn"]: resource for resource in current}
    steps: list[Step] = []
    wanted: set[str] = set()
    for resource in desired:
        wanted.add(resource["urn"])
        before = stored.get(resource["urn"])
        if before is None:
            steps.append(Step("create", resource["urn"], resource))
        elif before.get("inputs") != resource.get("inputs"):
            diffs = _changed_keys(before.get("inputs") or {}, resource.get("inputs") or {})
            keys = tuple(replace_keys(str(resource.get("type", "")), diffs))
            steps.append(Step("replace" if keys else "update", resource["urn"], resource, diffs, keys))
        elif secrets_changed and _takes_secret(resource):
            steps.append(Step("update", resource["urn"], resource))
        else:
            steps.append(Step("same", resource["urn"], resource))
    deletes = [Step("delete", urn, resource) for urn, resource in stored.items() if urn not in wanted]
    return steps + deletes[::-1]


def count(steps: Iterable[Step]) -> Changes:
    tally = {"create": 0, "update": 0, "replace": 0, "delete": 0, "same": 0}
    for step in steps:
        tally[step.op] += 1
    return Changes(**tally)


def refresh(
    resources: list[Resource], pending: list[dict[str, Any]], cloud: Mapping[str, CloudObject]
) -> tuple[list[Resource], list[str]]:
    """State made to match the cloud, with every pending operation resolved.

    What ``pulumi refresh`` plus clearing pending creates does: stored resources take the
    cloud's id and inputs (or leave the state if they are gone); a resource whose create
    was interrupted is adopted when the cloud has it and dropped when it does not, so the
    next ``up`` neither duplicates nor forgets it. Returns the new resources and one note
    per change, for the log and for drift reports.
    """
    notes: list[str] = []
    refreshed: list[Resource] = []
    for resource in resources:
        if not is_cloud_backed(resource):
            refreshed.append(resource)
            continue
        actual = cloud.get(resource["urn"])
        if actual is None:
            notes.append(f"{resource['urn']}: deleted outside Pulumi; dropped from state")
        elif actual.inputs != resource.get("inputs") or actual.id != resource.get("id"):
            notes.append(f"{resource['urn']}: changed outside Pulumi; state updated from the cloud")
            refreshed.append(
                {
                    **resource,
                    "id": actual.id,
                    "inputs": actual.inputs,
                    "outputs": {**resource.get("outputs", {}), **actual.inputs},
                }
            )
        else:
            refreshed.append(resource)
    known = {resource["urn"] for resource in refreshed}
    for operation in pending:
        resource = operation["resource"]
        urn = resource["urn"]
        if operation["type"] != "creating" or urn in known:
            notes.append(f"{urn}: interrupted while {operation['type']}; resolved from the cloud")
            continue
        actual = cloud.get(urn)
        if actual is None:
            notes.append(f"{urn}: interrupted while creating and absent from the cloud; pending create dropped")
        else:
            notes.append(f"{urn}: interrupted while creating but present in the cloud; adopted as {actual.id}")
            refreshed.append(
                {**resource, "id": actual.id, "inputs": actual.inputs, "outputs": {**actual.inputs, "id": actual.id}}
            )
            known.add(urn)
    return refreshed, notes


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key)))


def _takes_secret(resource: Mapping[str, Any]) -> bool:
    return SECRET_MASK in json.dumps(resource.get("inputs", {}))
