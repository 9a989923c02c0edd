"""What the stand-in AWS provider "created": a folder playing the part of an AWS account.

``$PAYPLAT_STANDIN_DIR`` (one per test or demo) holds, per stack:

* ``objects/<stack>/<hash of id>.json``: each live resource (URN, type, id, inputs,
  outputs), what ``Read`` answers on a refresh;
* ``journal/<stack>.jsonl``: one line per create / update / delete, flushed before the
  provider answers the engine, so a process killed right after a call leaves the cloud
  changed and the state not (the window crash recovery has to handle). Secret-valued
  inputs (``secretString``...) are masked in the journal: it is read by tests and kept in
  CI logs. Tests count creates per URN here to prove nothing was created twice;
* ``started/<stack>.jsonl``: a line when a create/update/delete *begins*, so a test can
  interrupt an operation while a chosen step is in flight.

Failures and slow steps on demand come from tags on the resources, set through the
PaymentPlatform's ``spec.tags`` (which the program puts on every taggable resource)::

    payplat.io/standin-fail: "LogGroup:ThrottlingException:2"   # first 2 attempts fail
    payplat.io/standin-fail: "ecs/cluster:Cluster:AccessDeniedException"   # always
    payplat.io/standin-fail: "delete@ecs/cluster:Cluster:AccessDeniedException"  # only deletes
    payplat.io/standin-slow: "ecs/service:Service:30"           # that create/update takes 30 s
    $PAYPLAT_STANDIN_SLOW="ecs/service:Service:30"             # the same for one operator process

A type is matched by the end of its token (``LogGroup`` matches
``aws:cloudwatch/logGroup:LogGroup``). Error texts follow the AWS SDK v2 errors the real
provider wraps (``operation error <Service>: <Op>, https response error StatusCode: ...,
api error <Code>: <message>``), so the engine's error table meets realistic text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "FAIL_TAG",
    "SECRET_KEYS",
    "SLOW_ENV",
    "SLOW_TAG",
    "STANDIN_DIR_ENV",
    "Fault",
    "StandinCloud",
    "aws_error_text",
    "fault_for",
    "mask_secrets",
    "parse_faults",
    "parse_slow",
    "slow_for",
    "stack_of",
]

STANDIN_DIR_ENV = "PAYPLAT_STANDIN_DIR"
SLOW_ENV = "PAYPLAT_STANDIN_SLOW"
FAIL_TAG = "payplat.io/standin-fail"
SLOW_TAG = "payplat.io/standin-slow"
#: Input keys whose values are secrets in AWS (masked in the journal).
SECRET_KEYS = frozenset({"secretString", "secretBinary", "password", "masterPassword"})


# --------------------------------------------------------------------------- pure parts


@dataclass(frozen=True)
class Fault:
    type_suffix: str
    code: str
    times: int | None = None  # None: every attempt
    action: str | None = None  # create, update or delete; None: all three


_FAULT = re.compile(
    r"^(?:(?P<action>create|update|delete)@)?(?P<type>[A-Za-z0-9/]+(?::[A-Za-z0-9]+)?)"
    r":(?P<code>[A-Za-z][A-Za-z0-9.]*)(?::(?P<times>[1-9]\d*))?$"
)
_SLOW = re.compile(r"^(?P<type>[A-Za-z0-9/]+(?::[A-Za-z0-9]+)?):(?P<seconds>\d+(?:\.\d+)?)$")


def parse_faults(value: str) -> list[Fault]:
    """``[action@]Type:Code[:times]`` items, comma-separated; a malformed item is an error."""
    faults = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        match = _FAULT.match(item)
        if not match:
            raise ValueError(f"tag {FAIL_TAG}: {item!r} is not [create@|update@|delete@]<Type>:<ErrorCode>[:<times>]")
        faults.append(
            Fault(match["type"], match["code"], int(match["times"]) if match["times"] else None, match["action"])
        )
    return faults


def parse_slow(value: str) -> list[tuple[str, float]]:
    """``Type:seconds`` items, comma-separated."""
    slow = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        match = _SLOW.match(item)
        if not match:
            raise ValueError(f"tag {SLOW_TAG}: {item!r} is not <Type>:<seconds>")
        slow.append((match["type"], float(match["seconds"])))
    return slow


def _tags(inputs: dict[str, Any]) -> dict[str, str]:
    tags = inputs.get("tags")
    return tags if isinstance(tags, dict) else {}


def fault_for(inputs: dict[str, Any], type_: str, action: str, account: str = "") -> Fault | None:
    """The fault this call must fail with: from the resource's tag, else from the account's
    policy (``StandinCloud.deny``; a destroy works from the state's old tags, so an error
    a person fixes on the AWS side, not in the spec, has to live there)."""
    value = ",".join(filter(None, [_tags(inputs).get(FAIL_TAG), account]))
    if not value:
        return None
    return next((f for f in parse_faults(value) if type_.endswith(f.type_suffix) and f.action in (None, action)), None)


def slow_for(inputs: dict[str, Any], type_: str, env: str | None = None) -> float:
    """Seconds a step must take: from the resource's tag, else from ``env`` (the value of
    ``$PAYPLAT_STANDIN_SLOW`` in the provider's environment, i.e. the operator's: a test
    slows one operator process without changing the spec)."""
    value = _tags(inputs).get(SLOW_TAG) or env
    if not value:
        return 0.0
    return next((seconds for suffix, seconds in parse_slow(value) if type_.endswith(suffix)), 0.0)


def stack_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> ``<stack>``."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def mask_secrets(value: Any) -> Any:
    """``value`` with every ``SECRET_KEYS`` entry replaced by ``[secret]``, at any depth."""
    if isinstance(value, dict):
        return {
            k: "[secret]" if k in SECRET_KEYS and v not in (None, "") else mask_secrets(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


#: code -> (HTTP status, message) as AWS answers it; anything else gets a generic 400.
_AWS_ERRORS = {
    "ThrottlingException": (400, "Rate exceeded"),
    "RequestLimitExceeded": (503, "Request limit exceeded."),
    "ServiceUnavailableException": (503, "Service Unavailable"),
    "InternalFailure": (500, "We encountered an internal error. Please try again."),
    "AccessDeniedException": (
        403,
        (
            "User: arn:aws:sts::123456789012:assumed-role/payplat-operator/payplat is not "
            "authorized to perform: {action} because no identity-based policy allows the "
            "{action} action"
        ),
    ),
    "UnauthorizedOperation": (403, "You are not authorized to perform this operation."),
    "ExpiredTokenException": (403, "The security token included in the request is expired"),
    "LimitExceededException": (400, "Resource limit exceeded: the account quota for this resource is reached"),
    "InvalidParameterException": (400, "The parameter is not valid for this resource"),
    "ResourceAlreadyExistsException": (400, "The specified resource already exists"),
}


def aws_error_text(code: str, *, action: str, type_: str, name: str, request_id: str | None = None) -> str:
    """The error the real provider reports for a failed AWS call (AWS SDK for Go v2 format)."""
    service, _, operation = action.partition(":")
    status, message = _AWS_ERRORS.get(code, (400, "injected by the payplat stand-in provider"))
    short = type_.rsplit(":", 1)[-1]
    return (
        f"creating {short} ({name}): operation error {service}: {operation}, https response error "
        f"StatusCode: {status}, RequestID: {request_id or uuid.uuid4()}, api error {code}: "
        f"{message.format(action=action)}"
    )


# --------------------------------------------------------------------------- the folder


class StandinCloud:
    """The stand-in's account: one folder, safe to share between provider processes of
    different stacks (each stack has its own files)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_env(cls) -> StandinCloud:
        root = os.environ.get(STANDIN_DIR_ENV)
        if not root:
            raise RuntimeError(
                f"{STANDIN_DIR_ENV} is not set: the stand-in provider needs a folder to keep its resources in"
            )
        return cls(Path(root))

    # ------------------------------------------------------------------ reading

    def journal(self, stack: str) -> list[dict[str, Any]]:
        return _read_lines(self.root / "journal" / f"{stack}.jsonl")

    def started(self, stack: str) -> list[dict[str, Any]]:
        return _read_lines(self.root / "started" / f"{stack}.jsonl")

    def creates_by_urn(self, stack: str) -> Counter[str]:
        return Counter(e["urn"] for e in self.journal(stack) if e["action"] == "create")

    def objects(self, stack: str) -> list[dict[str, Any]]:
        folder = self.root / "objects" / stack
        if not folder.is_dir():
            return []
        return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]

    def get(self, stack: str, resource_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._object_path(stack, resource_id).read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None

    def stacks(self) -> list[str]:
        folder = self.root / "journal"
        return sorted(path.stem for path in folder.glob("*.jsonl")) if folder.is_dir() else []

    # ------------------------------------------------------------------ writing

    def unique_id(self, stack: str, resource_id: str) -> str:
        """``resource_id``, or a variant of it if a live resource has it (the new half of
        a create-before-delete replacement gets its own id, as in AWS)."""
        candidate, n = resource_id, 1
        while self._object_path(stack, candidate).exists():
            candidate, n = f"{resource_id}-{n}", n + 1
        return candidate

    def begin(self, action: str, urn: str) -> None:
        _append(self.root / "started" / f"{stack_of(urn)}.jsonl", {"action": action, "urn": urn})

    def put(
        self,
        action: str,
        urn: str,
        type_: str,
        resource_id: str,
        inputs: dict[str, Any],
        outputs: dict[str, Any],
        *,
        actor: str = "pulumi",
    ) -> None:
        """Create or update a resource: the object first, then the journal line."""
        stack = stack_of(urn)
        path = self._object_path(stack, resource_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_text(
            json.dumps({"urn": urn, "type": type_, "id": resource_id, "inputs": inputs, "outputs": outputs})
        )
        os.replace(temporary, path)
        self._journal(action, urn, type_, resource_id, inputs, actor)

    def remove(self, urn: str, type_: str, resource_id: str, *, actor: str = "pulumi") -> bool:
        """Delete a resource; False if it was already gone."""
        stack = stack_of(urn)
        current = self.get(stack, resource_id)
        if current is None:
            return False
        self._object_path(stack, resource_id).unlink(missing_ok=True)
        self._journal("delete", urn, type_, resource_id, current.get("inputs", {}), actor)
        return True

    def next_attempt(self, stack: str, key: str) -> int:
        path = self.root / "attempts" / f"{stack}.json"
        try:
            counts = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            counts = {}
        counts[key] = counts.get(key, 0) + 1
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(counts))
        return int(counts[key])

    # ------------------------------------------------------------------ test hooks

    def deny(self, faults: str) -> None:
        """Account-side faults (grammar of ``FAIL_TAG``), e.g. an IAM policy that denies
        deleting clusters; ``deny("")`` lifts them."""
        parse_faults(faults)  # fail here, not inside the provider
        path = self.root / "account-faults"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(faults)

    def account_faults(self) -> str:
        try:
            return (self.root / "account-faults").read_text()
        except FileNotFoundError:
            return ""

    def drift(
        self, stack: str, name: str, *, changes: dict[str, Any] | None = None, delete: bool = False
    ) -> dict[str, Any]:
        """Change (merge ``changes`` into inputs and outputs) or delete one resource behind
        Pulumi's back, as someone in the AWS console would. ``name`` is a URN or its last
        ``::`` part (the logical name); returns the object as it was."""
        matches = [o for o in self.objects(stack) if o["urn"] == name or o["urn"].rsplit("::", 1)[-1] == name]
        if len(matches) != 1:
            raise KeyError(f"{name!r} matches {len(matches)} resources of stack {stack} in {self.root}")
        [target] = matches
        if delete:
            self.remove(target["urn"], target["type"], target["id"], actor="out-of-band")
        else:
            self.put(
                "update",
                target["urn"],
                target["type"],
                target["id"],
                {**target["inputs"], **(changes or {})},
                {**target["outputs"], **(changes or {})},
                actor="out-of-band",
            )
        return target

    # ------------------------------------------------------------------ plumbing

    def _object_path(self, stack: str, resource_id: str) -> Path:
        return self.root / "objects" / stack / f"{hashlib.sha256(resource_id.encode()).hexdigest()[:32]}.json"

    def _journal(self, action: str, urn: str, type_: str, resource_id: str, inputs: dict[str, Any], actor: str) -> None:
        _append(
            self.root / "journal" / f"{stack_of(urn)}.jsonl",
            {
                "action": action,
                "actor": actor,
                "urn": urn,
                "type": type_,
                "id": resource_id,
                "inputs": mask_secrets(inputs),
            },
        )


def _append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"time": datetime.now(UTC).isoformat(), **record}, sort_keys=True, default=str)
    with path.open("a") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
