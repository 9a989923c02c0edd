"""Whatever the exit, stop what the harness started: one registry of running things.

One job: a local control plane must not outlive the test run or the demo that started
it, however that ends. Everything registered here is stopped by an ``atexit`` hook, and
SIGTERM/SIGHUP (when nobody else handles them) become a normal exit, which runs finally
blocks, fixture finalizers and that hook. SIGKILL is covered elsewhere: each child gets
``PR_SET_PDEATHSIG`` (``payplat_dev.processes``). Kept apart from the cluster because
it is process-wide state, installed once, whatever registers with it.
"""

from __future__ import annotations

import atexit
import signal
import threading
from typing import Any, Protocol


class Stoppable(Protocol):
    def stop(self) -> None: ...


_LIVE: list[Stoppable] = []
_LIVE_LOCK = threading.Lock()


def track(thing: Stoppable) -> None:
    """Stop ``thing`` at exit unless it is untracked first (installs the hooks once)."""
    _ensure_exit_hooks()
    with _LIVE_LOCK:
        _LIVE.append(thing)


def untrack(thing: Stoppable) -> None:
    with _LIVE_LOCK:
        if thing in _LIVE:
            _LIVE.remove(thing)


def _stop_all_live() -> None:
    for thing in _LIVE:
        thing.stop()


def _exit_on_signal(signum: int, _frame: Any) -> None:
    # A normal exit runs finally blocks, fixture finalizers and atexit hooks.
    raise SystemExit(128 + signum)


def _install_exit_hooks() -> None:
    atexit.register(_stop_all_live)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _exit_on_signal)


_hooks_installed = False


def _ensure_exit_hooks() -> None:
    global _hooks_installed  # noqa: PLW0603 - one flag per process, set once
    if not _hooks_installed:
        _install_exit_hooks()
        _hooks_installed = True
