"""The Pulumi program of a payment platform, usable in any Pulumi context.

The operator's engines run ``make_program(spec, namespace=..., name=...)`` through the Automation API;
``payplat.plan`` runs the very same function under mocks. The program reads the database
password from the stack config key ``payplat:dbPassword`` (a secret the engine sets)
and exports it back as a secret output, so the engine can recover it if it loses its
workspace (``payplat.stackkeys``).
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi

from payplat.program.platform import PaymentPlatform, PaymentPlatformArgs
from payplat.spec import PlatformSpec
from payplat.stackkeys import PASSWORD_OUTPUT

__all__ = ["PaymentPlatform", "PaymentPlatformArgs", "make_program"]


def make_program(spec: PlatformSpec, *, namespace: str, name: str) -> Callable[[], None]:
    """The inline program: one ``PaymentPlatform`` of ``namespace/name`` and its stack outputs."""

    def program() -> None:
        platform = PaymentPlatform(name, PaymentPlatformArgs(spec=spec, name=name, namespace=namespace))
        for key, value in platform.outputs().items():
            pulumi.export(key, value)
        pulumi.export(PASSWORD_OUTPUT, platform.database_password)  # secret: see payplat.stackkeys

    return program
