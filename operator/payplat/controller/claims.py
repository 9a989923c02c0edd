"""Claims on environment suffixes: one owner per suffix in an account and region.

Every AWS name of a platform is built from its environment suffix (``program.naming``),
so two platforms with one suffix in one account and region would share IAM roles, the
secret, the KMS alias and the ECS cluster (``CreateCluster`` is idempotent: both stacks
would own it, and deleting one would destroy the other's). Before any engine call the
operator claims the suffix in force (explicit or default) for ``namespace/name``; a
suffix another platform holds is refused with the holder named.

The claims must survive restarts and be shared by every replica, so they live in a
ConfigMap in the operator's own namespace (``kube.ConfigMapClaims``): it is durable
(etcd), only the operator and the platform administrators can write there (never a
tenant), a compare-and-swap on its resourceVersion makes two concurrent claims safe, and
an administrator can read or edit it with kubectl. The Pulumi state backend was the
other candidate; it has no compare-and-swap (an S3 put is last-writer-wins) and the
offline engine has none at all. One key per claim (``tenancy.claim_key``), the owner as
value; a ConfigMap's 1 MiB holds tens of thousands.

A claim is released when the owner's stack is destroyed or the owner moves to another
suffix (after its ``up`` succeeded). ``deletionPolicy: Retain`` keeps it: the retained AWS
resources still carry the names, so a new platform must not take them; re-creating the
same ``namespace/name`` adopts them again, and an administrator deletes the key once
the resources are gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

__all__ = ["Claims", "MemoryClaims", "SuffixInUse", "after_claim", "after_release"]


class SuffixInUse(Exception):
    """``key`` is held by ``holder`` (``namespace/name``)."""

    def __init__(self, key: str, holder: str) -> None:
        super().__init__(f"{key} is claimed by {holder}")
        self.key = key
        self.holder = holder


class Claims(Protocol):
    async def claim(self, key: str, owner: str) -> None:
        """Hold ``key`` for ``owner`` (idempotent); ``SuffixInUse`` if another holds it."""

    async def release(self, owner: str, keep: frozenset[str] = frozenset()) -> None:
        """Drop every claim of ``owner`` except those in ``keep``."""


def after_claim(data: Mapping[str, str], key: str, owner: str) -> dict[str, str] | None:
    """The claims once ``owner`` holds ``key``; None when nothing changes. Raises
    ``SuffixInUse`` when another owner holds it."""
    holder = data.get(key)
    if holder == owner:
        return None
    if holder is not None:
        raise SuffixInUse(key, holder)
    return {**data, key: owner}


def after_release(data: Mapping[str, str], owner: str, keep: frozenset[str]) -> dict[str, str] | None:
    """The claims without ``owner``'s (except ``keep``); None when nothing changes."""
    kept = {key: holder for key, holder in data.items() if holder != owner or key in keep}
    return None if len(kept) == len(data) else kept


class MemoryClaims:
    """Claims in this process only: for tests and for runs without a cluster."""

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self.data: dict[str, str] = dict(data or {})
        self._lock = asyncio.Lock()

    async def claim(self, key: str, owner: str) -> None:
        async with self._lock:
            changed = after_claim(self.data, key, owner)
            if changed is not None:
                self.data = changed

    async def release(self, owner: str, keep: frozenset[str] = frozenset()) -> None:
        async with self._lock:
            changed = after_release(self.data, owner, keep)
            if changed is not None:
                self.data = changed
