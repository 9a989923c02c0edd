"""What every component needs to know about where it deploys."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

__all__ = ["Account", "child"]


@dataclass(frozen=True)
class Account:
    """The AWS account and region a platform deploys into. ``id`` and ``partition`` come
    from ``getCallerIdentity`` (so the program never hard-codes ``aws``)."""

    id: pulumi.Output[str]
    partition: pulumi.Output[str]
    region: str


def child(parent: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
    """Options of a component's child: always ``parent=`` the component."""
    return pulumi.ResourceOptions(parent=parent, **extra)  # type: ignore[arg-type]
