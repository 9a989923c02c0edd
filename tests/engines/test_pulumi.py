"""The Pulumi engine's own logic against a fake of the ``pulumi.automation`` stack objects:
config and secret config, region and assume role, stale locks and pending operations,
output streaming, the error table, and cancellation on shutdown."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pulumi.automation import ConfigValue, Deployment, LocalWorkspace, OutputValue, Stack
from pulumi.automation._cmd import CommandResult
from pulumi.automation._stack import DestroyResult, PreviewResult, RefreshResult, UpdateSummary, UpResult
from pulumi.automation.errors import CommandError, StackNotFoundError, create_command_error

from payplat.engines import locks, lockstore
from payplat.engines.base import (
    SECRET_MASK,
    Changes,
    PermanentEngineError,
    StackLockedError,
    StackRef,
    StackSecrets,
    TransientEngineError,
    UnrecognisedEngineError,
)
from payplat.engines.passwords import CONFIG_KEY
from payplat.engines.pulumi import PulumiEngine
from payplat.program.stackkeys import PASSWORD_OUTPUT

from .helpers import small_spec

ROLE = "arn:aws:iam::210987654321:role/payplat-deployer"


def summary(changes: dict[str, int]) -> UpdateSummary:
    now = datetime.now(UTC)
    return UpdateSummary(
        kind="update",
        start_time=now,
        message="",
        environment={},
        config={},
        result="succeeded",
        end_time=now,
        resource_changes=changes,
    )


def cli_error(text: str) -> CommandError:
    return create_command_error(CommandResult(stdout=text, stderr="", code=255))


@dataclass
class World:
    """What the fake backend and CLI know; every call is recorded in order."""

    config: dict[str, ConfigValue] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    selected: list[dict[str, Any]] = field(default_factory=list)
    output_lines: list[str] = field(
        default_factory=lambda: ["Updating (ns_shop)", "+ aws:ec2/vpc:Vpc shop-vpc created"]
    )
    fail: BaseException | None = None
    block: threading.Event | None = None
    refresh_changes: dict[str, int] = field(default_factory=dict)
    clears_pending: bool = True
    outputs: dict[str, OutputValue] = field(default_factory=dict)  # what the backend holds from the last up
    during_up: Any = None  # called while the (fake) CLI runs an up


class FakeWorkspace:
    def __init__(self, world: World) -> None:
        self.world = world

    def stack_settings(self, stack_name: str) -> Any:
        from pulumi.automation import StackSettings

        inspect.signature(LocalWorkspace.stack_settings).bind(self, stack_name)
        return StackSettings(encryption_salt="v1:fake")  # the workspace still has its settings file

    def remove_stack(self, stack_name: str, force: bool | None = None) -> None:
        inspect.signature(LocalWorkspace.remove_stack).bind(self, stack_name, force=force)
        self.world.calls.append(("remove_stack", stack_name, force))
        if self.world.fail:
            raise self.world.fail


class FakeStack:
    def __init__(self, world: World, name: str) -> None:
        self.world, self.name, self.workspace = world, name, FakeWorkspace(world)

    def _operation(self, name: str, kwargs: dict[str, Any]) -> None:
        inspect.signature(getattr(Stack, name)).bind(self, **kwargs)  # only arguments the real API takes
        self.world.calls.append((name, {k: v for k, v in kwargs.items() if k != "on_output"}))
        for line in self.world.output_lines:
            kwargs["on_output"](line)
        if self.world.block is not None:
            self.world.block.wait(timeout=30)
        if self.world.fail is not None:
            raise self.world.fail

    def get_all_config(self) -> dict[str, ConfigValue]:
        self.world.calls.append(("get_all_config",))
        return dict(self.world.config)

    def set_all_config(self, config: dict[str, ConfigValue], *, path: bool = False) -> None:
        inspect.signature(Stack.set_all_config).bind(self, config, path=path)
        self.world.calls.append(("set_all_config", {k: (v.value, v.secret) for k, v in config.items()}, path))
        for key, value in config.items():
            self.world.config[key.split("[")[0]] = value  # path keys collapse to their root, as in Pulumi

    def outputs(self) -> dict[str, OutputValue]:
        inspect.signature(Stack.outputs).bind(self)
        self.world.calls.append(("outputs",))
        return dict(self.world.outputs)

    def remove_config(self, key: str) -> None:
        self.world.calls.append(("remove_config", key))
        self.world.config.pop(key, None)

    def export_stack(self) -> Deployment:
        self.world.calls.append(("export_stack",))
        return Deployment(version=3, deployment={"resources": [], "pending_operations": list(self.world.pending)})

    def import_stack(self, state: Deployment) -> None:
        self.world.calls.append(("import_stack", state.deployment))
        self.world.pending = list(state.deployment["pending_operations"])

    def refresh(self, **kwargs: Any) -> RefreshResult:
        self._operation("refresh", kwargs)
        if kwargs.get("clear_pending_creates") and self.world.clears_pending:
            self.world.pending = [p for p in self.world.pending if p["type"] != "creating"]
        return RefreshResult(stdout="", stderr="", summary=summary(self.world.refresh_changes))

    def up(self, **kwargs: Any) -> UpResult:
        self._operation("up", kwargs)
        if self.world.during_up is not None:
            self.world.during_up()
        password = self.world.config[CONFIG_KEY].value
        outputs = {
            "vpcId": OutputValue("vpc-0abc", False),
            "dbPassword": OutputValue("leaked?", True),
            PASSWORD_OUTPUT: OutputValue(password, True),
        }
        self.world.outputs = outputs
        return UpResult(stdout="", stderr="", summary=summary({"create": 3, "same": 2}), outputs=outputs)

    def preview(self, **kwargs: Any) -> PreviewResult:
        self._operation("preview", kwargs)
        return PreviewResult(stdout="", stderr="", change_summary={"update": 1, "same": 4})

    def destroy(self, **kwargs: Any) -> DestroyResult:
        self._operation("destroy", kwargs)
        return DestroyResult(stdout="", stderr="", summary=summary({"delete": 5}))


class FakeCommand:
    """Stands in for ``InterruptibleCommand``: interrupting releases a blocked operation
    with the error the CLI reports after a SIGINT."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.interrupts = 0

    def interrupt(self) -> int:
        self.interrupts += 1
        self.world.fail = cli_error("error: update canceled")
        if self.world.block:
            self.world.block.set()
        return 1


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def make_engine(tmp_path: Path, world: World):
    def make(**kwargs: Any) -> PulumiEngine:
        def select(**selected: Any) -> FakeStack:
            world.selected.append(selected)
            return FakeStack(world, selected["stack_name"])

        kwargs.setdefault("command", FakeCommand(world))
        return PulumiEngine(tmp_path, select_stack=select, log=logging.getLogger("payplat.engine.test"), **kwargs)

    return make


