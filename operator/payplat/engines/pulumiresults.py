"""The pure parts of the real engine: what the Automation API's answers mean for the
operator (change counts, preview steps, the update's version, masked outputs) and the
stack config and settings it writes. Tested without the CLI (tests/engines)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from payplat.engines.base import SECRET_MASK, Changes, ResourceChange, public_outputs
from payplat.engines.passwords import CONFIG_KEY
from payplat.model.spec import PlatformSpec

__all__ = ["changes_from", "desired_config", "masked_outputs", "settings_from_state", "steps_from", "version_of"]


def desired_config(spec: PlatformSpec, *, password: str) -> dict[str, str]:
    """Stack config for ``spec`` (keys are Pulumi config paths, set with ``path=True``).

    No ``aws:assumeRoles``: the program's explicit provider takes the role itself (typed
    ``ProviderAssumeRoleArgs``, ``program.platform.assume_roles``) and never reads the
    default provider's config."""
    return {"aws:region": spec.region, CONFIG_KEY: password}


def settings_from_state(deployment: Mapping[str, Any]) -> tuple[str | None, str | None, str | None] | None:
    """(secrets provider URL, encrypted data key, passphrase salt) of a stack, from its
    deployment's ``secrets_providers``; None for a new stack or an unknown provider type."""
    provider = deployment.get("secrets_providers") or {}
    state = provider.get("state") or {}
    if provider.get("type") == "cloud" and state.get("url"):
        return str(state["url"]), state.get("encryptedkey"), None
    if provider.get("type") == "passphrase" and state.get("salt"):
        return None, None, str(state["salt"])
    return None


def changes_from(summary: Mapping[str, int] | None) -> Changes:
    """Pulumi's per-operation counts (``create``, ``create-replacement``, ...) as ``Changes``."""
    summary = summary or {}
    return Changes(
        create=summary.get("create", 0),
        update=summary.get("update", 0),
        delete=summary.get("delete", 0),
        replace=summary.get("replace", 0),
        same=summary.get("same", 0),
    )


#: Pulumi's step ops a change summary counts, as ``ResourceChange.op``; the halves of a
#: replacement (create-replacement, delete-replaced) are reported by its "replace" step.
_STEP_OPS = {"create": "create", "update": "update", "replace": "replace", "delete": "delete"}


def steps_from(events: list[Any]) -> tuple[ResourceChange, ...]:
    """The resources a preview's engine events say would change, in the engine's order."""
    steps = []
    for event in events:
        pre = getattr(event, "resource_pre_event", None)
        metadata = getattr(pre, "metadata", None)
        op = getattr(getattr(metadata, "op", None), "value", getattr(metadata, "op", None))
        if metadata is None or op not in _STEP_OPS:
            continue
        steps.append(
            ResourceChange(
                _STEP_OPS[op],  # type: ignore[arg-type]
                metadata.urn,
                metadata.type,
                tuple(metadata.diffs or ()),
                tuple(metadata.keys or ()) if op == "replace" else (),
            )
        )
    return tuple(steps)


def version_of(summary: Any) -> str:
    """The update's version in the stack's history (its id in ``pulumi stack history``)."""
    version = getattr(summary, "version", None)
    return str(version) if version is not None else ""


def masked_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Stack outputs as plain values, secret ones as ``[secret]``."""
    return public_outputs({key: SECRET_MASK if output.secret else output.value for key, output in outputs.items()})
