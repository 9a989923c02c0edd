"""Secret values stay out of status outputs, messages and log records."""

from __future__ import annotations

import logging
import sys

import pytest

from payplat.controller.redaction import KNOWN_SECRETS, RedactingFilter, looks_secret_key, redact, redact_outputs
from payplat.engines.base import SECRET_MASK


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("dbPassword", True),
        ("apiToken", True),
        ("privateKey", True),
        ("secretString", True),
        ("dbSecretArn", False),
        ("secretName", False),
        ("albDnsName", False),
        ("kmsKeyId", False),
    ],
)
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


def test_one_platforms_password_never_changes_another_platforms_status() -> None:
    """Scrubbing every known password everywhere made tenant B's outputs change with tenant
    A's password: ``payments`` turned B's ALB name into ``payplat-[secret]-alb``."""
    KNOWN_SECRETS.add("payments")  # tenant A's password, handled by this process
    outputs = {"albDnsName": "payplat-payments-alb-123.elb.amazonaws.com"}
    assert redact_outputs(outputs, ["b-own-password-1"]) == outputs
    assert redact("payplat-payments-alb", ["b-own-password-1"]) == "payplat-payments-alb"
    assert redact("payplat-payments-alb", ["payments"]) == f"payplat-{SECRET_MASK}-alb"  # A's own status


def test_traceback_text_is_scrubbed_from_log_records() -> None:
    KNOWN_SECRETS.add("in-a-traceback-77")
    try:
        raise RuntimeError("connect failed for password in-a-traceback-77")
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "crashed", (), sys.exc_info())
    record.stack_info = "Stack (most recent call last):\n  in-a-traceback-77"
    RedactingFilter().filter(record)
    rendered = logging.Formatter().format(record)
    assert "in-a-traceback-77" not in rendered
    assert "RuntimeError: connect failed for password [secret]" in rendered
    assert "Traceback (most recent call last)" in rendered


def test_short_values_are_not_registered() -> None:
    KNOWN_SECRETS.add("ab")
    assert "ab" not in KNOWN_SECRETS.values()