def ops(world: World) -> list[str]:
    return [call[0] for call in world.calls]


def run(coroutine):
    return asyncio.run(coroutine)


REF = StackRef("ns", "shop")


# --------------------------------------------------------------------------- selecting and configuring


def test_up_selects_the_stack_with_the_inline_program_and_backend(make_engine, world: World, tmp_path: Path) -> None:
    engine = make_engine()
    result = run(engine.up(REF, small_spec(), StackSecrets()))
    selected = world.selected[0]
    assert selected["stack_name"] == "ns_shop" and selected["project_name"] == "payplat"
    assert callable(selected["program"])
    opts = selected["opts"]
    assert opts.project_settings.name == "payplat"
    assert opts.project_settings.backend.url == f"file://{(tmp_path / 'backend').resolve()}"
    assert opts.work_dir == str(tmp_path / "workspaces" / "ns_shop")
    assert opts.pulumi_command is engine._command
    passphrase = Path(opts.env_vars["PULUMI_CONFIG_PASSPHRASE_FILE"])
    assert oct(passphrase.stat().st_mode & 0o777) == "0o600" and len(passphrase.read_text()) >= 32
    assert result.engine == "pulumi"
    assert result.changes == Changes(create=3, same=2)
    assert result.outputs == {"vpcId": "vpc-0abc", "dbPassword": SECRET_MASK}
    # a first run has no password in config: it looks in the backend's outputs before generating one
    assert ops(world) == ["get_all_config", "outputs", "set_all_config", "export_stack", "up"]


