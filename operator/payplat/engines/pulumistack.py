"""Getting a Pulumi stack ready for an operation, for ``engines.pulumi``'s engine.

One job: steps 1-3 of the real engine's operation (see ``engines.pulumi``): select the
stack with its inline program in its per-stack workspace, rewrite a lost
``Pulumi.<stack>.yaml``'s encryption settings from the backend, set the stack config
(keeping the database password across lost workspaces), break a stale lock this
operator's own record proves dead, and resolve the pending operations of an interrupted
run; plus the operation record around each run and the CLI's environment and log stream.
Kept apart from the engine, whose job is the operations themselves (up, preview,
destroy, drift, forget, migration) and their results.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from payplat.engines import locks, lockstore
from payplat.engines.base import StackRef, StackSecrets
from payplat.engines.errors import scrub
from payplat.engines.passwords import CONFIG_KEY, new_password
from payplat.engines.pulumiresults import desired_config, settings_from_state
from payplat.model.spec import PlatformSpec
from payplat.program.stackkeys import PASSWORD_OUTPUT, PROJECT

ASSUME_ROLES = "aws:assumeRoles"

T = TypeVar("T")


class StackPreparation:
    """What ``PulumiEngine`` does to a stack before and around each operation.

    A base class of the engine: it uses the engine's settings, set by its constructor."""

    state_dir: Path
    backend_url: str
    secrets_provider: str | None
    pod_probe: locks.PodProbe | None
    identity: locks.Identity
    log: logging.Logger
    _select_stack: Callable[..., Any] | None
    _command: Any | None
    _bucket: lockstore.StateBucket | None
    _records: dict[str, str]
    _known_secrets: dict[str, set[str]]

    def _stack(self, ref: StackRef, spec: PlatformSpec, secrets: StackSecrets) -> Any:
        """The selected, configured stack, with a crashed run's lock and pending operations resolved."""
        from payplat.program.build import make_program  # pulumi-aws: seconds to import, so only when used

        stack = self._select(ref, program=make_program(spec, namespace=ref.namespace, name=ref.name))
        self._clear_stale_lock(ref)
        self._restore_stack_settings(stack)
        self._configure(stack, spec, secrets)
        self._resolve_pending(ref, stack)  # checked every time: a lock deleted by hand leaves them too
        return stack

    def _select(self, ref: StackRef, *, program: Callable[[], None]) -> Any:
        return self._select_named(ref.stack_name, program=program)

    def _select_named(self, name: str, *, program: Callable[[], None]) -> Any:
        from pulumi import automation as auto

        select = self._select_stack or auto.create_or_select_stack
        work_dir = self.state_dir / "workspaces" / name
        work_dir.mkdir(parents=True, exist_ok=True)
        self._ensure_file_backend()
        options = auto.LocalWorkspaceOptions(
            work_dir=str(work_dir),
            env_vars=self._env(),
            secrets_provider=self.secrets_provider,
            project_settings=auto.ProjectSettings(
                name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=self.backend_url)
            ),
            pulumi_command=self._cli(),
        )
        return select(stack_name=name, project_name=PROJECT, program=program, opts=options)

    def _configure(self, stack: Any, spec: PlatformSpec, secrets: StackSecrets) -> None:
        from pulumi.automation import ConfigValue

        current = stack.get_all_config()
        existing = current.get(CONFIG_KEY)
        password = (
            secrets.db_password
            or (existing.value if existing is not None else None)
            or _password_from_outputs(stack)  # the workspace was lost: the backend still has it
            or new_password()
        )
        self._known_secrets.setdefault(stack.name, set()).add(password)
        wanted = desired_config(spec, password=password)
        if current.get(ASSUME_ROLES) is not None:  # written by 0.1; the explicit provider never read it
            stack.remove_config(ASSUME_ROLES)
        stack.set_all_config(
            {key: ConfigValue(value=value, secret=key == CONFIG_KEY) for key, value in wanted.items()}, path=True
        )

    def _recorded(self, operation: str, function: Callable[..., T], ref: StackRef, *args: Any) -> T:
        """Run ``function`` with this operation's record in the backend (``engines.locks``):
        should the operator die, it proves the CLI's lock was ours."""
        with lockstore.recorded(self._state_bucket(), PROJECT, ref.stack_name, self.identity, operation) as key:
            self._records[ref.stack_name] = key
            try:
                return function(ref, *args)
            finally:
                self._records.pop(ref.stack_name, None)

    def _restore_stack_settings(self, stack: Any) -> None:
        """Rewrite ``Pulumi.<stack>.yaml``'s encryption settings from the state if they are gone.

        The file lives in the workspace (an emptyDir in a pod); without it the CLI falls
        back to a passphrase and every operation of an ``awskms://`` stack fails. The
        backend keeps what the file held (the provider URL and its encrypted data key, or
        the passphrase salt) in the checkpoint's ``secrets_providers``."""
        from pulumi.automation import StackSettings

        try:
            settings = stack.workspace.stack_settings(stack.name)
        except FileNotFoundError:
            settings = StackSettings()
        if settings.secrets_provider or settings.encryption_salt:
            return
        restored = settings_from_state(stack.export_stack().deployment or {})
        if restored is not None:
            settings.secrets_provider, settings.encrypted_key, settings.encryption_salt = restored
            stack.workspace.save_stack_settings(stack.name, settings)

    def _clear_stale_lock(self, ref: StackRef) -> bool:
        own = self._records.get(ref.stack_name)
        broken = lockstore.break_stale_locks(
            self._state_bucket(),
            PROJECT,
            ref.stack_name,
            here=self.identity,
            pod_probe=self.pod_probe,
            ignore=frozenset({own} if own else ()),
        )
        for lock, verdict in broken:
            self.log.warning("[%s] broke the stale lock of %s: %s", ref.stack_name, lock.describe(), verdict.why)
        return bool(broken)

    def _resolve_pending(self, ref: StackRef, stack: Any) -> None:
        if not _pending(stack):
            return
        self.log.warning(
            "[%s] an interrupted run left pending operations; refreshing and clearing pending creates", ref.stack_name
        )
        stack.refresh(
            clear_pending_creates=True,
            on_output=self._stream(ref),
            color="never",
            suppress_progress=True,
            show_secrets=False,
        )
        exported = stack.export_stack()
        if _pending_in(exported):
            from pulumi.automation import Deployment

            self.log.warning(
                "[%s] pending operations survived the refresh; dropping them from the state", ref.stack_name
            )
            deployment = {**exported.deployment, "pending_operations": []}
            stack.import_stack(Deployment(version=exported.version, deployment=deployment))
            stack.refresh(on_output=self._stream(ref), color="never", suppress_progress=True, show_secrets=False)

    def _stream(self, ref: StackRef) -> Callable[[str], None]:
        return self._stream_named(ref.stack_name)

    def _stream_named(self, name: str) -> Callable[[str], None]:
        def emit(line: str) -> None:
            if line.strip():
                self.log.info("[%s] %s", name, scrub(line, known=tuple(self._known_secrets.get(name, ()))))

        return emit

    def _cli(self) -> Any:
        if self._command is None:
            from payplat.engines.command import InterruptibleCommand

            self._command = InterruptibleCommand()
        return self._command

    def _ensure_file_backend(self) -> None:
        """The CLI refuses a ``file://`` backend whose folder does not exist ("unable to open
        state directory"); an S3 bucket, in contrast, is the operator's install's job."""
        folder = lockstore.file_backend_folder(self.backend_url)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def _state_bucket(self) -> lockstore.StateBucket:
        if self._bucket is None:
            self._bucket = lockstore.bucket_for(self.backend_url)
        return self._bucket

    def _env(self) -> dict[str, str]:
        env = {"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true"}
        if self.secrets_provider in (None, "passphrase") and not (
            os.environ.get("PULUMI_CONFIG_PASSPHRASE") or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        ):
            env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(self._passphrase_file())
        return env

    def _passphrase_file(self) -> Path:
        """A random passphrase made once per state dir: the local default provider only."""
        path = self.state_dir / "passphrase"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(new_password())
        return path


def _password_from_outputs(stack: Any) -> str | None:
    """The password the last ``up`` exported (decrypted by the backend's secrets provider)."""
    output = stack.outputs().get(PASSWORD_OUTPUT)
    return str(output.value) if output is not None and output.value else None


def _pending(stack: Any) -> bool:
    return _pending_in(stack.export_stack())


def _pending_in(exported: Any) -> bool:
    return bool((exported.deployment or {}).get("pending_operations"))
