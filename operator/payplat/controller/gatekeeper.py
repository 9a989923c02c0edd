"""Before any engine call: may this platform use this role and these AWS names?

The ValidatingAdmissionPolicy refuses a foreign ``assumeRoleArn`` at ``kubectl apply``,
but admission can be bypassed (the policy not installed, an object stored before it was),
so the operator judges again from the same ConfigMap. The environment suffix can only be
judged here: whether it is free depends on every other platform (``payplat.controller.claims``).
"""

from __future__ import annotations

from payplat.controller.claims import SuffixInUse
from payplat.controller.operations import Runtime
from payplat.engines.base import StackRef, TransientEngineError
from payplat.model.spec import PlatformSpec
from payplat.model.tenancy import claim_key, role_refusal

__all__ = ["admit", "release_other_claims", "suffix_claim"]


def suffix_claim(ref: StackRef, platform: PlatformSpec) -> str:
    """The claim key of the suffix in force for ``ref``."""
    return claim_key(platform.assume_role_arn, platform.region, platform.suffix(ref.namespace, ref.name))


async def admit(runtime: Runtime, ref: StackRef, platform: PlatformSpec, *, claim: bool) -> None:
    """Raise ``TransientEngineError`` (reason ``RoleNotAllowed`` or
    ``EnvironmentSuffixInUse``) when ``ref`` may not act; with ``claim``, take the suffix.

    Retried rather than stalled: the fix (an administrator allowing the role, the other
    platform letting the suffix go) happens outside this PaymentPlatform's spec."""
    source = f"ConfigMap {runtime.settings.lease_namespace_in_force()}/{runtime.settings.assume_role_allowlist}"
    if platform.assume_role_arn:
        refusal = role_refusal(await runtime.read_allowlist(), ref.namespace, platform.assume_role_arn, source=source)
        if refusal:
            raise TransientEngineError(refusal, reason="RoleNotAllowed")
    if not claim:
        return
    suffix = platform.suffix(ref.namespace, ref.name)
    try:
        await runtime.claims.claim(suffix_claim(ref, platform), ref.owner)
    except SuffixInUse as taken:
        field = "spec.environmentSuffix" if platform.environment_suffix else "the default environment suffix"
        raise TransientEngineError(
            f'{field} "{suffix}" is used by {taken.holder} in the same account and region; choose another '
            "spec.environmentSuffix",
            reason="EnvironmentSuffixInUse",
        ) from None


async def release_other_claims(runtime: Runtime, ref: StackRef, keep: PlatformSpec | None) -> None:
    """After an ``up`` (``keep`` its spec) or a destroy (``keep`` None): the owner's
    other suffixes no longer name anything in AWS."""
    await runtime.claims.release(ref.owner, frozenset({suffix_claim(ref, keep)}) if keep else frozenset())