def test_production_backend_and_kms_secrets_provider(make_engine, world: World) -> None:
    engine = make_engine(
        backend_url="s3://state/payplat",
        secrets_provider="awskms://alias/payplat",
        bucket=lockstore.FileBucket(Path("/nonexistent")),
    )
    run(engine.up(REF, small_spec(), StackSecrets()))
    opts = world.selected[0]["opts"]
    assert opts.project_settings.backend.url == "s3://state/payplat"
    assert opts.secrets_provider == "awskms://alias/payplat"
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" not in opts.env_vars


def test_region_assume_role_and_a_generated_secret_password(make_engine, world: World) -> None:
    run(make_engine().up(REF, small_spec(region="eu-west-1", assumeRoleArn=ROLE), StackSecrets()))
    _, config, path = next(call for call in world.calls if call[0] == "set_all_config")
    assert path is True
    assert config["aws:region"] == ("eu-west-1", False)
    assert not [key for key in config if key.startswith("aws:assumeRoles")]  # the explicit provider takes it
    password, secret = config[CONFIG_KEY]
    assert secret is True and len(password) >= 32


def test_the_password_in_stack_config_is_reused(make_engine, world: World) -> None:
    world.config[CONFIG_KEY] = ConfigValue("kept-from-last-time-0123456789", secret=True)
    run(make_engine().up(REF, small_spec(), StackSecrets()))
    _, config, _ = next(call for call in world.calls if call[0] == "set_all_config")
    assert config[CONFIG_KEY] == ("kept-from-last-time-0123456789", True)


def test_a_lost_workspace_recovers_the_password_from_the_backend(make_engine, world: World) -> None:
    """Stack config sits in the pod's workspace; a restart on a fresh volume loses it.
    The secret stack output in the backend keeps the password from being rotated."""
    world.outputs[PASSWORD_OUTPUT] = OutputValue("generated-on-the-first-run-0123456789", True)
    run(make_engine().up(REF, small_spec(), StackSecrets()))
    _, config, _ = next(call for call in world.calls if call[0] == "set_all_config")
    assert config[CONFIG_KEY] == ("generated-on-the-first-run-0123456789", True)


def test_the_password_output_never_reaches_the_result(make_engine, world: World) -> None:
    result = run(make_engine().up(REF, small_spec(), StackSecrets(db_password="from-kubernetes-secret")))
    assert PASSWORD_OUTPUT not in result.outputs
    assert "from-kubernetes-secret" not in repr(result)


def test_a_given_password_wins(make_engine, world: World) -> None:
    world.config[CONFIG_KEY] = ConfigValue("old-password-0123456789", secret=True)
    run(make_engine().up(REF, small_spec(), StackSecrets(db_password="from-kubernetes-secret")))
    _, config, _ = next(call for call in world.calls if call[0] == "set_all_config")
    assert config[CONFIG_KEY] == ("from-kubernetes-secret", True)


def test_assume_role_config_left_by_0_1_is_removed(make_engine, world: World) -> None:
    """0.1 wrote aws:assumeRoles into stack config, which the explicit provider never read."""
    engine = make_engine()
    world.config["aws:assumeRoles"] = ConfigValue("[]")
    run(engine.up(REF, small_spec(assumeRoleArn=ROLE), StackSecrets()))
    assert ("remove_config", "aws:assumeRoles") in world.calls
    assert "aws:assumeRoles" not in world.config


