"""Graceful stop: SIGTERM/SIGINT (what a worker sends on cancellation) only raise a flag.

The consumer loop checks the flag between batches, so a stop never interrupts a batch between its
database commit and its offset commit. The first signal restores the previous handlers, so a second
one acts as before (Prefect's crash handling, KeyboardInterrupt) if a stop ever hangs.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


@contextmanager
def stop_on_signals(signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[StopFlag]:
    """Yield a flag set by the first of ``signals``; off the main thread signals cannot be caught."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def handle(signum: int, _frame: object) -> None:
        flag.set(signal.Signals(signum).name)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    for sig in signals:
        signal.signal(sig, handle)
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
