"""The database password both engines generate when the spec names no Kubernetes Secret,
and the digest the offline engine keeps instead of it.

One place decides its strength and alphabet (URL-safe, so it survives JSON, connection
strings and shell quoting), so the engines cannot drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from payplat.program.stackkeys import PASSWORD_CONFIG_KEY

__all__ = ["CONFIG_KEY", "digest_matches", "new_password", "password_digest"]

CONFIG_KEY = PASSWORD_CONFIG_KEY

#: scrypt cost (N, r, p): about 16 MiB and tens of milliseconds per digest.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def new_password() -> str:
    return secrets.token_urlsafe(24)  # 192 bits, 32 characters


def password_digest(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$<salt>$<hash>``: enough to tell whether a password changed, useless to
    recover it (a state folder may be copied, backed up or read by a person)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def digest_matches(stored: str, password: str) -> bool:
    try:
        scheme, salt, _ = stored.split("$")
        if scheme != "scrypt":
            return False
        return hmac.compare_digest(stored, password_digest(password, salt=base64.b64decode(salt)))
    except ValueError:
        return False