# --------------------------------------------------------------------------- streaming and secrets


def test_engine_output_is_streamed_line_by_line_without_secrets(make_engine, world: World, caplog) -> None:
    world.output_lines.append("config payplat:dbPassword = from-kubernetes-secret")
    with caplog.at_level(logging.INFO, logger="payplat.engine.test"):
        run(make_engine().up(REF, small_spec(), StackSecrets(db_password="from-kubernetes-secret")))
    messages = [record.getMessage() for record in caplog.records]
    assert "[ns_shop] Updating (ns_shop)" in messages
    assert "[ns_shop] + aws:ec2/vpc:Vpc shop-vpc created" in messages
    assert "from-kubernetes-secret" not in caplog.text


# --------------------------------------------------------------------------- locks and pending operations


def write_lock(tmp_path: Path, host: str, pid: int, owner: locks.Identity | None = None) -> Path:
    """A CLI's lock file; with ``owner``, the operation record an operator wrote before it."""
    bucket = lockstore.FileBucket(tmp_path / "backend")
    now = datetime.now(UTC)
    if owner is not None:
        bucket.write(
            f"{lockstore.record_prefix('payplat', 'ns_shop')}r.json",
            locks.OperationRecord(owner, "up", now - timedelta(seconds=2)).to_json(),
        )
    key = f"{lockstore.lock_prefix('payplat', 'ns_shop')}x.json"
    bucket.write(key, locks.LockInfo(pid, "root", host, now).to_json())
    return tmp_path / "backend" / key


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_lock_broken_then_pending_creates_cleared_before_up(
    make_engine, world: World, tmp_path: Path, caplog
) -> None:
    # The operator (pid A) died; so did the CLI it ran (pid B, the lock's holder).
    crashed = replace(locks.this_identity(), pid=dead_pid(), process_start=None)
    lock_file = write_lock(tmp_path, socket.gethostname(), dead_pid(), owner=crashed)
    world.pending = [{"type": "creating", "resource": {"urn": "urn:pulumi:ns_shop::payplat::aws:ec2/vpc:Vpc::shop"}}]
    with caplog.at_level(logging.WARNING):
        run(make_engine().up(REF, small_spec(), StackSecrets()))
    assert not lock_file.exists()
    assert "broke the stale lock" in caplog.text
    refresh = next(call for call in world.calls if call[0] == "refresh")
    assert refresh[1]["clear_pending_creates"] is True
    assert ops(world).index("refresh") < ops(world).index("up")
    assert world.pending == []


def test_pending_operations_a_refresh_cannot_clear_are_dropped_by_import(make_engine, world: World) -> None:
    world.clears_pending = False
    world.pending = [{"type": "updating", "resource": {"urn": "urn:x"}}]
    run(make_engine().up(REF, small_spec(), StackSecrets()))
    imported = next(call for call in world.calls if call[0] == "import_stack")
    assert imported[1]["pending_operations"] == []
    assert ops(world)[-3:] == ["import_stack", "refresh", "up"]


def test_a_live_holder_on_another_pod_blocks_the_operation(make_engine, world: World, tmp_path: Path) -> None:
    other = locks.Identity(
        hostname="payplat-operator-other",
        pid=1,
        pod_name="payplat-operator-other",
        pod_namespace="payplat-system",
        pod_uid="uid-other",
        cluster="c1",
    )
    lock_file = write_lock(tmp_path, "payplat-operator-other", 12, owner=other)
    here = replace(locks.this_identity(), cluster="c1")
    with pytest.raises(StackLockedError, match="payplat-operator-other") as caught:
        run(make_engine(pod_probe=lambda owner: False, identity=here).up(REF, small_spec(), StackSecrets()))
    assert lock_file.exists() and "up" not in ops(world)
    assert caught.value.holder is not None and caught.value.holder["who"] == "root@payplat-operator-other"
    run(make_engine(pod_probe=lambda owner: True, identity=here).up(REF, small_spec(), StackSecrets()))
    assert not lock_file.exists() and "up" in ops(world)


