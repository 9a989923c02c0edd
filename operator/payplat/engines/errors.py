"""Which engine failures are worth retrying, and what a person should do about the rest.

Pulumi reports almost every failure as a ``CommandError`` whose text holds the provider's
error (``AccessDenied``, ``ThrottlingException``, ...). ``RULES`` is the one table that
turns that text into a condition reason and into ``TransientEngineError`` (retry with
backoff) or ``PermanentEngineError`` (stall until the spec changes). First match wins;
anything unknown is an ``UnrecognisedEngineError``: retried a few times, since it may be a
blip, then stalled with the error shown (``handlers``), since it may never pass.

Every message leaving this module goes through ``scrub``: engine output can echo config
values, provider credentials or a database password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from payplat.engines.base import (
    EngineError,
    PermanentEngineError,
    StackLockedError,
    TransientEngineError,
    UnrecognisedEngineError,
)

__all__ = ["RULES", "Rule", "classify", "cli_lock_holder", "scrub"]


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    reason: str
    permanent: bool
    advice: str


def _rule(pattern: str, reason: str, permanent: bool, advice: str) -> Rule:
    return Rule(re.compile(pattern, re.IGNORECASE), reason, permanent, advice)


RULES: tuple[Rule, ...] = (
    _rule(
        r"the stack is currently locked by|\[409\] Conflict: Another update is currently in progress",
        "StackLocked",
        False,
        "another operation holds the stack's lock; retrying",
    ),
    _rule(
        r"ExpiredToken|RequestExpired|token included in the request is expired",
        "AuthFailed",
        True,
        "the AWS credentials have expired; renew the operator's credentials",
    ),
    _rule(
        r"InvalidClientTokenId|UnrecognizedClientException|SignatureDoesNotMatch|no valid credential sources|NoCredentialProviders",
        "AuthFailed",
        True,
        "AWS does not accept the operator's credentials; check its IAM role / IRSA setup",
    ),
    _rule(
        r"AccessDenied|UnauthorizedOperation|not authorized to perform|AuthorizationError",
        "AuthFailed",
        True,
        "the operator's AWS identity lacks a permission; grant it (or fix spec.assumeRoleArn)",
    ),
    _rule(
        r"Throttl|RequestLimitExceeded|TooManyRequests|Rate exceeded|SlowDown",
        "Throttled",
        False,
        "AWS is throttling requests; retrying with backoff",
    ),
    # Before the network rule: AWS's own verdict on a value ("ValidationError: Health check
    # timeout must be smaller than the interval") is no network timeout.
    _rule(
        r"ValidationError|InvalidParameter|InvalidRequest|MalformedPolicy|InvalidInput|ResourceAlreadyExists|AlreadyExists|already exists|Invalid[A-Z]\w*(Exception)?:",
        "InvalidConfiguration",
        True,
        "AWS rejected the configuration; fix the spec",
    ),
    # botocore's words when the state bucket (the operation records beside the CLI's locks)
    # cannot be reached: "EndpointConnectionError: Could not connect to the endpoint URL".
    _rule(
        r"timeout|timed out|deadline exceeded|connection reset|connection refused|EOF|no such host|TLS handshake|ServiceUnavailable|InternalError|InternalFailure|Could not connect to the endpoint URL",
        "NetworkError",
        False,
        "a network or AWS service error; retrying with backoff",
    ),
    _rule(
        r"LimitExceeded|quota",
        "QuotaExceeded",
        True,
        "an AWS service quota is exhausted; raise the quota or remove resources, then change the spec",
    ),
    _rule(
        r"failed to decrypt|incorrect passphrase|passphrase must be set|KMS.*(Disabled|NotFound|AccessDenied)",
        "SecretsProviderFailed",
        True,
        "the stack's secrets provider cannot decrypt its config; check the KMS key or passphrase",
    ),
    _rule(
        r"pending operations",
        "PendingOperations",
        False,
        "an earlier run was interrupted; pending operations are resolved on the next attempt",
    ),
    _rule(
        r"no stack named .* found",
        "StackNotFound",
        False,
        "the stack's state is missing from the backend; check the backend URL setting",
    ),
    _rule(
        r"inline source runtime error|an unhandled error occurred|failed with an unhandled exception",
        "ProgramError",
        True,
        "the Pulumi program failed for this spec; the operator log has the details",
    ),
)

_SECRET_PATTERNS = (
    # `pulumi config --json` entries: {"value": "...", "secret": true}
    re.compile(r'("value":\s*")(?:[^"\\]|\\.)*(?=",\s*"secret":\s*true)'),
    # key=value / key: value / "key": "value" where the key names a credential (not ARNs
    # such as ...:secret:name, which have no space after the colon)
    re.compile(
        r'(?i)\b([\w.-]*(?:password|passwd|secret|token|passphrase|private[_-]?key)"?\s*(?:=|:\s)\s*"?)(?!true\b|false\b|\{|\[secret\])([^\s",}]+)'
    ),
    re.compile(r"\bA(?:KIA|SIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"(?i)(x-amz-security-token=|X-Amz-Signature=)[^&\s]+"),
    re.compile(r"v1:[A-Za-z0-9+/=]{16,}:[A-Za-z0-9+/=]{16,}"),  # passphrase-encrypted config values
)

_MAX_DETAIL = 600


def scrub(text: str, *, known: tuple[str, ...] = ()) -> str:
    """``text`` with known secret values and anything credential-shaped replaced."""
    for value in known:
        if value:
            text = text.replace(value, "[secret]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}[secret]" if m.groups() else "[secret]", text)
    return text


def classify(error: BaseException, *, operation: str, known_secrets: tuple[str, ...] = ()) -> EngineError:
    """The ``EngineError`` for any failure of an engine ``operation``."""
    if isinstance(error, EngineError):
        return error
    text = scrub(_text_of(error), known=known_secrets)
    detail = _last_error_lines(text)
    for rule in RULES:
        if rule.pattern.search(text):
            message = f"{operation} failed: {rule.advice}. {_matching_lines(text, rule) or detail}".strip()
            if rule.reason == "StackLocked":
                return StackLockedError(message, reason=rule.reason, holder=cli_lock_holder(text))
            kind = PermanentEngineError if rule.permanent else TransientEngineError
            return kind(message, reason=rule.reason)
    return UnrecognisedEngineError(f"{operation} failed (unrecognised error): {detail}", reason="EngineError")


_CREATED_BY = re.compile(
    r"(?P<url>\S+\.json):\s*created by (?P<user>[^@\s]+)@(?P<host>\S+) \(pid (?P<pid>\d+)\) "
    r"at (?P<at>\S+)"
)


def cli_lock_holder(text: str) -> dict[str, object] | None:
    """The holder the Pulumi CLI names when it refuses a locked stack (``<lock url>:
    created by user@host (pid N) at <time>``), shaped like ``engines.locks``' holder."""
    match = _CREATED_BY.search(text)
    if match is None:
        return None
    return {
        "who": f"{match['user']}@{match['host']}",
        "hostname": match["host"],
        "username": match["user"],
        "pid": int(match["pid"]),
        "since": match["at"],
        "lockFile": ".pulumi/" + match["url"].rsplit("/.pulumi/", 1)[-1]
        if "/.pulumi/" in match["url"]
        else match["url"],
        "judgement": "reported by the Pulumi CLI, which took no part in judging it",
    }


