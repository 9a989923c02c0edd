"""The Pulumi program of a payment platform, usable in any Pulumi context.

The operator's engines run ``make_program(spec, namespace=..., name=...)`` through the Automation API;
``payplat.program.plan`` runs the very same function under mocks. The program reads the database
password from the stack config key ``payplat:dbPassword`` (a secret the engine sets)
and exports it back as a secret output, so the engine can recover it if it loses its
workspace (``payplat.program.stackkeys``).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

import pulumi

from payplat.model.spec import PlatformSpec
from payplat.program.platform import PaymentPlatform, PaymentPlatformArgs
from payplat.program.stackkeys import PASSWORD_OUTPUT

__all__ = ["AWS_MODULES", "PaymentPlatform", "PaymentPlatformArgs", "load_aws_modules", "make_program"]

#: The pulumi_aws modules the program uses (tests/program checks the list is complete).
AWS_MODULES = (
    "appautoscaling",
    "cloudwatch",
    "ec2",
    "ecs",
    "iam",
    "kms",
    "lb",
    "secretsmanager",
    "servicediscovery",
    "vpc",
)
_loaded = threading.Lock()
_loaded_done = False


def load_aws_modules() -> None:
    """Load the pulumi_aws modules the program uses, once per process, one thread at a time.

    pulumi_aws imports its modules lazily (``pulumi._utils.lazy_import``), which is not
    thread-safe: a module turns into a plain one before its code has run. Two programs
    running at once in one process (the operator runs up to ``max_concurrent_operations``)
    then saw half-loaded modules ("module 'pulumi_aws.ec2' has no attribute 'Vpc'"; found
    by the real-engine e2e test with four platforms at once). Loaded here first, one
    thread at a time, they are complete before any program runs.
    """
    global _loaded_done  # noqa: PLW0603 - one flag per process, set once under the lock
    if _loaded_done:
        return
    with _loaded:
        if not _loaded_done:
            for module in AWS_MODULES:
                # An ordinary attribute runs the lazy load (``__dict__``, ``__name__``... do not).
                getattr(importlib.import_module(f"pulumi_aws.{module}"), "__all__", None)
            _loaded_done = True


def make_program(spec: PlatformSpec, *, namespace: str, name: str) -> Callable[[], None]:
    """The inline program: one ``PaymentPlatform`` of ``namespace/name`` and its stack outputs."""
    load_aws_modules()

    def program() -> None:
        platform = PaymentPlatform(name, PaymentPlatformArgs(spec=spec, name=name, namespace=namespace))
        for key, value in platform.outputs().items():
            pulumi.export(key, value)
        pulumi.export(PASSWORD_OUTPUT, platform.database_password)  # secret: see payplat.program.stackkeys

    return program
