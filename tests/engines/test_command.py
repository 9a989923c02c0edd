"""The interruptible CLI runner, against a stand-in ``pulumi`` executable (a shell script):
lines stream as they come, errors are typed like the Automation API types them, and one
SIGINT reaches the running process, which then winds down on its own terms."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from pulumi.automation.errors import CommandError, StackNotFoundError

from payplat.engines.command import InterruptibleCommand

# A stand-in for the pulumi CLI. Python, not sh: like the real CLI (Go's signal.Notify),
# it installs its SIGINT handler even when it inherits SIGINT ignored, as children of a
# background job do; POSIX sh cannot trap a signal ignored on entry.
FAKE_CLI = r"""#!{python}
import signal, sys, time

args = sys.argv[1:]
if args[:1] == ["version"]:
    print("v3.272.0"); sys.exit(0)
if args[:1] != ["--non-interactive"]:
    print("missing --non-interactive", file=sys.stderr); sys.exit(3)
args = args[1:]
if args[:1] == ["up"]:
    def interrupted(signum, frame):
        print("^C received; waiting for in-flight steps, then releasing the lock", file=sys.stderr, flush=True)
        print("step 2 done", flush=True)
        sys.exit(255)
    signal.signal(signal.SIGINT, interrupted)
    print("step 1 done", flush=True)
    while True:
        time.sleep(0.02)
elif args[:1] == ["missing"]:
    print("error: no stack named 'ns-a' found", file=sys.stderr); sys.exit(255)
else:
    import os
    print(f"ran {' '.join(args)} in {os.getcwd()} with PULUMI_AUTOMATION_API={os.environ.get('PULUMI_AUTOMATION_API')}")
"""


@pytest.fixture
def cli(tmp_path: Path) -> InterruptibleCommand:
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "pulumi"
    script.write_text(FAKE_CLI.replace("{python}", sys.executable, 1))
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
