"""The stream handle: one session's live subscription + ``getEvents`` catch-up, merged.

A :class:`TokenStream` is subscribed before it is started (the client then calls
``startStream``, or for a late join has read the session). Its driver task then:

1. runs one ``getEvents`` catch-up from the assembler's cursor -- always, because events
   published before ``start_ack`` (or before a late join) only exist in the log;
2. feeds live events to the :class:`~tokencast.client.assembler.StreamAssembler`;
3. fetches a gap when the assembler says it is due (grace window; at once when the
   terminal event is already here), never waiting on a missing ``seq`` forever;
4. when nothing arrives for ``idle_poll_s``, polls ``getEvents`` and ``getSession`` -- so
   a lost terminal event, or a session that ended without one, cannot hang the stream;
5. when the subscription drops, resubscribes with exponential backoff and jitter (catching
   up over HTTP between tries), then catches up from the last contiguous ``(attempt, seq)``;
6. ends when the terminal event of the current attempt is applied with nothing missing
   before it (with ``follow=True`` it keeps listening, e.g. for a replay from the DLQ).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tokencast.client.assembler import (
    DEFAULT_GAP_GRACE_S,
    DEFAULT_MAX_GAP_BACKOFF_S,
    AssemblerStats,
    StreamAssembler,
)
from tokencast.client.backoff import Backoff, retrying
from tokencast.client.errors import ClientClosed, ConnectionLost, SessionNotFound, TokencastError, is_transient
from tokencast.client.realtime import LiveEnded, LiveEvent, LiveSubscription, RealtimeChannel
from tokencast.client.types import Delta, StreamResult
from tokencast.core.models import Session, TokenEvent, Usage
from tokencast.events import SessionStatus

if TYPE_CHECKING:
    from tokencast.client.api import GraphQLApi

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamOptions:
    """How patient a stream is. The defaults suit AppSync; tests shorten them."""

    #: wait this long for a missing seq to arrive live before fetching it
    gap_grace_s: float = DEFAULT_GAP_GRACE_S
    #: while a gap stays open after fetches, refetch at most this far apart
    max_gap_backoff_s: float = DEFAULT_MAX_GAP_BACKOFF_S
    #: nothing arrived for this long: poll getEvents (and getSession) as a safety net
    idle_poll_s: float = 5.0
    #: getEvents page size; None takes the server's default
    page_limit: int | None = None
    #: resubscribe after a drop: exponential backoff with jitter from base to max
    reconnect_base_s: float = 0.2
    reconnect_max_s: float = 5.0
    #: consecutive failed (re)subscribe attempts before the stream fails with ConnectionLost
    max_reconnect_attempts: int = 8


@dataclass
class StreamStats:
    live_events: int = 0
    malformed_events: int = 0
    catch_ups: int = 0
    idle_polls: int = 0
    drops: int = 0
    resubscribes: int = 0
    #: catch-ups / polls that failed transiently and were retried later
    fetch_failures: int = 0
    assembler: AssemblerStats = field(default_factory=AssemblerStats)


class _End:
    __slots__ = ()


_END = _End()


class TokenStream:
    """A session's answer as it streams.

    ``async for delta in stream`` yields :class:`~tokencast.client.types.Delta` objects (a
    ``restarted`` one means: drop what you showed, a new attempt starts over);
    ``await stream.result()`` returns the :class:`~tokencast.client.types.StreamResult`.
    :attr:`text`, :attr:`status` and :attr:`attempt` are the state so far.
    Iteration and :meth:`result` raise the exception that ended the stream, if one did.
    """

    def __init__(
        self,
        session_id: str,
        *,
        api: GraphQLApi,
        channel: RealtimeChannel,
        options: StreamOptions | None = None,
        start_attempt: int = 0,
        follow: bool = False,
        clock: Callable[[], float] = time.monotonic,
        on_close: Callable[[TokenStream], None] | None = None,
    ) -> None:
        self.session_id = session_id
        self.options = options or StreamOptions()
        self.follow = follow
        #: the session as startStream / getSession last returned it
        self.session: Session | None = None
        self._api = api
        self._channel = channel
        self._clock = clock
        self._on_close = on_close
        self._assembler = StreamAssembler(
            session_id,
            start_attempt=start_attempt,
            gap_grace_s=self.options.gap_grace_s,
            max_gap_backoff_s=self.options.max_gap_backoff_s,
        )
        self._backoff = Backoff(base_s=self.options.reconnect_base_s, max_s=self.options.reconnect_max_s)
        self.stats = StreamStats(assembler=self._assembler.stats)
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._deltas: asyncio.Queue[Delta | _End] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._subscription: LiveSubscription | None = None
        self._getter: asyncio.Future[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._ended = False
        self._closing = False
        self._failed_fetches = 0
        self._last_progress = clock()
        #: True from a dropped subscription until it is restored (for "reconnecting…" displays)
        self.reconnecting = False

    # -- state -----------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The current attempt's text so far."""
        return self._assembler.text

    @property
    def status(self) -> SessionStatus | str:
        return self._assembler.status

    @property
    def attempt(self) -> int:
        return self._assembler.attempt

    @property
    def done(self) -> bool:
        """The current attempt's terminal event has been applied."""
        return self._assembler.done

    @property
    def position(self) -> tuple[int, int]:
        """``(attempt, seq)`` of the last event applied with nothing missing before it."""
        return self._assembler.cursor

    @property
    def error(self) -> str | None:
        """The session's error (FAILED), once known."""
        return self._assembler.error

    @property
    def usage(self) -> Usage | None:
        return self._assembler.usage

    # -- consuming -------------------------------------------------------------------------

    def __aiter__(self) -> TokenStream:
        return self

    async def __anext__(self) -> Delta:
        item = await self._deltas.get()
        if isinstance(item, _End):
            self._deltas.put_nowait(item)  # every later call ends too
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return item

    async def result(self, *, check: bool = False, after_attempt: int | None = None) -> StreamResult:
        """Wait for the end of the stream (the current attempt's terminal event).

        ``check=True`` raises :class:`~tokencast.client.errors.StreamFailed` for FAILED.
        ``after_attempt``: wait for a terminal event of a later attempt (``follow`` streams,
        e.g. a FAILED session replayed from the dead-letter queue).
        """
        while True:
            assembler = self._assembler
            if assembler.done and (after_attempt is None or assembler.attempt > after_attempt):
                result = assembler.result(self.session_id)
                return result.raise_for_status() if check else result
            if self._error is not None:
                raise self._error
            if self._ended:
                raise ClientClosed(f"stream {self.session_id} was closed before it ended")
            self._changed.clear()
            await self._changed.wait()

    async def close(self) -> None:
        """Stop listening: unsubscribe and end iteration. Idempotent."""
        self._closing = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._finish()  # also when the task was cancelled before it ever ran

    async def __aenter__(self) -> TokenStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"TokenStream({self.session_id!r}, status={self.status!s}, attempt={self.attempt}, chars={len(self.text)})"
        )

    # -- driving (called by TokencastClient) -----------------------------------------------

    async def _attach(self) -> None:
        """Subscribe and wait for ``start_ack``, retrying transient failures with backoff."""
        async for attempt in retrying(
            attempts=self.options.max_reconnect_attempts,
            backoff=self._backoff,
            retry_on=lambda error: isinstance(error, TokencastError) and is_transient(error),
        ):
            with attempt:
                self._subscription = await self._channel.subscribe(self.session_id, self._inbox.put_nowait)

    def _start(self, session: Session | None = None) -> None:
        """Begin driving (after startStream, or after getSession for a late join)."""
        self.session = session
        self._last_progress = self._clock()
        self._task = asyncio.create_task(self._run(), name=f"tokencast-stream-{self.session_id}")

    async def _run(self) -> None:
        try:
            await self._tolerant(self._catch_up)  # events published before start_ack exist only in the log
            while not self._finished():
                item = await self._next_item(self._wait_time())
                if item is None:
                    await self._on_timeout()
                elif isinstance(item, LiveEvent):
                    self._on_live(item.data)
                elif isinstance(item, LiveEnded) and item.subscription is self._subscription:
                    await self._resubscribe(item.error)
        except asyncio.CancelledError:
            if not self._closing:
                raise
        except Exception as error:  # TokencastError as a rule; anything else is surfaced as is
            self._error = error
        finally:
            await self._finish()

    def _finished(self) -> bool:
        return self._assembler.done and not self.follow

    async def _finish(self) -> None:
        if self._getter is not None:
            self._getter.cancel()
            self._getter = None
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await subscription.close()
        if not self._ended:
            self._ended = True
            self._deltas.put_nowait(_END)
            self._changed.set()
            if self._on_close is not None:
                self._on_close(self)

    async def _next_item(self, timeout: float) -> Any:
        # one pending getter survives timeouts, so no item is ever lost to a cancellation
        if self._getter is None:
            self._getter = asyncio.ensure_future(self._inbox.get())
        done, _ = await asyncio.wait({self._getter}, timeout=timeout)
        if not done:
            return None
        item, self._getter = self._getter.result(), None
        return item

    def _wait_time(self) -> float:
        deadline = self._last_progress + self.options.idle_poll_s
        due = self._assembler.fetch_due()
        if due is not None:
            deadline = min(deadline, due)
        return max(0.0, deadline - self._clock())

    async def _on_timeout(self) -> None:
        now = self._clock()
        due = self._assembler.fetch_due()
        if now >= self._last_progress + self.options.idle_poll_s:
            # first, so a gap that never fills cannot starve the poll that can settle it
            await self._tolerant(self._idle_poll)
        elif due is not None and due <= now:
            await self._tolerant(self._catch_up)

    def _on_live(self, data: dict[str, Any]) -> None:
        self.stats.live_events += 1
        try:
            event = TokenEvent.from_graphql(data)
        except ValueError:
            self.stats.malformed_events += 1  # the log still has it; the gap logic will fetch it
            # Field names only: the event may carry answer text, which stays out of logs.
            log.warning(
                "ignoring a malformed live event for %s (fields: %s)",
                self.session_id,
                sorted(data) if isinstance(data, dict) else type(data).__name__,
            )
            return
        now = self._clock()
        self._last_progress = now
        self._emit(self._assembler.feed(event, now))

    def _emit(self, deltas: list[Delta]) -> None:
        for delta in deltas:
            self._deltas.put_nowait(delta)
        self._changed.set()

    async def _catch_up(self) -> bool:
        """Read the log from the cursor to its end; True when the cursor moved."""
        self.stats.catch_ups += 1
        start = (self._assembler.cursor, self._assembler.done)
        cursor = self._assembler.cursor
        while True:
            page = await self._api.get_events(self.session_id, *cursor, limit=self.options.page_limit)
            self._emit(self._assembler.feed_many(page.items, self._clock()))
            if page.next_cursor is None or page.next_cursor <= cursor:
                break
            cursor = page.next_cursor
        self._assembler.note_fetched(self._clock())
        progressed = (self._assembler.cursor, self._assembler.done) != start
        if progressed:
            self._last_progress = self._clock()
        return progressed

    async def _idle_poll(self) -> None:
        self.stats.idle_polls += 1
        progressed = await self._catch_up()
        if not progressed and not self._assembler.done:
            session = await self._api.get_session(self.session_id)
            if session is None:
                raise SessionNotFound(self.session_id)
            self.session = session
            # final, and the log (read again after the record) holds nothing more for us
            if session.is_final and not await self._catch_up():
                self._emit(self._assembler.settle(session))
        self._last_progress = self._clock()

    async def _resubscribe(self, error: BaseException | None) -> None:
        self.stats.drops += 1
        log.info("subscription for %s dropped (%r); resubscribing", self.session_id, error)
        self.reconnecting = True
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await subscription.close()
        failures = 0
        while True:
            await asyncio.sleep(self._backoff.delay(failures))
            try:
                self._subscription = await self._channel.subscribe(self.session_id, self._inbox.put_nowait)
                break
            except TokencastError as failure:
                failures += 1
                if not is_transient(failure):
                    raise
                if failures >= self.options.max_reconnect_attempts:
                    raise ConnectionLost(
                        f"stream {self.session_id}: could not resubscribe after {failures} attempts"
                    ) from failure
            await self._tolerant(self._catch_up)  # keep the text moving over HTTP meanwhile
            if self._finished():
                return
        self.stats.resubscribes += 1
        self.reconnecting = False
        self._last_progress = self._clock()
        await self._tolerant(self._catch_up)  # resume after the last contiguous (attempt, seq)

    async def _tolerant(self, fetch: Callable[[], Awaitable[Any]]) -> None:
        """Run a catch-up or poll; a transient failure (after the API's own retries) is
        retried on the gap/idle schedule instead of failing a stream whose socket may be
        fine -- until ``max_reconnect_attempts`` of them in a row."""
        try:
            await fetch()
        except TokencastError as error:
            if not is_transient(error):
                raise
            self._failed_fetches += 1
            self.stats.fetch_failures += 1
            if self._failed_fetches >= self.options.max_reconnect_attempts:
                raise
            log.info("catch-up for %s failed (%r); trying again later", self.session_id, error)
            now = self._clock()
            self._assembler.note_fetched(now)
            self._last_progress = now
        else:
            self._failed_fetches = 0
