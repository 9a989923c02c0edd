"""Tags on every taggable AWS resource of a platform.

A resource transformation (rather than provider ``default_tags``) puts the tags into
each resource's own inputs, so the offline plan shows them and tests can assert on them
resource by resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi

__all__ = ["operator_tags", "platform_tags", "tag_transformation"]


def operator_tags(namespace: str, name: str, suffix: str) -> dict[str, str]:
    """Tags the operator relies on to find a platform's resources; users cannot override them."""
    return {
        "managed-by": "payplat-operator",
        "payplat.io/namespace": namespace,
        "payplat.io/platform": name,
        "payplat.io/environment": suffix,
    }


def platform_tags(user_tags: Mapping[str, str], namespace: str, name: str, suffix: str) -> dict[str, str]:
    return {**user_tags, **operator_tags(namespace, name, suffix)}


def tag_transformation(tags: Mapping[str, str]) -> pulumi.ResourceTransformation:
    """Merge ``tags`` under each custom resource's own tags (its ``Name`` tag wins)."""
    frozen = dict(tags)

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not isinstance(args.resource, pulumi.CustomResource) or "tags" not in args.props:
            return None
        # The program's components give tags as plain dicts (never an Output).
        own = cast("Mapping[str, Any]", args.props.get("tags") or {})
        return pulumi.ResourceTransformationResult({**args.props, "tags": {**frozen, **own}}, args.opts)

    return transform
