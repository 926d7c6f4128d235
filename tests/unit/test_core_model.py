"""The Bedrock adapter through real boto3 against a tiny ConverseStream server.

The server speaks AWS event-stream framing over chunked HTTP, so boto3 parses events as it
would from Bedrock; it can hold the stream open to prove a close from another thread
interrupts a blocked read (what cancel relies on when tokens are slow).
"""

from __future__ import annotations

import json
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tokencast.config import Settings
from tokencast.core.aws import client
from tokencast.core.errors import classify
from tokencast.core.jobs import Job, Message
from tokencast.core.model import BedrockModel


def frame(headers: dict[str, str], payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload).encode()
    encoded = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode() for k, v in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(body), len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + body
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"}, payload)


def exception(kind: str, message: str) -> bytes:
    return frame(
        {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
        {"message": message},
    )


def delta(text: str) -> bytes:
    return event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})


class _Bedrock(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    frames: list[bytes] = []
    hold = threading.Event()  # set = do not finish the stream until released
    release = threading.Event()
    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append({"path": self.path, "body": json.loads(body)})
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for data in self.frames:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            if self.hold.is_set():
                self.release.wait(10)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch):
    _Bedrock.frames, _Bedrock.requests = [], []
    _Bedrock.hold, _Bedrock.release = threading.Event(), threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bedrock)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": f"http://127.0.0.1:{server.server_address[1]}",
    }.items():
        monkeypatch.setenv(name, value)
    yield BedrockModel(client("bedrock-runtime", Settings(region="us-east-1"))), _Bedrock
    _Bedrock.release.set()
    server.shutdown()
    server.server_close()


JOB = Job(
    session_id="s1",
    owner="a",
    model_id="some.model-v1",
    messages=(Message(role="user", text="Hi"),),
    system="terse",
    max_tokens=64,
    temperature=0.3,
    enqueued_at="2026-01-01T00:00:00.000Z",
)


def test_deltas_stop_reason_and_usage_from_converse_stream(bedrock):
    model, server = bedrock
    server.frames = [
        event("messageStart", {"role": "assistant"}),
        delta("Hel"),
        delta("lo"),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "max_tokens"}),
        event(
            "metadata", {"usage": {"inputTokens": 4, "outputTokens": 2, "totalTokens": 6}, "metrics": {"latencyMs": 1}}
        ),
    ]
    stream = model.stream(JOB)
    assert list(stream) == ["Hel", "lo"]
    assert stream.stop_reason == "max_tokens" and stream.usage == {
        "inputTokens": 4,
        "outputTokens": 2,
        "totalTokens": 6,
    }
    [request] = server.requests
    assert request["path"] == "/model/some.model-v1/converse-stream"
    assert request["body"] == {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "system": [{"text": "terse"}],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.3},
    }


def test_close_from_another_thread_interrupts_a_blocked_read(bedrock):
    model, server = bedrock
    server.frames = [delta("a"), delta("b")]
    server.hold.set()  # then the model goes silent
    stream = model.stream(JOB)
    got, two = [], threading.Event()

    def read():
        for text in stream:
            got.append(text)
            if len(got) == 2:
                two.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert two.wait(5)
    closer = threading.Thread(target=stream.close, daemon=True)
    closer.start()
    closer.join(2)
    reader.join(2)
    assert not closer.is_alive(), "close() blocked behind the reading thread"
    assert not reader.is_alive(), "close() did not wake the thread blocked on the socket"
    assert got == ["a", "b"]


def test_errors_inside_the_stream_are_classified(bedrock):
    model, server = bedrock
    server.frames = [delta("a"), exception("throttlingException", "slow down")]
    stream = model.stream(JOB)
    with pytest.raises(Exception) as info:
        list(stream)
    error = classify(info.value)
    assert error.transient and error.reason == "model throttled"
