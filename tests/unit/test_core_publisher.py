"""The coalescer (invariant 3) and the signed AppSync transport, without AppSync."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tokencast.core.coalescer import Coalescer
from tokencast.core.errors import CancelRequested, PublishFailed
from tokencast.core.publisher import (
    PUBLISH_MUTATION,
    AppSyncPublisher,
    PublishError,
    publish_retried,
    publish_with_retries,
)
from tokencast.events import EventType


class Sink:
    """Stands in for AttemptLog.append: numbers events, optionally fails on one."""

    def __init__(self, fail_on: int | None = None, error: Exception | None = None):
        self.events: list[dict[str, Any]] = []
        self.fail_on, self.error = fail_on, error

    def __call__(self, type: EventType, token: str = "", **fields: Any) -> dict[str, Any]:
        seq = len(self.events) + 1
        if seq == self.fail_on:
            raise self.error  # type: ignore[misc]
        event = {"seq": seq, "type": EventType(type).value, "token": token, **fields}
        self.events.append(event)
        return event


class GatedTransport:
    """Blocks the first publish until released, and measures publishes in flight."""

    def __init__(self, recording: Any):
        self.recording = recording
        self.entered = threading.Event()
        self.release = threading.Event()
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()

    def publish(self, event: Any) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.entered.set()
            assert self.release.wait(5)
            self.recording.publish(event)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_first_token_is_published_at_once_then_tokens_merge(fakes):
    transport = fakes.RecordingTransport()
    coalescer = Coalescer(Sink(), transport, window_s=60.0).start()
    coalescer.add("a")
    assert transport.wait_for(lambda events: len(events) == 1, timeout=5), "first token waited for the window"
    for delta in "bcdefg":
        coalescer.add(delta)
    final = coalescer.finish(EventType.COMPLETED, stop_reason="end_turn")
    assert [(e["type"], e["token"]) for e in transport.events] == [
        ("TOKEN", "a"),
        ("TOKEN", "bcdefg"),
        ("COMPLETED", ""),
    ]
    assert final == transport.events[-1] and final["stop_reason"] == "end_turn"
    assert coalescer.stats.deltas == 7 and coalescer.stats.publishes == 3


def test_tokens_merge_while_a_publish_is_in_flight(fakes):
    recording = fakes.RecordingTransport()
    transport = GatedTransport(recording)
    coalescer = Coalescer(Sink(), transport, window_s=0.0).start()
    coalescer.emit(EventType.STARTED)
    assert transport.entered.wait(5)
    for i in range(100):
        coalescer.add(f"{i},")
    transport.release.set()
    coalescer.finish(EventType.COMPLETED)
    kinds = [(e["type"], e["token"]) for e in recording.events]
    assert kinds == [("STARTED", ""), ("TOKEN", "".join(f"{i}," for i in range(100))), ("COMPLETED", "")]
    assert transport.max_in_flight == 1


def test_a_store_failure_stops_everything_and_is_reported(fakes):
    transport = fakes.RecordingTransport()
    failed = threading.Event()
    coalescer = Coalescer(
        Sink(fail_on=2, error=CancelRequested("cancel")), transport, window_s=0.0, on_failure=lambda exc: failed.set()
    ).start()
    coalescer.emit(EventType.STARTED)
    coalescer.add("x")
    assert failed.wait(5)
    coalescer.add("ignored")
    with pytest.raises(CancelRequested):
        coalescer.finish(EventType.COMPLETED)
    assert [e["type"] for e in transport.events] == ["STARTED"]


def test_publish_failures_are_retried_then_reported_as_transient(fakes):
    flaky = fakes.RecordingTransport(fail=lambda event: event["seq"] == 1)
    sleeps: list[float] = []
    coalescer = Coalescer(Sink(), flaky, publish_retries=2, sleep=sleeps.append).start()
    coalescer.emit(EventType.STARTED)
    with pytest.raises(PublishFailed) as info:
        coalescer.finish(EventType.COMPLETED)
    assert info.value.transient and flaky.attempts == 3 and len(sleeps) == 2


def test_idle_checks_run_when_nothing_is_stored(fakes):
    calls = []

    def idle_check():
        calls.append(1)
        if len(calls) == 3:
            raise CancelRequested("cancel")

    stopped = threading.Event()
    coalescer = Coalescer(
        Sink(),
        fakes.RecordingTransport(),
        idle_check=idle_check,
        idle_interval_s=0.01,
        on_failure=lambda exc: stopped.set(),
    ).start()
    assert stopped.wait(5)
    assert isinstance(coalescer.failure, CancelRequested) and len(calls) == 3
    coalescer.abort()


class OrderLog:
    """One timeline of store and publish calls, from both coalescer threads."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, int]] = []
        self.cond = threading.Condition()

    def note(self, what: str, seq: int) -> None:
        with self.cond:
            self.entries.append((what, seq))
            self.cond.notify_all()

    def wait_for(self, what: str, seq: int) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: (what, seq) in self.entries, 5)

    def index(self, what: str, seq: int) -> int:
        return self.entries.index((what, seq))


