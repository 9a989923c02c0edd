"""Child processes that never outlive the harness: each runs in its own session, gets
SIGKILL when its parent dies (PR_SET_PDEATHSIG) and logs to a file; plus the free-port and
log-tail helpers the local cluster, the operator process and the node lane share.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL me when the process that started me dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass  # not Linux: atexit and the signal handlers still cover normal exits


@dataclass
class ManagedProcess:
    """A child process in its own process group, with its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ManagedProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only, no locks
            )
        return cls(name=name, popen=popen, log_path=log_path)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group at once: what a crash or an OOM kill looks like."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the group, then SIGKILL whatever is left after ``timeout``."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait()
        else:
            self._signal_group(signal.SIGKILL)  # leftovers of a leader that already exited
        return self.popen.returncode

    def wait_until(
        self,
        probe: Callable[[], bool],
        what: str,
        *,
        timeout: float,
        error: Callable[[str], Exception],
        interval: float = 0.2,
    ) -> None:
        """Poll ``probe`` until it is true; raise ``error(message)``, with the log's tail,
        if this process exits first or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise error(
                    f"{self.name} exited with {self.popen.returncode} before {what} answered; "
                    f"log: {self.log_path}\n{tail(self.log_text())}"
                )
            if probe():
                return
            time.sleep(interval)
        raise error(f"{what} did not answer within {timeout:.0f}s; log: {self.log_path}\n{tail(self.log_text())}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])


Say = Callable[[str], None]  # one progress line for a person (the demo prints them)


def sayer(stream: IO[str] | None) -> Say:
    def say(message: str) -> None:
        if stream is not None:
            print(f"[payplat] {message}", file=stream, flush=True)

    return say


def _http_ok(url: str, context: ssl.SSLContext | None) -> bool:
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False
