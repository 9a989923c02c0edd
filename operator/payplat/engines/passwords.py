"""The database password both engines generate when the spec names no Kubernetes Secret.

One place decides its strength and alphabet (URL-safe, so it survives JSON, connection
strings and shell quoting), so the engines cannot drift apart.
"""

from __future__ import annotations

import secrets

from payplat.stackkeys import PASSWORD_CONFIG_KEY

__all__ = ["CONFIG_KEY", "new_password"]

CONFIG_KEY = PASSWORD_CONFIG_KEY


def new_password() -> str:
    return secrets.token_urlsafe(24)  # 192 bits, 32 characters
