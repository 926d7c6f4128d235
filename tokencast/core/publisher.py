"""Publishing events to AppSync: the signed ``publishToken`` transport and the coalescer.

:class:`AppSyncPublisher` posts the mutation over one keep-alive HTTPS session, SigV4-signed
for service ``appsync`` with refreshable credentials (the Lambda role's rotate). The mutation
selects every TokenEvent field because AppSync hands subscribers only what the mutation
selected.

:class:`Coalescer` is invariant 3. The model thread only appends deltas; a store thread cuts
and stores events (each store doubles as the fencing/cancel check) while a publish thread
publishes the stored ones, one at a time and in order: event N+1 is stored while event N is
published, and no event is published before its own store returned (invariant 2). The first
token goes out at once; later ones merge until ``window_s`` has passed since the previous
cut, or while the publisher is behind. When nothing is stored for ``idle_interval_s`` the
store thread runs ``idle_check`` instead, so a cancel is noticed even when tokens are slow.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
import requests
from requests_aws4auth import AWS4Auth

from tokencast.core.errors import PublishFailed
from tokencast.core.models import EVENT_FIELDS, EVENT_SELECTION
from tokencast.events import EventType

#: Selects every TokenEvent field (:data:`EVENT_SELECTION`): subscribers receive only what the
#: mutation selected, and the subscription filter reads ``owner`` and ``visibility``.
PUBLISH_MUTATION = f"""
mutation PublishToken($sessionId: ID!, $attempt: Int!, $seq: Int!, $type: EventType!, $token: String!,
  $isComplete: Boolean!, $stopReason: String, $usage: UsageInput, $error: String, $timestamp: AWSDateTime,
  $owner: String, $visibility: Visibility) {{
  publishToken(sessionId: $sessionId, attempt: $attempt, seq: $seq, type: $type, token: $token,
    isComplete: $isComplete, stopReason: $stopReason, usage: $usage, error: $error, timestamp: $timestamp,
    owner: $owner, visibility: $visibility) {{ {EVENT_SELECTION} }}
}}
""".strip()


class PublishTransport(Protocol):
    """Sends one stored event to subscribers; raises on any failure."""

    def publish(self, event: Mapping[str, Any]) -> None: ...


class PublishError(Exception):
    """AppSync did not accept a publish (HTTP error, GraphQL error, no answer)."""


class AppSyncPublisher:
    """``publishToken`` over HTTPS with SigV4 (IAM auth), reusing one connection."""

    def __init__(
        self,
        url: str,
        region: str,
        *,
        credentials: Any = None,
        timeout_s: float = 5.0,
        session: requests.Session | None = None,
    ):
        credentials = credentials if credentials is not None else boto3.Session().get_credentials()
        if credentials is None:
            raise PublishError("no AWS credentials to sign publishToken with")
        self._url = url
        self._timeout = timeout_s
        self._auth = AWS4Auth(refreshable_credentials=credentials, region=region, service="appsync")
        self._http = session or requests.Session()
        self._http.headers.update({"Content-Type": "application/json"})
        self._sign_lock = threading.Lock()  # AWS4Auth refreshes credentials in place

    def publish(self, event: Mapping[str, Any]) -> None:
        variables = {name: event.get(name) for name in EVENT_FIELDS}
        request = requests.Request(
            "POST", self._url, json={"query": PUBLISH_MUTATION, "variables": variables}, auth=self._auth
        )
        try:
            with self._sign_lock:
                prepared = self._http.prepare_request(request)
            response = self._http.send(prepared, timeout=self._timeout)
            body = response.content  # read it all: the connection goes back to the pool
        except requests.RequestException as exc:
            raise PublishError(f"publishToken: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise PublishError(f"publishToken: HTTP {response.status_code}")
        try:
            errors = (response.json() if body else {}).get("errors")
        except ValueError:
            raise PublishError("publishToken: response is not JSON") from None
        if errors:
            first = errors[0] if isinstance(errors[0], dict) else {}
            kind = first.get("errorType") or "GraphQLError"
            raise PublishError(f"publishToken: {kind}: {str(first.get('message', ''))[:200]}")

    def warm(self) -> None:
        """Open the keep-alive connection (TCP, TLS) now, so the first publish does not pay for it.

        Best effort, and no request is sent: an unreachable endpoint shows up on the first publish.
        """
        prepared = requests.Request("POST", self._url).prepare()
        adapter = self._http.get_adapter(self._url)
        try:
            pool = adapter.get_connection_with_tls_context(prepared, verify=self._http.verify)  # type: ignore[attr-defined]
            connection = pool._get_conn()
            connection.connect()
            pool._put_conn(connection)
        except Exception:
            return

    def close(self) -> None:
        self._http.close()


#: Stores one event and returns it: ``sink(type, token, **fields)`` (AttemptLog.append).
Sink = Callable[..., dict[str, Any]]


@dataclass
class _Tokens:
    parts: list[str]


@dataclass
class _Control:
    type: EventType
    fields: dict[str, Any] = field(default_factory=dict)
    token: str = ""
    result: dict[str, Any] | None = None
    cut_at: float | None = None  # when a TOKEN event was cut (its oldest delta waited until then)


class FlushLatency:
    """How long an event takes from its cut to the end of its publish: a smoothed estimate
    plus four mean deviations (Jacobson's estimator, as TCP's retransmission timer), so
    :meth:`high` sits near the top of what the pipeline has recently taken."""

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
    as the budget allows after paying for a flush (see :meth:`current_window`), so tokens
    wait about the budget in the worker and as few events as possible are spent on it.

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
        self.flush_latency = FlushLatency()
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
                self._queue.append(_Tokens([delta]))
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
                    due = self._last_cut + self.current_window()
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

        A token waits at most one window before its event is cut, then the cut-to-published
        time; so window = budget − (a high estimate of that time), never below 0. Until a
        flush has been measured the fixed window applies.
        """
        high = self.flush_latency.high() if self._budget is not None else None
        if self._budget is None or high is None:
            return self._window
        return min(self._budget, max(0.0, self._budget - high))

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
            try:
                self._publish(event)
            except BaseException as exc:
                self._fail(exc)
                return
            item.result = event
            if item.cut_at is not None:
                with self._cond:
                    self.flush_latency.add(self._clock() - item.cut_at)

    def _publish(self, event: Mapping[str, Any]) -> None:
        last: Exception | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                self.stats.publish_retries += 1
                self._sleep(self._retry_delay * attempt)
            try:
                self._transport.publish(event)
                self.stats.publishes += 1
                return
            except Exception as exc:
                last = exc
        raise PublishFailed(f"publishing to AppSync failed {self._retries + 1} times ({last})")

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            if self.failure is None:
                self.failure = exc
            self._queue.clear()
            self._cond.notify_all()
        if self._on_failure is not None:
            with contextlib.suppress(Exception):
                self._on_failure(exc)


def publish_with_retries(
    transport: PublishTransport,
    event: Mapping[str, Any],
    *,
    retries: int = 2,
    delay_s: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Publish outside a coalescer (the CANCELLED/FAILED events); False if it never went out.

    Those events are already stored, so a subscriber that missed one still finds it in
    ``getEvents``; failing to publish them must not stop the job from settling.
    """
    for attempt in range(retries + 1):
        if attempt:
            sleep(delay_s * attempt)
        try:
            transport.publish(event)
            return True
        except Exception:
            continue
    return False
