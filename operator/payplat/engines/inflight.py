"""Blocking engine work, run off the event loop and counted so shutdown can wait for it.

Both engines do their work (the Pulumi CLI, file I/O, the program under mocks) in worker
threads via ``asyncio.to_thread`` so kopf's loop stays responsive. This keeps the two
rules they share in one place: no new operation starts once shutdown began, and every
failure leaves as an ``EngineError`` (the engine supplies the translation).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from payplat.engines.base import EngineError, TransientEngineError

__all__ = ["InFlight"]

T = TypeVar("T")


class InFlight:
    def __init__(self) -> None:
        self.closing = threading.Event()
        self._active = 0
        self._idle = threading.Condition()

    async def run(self, translate: Callable[[Exception], EngineError], function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a thread; any non-engine exception goes through ``translate``."""
        if self.closing.is_set():
            raise TransientEngineError(
                "the operator is shutting down; not starting new operations", reason="ShuttingDown"
            )
        with self._idle:
            self._active += 1
        try:
            return await asyncio.to_thread(function, *args)
        except EngineError:
            raise
        except Exception as error:  # noqa: BLE001 - every failure leaves as an EngineError
            raise translate(error) from None
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    async def drain(self, timeout: float) -> None:
        """Refuse new work, then wait up to ``timeout`` seconds for running work to return."""
        self.closing.set()
        await asyncio.to_thread(self._wait_idle, timeout)

    def _wait_idle(self, timeout: float) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=timeout)
