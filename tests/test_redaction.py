"""Secret values stay out of status outputs, messages and log records."""

from __future__ import annotations

import logging

import pytest

from payplat.engines.base import SECRET_MASK
from payplat.redaction import KNOWN_SECRETS, RedactingFilter, looks_secret_key, redact, redact_outputs


@pytest.mark.parametrize(("key", "secret"), [
    ("dbPassword", True), ("apiToken", True), ("privateKey", True), ("secretString", True),
    ("dbSecretArn", False), ("secretName", False), ("albDnsName", False), ("kmsKeyId", False),
])
def test_looks_secret_key(key: str, secret: bool) -> None:
    assert looks_secret_key(key) is secret


def test_outputs_are_masked_recursively() -> None:
    outputs = {"services": [{"name": "api", "token": "abcd1234"}], "url": "https://x?pw=Very-Secret-1"}
    cleaned = redact_outputs(outputs, ["Very-Secret-1"])
    assert cleaned == {"services": [{"name": "api", "token": SECRET_MASK}], "url": f"https://x?pw={SECRET_MASK}"}


def test_registered_values_are_scrubbed_from_log_records() -> None:
    KNOWN_SECRETS.add("registered-pw-42")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "connecting with %s", ("registered-pw-42",), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == f"connecting with {SECRET_MASK}"
    assert redact("x registered-pw-42 y") == f"x {SECRET_MASK} y"


def test_short_values_are_not_registered() -> None:
    KNOWN_SECRETS.add("ab")
    assert "ab" not in KNOWN_SECRETS.values()
