"""Reading a raw spec: ``parse_spec`` turns a manifest's dict into a ``PlatformSpec`` or a
``SpecError`` with one line per problem, each naming the exact field. pydantic's errors are
rewritten into that form here, and the rules that span fields (Fargate cpu/memory pairs,
min <= desired <= max, unique names, ...) are checked here with hand-written paths.
"""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

from pydantic import (
    ValidationError,
)

from payplat.model.limits import (
    CREDENTIAL_NAME,
    FARGATE_MEMORY,
)
from payplat.model.parts import DeletionPolicy
from payplat.model.spec import PlatformSpec, _path


class SpecError(ValueError):
    """A manifest that cannot be deployed, with one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def parse_spec(raw: dict[str, Any] | None, *, name: str = "platform") -> PlatformSpec:
    """Validate a manifest's ``spec`` and return it with every default filled in.

    ``name`` is the resource's metadata.name, used only to derive default names.
    Raises ``SpecError`` listing every problem; never anything else for bad input.
    """
    if raw is not None and not isinstance(raw, dict):
        raise SpecError([f"spec: must be an object, not {type(raw).__name__}"])
    try:
        document = json.dumps(_without_nulls(raw or {}), allow_nan=False)
    except (TypeError, ValueError):
        raise SpecError(
            [("spec: holds a value JSON cannot carry (only strings, numbers, booleans, null, objects and lists)")]
        ) from None
    try:
        # Strict, from JSON: what the API server's schema does ("8080" is no port, "yes"
        # no boolean, true no count), so the CLI and the CRD accept the same specs.
        spec = PlatformSpec.model_validate_json(document, strict=True)
    except ValidationError as error:
        raise SpecError([_describe(item) for item in error.errors()]) from None
    problems = _cross_field_problems(spec)
    if problems:
        raise SpecError(problems)
    return spec


def _without_nulls(value: Any) -> Any:
    """A field set to null is a field left out: the API server prunes such values before
    validating (fields are not nullable in the CRD), so the CLI must read them alike."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


#: Longest problem message: values are quoted in messages, and a value can be megabytes.
MAX_MESSAGE = 300


def _describe(error: Any) -> str:
    """One pydantic error as ``spec.<path>: <what is wrong and what is allowed>``."""
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "value_error":
        message = str(error["ctx"]["error"])
    elif kind == "extra_forbidden":
        message = "unknown field (see `kubectl explain paymentplatform.spec`)"
    elif kind == "enum":
        message = f"{error['input']!r} is not allowed (allowed: {error['ctx']['expected']})"
    elif kind == "missing":
        message = "required"
    else:
        message = f"{error['msg']} (got {error['input']!r})" if "input" in error else error["msg"]
    if any(
        part == "environment" and index + 1 < len(loc) and _looks_secret(str(loc[index + 1]))
        for index, part in enumerate(loc)
    ):
        message = f"{error['msg']} (value hidden: the variable's name looks like a credential)"
    if len(message) > MAX_MESSAGE:  # a 5 MB value is named, not echoed
        message = message[: MAX_MESSAGE - 3] + "..."
    return f"{_path(loc)}: {message}"


def _cross_field_problems(spec: PlatformSpec) -> list[str]:
    """Rules that span fields, each reported at the field a person would change."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, service in enumerate(spec.services):
        at = f"spec.services[{index}]"
        if service.name in seen:
            problems.append(
                f"{at}.name: {service.name!r} is already used by spec.services[{seen[service.name]}] (names must be unique)"
            )
        seen.setdefault(service.name, index)
        allowed = FARGATE_MEMORY.get(service.cpu)
        if allowed and service.memory not in allowed:
            problems.append(
                f"{at}.memory: {service.memory} is not valid with cpu {service.cpu} (allowed {_ranges(allowed)})"
            )
        scaling = service.scaling
        if scaling.min > scaling.max:
            problems.append(f"{at}.scaling.min: {scaling.min} is greater than scaling.max {scaling.max}")
        elif not scaling.min <= service.desired_count <= scaling.max:
            problems.append(
                f"{at}.desiredCount: {service.desired_count} is outside scaling min {scaling.min} .. max {scaling.max}"
            )
        secret_names: set[str] = set()
        for s_index, secret in enumerate(service.secrets):
            if secret.name in secret_names:
                problems.append(f"{at}.secrets[{s_index}].name: {secret.name!r} is injected twice")
            secret_names.add(secret.name)
            if secret.name in service.environment:
                problems.append(
                    f"{at}.secrets[{s_index}].name: {secret.name!r} is also set in environment "
                    "(a variable comes from one place)"
                )
        for key in service.environment:
            if _looks_secret(key):
                problems.append(
                    f"{at}.environment.{key}: looks like a credential; inject it through "
                    "secrets (valueFrom the database secret) instead of a plain value"
                )
    if spec.services and not spec.public_services():
        problems.append("spec.services: at least one service must be public (it sits behind the load balancer)")
    if spec.deletion_policy is DeletionPolicy.DELETE and spec.load_balancer.deletion_protection:
        problems.append(
            "spec.loadBalancer.deletionProtection: must be false when spec.deletionPolicy is Delete "
            "(destroy would fail on the protected load balancer)"
        )
    return problems


def _looks_secret(name: str) -> bool:
    return bool(CREDENTIAL_NAME.search(name))


def _ranges(values: tuple[int, ...]) -> str:
    """(1024, 2048, 3072, 4096) -> '1024-4096 in steps of 1024'; others listed in full."""
    if {b - a for a, b in pairwise(values)} == {1024}:
        return f"{values[0]}-{values[-1]} in steps of 1024"
    return f"{values[0]}-{values[-1]}: {', '.join(map(str, values))}"
