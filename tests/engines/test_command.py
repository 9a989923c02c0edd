"""The interruptible CLI runner, against a stand-in ``pulumi`` executable (a shell script):
lines stream as they come, errors are typed like the Automation API types them, and one
SIGINT reaches the running process, which then winds down on its own terms."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pulumi.automation.errors import CommandError, StackNotFoundError

from payplat.engines.command import InterruptibleCommand

FAKE_CLI = r"""#!/bin/sh
[ "$1" = "version" ] && { echo v3.272.0; exit 0; }
[ "$1" = "--non-interactive" ] || { echo "missing --non-interactive" >&2; exit 3; }
shift
case "$1" in
  up)
    trap 'echo "^C received; waiting for in-flight steps, then releasing the lock" >&2; echo "step 2 done"; exit 255' INT
    echo "step 1 done"
    while true; do sleep 0.02; done ;;
  missing)
    echo "error: no stack named 'ns-a' found" >&2; exit 255 ;;
  *)
    echo "ran $* in $PWD with PULUMI_AUTOMATION_API=$PULUMI_AUTOMATION_API" ;;
esac
"""


@pytest.fixture
def cli(tmp_path: Path) -> InterruptibleCommand:
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "pulumi"
    script.write_text(FAKE_CLI)
    script.chmod(0o755)
    return InterruptibleCommand(root=str(tmp_path))


def test_runs_non_interactively_in_the_work_dir(cli: InterruptibleCommand, tmp_path: Path) -> None:
    result = cli.run(["stack", "ls"], str(tmp_path), {})
    assert result.stdout == f"ran stack ls in {tmp_path} with PULUMI_AUTOMATION_API=true"
    assert cli.running == 0


def test_errors_are_typed_like_the_automation_api_does(cli: InterruptibleCommand, tmp_path: Path) -> None:
    with pytest.raises(StackNotFoundError):
        cli.run(["missing"], str(tmp_path), {})


def test_one_sigint_lets_the_cli_finish_its_steps(cli: InterruptibleCommand, tmp_path: Path) -> None:
    lines: list[str] = []
    started = threading.Event()
    outcome: dict[str, BaseException] = {}

    def on_output(line: str) -> None:
        lines.append(line)
        started.set()

    def operate() -> None:
        try:
            cli.run(["up", "--yes"], str(tmp_path), {}, on_output=on_output)
        except CommandError as error:
            outcome["error"] = error

    worker = threading.Thread(target=operate)
    worker.start()
    assert started.wait(timeout=30)
    assert lines == ["step 1 done"]  # streamed before the process ended
    assert cli.interrupt() == 1
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert lines == ["step 1 done", "step 2 done"]
    assert "releasing the lock" in str(outcome["error"])
    assert cli.interrupt() == 0  # nothing left running
