"""The offline engine's stack config: a salted digest of the database password, never the password.

``<state_dir>/config/<stack>.json`` (mode 0600). The program runs with a placeholder, so
the engine only needs to know whether the password *changed* since it was last applied
(``applied``): a changed one updates the resources that take it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from payplat.engines.base import StackSecrets
from payplat.engines.passwords import CONFIG_KEY, digest_matches, new_password, password_digest

__all__ = ["DIGEST_KEY", "PasswordConfig"]

#: Config key of the password's digest (``passwords.password_digest``), never the password.
DIGEST_KEY = "payplat:dbPasswordDigest"


class PasswordConfig:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    def path(self, stack: str) -> Path:
        return self.state_dir / "config" / f"{stack}.json"

    def ensure(self, stack: str, secrets: StackSecrets) -> bool:
        """Keep the password's digest in the stack's config; True while a changed password
        is not yet applied. A config written by an older version (the password itself) is
        rewritten as a digest on the spot."""
        config = self.read(stack)
        legacy = config.pop(CONFIG_KEY, None)
        if legacy is not None:
            config[DIGEST_KEY] = password_digest(str(legacy))
            self._write(stack, config)
        stored = config.get(DIGEST_KEY)
        if secrets.db_password is None:
            if stored is None:  # first run without a Secret: a generated password, applied by the creates
                self._write(stack, {**config, DIGEST_KEY: password_digest(new_password()), "applied": True})
        elif stored is None or not digest_matches(stored, secrets.db_password):
            self._write(stack, {**config, DIGEST_KEY: password_digest(secrets.db_password), "applied": stored is None})
        return not self.read(stack).get("applied", True)

    def pending(self, stack: str, secrets: StackSecrets) -> bool:
        """What ``ensure`` would return, without writing the config (a preview)."""
        config = self.read(stack)
        stored = config.get(DIGEST_KEY) or (password_digest(str(config[CONFIG_KEY])) if CONFIG_KEY in config else None)
        if secrets.db_password is not None and stored is not None and not digest_matches(stored, secrets.db_password):
            return True
        return stored is not None and not config.get("applied", True)

    def mark_applied(self, stack: str) -> None:
        config = self.read(stack)
        if not config.get("applied", True):
            self._write(stack, {**config, "applied": True})

    def read(self, stack: str) -> dict[str, Any]:
        try:
            return json.loads(self.path(stack).read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return {}

    def remove(self, stack: str) -> None:
        self.path(stack).unlink(missing_ok=True)

    def _write(self, stack: str, config: dict[str, Any]) -> None:
        path = self.path(stack)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.touch(mode=0o600)
        temporary.write_text(json.dumps(config))
        os.replace(temporary, path)
