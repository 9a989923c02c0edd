"""Keeping secret values out of everything a person can read: status, events, logs.

Engines already mask secret outputs; this module is the second line of defence. It knows
two kinds of secret: values the operator has actually handled and keys whose names say
"secret". Text and nested outputs pass through ``redact`` / ``redact_outputs`` before they
leave the process, and ``RedactingFilter`` does the same for every log record.

Redaction is per platform where tenants can read: status and events of a platform are
scrubbed of *that platform's* secrets only (the handler passes them). Scrubbing every
platform's secrets there would make one tenant's outputs change with another tenant's
password (``payments`` turning ``payplat-payments-alb`` into ``payplat-[secret]-alb``): an
oracle across tenants. The operator's own log, which only its administrators read, is
scrubbed of every value handled (``KNOWN_SECRETS``), traceback text included. Values too
short to scrub safely are refused where they enter (``tenancy.MIN_PASSWORD_LENGTH``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from payplat.engines.errors import scrub
from payplat.program.stackkeys import SECRET_MASK

__all__ = ["KNOWN_SECRETS", "KnownSecrets", "RedactingFilter", "looks_secret_key", "redact", "redact_outputs"]

# ARNs, names and ids *of* secrets are references, not secret values.
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|private[-_]?key|credential|api[-_]?key)", re.IGNORECASE)
_REFERENCE_KEY = re.compile(r"(arn|name|id|ref|refs|url)$", re.IGNORECASE)
# Shortest value worth scrubbing: masking "a" everywhere would mangle every message.
_MIN_SECRET_LENGTH = 4


class KnownSecrets:
    """The secret values this process has seen; thread-safe because kube reads run in threads."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        if value and len(value) >= _MIN_SECRET_LENGTH:
            with self._lock:
                self._values.add(value)

    def values(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self._values, key=len, reverse=True))


#: Process-wide registry: the log filter and the status writer both read it.
KNOWN_SECRETS = KnownSecrets()


def looks_secret_key(key: str) -> bool:
    """``dbPassword`` looks secret; ``dbSecretArn`` is a reference to one and does not."""
    return bool(_SECRET_KEY.search(key)) and not _REFERENCE_KEY.search(key)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with ``secrets`` (one platform's) and credential-shaped strings masked (the
    patterns are the engines' own, ``engines.errors.scrub``)."""
    known = tuple(value for value in secrets if value and len(value) >= _MIN_SECRET_LENGTH)
    return scrub(text, known=known)


def redact_outputs(outputs: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """Outputs fit for ``status.outputs``: secret-looking keys masked, secret values scrubbed."""
    known = tuple(secrets)
    return {key: _redact_value(key, value, known) for key, value in outputs.items()}


def _redact_value(key: str, value: Any, secrets: tuple[str, ...]) -> Any:
    if looks_secret_key(key) and value not in (None, "", SECRET_MASK):
        return SECRET_MASK
    if isinstance(value, Mapping):
        return redact_outputs(value, secrets)
    if isinstance(value, list | tuple):
        return [_redact_value(key, item, secrets) for item in value]
    if isinstance(value, str):
        return redact(value, secrets)
    return value


class RedactingFilter(logging.Filter):
    """Scrubs every secret value this process handled from each record a handler emits
    (ours and kopf's): the message, and the traceback and stack text, which formatters
    would otherwise render from the live exception."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        known = KNOWN_SECRETS.values()
        message = record.getMessage()
        cleaned = redact(message, known)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            record.exc_text = redact(self._formatter.formatException(record.exc_info), known)
            record.exc_info = None  # formatters print exc_text instead
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, known)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, known)
        return True
