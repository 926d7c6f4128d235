"""Lambda's SQS event source mapping, locally: poll, invoke, delete what succeeded.

What it keeps from Lambda, because the process handler relies on it:

* long polling with a batch size, and a concurrency limit (``maximum_concurrency``);
* records in Lambda's SQS event shape (``messageId``, ``receiptHandle``, ``attributes``
  with ``ApproximateReceiveCount``, ``messageAttributes``, ``eventSourceARN`` ...);
* partial batch responses: only messages named in ``batchItemFailures`` stay on the queue;
  a handler that raises fails the whole batch. Failed messages are not deleted and come
  back after the visibility timeout, so the queue's redrive policy moves them to the DLQ
  after ``maxReceiveCount`` receives, exactly as in the cloud. A crashed execution
  environment (process isolation) fails its whole batch the same way.
* the mapping's ``Enabled`` flag: :meth:`SqsPoller.pause` stops receiving (returning once no
  receive is in flight, so a message sent afterwards stays on the queue) and
  :meth:`SqsPoller.resume` starts again.

Test knob: :meth:`SqsPoller.signal_session` signals the execution environment(s) running a
session's job (``SIGKILL`` = the worker crashed mid-stream).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal as signals
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from tokencast.local.lambda_runtime import LambdaInvocationError, LocalFunction

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollerConfig:
    queue_url: str
    queue_arn: str
    region: str = "us-east-1"
    batch_size: int = 1
    maximum_concurrency: int = 8
    wait_time_s: int = 1


def to_lambda_record(message: dict[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    attributes = {k: str(v) for k, v in message.get("Attributes", {}).items()}
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType", "String"),
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def session_ids(event: dict[str, Any]) -> set[str]:
    """The ``sessionId`` of each job in an SQS event (records whose body is not a job are skipped)."""
    found = set()
    for record in event.get("Records", ()):
        try:
            body = json.loads(record.get("body") or "")
        except ValueError:
            continue
        if isinstance(body, dict) and isinstance(body.get("sessionId"), str):
            found.add(body["sessionId"])
    return found


class SqsPoller:
    """Runs ``maximum_concurrency`` poll loops that feed one function."""

    def __init__(self, sqs_client: Any, function: LocalFunction, config: PollerConfig) -> None:
        self.sqs = sqs_client
        self.function = function
        self.config = config
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        # Long polls block a thread each: give them their own pool so they never starve
        # the default executor that other local pieces use.
        self._io = ThreadPoolExecutor(max_workers=config.maximum_concurrency + 1, thread_name_prefix="sqs-poll")
        self.invocations = 0
        self.failed_records = 0
        #: invocations whose execution environment died (Runtime.ExitError) or timed out
        self.crashed_invocations = 0
        self._enabled = threading.Event()
        self._enabled.set()
        self._receiving = 0
        self._receives = threading.Condition()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(i), name=f"sqs-poller-{i}") for i in range(self.config.maximum_concurrency)
        ]

    def pause(self, timeout: float = 30.0) -> bool:
        """Disable the mapping (thread-safe): no new receives; True once none is in flight."""
        self._enabled.clear()
        with self._receives:
            return self._receives.wait_for(lambda: self._receiving == 0, timeout)

    def resume(self) -> None:
        """Enable the mapping again (thread-safe)."""
        self._enabled.set()

    def signal_session(self, session_id: str, signum: int = signals.SIGKILL) -> list[int]:
        """Signal the execution environments running a job of ``session_id``; their pids.

        Needs a function with process isolation. ``SIGKILL`` is a worker crash: its
        heartbeat stops, its batch fails, and SQS hands the job out again once the
        visibility timeout the worker last set runs out.
        """
        return self.function.signal(lambda event: session_id in session_ids(event), signum)

    async def stop(self) -> None:
        self._stopping.set()
        self._enabled.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._io.shutdown(wait=False, cancel_futures=True)

    async def _io_call(self, fn: Callable[..., T], **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, lambda: fn(**kwargs))

    async def _loop(self, index: int) -> None:
        while not self._stopping.is_set():
            if not self._enabled.is_set():
                await asyncio.sleep(0.05)  # disabled: Lambda's mapping simply does not poll
                continue
            try:
                messages = await self._io_call(self._receive)
            except Exception:  # the endpoint went away or hiccuped: Lambda keeps polling
                log.exception("poller %d: receive failed", index)
                await asyncio.sleep(0.5)
                continue
            if messages:
                await self._invoke(messages)

    def _receive(self) -> list[dict[str, Any]]:
        with self._receives:
            if not self._enabled.is_set():
                return []
            self._receiving += 1
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.config.queue_url,
                MaxNumberOfMessages=self.config.batch_size,
                WaitTimeSeconds=self.config.wait_time_s,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        finally:
            with self._receives:
                self._receiving -= 1
                self._receives.notify_all()
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    async def _invoke(self, messages: list[dict[str, Any]]) -> None:
        records = [to_lambda_record(m, queue_arn=self.config.queue_arn, region=self.config.region) for m in messages]
        self.invocations += 1
        try:
            response = await self.function.invoke({"Records": records})
        except LambdaInvocationError as error:
            log.warning("%s failed its whole batch: %s", self.function.name, error.error_type)
            self.failed_records += len(records)
            if error.error_type in ("Runtime.ExitError", "Sandbox.Timedout"):
                self.crashed_invocations += 1
            return
        failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
        self.failed_records += len(failed)
        done = [
            {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
            for i, r in enumerate(records)
            if r["messageId"] not in failed
        ]
        if done:
            await self._io_call(self.sqs.delete_message_batch, QueueUrl=self.config.queue_url, Entries=done)