class LoggedSink(Sink):
    def __init__(self, log: OrderLog, **kwargs: Any):
        super().__init__(**kwargs)
        self.log = log

    def __call__(self, type: EventType, token: str = "", **fields: Any) -> dict[str, Any]:
        seq = len(self.events) + 1
        self.log.note("store-start", seq)
        event = super().__call__(type, token, **fields)
        self.log.note("store-end", seq)
        return event


class LoggedGate(GatedTransport):
    """Holds each publish until released (one ``release`` per publish), noting start and end."""

    def __init__(self, recording: Any, log: OrderLog):
        super().__init__(recording)
        self.log = log
        self.started = threading.Semaphore(0)
        self.permits = threading.Semaphore(0)

    def publish(self, event: Any) -> None:
        self.log.note("publish-start", event["seq"])
        self.started.release()
        assert self.permits.acquire(timeout=5)
        super().publish(event)
        self.log.note("publish-end", event["seq"])


def test_the_next_event_is_stored_while_the_previous_one_is_published(fakes):
    log = OrderLog()
    recording = fakes.RecordingTransport()
    transport = LoggedGate(recording, log)
    transport.release.set()
    sink = LoggedSink(log)
    coalescer = Coalescer(sink, transport, window_s=0.0).start()
    coalescer.emit(EventType.STARTED)
    assert transport.started.acquire(timeout=5)  # STARTED (seq 1) is being published, and held there
    coalescer.add("a")
    assert log.wait_for("store-end", 2)  # "a" is stored while seq 1 is still in flight
    assert ("publish-end", 1) not in log.entries
    for delta in "bcd":  # "a" waits for the publisher: these merge instead of queueing up events
        coalescer.add(delta)
    for _ in range(4):
        transport.permits.release()
    coalescer.finish(EventType.COMPLETED)
    assert [(e["seq"], e["type"], e["token"]) for e in recording.events] == [
        (1, "STARTED", ""),
        (2, "TOKEN", "a"),
        (3, "TOKEN", "bcd"),
        (4, "COMPLETED", ""),
    ]
    for seq in range(1, 5):  # stored before published, per event; one publish at a time, in order
        assert log.index("store-end", seq) < log.index("publish-start", seq)
        if seq > 1:
            assert log.index("publish-end", seq - 1) < log.index("publish-start", seq)
    assert transport.max_in_flight == 1


def test_events_stored_before_a_store_failure_are_still_published_in_order(fakes):
    log = OrderLog()
    recording = fakes.RecordingTransport()
    transport = LoggedGate(recording, log)
    transport.release.set()
    coalescer = Coalescer(LoggedSink(log, fail_on=3, error=CancelRequested("cancel")), transport, window_s=0.0).start()
    coalescer.emit(EventType.STARTED)
    assert transport.started.acquire(timeout=5)
    coalescer.add("a")  # stored as seq 2 while seq 1 is held in flight
    assert log.wait_for("store-end", 2)
    transport.permits.release()  # seq 1 out; seq 2 goes next, then "b" (seq 3) fails to store
    coalescer.add("b")
    transport.permits.release()
    with pytest.raises(CancelRequested):
        coalescer.finish(EventType.COMPLETED)
    # finish returned only after the publisher drained what was stored: a CANCELLED published
    # next by the worker comes after them
    assert [(e["seq"], e["token"]) for e in recording.events] == [(1, ""), (2, "a")]


