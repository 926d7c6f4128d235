"""An event loop on a thread of its own: how tests, scripts and benchmarks run a server.

The local stack and the local model are asyncio servers; their callers (pytest-asyncio's
loop, a synchronous test, a benchmark) keep their own loop or none. :class:`BackgroundLoop`
is the one place that owns such a thread: it submits coroutines to it, and on
:meth:`close` stops the loop and joins the thread, so nothing keeps running after a caller
is done -- or after a start that failed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    """``loop.run(coro)`` from any thread; ``loop.close()`` ends the thread."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def thread_ident(self) -> int:
        """The loop thread's id: what ``time.pthread_getcpuclockid`` needs to read its CPU time."""
        ident = self._thread.ident
        assert ident is not None  # started in __init__
        return ident

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Run ``coro`` on the loop and return its result (or raise its exception)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def call(self, fn: Callable[..., T], *args: Any, timeout_s: float = 30.0) -> T:
        """Run ``fn(*args)`` on the loop's thread (for objects that are not thread-safe)."""

        async def _call() -> T:
            return fn(*args)

        return self.run(_call(), timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the loop, join its thread and close it (idempotent)."""
        if self._loop.is_closed():
            return
        try:  # the threads of asyncio.to_thread end with the loop
            self.run(self._loop.shutdown_default_executor(), timeout_s)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)
            self._loop.close()
