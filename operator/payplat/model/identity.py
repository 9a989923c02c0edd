"""Who a platform is: its stack name and its default environment suffix.

One PaymentPlatform is one owner, ``(namespace, name)``. Everything keyed per platform
(the Pulumi stack and its state, the stack lock, the operation gate, metrics, log lines,
the claim on an environment suffix) derives from that pair through this module, so two
owners can never share a key.

Stack names are ``<namespace>_<name>``: neither a namespace (a DNS label) nor a
PaymentPlatform name (a DNS subdomain) can contain ``_``, so the pair is recovered by
splitting at the one ``_``, which makes the name one-to-one. (The old ``<namespace>-<name>``
was not: ``a-b/c`` and ``a/b-c`` were both ``a-b-c``.) Pulumi refuses stack names over
100 characters, so a longer pair keeps its namespace whole and a prefix of its name, and
ends in a second ``_`` and 16 hex characters of the name's SHA-256: a literal name has
exactly one ``_`` and a shortened one has two, so the two forms never meet, and two long
names in one namespace collide only if 64 bits of SHA-256 do.

The default environment suffix (what AWS names are built from) must fit 20 characters
and be unique per owner: a readable prefix of the name plus 8 hex characters of the
SHA-256 of ``namespace/name``. Uniqueness within an account and region is then enforced,
not assumed: every suffix in force is claimed before any engine call
(``payplat.controller.claims``), so even a hash collision is refused rather than shared.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "LEGACY_SEPARATOR",
    "MAX_STACK_NAME",
    "STACK_SEPARATOR",
    "default_suffix",
    "is_legacy",
    "legacy_owner",
    "legacy_stack_name",
    "owner",
    "stack_name",
]

#: Pulumi's limit on a stack name.
MAX_STACK_NAME = 100
STACK_SEPARATOR = "_"
#: Stack names before this module: ``<namespace>-<name>`` (ambiguous; migrated at start-up).
LEGACY_SEPARATOR = "-"
_NAME_HASH = 16
#: Longest default suffix (limits.MAX_SUFFIX) and the hash it ends in.
_SUFFIX_LENGTH = 20
_SUFFIX_HASH = 8
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def owner(namespace: str, name: str) -> str:
    """``namespace/name``: how messages name a platform."""
    return f"{namespace}/{name}"


def stack_name(namespace: str, name: str) -> str:
    """The one Pulumi stack of ``namespace/name``: one-to-one, at most 100 characters."""
    full = f"{namespace}{STACK_SEPARATOR}{name}"
    if len(full) <= MAX_STACK_NAME:
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:_NAME_HASH]
    keep = MAX_STACK_NAME - len(namespace) - 2 - _NAME_HASH
    return f"{namespace}{STACK_SEPARATOR}{name[:keep]}{STACK_SEPARATOR}{digest}"


def legacy_stack_name(namespace: str, name: str) -> str:
    """The stack name releases before 0.2 used (``<namespace>-<name>``)."""
    return f"{namespace}{LEGACY_SEPARATOR}{name}"


def is_legacy(stack: str) -> bool:
    """A stack named before 0.2: no ``_`` (every current name has one)."""
    return STACK_SEPARATOR not in stack


def legacy_owner(stack: str, platform: str) -> tuple[str, str] | None:
    """Whose legacy stack ``stack`` is, given the name of its root PaymentPlatform component
    (the resource's metadata.name, in every URN of the stack). ``a-b-c`` with root ``c`` is
    ``a-b/c``, with root ``b-c`` it is ``a/b-c``: the state itself says which. None when
    ``stack`` is not ``<namespace>-<platform>`` for a valid namespace."""
    head = f"{LEGACY_SEPARATOR}{platform}"
    if not is_legacy(stack) or not stack.endswith(head):
        return None
    namespace = stack[: -len(head)]
    if not _NAMESPACE.match(namespace):
        return None
    return namespace, platform


def default_suffix(namespace: str, name: str) -> str:
    """``<readable prefix of name>-<8 hex of sha256(namespace/name)>``: a DNS label of at
    most 20 characters, with no ``--`` (the join AWS names use), distinct per owner."""
    label = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "platform"
    if not label[0].isalpha():
        label = "p" + label
    digest = hashlib.sha256(owner(namespace, name).encode()).hexdigest()[:_SUFFIX_HASH]
    prefix = label[: _SUFFIX_LENGTH - _SUFFIX_HASH - 1].rstrip("-")
    return f"{prefix}-{digest}"