def test_the_window_counts_from_the_previous_cut_not_the_end_of_its_publish(fakes):
    now = [100.0]
    recording = fakes.RecordingTransport()
    coalescer = Coalescer(Sink(), recording, window_s=0.05, clock=lambda: now[0]).start()
    coalescer.add("a")  # cut at t=100.000
    assert recording.wait_for(lambda events: len(events) == 1)
    now[0] = 100.03  # the publish "took" 30 ms
    coalescer.add("b")
    assert not recording.wait_for(lambda events: len(events) == 2, timeout=0.05)
    now[0] = 100.05  # 50 ms after the previous cut (only 20 ms after its publish ended)
    coalescer.add("c")  # the store thread's next timed re-check sees the window has passed
    assert recording.wait_for(lambda events: len(events) == 2)
    assert recording.events[1]["token"] == "bc"
    coalescer.finish(EventType.COMPLETED)


def test_without_coalescing_every_delta_is_its_own_event(fakes):
    recording = fakes.RecordingTransport()
    coalescer = Coalescer(Sink(), recording, window_s=60.0, coalesce=False).start()
    for delta in "abc":
        coalescer.add(delta)
    coalescer.finish(EventType.COMPLETED)
    assert [e["token"] for e in recording.events] == ["a", "b", "c", ""]


def test_with_a_delay_budget_the_window_is_what_the_budget_leaves_after_a_flush(fakes):
    now = [0.0]
    recording = fakes.RecordingTransport()

    class SlowTransport:
        def publish(self, event: Any) -> None:
            now[0] += 0.03  # every publish takes 30 ms
            recording.publish(event)

    coalescer = Coalescer(Sink(), SlowTransport(), window_s=0.05, delay_budget_s=0.1, clock=lambda: now[0]).start()
    assert coalescer.current_window() == 0.05  # nothing measured yet: the fixed window
    for i in range(30):
        coalescer.add(f"{i} ")
        now[0] += 1.0  # past any window: cut at the store thread's next timed check
        assert recording.wait_for(lambda events, n=i + 1: len(events) == n)
    coalescer.finish(EventType.COMPLETED)
    # cut-to-published is 30 ms every time: the budget leaves a 70 ms window
    assert coalescer.current_window() == pytest.approx(0.07, abs=0.002)


def test_a_budget_window_never_outpaces_the_publisher(fakes):
    """Cutting events faster than the publisher publishes them only queues them behind it:
    the window keeps the publisher busy at most two thirds of the time."""
    coalescer = Coalescer(Sink(), fakes.RecordingTransport(), delay_budget_s=0.1)
    coalescer.flush_latency.add(0.06)  # cut to published: the budget alone would leave 40 ms or less
    coalescer.publish_time.add(0.05)  # but each publish takes 50 ms
    assert coalescer.current_window() == pytest.approx(0.05 * 3 / 2)
    coalescer.publish_time.add(0.5)  # never beyond the budget, though
    assert coalescer.current_window() == pytest.approx(0.1)


def test_with_a_delay_budget_a_delta_after_a_pause_waits_its_window_to_merge(fakes):
    """A budget's window counts from the oldest waiting delta, not the previous cut: after a
    pause the next delta still waits for company, so slow streams spend fewer events."""
    now = [0.0]
    recording = fakes.RecordingTransport()
    coalescer = Coalescer(Sink(), recording, window_s=0.05, delay_budget_s=0.1, clock=lambda: now[0]).start()
    coalescer.add("a")  # the first token goes out at once; its flush "took" 0 ms: the window is 0.1
    assert recording.wait_for(lambda events: len(events) == 1)
    now[0] = 5.0  # a long pause
    coalescer.add("b")
    assert not recording.wait_for(lambda events: len(events) == 2, timeout=0.15)
    now[0] = 5.05
    coalescer.add("c")
    assert not recording.wait_for(lambda events: len(events) == 2, timeout=0.15)
    now[0] = 5.1  # "b" has waited its window
    assert recording.wait_for(lambda events: len(events) == 2)
    assert recording.events[1]["token"] == "bc"
    coalescer.finish(EventType.COMPLETED)


def test_the_budget_window_never_goes_below_zero_nor_above_the_budget(fakes):
    from tokencast.core.coalescer import LatencyEstimate

    latency = LatencyEstimate()
    assert latency.high() is None
    latency.add(0.2)
    assert latency.high() == pytest.approx(0.2 + 4 * 0.1)
    coalescer = Coalescer(Sink(), fakes.RecordingTransport(), delay_budget_s=0.1)
    coalescer.flush_latency = latency
    assert coalescer.current_window() == 0.0
    coalescer.flush_latency = LatencyEstimate()
    coalescer.flush_latency.add(0.0)
    assert coalescer.current_window() == 0.1


