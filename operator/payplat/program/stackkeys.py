"""Names the Pulumi program and the engines must agree on.

They live apart from both so that neither imports the other: the program pulls in
pulumi_aws (seconds to import) and the engines must stay cheap to load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "INTERNAL_OUTPUTS",
    "PASSWORD_CONFIG",
    "PASSWORD_CONFIG_KEY",
    "PASSWORD_OUTPUT",
    "PROJECT",
    "ROOT_TYPE",
    "SECRET_MASK",
    "root_name",
]

#: What a secret value looks like wherever it is shown (plan, status, logs).
SECRET_MASK = "[secret]"

#: The Pulumi project (and config namespace) of every platform stack.
PROJECT = "payplat"

#: The program reads the database password with ``Config(PROJECT).require_secret(PASSWORD_CONFIG)``.
PASSWORD_CONFIG = "dbPassword"
#: ... which the engines set as the secret stack config key PASSWORD_CONFIG_KEY.
PASSWORD_CONFIG_KEY = f"{PROJECT}:{PASSWORD_CONFIG}"

#: The program also exports the password as a *secret* stack output. Stack config lives
#: in the operator's workspace (``Pulumi.<stack>.yaml``), which a pod restart can lose;
#: outputs live in the backend, encrypted by its secrets provider. Reading the password
#: back from there keeps a generated password from being silently rotated.
PASSWORD_OUTPUT = "databasePassword"

#: The program's root component. Its URN name is the PaymentPlatform's metadata.name, so a
#: stack's state says which platform it belongs to (the 0.2 stack migration reads it).
ROOT_TYPE = "payplat:index:PaymentPlatform"


def root_name(resources: Iterable[Mapping[str, Any]]) -> str | None:
    """The root component's name among a stack's resources (None for an empty stack)."""
    for resource in resources:
        if resource.get("type") == ROOT_TYPE:
            return str(resource["urn"]).rsplit("::", 1)[1]
    return None


#: Outputs for the engines only: never copied into a result, and so never into status.
INTERNAL_OUTPUTS = frozenset({PASSWORD_OUTPUT})
