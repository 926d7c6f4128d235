"""Unit-test fixtures for the pipeline core: one in-process moto server for the session.

Each test gets its own table and queues on it (``core_aws``), so tests never share state,
and AWS_* variables point boto3 there only for the duration of that test.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tokencast.config import Limits, Quotas, Settings
from tokencast.core.dlq import DeadLetterSender
from tokencast.core.quotas import QuotaLedger
from tokencast.core.start import StartService
from tokencast.core.store import SessionStore
from tokencast.core.table import table_definition, ttl_specification
from tokencast.core.worker import Worker

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a moto server (SQS + DynamoDB) on an ephemeral port."""
    from moto.server import ThreadedMotoServer

    from tokencast.local import moto_atomic

    moto_atomic.install()  # conditional writes atomic under concurrency, as in DynamoDB
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass
class CoreAws:
    """A fresh table + jobs queue + DLQ, with clients and Settings pointing at them."""

    endpoint: str
    settings: Settings
    ddb: Any
    sqs: Any
    store: SessionStore

    def receive_jobs(self, queue_url: str | None = None, max_messages: int = 10) -> list[dict[str, Any]]:
        out = self.sqs.receive_message(
            QueueUrl=queue_url or self.settings.jobs_queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        return out.get("Messages", [])

    def count(self, queue_url: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def table_items(self) -> list[dict[str, Any]]:
        return self.ddb.scan(TableName=self.settings.table_name).get("Items", [])


@pytest.fixture
def core_aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> CoreAws:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_SQS": moto_endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    suffix = uuid.uuid4().hex[:10]
    ddb = boto3.client("dynamodb", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    table = f"tokencast-{suffix}"
    ddb.create_table(**table_definition(table))
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl_specification())
    dlq_url = sqs.create_queue(QueueName=f"jobs-dlq-{suffix}")["QueueUrl"]
    jobs_url = sqs.create_queue(QueueName=f"jobs-{suffix}", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    settings = Settings(
        table_name=table,
        jobs_queue_url=jobs_url,
        dead_letter_queue_url=dlq_url,
        graphql_url="http://127.0.0.1:9/graphql",
        region=REGION,
        flush_window_ms=20,
        retry_base_delay_ms=10,
        retry_max_delay_ms=50,
        cancel_poll_interval_ms=20,
    )
    # Quotas off unless a test turns them on (tests/unit/test_core_quotas.py).
    quotas = Quotas(max_active_sessions=None, max_starts_per_minute=None, max_tokens_per_day=None)
    for name, value in {**settings.to_env(), **quotas.to_env()}.items():
        monkeypatch.setenv(name, value)
    return CoreAws(moto_endpoint, settings, ddb, sqs, SessionStore(ddb, table))


# --------------------------------------------------------------------------- worker fakes


def client_error(code: str, message: str = "boom", status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "ConverseStream"
    )


@dataclass
class Script:
    """What one model call does: yield ``deltas``, optionally fail, block or call back."""

    deltas: list[str]
    raise_on_call: BaseException | None = None
    error: BaseException | None = None
    raise_after: int | None = None  # raise ``error`` before yielding delta #n
    block_after: int | None = None  # before delta #n, block until closed (a slow model)
    on_delta: Callable[[int], None] | None = None  # runs before yielding delta #n
    stop_reason: str = "end_turn"


class FakeStream:
    def __init__(self, script: Script):
        self.script = script
        self.closed = threading.Event()
        self.blocked = threading.Event()
        self.stop_reason: str | None = None
        self.usage: dict[str, int] | None = None

    def __iter__(self):
        s = self.script
        for i, delta in enumerate(s.deltas):
            if s.raise_after == i:
                raise s.error  # type: ignore[misc]
            if s.block_after == i:
                self.blocked.set()
                if not self.closed.wait(10):
                    raise AssertionError("the worker never closed the model stream")
                return
            if self.closed.is_set():
                return
            if s.on_delta:
                s.on_delta(i)
            yield delta
        if s.raise_after == len(s.deltas):
            raise s.error  # type: ignore[misc]
        self.stop_reason = s.stop_reason
        self.usage = {"inputTokens": 3, "outputTokens": len(s.deltas), "totalTokens": 3 + len(s.deltas)}

    def close(self) -> None:
        self.closed.set()


class FakeModel:
    """Plays one Script per ``stream`` call, in order; records the jobs it was given."""

    def __init__(self, *scripts: Script):
        self.scripts = list(scripts)
        self.jobs: list[Any] = []
        self.streams: list[FakeStream] = []

    def stream(self, job: Any) -> FakeStream:
        self.jobs.append(job)
        if not self.scripts:
            raise AssertionError("model called more often than scripted")
        script = self.scripts.pop(0)
        if script.raise_on_call is not None:
            raise script.raise_on_call
        stream = FakeStream(script)
        self.streams.append(stream)
        return stream


class RecordingTransport:
    """A publish transport that records events; ``fail`` makes publish raise."""

    def __init__(self, fail: Callable[[dict[str, Any]], bool] | None = None):
        self.events: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail = fail
        self._cond = threading.Condition()

    def publish(self, event: Any) -> None:
        with self._cond:
            self.attempts += 1
        if self.fail is not None and self.fail(dict(event)):
            raise ConnectionError("appsync unreachable")
        with self._cond:
            self.events.append(dict(event))
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.events), timeout)


@dataclass
class StartedJob:
    session_id: str
    body: str
    receipt_handle: str


@pytest.fixture
def start_job(core_aws: CoreAws) -> Callable[..., StartedJob]:
    """Start a session through the real StartService and take its job off the queue."""

    service = StartService(
        store=core_aws.store, sqs=core_aws.sqs, jobs_queue_url=core_aws.settings.jobs_queue_url, limits=Limits()
    )

    def start(prompt: str = "Say hello", identity: dict[str, Any] | None = None, **input: Any) -> StartedJob:
        arguments = {"input": {"prompt": prompt, **input}} if input else {"prompt": prompt}
        session = service.start(arguments, identity or {"sub": "alice"})
        messages = core_aws.receive_jobs(max_messages=1)
        assert len(messages) == 1
        return StartedJob(session["sessionId"], messages[0]["Body"], messages[0]["ReceiptHandle"])

    return start


@pytest.fixture
def make_worker(core_aws: CoreAws) -> Callable[..., tuple[Worker, FakeModel, RecordingTransport, list[float]]]:
    """``make_worker(*scripts, transport=None, **settings)`` → (worker, model, transport, sleeps)."""

    def make(
        *scripts: Script,
        transport: RecordingTransport | None = None,
        limits: Limits | None = None,
        sleep: Callable[[float], None] | None = None,
        quotas: QuotaLedger | None = None,
        **overrides: Any,
    ):
        settings = core_aws.settings.model_copy(update=overrides)
        model = FakeModel(*scripts)
        transport = transport or RecordingTransport()
        sleeps: list[float] = []
        worker = Worker(
            store=core_aws.store,
            model=model,
            transport=transport,
            dead_letters=DeadLetterSender(core_aws.sqs, settings.dead_letter_queue_url),
            settings=settings,
            limits=limits or Limits(),
            sqs=core_aws.sqs,
            quotas=quotas,
            sleep=lambda seconds: (sleeps.append(seconds), sleep and sleep(seconds)),
            rand=lambda: 0.5,
        )
        return worker, model, transport, sleeps

    return make


@pytest.fixture
def fakes() -> Any:
    """The fake classes, for test modules (conftest is not importable by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        Script=Script, FakeModel=FakeModel, RecordingTransport=RecordingTransport, client_error=client_error
    )