# --------------------------------------------------------------------------- AppSyncPublisher


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    requests: list[dict[str, Any]] = []
    reply: dict[str, Any] = {}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.requests.append(
            {"path": self.path, "headers": headers, "raw": body, "body": json.loads(body), "conn": id(self.connection)}
        )
        payload = json.dumps(self.reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def appsync_stub():
    _Recorder.requests = []
    _Recorder.reply = {"data": {"publishToken": {"seq": 1}}}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/graphql", _Recorder
    server.shutdown()
    server.server_close()


EVENT = {
    "sessionId": "s1",
    "attempt": 1,
    "seq": 1,
    "type": "TOKEN",
    "token": "hi",
    "isComplete": False,
    "stopReason": None,
    "usage": None,
    "error": None,
    "timestamp": "2026-01-01T00:00:00.000Z",
    "owner": "alice",
    "visibility": "PRIVATE",
}


def assert_sigv4(request: dict[str, Any], url: str, credentials: Credentials, region: str) -> None:
    """Recompute the signature with botocore (an independent SigV4 implementation)."""
    headers = request["headers"]
    scheme, _, rest = headers["authorization"].partition(" ")
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    assert scheme == "AWS4-HMAC-SHA256"
    assert parts["Credential"].endswith(f"/{region}/appsync/aws4_request")
    assert headers["x-amz-content-sha256"] == hashlib.sha256(request["raw"]).hexdigest()
    signed = parts["SignedHeaders"].split(";")
    assert {"host", "x-amz-date", "x-amz-security-token"} <= set(signed)
    aws_request = AWSRequest(method="POST", url=url, data=request["raw"], headers={h: headers[h] for h in signed})
    aws_request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(credentials, "appsync", region)
    expected = signer.signature(signer.string_to_sign(aws_request, signer.canonical_request(aws_request)), aws_request)
    assert parts["Signature"] == expected


def test_publisher_signs_with_sigv4_and_reuses_one_connection(appsync_stub):
    url, recorder = appsync_stub
    publisher = AppSyncPublisher(url, "eu-west-1", credentials=Credentials("AKIDEXAMPLE", "secret", "token"))
    for seq in (1, 2, 3):
        publisher.publish({**EVENT, "seq": seq})
    publisher.close()
    assert len(recorder.requests) == 3
    assert len({r["conn"] for r in recorder.requests}) == 1, "each publish opened a new connection"
    for request in recorder.requests:
        assert_sigv4(request, url, Credentials("AKIDEXAMPLE", "secret", "token"), "eu-west-1")
    body = recorder.requests[2]["body"]
    assert body["query"] == PUBLISH_MUTATION and body["variables"] == {**EVENT, "seq": 3}
    for field in (
        "sessionId attempt seq type token isComplete stopReason",
        "usage { inputTokens outputTokens totalTokens }",
        "error timestamp owner visibility",
    ):
        assert field in PUBLISH_MUTATION


def test_graphql_errors_in_the_body_are_failures(appsync_stub):
    url, recorder = appsync_stub
    recorder.reply = {
        "data": None,
        "errors": [{"errorType": "Unauthorized", "message": "Not Authorized to access publishToken"}],
    }
    publisher = AppSyncPublisher(url, "us-east-1", credentials=Credentials("AKID", "secret"))
    with pytest.raises(PublishError, match="Unauthorized"):
        publisher.publish(EVENT)


class FailingTransport:
    """Fails the first ``failures`` publishes, then accepts."""

    def __init__(self, failures: int):
        self.failures, self.calls = failures, 0

    def publish(self, event: Any) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise PublishError(f"publishToken: HTTP 503 (call {self.calls})")


def test_publish_retried_waits_longer_each_retry_then_names_the_last_error():
    sleeps: list[float] = []
    retries: list[int] = []
    transport = FailingTransport(failures=5)
    with pytest.raises(PublishFailed, match=r"failed 3 times \(publishToken: HTTP 503 \(call 3\)\)"):
        publish_retried(transport, {}, retries=2, delay_s=0.05, sleep=sleeps.append, on_retry=lambda: retries.append(1))
    assert transport.calls == 3 and sleeps == pytest.approx([0.05, 0.1]) and len(retries) == 2


def test_publish_with_retries_reports_whether_the_event_went_out():
    sleeps: list[float] = []
    assert publish_with_retries(FailingTransport(failures=1), {}, sleep=sleeps.append)
    assert sleeps == pytest.approx([0.05])
    assert not publish_with_retries(FailingTransport(failures=3), {}, sleep=sleeps.append)