def test_a_lock_the_operator_did_not_record_is_never_broken(make_engine, world: World, tmp_path: Path) -> None:
    """A person's ``pulumi refresh`` (or a CI job) on any host: reported, never broken."""
    lock_file = write_lock(tmp_path, socket.gethostname(), dead_pid())
    with pytest.raises(StackLockedError) as caught:
        run(make_engine(pod_probe=lambda owner: True).up(REF, small_spec(), StackSecrets()))
    assert lock_file.exists() and "up" not in ops(world)
    assert caught.value.holder["pid"] > 0 and caught.value.holder["since"].endswith("Z")


def test_the_operation_record_lives_exactly_as_long_as_the_operation(make_engine, world: World, tmp_path: Path) -> None:
    bucket = lockstore.FileBucket(tmp_path / "backend")
    seen: list[locks.OperationRecord] = []
    world.during_up = lambda: seen.extend(lockstore.read_records(bucket, "payplat", "ns_shop").values())
    run(make_engine().up(REF, small_spec(), StackSecrets()))
    assert len(seen) == 1 and seen[0].owner.pid == os.getpid() and seen[0].operation == "up"
    assert bucket.list(lockstore.record_prefix("payplat", "ns_shop")) == []


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("raised", "kind", "reason"),
    [
        (
            cli_error("error: operation error EC2: CreateVpc, api error UnauthorizedOperation"),
            PermanentEngineError,
            "AuthFailed",
        ),
        (cli_error("error: ExpiredToken: token expired"), PermanentEngineError, "AuthFailed"),
        (cli_error("error: Throttling: Rate exceeded"), TransientEngineError, "Throttled"),
        (
            create_command_error(CommandResult("", "error: the stack is currently locked by 1 lock(s).", 255)),
            StackLockedError,
            "StackLocked",
        ),
        (cli_error("error: a brand new failure"), UnrecognisedEngineError, "EngineError"),
    ],
)
def test_failures_are_mapped_by_the_table(make_engine, world: World, raised, kind, reason) -> None:
    world.fail = raised
    with pytest.raises(kind) as caught:
        run(make_engine().up(REF, small_spec(), StackSecrets()))
    assert type(caught.value) is kind and caught.value.reason == reason


def test_error_messages_never_carry_the_password(make_engine, world: World) -> None:
    world.fail = cli_error("error: AccessDenied while writing secret value from-kubernetes-secret")
    with pytest.raises(PermanentEngineError) as caught:
        run(make_engine().up(REF, small_spec(), StackSecrets(db_password="from-kubernetes-secret")))
    assert "from-kubernetes-secret" not in caught.value.message
    assert "AccessDenied" in caught.value.message


