"""The Pulumi CLI runner, made interruptible for a clean operator shutdown.

The Automation API runs every operation as a ``pulumi`` subprocess inside
``PulumiCommand.run`` and never exposes the process, so it cannot be stopped from outside.
``pulumi cancel`` is no help on self-managed backends (it only exists for Pulumi Cloud).
What does work is what a person does at a terminal: one SIGINT makes the CLI stop starting
new steps, wait for the in-flight ones, write the checkpoint and release the stack lock
(a second SIGINT would abort at once and leave pending operations behind, so we send one).

``InterruptibleCommand`` is passed to ``LocalWorkspaceOptions(pulumi_command=...)``; its
``run`` does what the stock one does (non-interactive flag, environment, line-by-line
callbacks, typed ``CommandError``s) while remembering its processes so ``interrupt()`` can
reach them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from typing import IO

from pulumi.automation import PulumiCommand
from pulumi.automation._cmd import CommandResult, OnOutput
from pulumi.automation.errors import create_command_error

__all__ = ["InterruptibleCommand"]


class InterruptibleCommand(PulumiCommand):
    """A ``PulumiCommand`` whose running processes can be sent SIGINT."""

    def __init__(self, root: str | None = None) -> None:
        super().__init__(root=root)
        self._running: set[subprocess.Popen[str]] = set()
        self._guard = threading.Lock()

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None = None,
        on_error: OnOutput | None = None,
    ) -> CommandResult:
        if "--non-interactive" not in args:
            args = ["--non-interactive", *args]  # fail instead of prompting
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        if os.path.isabs(self.command):
            env["PATH"] = os.pathsep.join([os.path.dirname(self.command), env.get("PATH", "")])
        stdout: list[str] = []
        stderr: list[str] = []
        with subprocess.Popen(
            [self.command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env, encoding="utf-8"
        ) as process:
            with self._guard:
                self._running.add(process)
            try:
                readers = [
                    threading.Thread(target=_pump, args=(process.stdout, on_output, stdout), daemon=True),
                    threading.Thread(target=_pump, args=(process.stderr, on_error, stderr), daemon=True),
                ]
                for reader in readers:
                    reader.start()
                for reader in readers:
                    reader.join()
                code = process.wait()
            finally:
                with self._guard:
                    self._running.discard(process)
        result = CommandResult(stdout="\n".join(stdout), stderr="\n".join(stderr), code=code)
        if code != 0:
            raise create_command_error(result)
        return result

    def interrupt(self) -> int:
        """Send one SIGINT to every running CLI process; return how many were signalled."""
        with self._guard:
            running = list(self._running)
        for process in running:
            try:
                process.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
        return len(running)

    @property
    def running(self) -> int:
        with self._guard:
            return len(self._running)


def _pump(stream: IO[str] | None, callback: OnOutput | None, lines: list[str]) -> None:
    """Hand each line to ``callback`` as it arrives (the operator log streams it)."""
    if stream is None:
        return
    for raw in iter(stream.readline, ""):
        line = raw.rstrip()
        if callback:
            callback(line)
        lines.append(line)
    stream.close()
