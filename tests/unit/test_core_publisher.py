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

from tokencast.core.errors import CancelRequested, PublishFailed
from tokencast.core.publisher import PUBLISH_MUTATION, AppSyncPublisher, Coalescer, PublishError
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
