"""The coalescer (invariant 3): token deltas into few events, stored then published in order.

The model thread only appends deltas; a store thread cuts and stores events (each store
doubles as the fencing/cancel check) while a publish thread publishes the stored ones, one at
a time and in order: event N+1 is stored while event N is published, and no event is
published before its own store returned (invariant 2). The first token goes out at once;
later ones merge until ``window_s`` has passed since the previous cut, or while the publisher
is behind. When nothing is stored for ``idle_interval_s`` the store thread runs
``idle_check`` instead, so a cancel is noticed even when tokens are slow.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tokencast.core.errors import PublishFailed
from tokencast.core.publisher import PublishTransport, publish_retried
from tokencast.events import EventType

#: Stores one event and returns it: ``sink(type, token, **fields)`` (AttemptLog.append).
Sink = Callable[..., dict[str, Any]]


@dataclass
class _Tokens:
    parts: list[str]
    arrived: float  # when the first of these deltas was queued


@dataclass
class _Control:
    type: EventType
    fields: dict[str, Any] = field(default_factory=dict)
    token: str = ""
    result: dict[str, Any] | None = None
    cut_at: float | None = None  # when a TOKEN event was cut (its oldest delta waited until then)


class LatencyEstimate:
    """A recent duration (an event's cut to the end of its publish; a publish alone): a smoothed
    mean plus four mean deviations (Jacobson's estimator, as TCP's retransmission timer), so
    :meth:`high` sits near the top of what it has recently taken."""

    def __init__(self) -> None:
        self.mean: float | None = None
        self.deviation = 0.0

    def add(self, sample: float) -> None:
        if self.mean is None:
            self.mean, self.deviation = sample, sample / 2
            return
        self.deviation += (abs(sample - self.mean) - self.deviation) / 4
        self.mean += (sample - self.mean) / 8

    def high(self) -> float | None:
        return None if self.mean is None else self.mean + 4 * self.deviation


_IDLE = object()

#: With a delay budget, cut events at most this fast relative to the publisher: busier than
#: two thirds of the time, events queue behind it and wait longer than a shorter window saved.
_MAX_PUBLISHER_LOAD = 2 / 3


@dataclass
class CoalescerStats:
    deltas: int = 0
    events: int = 0
    publishes: int = 0
    publish_retries: int = 0


class Coalescer:
    """Merges token deltas into few events; stores and publishes them in order, pipelined.

    Two threads share the work: the *store* thread cuts events from the queued deltas and
    stores each one (the store doubles as the fencing/cancel check); the *publish* thread
    publishes stored events one at a time, in order. So event N+1 is stored while event N is
    published -- each flush costs max(store, publish), not their sum -- yet every event is
    published only after its own store returned (invariant 2), and at most one publish is
    in flight per session (invariant 3).

    When to cut a TOKEN event: the first one at once; later ones once ``window_s`` has
    passed since the previous cut (or at once when a control event follows or the attempt
    is ending) -- and never while a stored event is still waiting for the publisher: then
    deltas keep merging, so a slow publish costs fewer, larger events instead of a backlog.
    ``coalesce=False`` cuts one event per delta (the per-token baseline benchmarks compare
    against; never the default). With ``delay_budget_s`` the window adapts instead: as long
    as the budget allows after paying for a flush (see :meth:`current_window`), counted from
    the oldest waiting delta rather than the previous cut, so every delta waits about the
    budget in the worker and as few events as possible are spent on it. (A fixed window
    counts from the previous cut: a delta after a pause goes out at once, lower delay for
    more events at slow rates.)

    Lifecycle: :meth:`start`, then :meth:`emit` (control events) and :meth:`add` (deltas)
    from the model thread, then exactly one of :meth:`finish` (terminal event), :meth:`drain`
    (flush, no terminal) or :meth:`abort` (stop now). Any exception from the sink, the
    transport (after ``publish_retries`` quick retries, as :class:`PublishFailed`) or
    ``idle_check`` stops storing; events already stored are still published (they are valid
    events of this attempt, and the worker publishes a CANCELLED after them), except after
    a publish failure. The exception is kept in :attr:`failure`, passed to ``on_failure``
    (which typically closes the model stream) and re-raised by finish/drain.
    """

    def __init__(
        self,
        sink: Sink,
        transport: PublishTransport,
        *,
        window_s: float = 0.05,
        coalesce: bool = True,
        delay_budget_s: float | None = None,
        idle_check: Callable[[], None] | None = None,
        idle_interval_s: float = 0.5,
        on_failure: Callable[[BaseException], None] | None = None,
        publish_retries: int = 2,
        retry_delay_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._sink = sink
        self._transport = transport
        self._window = window_s
        self._coalesce = coalesce
        self._budget = delay_budget_s
        #: an event's cut to the end of its publish, and a publish alone (the adaptive window's inputs)
        self.flush_latency = LatencyEstimate()
        self.publish_time = LatencyEstimate()
        self._idle_check = idle_check
        self._idle_interval = idle_interval_s
        self._on_failure = on_failure
        self._retries = publish_retries
        self._retry_delay = retry_delay_s
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._queue: deque[_Tokens | _Control] = deque()
        #: stored events the publish thread has not taken yet (at most one, besides the one in flight)
        self._stored: deque[tuple[_Control, dict[str, Any]]] = deque()
        self._storing_done = False  # the store thread has exited: the publisher drains and exits
        self._stopping = False
        self._aborted = False
        self._first_token_sent = False
        self._last_cut = float("-inf")
        self._last_activity = clock()
        self._store_thread = threading.Thread(target=self._run_store, name="tokencast-store", daemon=True)
        self._publish_thread = threading.Thread(target=self._run_publish, name="tokencast-publish", daemon=True)
        self.failure: BaseException | None = None
        self.stats = CoalescerStats()

    # --- model thread ----------------------------------------------------------------------

    def start(self) -> Coalescer:
        self._store_thread.start()
        self._publish_thread.start()
        return self

    def emit(self, type: EventType, **fields: Any) -> None:
        """Queue a control event (STARTED, RESTARTED) behind everything queued so far."""
        with self._cond:
            self._queue.append(_Control(EventType(type), fields))
            self._cond.notify_all()

    def add(self, delta: str) -> None:
        """Queue a text delta; merged with the deltas queued right before it."""
        if not delta:
            return
        with self._cond:
            if self.failure is not None or self._stopping:
                return
            self.stats.deltas += 1
            tail = self._queue[-1] if self._queue else None
            if self._coalesce and isinstance(tail, _Tokens):
                tail.parts.append(delta)
            else:
                self._queue.append(_Tokens([delta], arrived=self._clock()))
                self._cond.notify_all()

    def finish(self, type: EventType, **fields: Any) -> dict[str, Any]:
        """Flush all deltas, store and publish the terminal event, stop; return that event."""
        last = _Control(EventType(type), fields)
        with self._cond:
            self._queue.append(last)
            self._stopping = True
            self._cond.notify_all()
        self._join()
        if self.failure is not None:
            raise self.failure
        assert last.result is not None
        return last.result

    def drain(self) -> None:
        """Flush what is queued and stop, without a terminal event."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._join()
        if self.failure is not None:
            raise self.failure

    def abort(self) -> None:
        """Stop now: nothing more is stored or published (those in progress complete)."""
        with self._cond:
            self._aborted = True
            self._cond.notify_all()
        self._join()

    def _join(self) -> None:
        current = threading.current_thread()
        for thread in (self._store_thread, self._publish_thread):
            if thread.is_alive() and thread is not current:
                thread.join()

    # --- store thread ----------------------------------------------------------------------

    def _next(self) -> Any:
        """Wait for the next thing to store, an idle check, or exit (None)."""
        with self._cond:
            while True:
                if self._aborted or self.failure is not None:
                    return None
                now = self._clock()
                timeout: float | None = None
                if self._stored:
                    pass  # the publisher is behind: let deltas merge until it takes the waiting event
                elif self._queue:
                    head = self._queue[0]
                    if isinstance(head, _Control):
                        return self._queue.popleft()
                    # A fixed window counts from the previous cut; a budget's from the oldest
                    # waiting delta, which then waits exactly its window: as few events as
                    # the budget allows (see current_window).
                    anchor = head.arrived if self._budget is not None else self._last_cut
                    due = anchor + self.current_window()
                    if (
                        not self._coalesce
                        or not self._first_token_sent
                        or len(self._queue) > 1
                        or self._stopping
                        or now >= due
                    ):
                        self._queue.popleft()
                        self._first_token_sent = True
                        self._last_cut = now
                        return _Control(EventType.TOKEN, token="".join(head.parts), cut_at=now)
                    timeout = due - now
                elif self._stopping:
                    return None
                elif self._idle_check is not None:
                    idle_due = self._last_activity + self._idle_interval
                    if now >= idle_due:
                        self._last_activity = now
                        return _IDLE
                    timeout = idle_due - now
                self._cond.wait(timeout)

    def current_window(self) -> float:
        """The fixed window, or with a delay budget: what the budget leaves once a flush is paid for.

        A token waits at most one window (counted from when the oldest waiting delta arrived)
        before its event is cut, then the cut-to-published time; so window = budget − (a high
        estimate of that time), never below 0. Nor below what the publisher needs per event
        (its mean publish time over :data:`_MAX_PUBLISHER_LOAD`): cutting faster only queues
        events behind it, which lengthens the very flushes the window was shortened for.
        Until a flush has been measured the fixed window applies.
        """
        high = self.flush_latency.high() if self._budget is not None else None
        if self._budget is None or high is None:
            return self._window
        publisher_pace = (self.publish_time.mean or 0.0) / _MAX_PUBLISHER_LOAD
        return min(self._budget, max(0.0, self._budget - high, publisher_pace))

    def _run_store(self) -> None:
        try:
            while True:
                item = self._next()
                if item is None:
                    return
                try:
                    if item is _IDLE:
                        assert self._idle_check is not None
                        self._idle_check()
                        continue
                    event = self._sink(item.type, item.token, **item.fields)
                except BaseException as exc:
                    self._fail(exc)
                    return
                with self._cond:
                    self.stats.events += 1
                    self._stored.append((item, event))
                    self._last_activity = self._clock()
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._storing_done = True
                self._cond.notify_all()

    # --- publish thread --------------------------------------------------------------------

    def _next_stored(self) -> tuple[_Control, dict[str, Any]] | None:
        with self._cond:
            while True:
                if self._aborted or isinstance(self.failure, PublishFailed):
                    return None
                if self._stored:
                    entry = self._stored.popleft()
                    self._cond.notify_all()  # the store thread may cut the next event now
                    return entry
                if self._storing_done:
                    return None
                self._cond.wait()

    def _run_publish(self) -> None:
        """Publish stored events in order, one at a time; taking one lets the store thread cut the next."""
        while (entry := self._next_stored()) is not None:
            item, event = entry
            started = self._clock()
            try:
                self._publish(event)
            except BaseException as exc:
                self._fail(exc)
                return
            item.result = event
            with self._cond:
                now = self._clock()
                self.publish_time.add(now - started)
                if item.cut_at is not None:
                    self.flush_latency.add(now - item.cut_at)

    def _publish(self, event: Mapping[str, Any]) -> None:
        publish_retried(
            self._transport,
            event,
            retries=self._retries,
            delay_s=self._retry_delay,
            sleep=self._sleep,
            on_retry=self._count_retry,
        )
        self.stats.publishes += 1

    def _count_retry(self) -> None:
        self.stats.publish_retries += 1

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            if self.failure is None:
                self.failure = exc
            self._queue.clear()
            self._cond.notify_all()
        if self._on_failure is not None:
            with contextlib.suppress(Exception):
                self._on_failure(exc)
