"""Graceful interruption: the first SIGINT/SIGTERM asks the work to stop and report what it has."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def graceful_stop(stop: threading.Event) -> Iterator[None]:
    """The first SIGINT/SIGTERM sets `stop` (the work ends soon and reports); a second one aborts."""

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
