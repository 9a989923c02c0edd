"""The engine's error table met with the real CLI's own texts.

Every entry the Pulumi CLI can produce here is provoked for real (a provider error through
the stand-in, a lock left by a live holder, an unreachable backend, a disabled KMS key, a
failing program, a missing stack) and the classification is checked on what the CLI
actually printed. What the table cannot meet here: errors only real AWS produces in its
own words for its own reasons (they reach the table through the same provider framing)."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from payplat.engines import locks, lockstore
from payplat.engines.base import (
    EngineError,
    PermanentEngineError,
    StackLockedError,
    StackRef,
    StackSecrets,
    TransientEngineError,
)
from payplat.engines.errors import classify
from payplat.engines.pulumi import PulumiEngine
from payplat.program.stackkeys import PROJECT
from payplat_dev.standin.cloud import FAIL_TAG
from tests.engines.helpers import small_spec

SECRETS = StackSecrets(db_password="real-errors-Password-123")


def up_error(engine: PulumiEngine, ref: StackRef, **spec: Any) -> EngineError:
    with pytest.raises(EngineError) as raised:
        asyncio.run(engine.up(ref, small_spec(**spec), SECRETS))
    return raised.value


@pytest.mark.parametrize(
    ("code", "kind", "reason"),
    [
        ("ThrottlingException", TransientEngineError, "Throttled"),
        ("RequestLimitExceeded", TransientEngineError, "Throttled"),
        ("ServiceUnavailableException", TransientEngineError, "NetworkError"),
        ("InternalFailure", TransientEngineError, "NetworkError"),
        ("AccessDeniedException", PermanentEngineError, "AuthFailed"),
        ("UnauthorizedOperation", PermanentEngineError, "AuthFailed"),
        ("ExpiredTokenException", PermanentEngineError, "AuthFailed"),
        ("LimitExceededException", PermanentEngineError, "QuotaExceeded"),
        ("InvalidParameterException", PermanentEngineError, "InvalidConfiguration"),
        ("ResourceAlreadyExistsException", PermanentEngineError, "InvalidConfiguration"),
    ],
)
def test_a_provider_error_through_the_cli_is_classified_by_its_aws_code(
    real_engine: PulumiEngine, code: str, kind: type, reason: str
) -> None:
    error = up_error(real_engine, StackRef("errs", code.lower()), tags={FAIL_TAG: f"ecs/cluster:Cluster:{code}"})
    assert type(error) is kind, error.message
    assert error.reason == reason, error.message
    assert f"api error {code}" in error.message  # the detail a person reads is the CLI's line


def test_a_lock_held_by_a_live_holder_is_the_clis_locked_text(real_engine: PulumiEngine, kit: Any) -> None:
    """Our own lock check is bypassed (the bare Automation API runs the CLI) so the CLI
    itself meets the lock and says so in its words."""
    ref = StackRef("errs", "locked")
    asyncio.run(real_engine.up(ref, small_spec(), SECRETS))
    bucket = lockstore.bucket_for(kit.backend_url)
    key = f"{lockstore.lock_prefix(PROJECT, ref.stack_name)}live-holder.json"
    holder = locks.LockInfo(pid=os.getpid(), username="someone", hostname="ci-runner-7", timestamp=datetime.now(UTC))
    bucket.write(key, holder.to_json())
    stack = _bare_stack(kit, ref, work=real_engine.state_dir / "workspaces" / ref.stack_name)
    with pytest.raises(auto.errors.CommandError) as raised:
        stack.up()
    text = str(raised.value)
    assert "the stack is currently locked by 1 lock(s)" in text and "ci-runner-7" in text
    error = classify(raised.value, operation="up")
    assert isinstance(error, StackLockedError) and not error.permanent
    # And through the engine: the foreign holder is kept, and named.
    with pytest.raises(StackLockedError, match="ci-runner-7"):
        asyncio.run(real_engine.up(ref, small_spec(), SECRETS))
    assert bucket.list(lockstore.lock_prefix(PROJECT, ref.stack_name)) == [key]


def test_an_unreachable_backend_is_a_network_error_to_retry(
    kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]  # nothing listens here once closed
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{dead}")
    engine = PulumiEngine(tmp_path / "s", backend_url=kit.backend_url, secrets_provider=kit.secrets_provider)
    error = up_error(engine, StackRef("errs", "nobackend"))
    assert type(error) is TransientEngineError and error.reason == "NetworkError", error.message


def test_a_missing_kms_key_is_a_secrets_provider_failure(kit: Any, tmp_path: Path) -> None:
    """An ``awskms://`` alias that does not exist (moto, like AWS, answers NotFoundException;
    moto does not enforce a disabled key's state, so that variant is left to real AWS)."""
    missing = kit.secrets_provider.replace(f"alias/{kit.kms_alias}", "alias/payplat-no-such-key")
    engine = PulumiEngine(tmp_path / "s", backend_url=kit.backend_url, secrets_provider=missing)
    error = up_error(engine, StackRef("errs", "kms"))
    assert type(error) is PermanentEngineError and error.reason == "SecretsProviderFailed", error.message
    assert "NotFoundException" in error.message


def test_a_program_that_raises_is_a_program_error(kit: Any) -> None:
    def broken() -> None:
        raise KeyError("no-such-output")

    stack = _bare_stack(kit, StackRef("errs", "program"), program=broken)
    with pytest.raises(auto.errors.CommandError) as raised:
        stack.up()
    error = classify(raised.value, operation="up")
    assert type(error) is PermanentEngineError and error.reason == "ProgramError", error.message


def test_a_missing_stack_is_stack_not_found(kit: Any) -> None:
    workspace = _bare_stack(kit, StackRef("errs", "present")).workspace
    with pytest.raises(auto.errors.CommandError) as raised:
        workspace.remove_stack("errs-never-created")
    error = classify(raised.value, operation="destroy")
    assert error.reason == "StackNotFound", error.message


def _bare_stack(kit: Any, ref: StackRef, program: Any = None, work: Path | None = None) -> Any:
    """The stack through the bare Automation API (in the engine's workspace if given: it
    holds the stack's settings file naming the KMS key)."""
    from payplat.program.build import make_program

    work = work or Path(kit.workdir) / "bare" / ref.stack_name
    work.mkdir(parents=True, exist_ok=True)
    stack = auto.create_or_select_stack(
        stack_name=ref.stack_name,
        project_name=PROJECT,
        program=program or make_program(small_spec(), namespace=ref.namespace, name=ref.name),
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(work),
            secrets_provider=kit.secrets_provider,
            project_settings=auto.ProjectSettings(
                name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=kit.backend_url)
            ),
        ),
    )
    stack.set_config("aws:region", auto.ConfigValue("us-east-1"))
    stack.set_config("payplat:dbPassword", auto.ConfigValue(SECRETS.db_password or "", secret=True))
    return stack