def _text_of(error: BaseException) -> str:
    """Automation API errors keep stdout/stderr in their ``str``; include the class name
    so typed errors (``ConcurrentUpdateError``) still match when their text is terse."""
    return f"{type(error).__name__}: {error}"


def _matching_lines(text: str, rule: Rule) -> str:
    """The lines that made ``rule`` match: the real CLI ends a failed run with generic lines
    ("update failed", "Resource monitor has terminated") after the provider's error."""
    raw = text.splitlines()
    picked: list[str] = []
    for i, line in enumerate(raw):
        if rule.pattern.search(line):
            picked.append(line.strip())
            if i + 1 < len(raw) and raw[i + 1][:1].isspace():  # its continuation (the lock's holder)
                picked.append(raw[i + 1].strip())
    detail = " | ".join(dict.fromkeys(picked[-3:]))
    return detail if len(detail) <= _MAX_DETAIL else detail[: _MAX_DETAIL - 3] + "..."


def _last_error_lines(text: str) -> str:
    """The lines that say what went wrong, not the whole engine transcript."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    wanted = [
        line for line in lines if re.search(r"error|denied|failed|exception|locked|created by", line, re.IGNORECASE)
    ]
    detail = " | ".join(wanted[-3:] or lines[-3:])
    return detail if len(detail) <= _MAX_DETAIL else detail[: _MAX_DETAIL - 3] + "..."
