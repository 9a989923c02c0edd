"""The one table from engine failures to retry / stall, and scrubbing of secrets."""

from __future__ import annotations

import pytest
from pulumi.automation._cmd import CommandResult
from pulumi.automation.errors import CommandError, ConcurrentUpdateError, StackNotFoundError, create_command_error

from payplat.engines.base import PermanentEngineError, StackLockedError, TransientEngineError, UnrecognisedEngineError
from payplat.engines.errors import classify, scrub


def cli_error(stderr: str, stdout: str = "") -> CommandError:
    """What the Automation API raises for a failed CLI run, typed by its own rules."""
    return create_command_error(CommandResult(stdout=stdout, stderr=stderr, code=255))


LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete "
    "the lock file with `pulumi cancel`.\n  file:///state/.pulumi/locks/organization/payplat/ns-a/1.json: "
    "created by root@payplat-operator-0 (pid 81) at 2026-11-28T12:00:00Z"
)


@pytest.mark.parametrize(
    ("stdout", "kind", "reason"),
    [
        (
            "aws:ec2/vpc:Vpc creating failed: operation error EC2: CreateVpc, api error UnauthorizedOperation: You are not authorized",
            PermanentEngineError,
            "AuthFailed",
        ),
        (
            "error: AccessDenied: User: arn:aws:sts::1:assumed-role/x is not authorized to perform: kms:CreateKey",
            PermanentEngineError,
            "AuthFailed",
        ),
        (
            "error: ExpiredToken: The security token included in the request is expired",
            PermanentEngineError,
            "AuthFailed",
        ),
        (
            "error: InvalidClientTokenId: The security token included in the request is invalid",
            PermanentEngineError,
            "AuthFailed",
        ),
        ("error: Throttling: Rate exceeded", TransientEngineError, "Throttled"),
        ("error: RequestLimitExceeded: Request limit exceeded.", TransientEngineError, "Throttled"),
        ("error: dial tcp: lookup ec2.us-east-1.amazonaws.com: i/o timeout", TransientEngineError, "NetworkError"),
        ("error: read tcp 10.0.0.1:443: connection reset by peer", TransientEngineError, "NetworkError"),
        (
            "error: creating ECS Task Definition: ClientException: ... ValidationError: bad cpu",
            PermanentEngineError,
            "InvalidConfiguration",
        ),
        (
            "error: InvalidParameterValue: CIDR block 10.0.0.0/8 is malformed",
            PermanentEngineError,
            "InvalidConfiguration",
        ),
        (
            "error: VpcLimitExceeded: The maximum number of VPCs has been reached.",
            PermanentEngineError,
            "QuotaExceeded",
        ),
        ("error: something nobody has seen before", UnrecognisedEngineError, "EngineError"),
        # AWS's verdict on a value is not a network timeout, whatever words it uses
        (
            "error: creating ELBv2 Target Group: ValidationError: Health check timeout must be smaller than the interval",
            PermanentEngineError,
            "InvalidConfiguration",
        ),
        (
            "error: an unhandled error occurred: python inline source runtime error: KeyError 'x'",
            PermanentEngineError,
            "ProgramError",
        ),
    ],
)
def test_error_table(stdout: str, kind: type, reason: str) -> None:
    error = classify(cli_error("", stdout=stdout), operation="up")
    assert type(error) is kind
    assert error.reason == reason
    assert error.message.startswith("up failed")


def test_a_missing_stack_is_transient_and_says_where_to_look() -> None:
    raised = cli_error("error: no stack named 'organization/payplat/ns-a' found")
    assert isinstance(raised, StackNotFoundError)
    error = classify(raised, operation="destroy")
    assert type(error) is TransientEngineError and error.reason == "StackNotFound" and "backend URL" in error.message


def test_a_held_lock_is_a_stack_locked_error_naming_the_holder() -> None:
    raised = cli_error(LOCKED)
    assert isinstance(raised, ConcurrentUpdateError)  # the Automation API's own typing
    error = classify(raised, operation="up")
    assert isinstance(error, StackLockedError) and not error.permanent
    assert "payplat-operator-0 (pid 81)" in error.message


def test_messages_are_scrubbed_and_short() -> None:
    noisy = "\n".join(f"    + aws:ec2/subnet:Subnet s{i} creating" for i in range(200))
    text = noisy + '\nerror: AccessDenied: config {"payplat:dbPassword": {"value": "hunter2-long", "secret": true}}'
    error = classify(cli_error("", stdout=text), operation="up", known_secrets=("hunter2-long",))
    assert "hunter2" not in error.message
    assert len(error.message) < 800
    assert "AccessDenied" in error.message


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("PULUMI_CONFIG_PASSPHRASE=correct-horse", "correct-horse"),
        ("password: s3cr3t-value", "s3cr3t-value"),
        ('"dbPassword": "abc123xyz"', "abc123xyz"),
        ("key AKIAABCDEFGHIJKLMNOP used", "AKIAABCDEFGHIJKLMNOP"),
        ('{"value": "p@ss\\"word", "secret": true}', "p@ss"),
        ("payplat:dbPassword: secure: v1:AAAAAAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBBBBBBBB", "v1:AAAA"),
    ],
)
def test_scrub(text: str, leak: str) -> None:
    assert leak not in scrub(text)
    assert "[secret]" in scrub(text)


def test_scrub_keeps_ordinary_text() -> None:
    text = "aws:secretsmanager/secret:Secret payplat-db creating (arn:aws:secretsmanager:us-east-1:0:secret:x)"
    assert scrub(text) == text


def test_the_cli_lock_message_names_the_holder_for_status() -> None:
    error = classify(cli_error(LOCKED), operation="up")
    assert isinstance(error, StackLockedError)
    assert error.holder is not None
    assert (error.holder["who"], error.holder["pid"], error.holder["since"]) == (
        "root@payplat-operator-0",
        81,
        "2026-11-28T12:00:00Z",
    )
    assert error.holder["lockFile"] == ".pulumi/locks/organization/payplat/ns-a/1.json"