def test_without_the_cli_the_engine_says_what_to_do(make_engine, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi executable anywhere
    with pytest.raises(PermanentEngineError, match="pulumi CLI is not installed") as caught:
        run(make_engine(command=None).up(REF, small_spec(), StackSecrets()))
    assert caught.value.reason == "EngineUnavailable"


# --------------------------------------------------------------------------- destroy, forget, drift


def test_destroy_then_removes_the_stack(make_engine, world: World) -> None:
    result = run(make_engine().destroy(REF, small_spec()))
    assert result.changes == Changes(delete=5)
    assert ops(world)[-2:] == ["destroy", "remove_stack"]
    assert world.calls[-1] == ("remove_stack", "ns_shop", None)


def test_forget_removes_the_stack_without_touching_aws(make_engine, world: World) -> None:
    run(make_engine().forget(REF))
    assert ("remove_stack", "ns_shop", True) in world.calls
    assert not {"up", "destroy", "refresh"} & set(ops(world))
    world.fail = StackNotFoundError(CommandResult("", "no stack named 'ns_shop' found", 255))
    run(make_engine().forget(REF))  # already gone: fine


def test_drift_is_refresh_then_preview(make_engine, world: World) -> None:
    world.refresh_changes = {"update": 2, "same": 3}
    report = run(make_engine().detect_drift(REF, small_spec(), StackSecrets()))
    assert ops(world)[-2:] == ["refresh", "preview"]
    assert report.drifted and report.changes == Changes(update=1, same=4)
    assert "2 resource(s) changed outside Pulumi" in report.message


# --------------------------------------------------------------------------- shutdown


def test_close_interrupts_the_running_cli_and_refuses_new_work(make_engine, world: World) -> None:
    world.block = threading.Event()

    async def scenario() -> None:
        engine = make_engine()
        task = asyncio.create_task(engine.up(REF, small_spec(), StackSecrets()))
        while "up" not in ops(world):  # noqa: ASYNC110 - polls the fake CLI's world, written by a thread
            await asyncio.sleep(0.01)
        await engine.close()
        assert engine._command.interrupts == 1
        with pytest.raises(TransientEngineError) as caught:
            await task
        assert caught.value.reason == "Interrupted"
        with pytest.raises(TransientEngineError, match="shutting down"):
            await engine.up(REF, small_spec(), StackSecrets())

    run(scenario())


# --------------------------------------------------------------------------- stacks named before 0.2


def test_stacks_named_before_0_2_are_renamed_to_their_owner_with_the_cli(
    make_engine, world: World, tmp_path: Path
) -> None:
    """``pulumi stack rename`` on each legacy stack whose state names its platform; the
    workspace (with Pulumi.<stack>.yaml) moves along."""
    bucket = lockstore.FileBucket(tmp_path / "backend")
    for name in ("a-b-c", "ns_kept", "empty-one"):
        bucket.write(f".pulumi/stacks/payplat/{name}.json", b"{}")
    (tmp_path / "workspaces" / "a-b-c").mkdir(parents=True)
    roots = {"a-b-c": "c", "empty-one": None}
    renames: list[tuple[str, str]] = []

    class Legacy(FakeStack):
        def export_stack(self) -> Deployment:
            root = roots[self.name]
            resources = (
                [
                    {
                        "type": "payplat:index:PaymentPlatform",
                        "urn": f"urn:pulumi:{self.name}::payplat::payplat:index:PaymentPlatform::{root}",
                    }
                ]
                if root
                else []
            )
            return Deployment(version=3, deployment={"resources": resources})

        def rename(self, stack_name: str, **kwargs: Any) -> None:
            inspect.signature(Stack.rename).bind(self, stack_name, **kwargs)
            renames.append((self.name, stack_name))

    engine = PulumiEngine(
        tmp_path, select_stack=lambda **s: Legacy(world, s["stack_name"]), bucket=bucket, command=FakeCommand(world)
    )
    assert run(engine.migrate_stacks()) == [("a-b-c", "a-b_c")]
    assert renames == [("a-b-c", "a-b_c")]  # the new-style and the empty stacks are left alone
    assert (tmp_path / "workspaces" / "a-b_c").is_dir() and not (tmp_path / "workspaces" / "a-b-c").exists()


def test_stack_settings_come_back_from_the_states_secrets_provider() -> None:
    from payplat.engines.pulumi import settings_from_state

    kms = {
        "secrets_providers": {
            "type": "cloud",
            "state": {"url": "awskms://alias/p?region=eu-west-1", "encryptedkey": "AQID"},
        }
    }
    assert settings_from_state(kms) == ("awskms://alias/p?region=eu-west-1", "AQID", None)
    assert settings_from_state({"secrets_providers": {"type": "passphrase", "state": {"salt": "v1:abc"}}}) == (
        None,
        None,
        "v1:abc",
    )
    assert settings_from_state({}) is None
    assert settings_from_state({"secrets_providers": {"type": "service", "state": {}}}) is None
