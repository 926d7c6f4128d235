"""The dead-letter queue: how jobs get there with their reason, and how they come back.

:class:`DeadLetterSender` is the worker's side: the *original* job body plus message
attributes saying why, so an operator sees the reason without opening the session.
:class:`DeadLetterQueue` is the operator's side (``tokencast dlq``): list, show, replay,
purge. It uses only ReceiveMessage / ChangeMessageVisibility / SendMessage / DeleteMessage,
so it works the same against SQS and moto (which lacks ``StartMessageMoveTask``). Peeking
hides messages for a short while and then releases them again.

Jobs moved here by the queue's redrive policy (a worker crashed ``maxReceiveCount`` times)
have no ``tokencast.*`` attributes; they are listed with reason "redriven by SQS".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from tokencast.core.clock import Clock, iso, parse_iso, utc_now
from tokencast.core.errors import MalformedJob
from tokencast.core.jobs import parse_job, replay_body
from tokencast.core.store import SessionStore
from tokencast.events import SessionStatus

ATTR_REASON = "tokencast.reason"
ATTR_ERROR_TYPE = "tokencast.errorType"
ATTR_SESSION_ID = "tokencast.sessionId"
ATTR_ATTEMPTS = "tokencast.attempts"
ATTR_FAILED_AT = "tokencast.failedAt"

_MAX_ATTRIBUTE_CHARS = 1000


class DeadLetterSender:
    """Sends a failed job's original body to the DLQ with ``tokencast.*`` attributes."""

    def __init__(self, sqs: Any, queue_url: str, *, clock: Clock = utc_now):
        self._sqs = sqs
        self._url = queue_url
        self._clock = clock

    def send(self, body: str, *, reason: str, error_type: str, session_id: str | None, attempts: int) -> str:
        attributes = {
            ATTR_REASON: {"DataType": "String", "StringValue": reason[:_MAX_ATTRIBUTE_CHARS] or "unknown"},
            ATTR_ERROR_TYPE: {"DataType": "String", "StringValue": error_type or "Unknown"},
            ATTR_ATTEMPTS: {"DataType": "Number", "StringValue": str(attempts)},
            ATTR_FAILED_AT: {"DataType": "String", "StringValue": iso(self._clock())},
        }
        if session_id:
            attributes[ATTR_SESSION_ID] = {"DataType": "String", "StringValue": session_id}
        out = self._sqs.send_message(QueueUrl=self._url, MessageBody=body, MessageAttributes=attributes)
        return str(out["MessageId"])


@dataclass(frozen=True)
class DeadJob:
    """One message in the DLQ, as an operator wants to see it."""

    message_id: str
    session_id: str | None
    owner: str | None
    model_id: str | None
    reason: str
    error_type: str | None
    attempts: int | None
    failed_at: str | None
    age_s: float
    receive_count: int
    body: str
    receipt_handle: str

    def to_dict(self, *, with_body: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data.pop("receipt_handle")
        if not with_body:
            data.pop("body")
        return data


class ReplayAction(StrEnum):
    """What a replay did with one dead-lettered job."""

    REPLAYED = "replayed"
    WOULD_REPLAY = "would-replay"  # a dry run
    REFUSED = "refused"


@dataclass(frozen=True)
class ReplayResult:
    message_id: str
    session_id: str | None
    action: ReplayAction
    reason: str = ""


def _attr(message: dict[str, Any], name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name)
    return value.get("StringValue") if value else None


class DeadLetterQueue:
    """Operator operations on the DLQ; ``session_ids=None`` means every message."""

    def __init__(
        self,
        sqs: Any,
        dead_letter_queue_url: str,
        jobs_queue_url: str,
        store: SessionStore,
        *,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        peek_visibility_s: int = 30,
    ):
        self._sqs = sqs
        self._dlq = dead_letter_queue_url
        self._jobs = jobs_queue_url
        self._store = store
        self._clock = clock
        self._sleep = sleep
        self._peek = peek_visibility_s

    # --- reading -------------------------------------------------------------------------

    def _receive_all(self, limit: int) -> list[dict[str, Any]]:
        """Receive (and so hide for ``peek_visibility_s``) up to ``limit`` messages."""
        messages: list[dict[str, Any]] = []
        while len(messages) < limit:
            out = self._sqs.receive_message(
                QueueUrl=self._dlq,
                MaxNumberOfMessages=min(10, limit - len(messages)),
                VisibilityTimeout=self._peek,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            batch = out.get("Messages", [])
            if not batch:
                break
            messages.extend(batch)
        return messages

    def _release(self, messages: list[dict[str, Any]]) -> None:
        for i in range(0, len(messages), 10):
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for n, m in enumerate(messages[i : i + 10])
            ]
            if entries:
                self._sqs.change_message_visibility_batch(QueueUrl=self._dlq, Entries=entries)

    def _describe(self, message: dict[str, Any]) -> DeadJob:
        body = message.get("Body", "")
        try:
            data = json.loads(body)
            data = data if isinstance(data, dict) else {}
        except ValueError:
            data = {}
        attributes = message.get("Attributes", {})
        failed_at = _attr(message, ATTR_FAILED_AT)
        now = self._clock()
        if failed_at:
            age = (now - parse_iso(failed_at)).total_seconds()
        else:
            sent_ms = int(attributes.get("SentTimestamp", "0") or 0)
            age = now.timestamp() - sent_ms / 1000 if sent_ms else 0.0
        attempts = _attr(message, ATTR_ATTEMPTS)
        return DeadJob(
            message_id=message["MessageId"],
            session_id=_attr(message, ATTR_SESSION_ID)
            or (data.get("sessionId") if isinstance(data.get("sessionId"), str) else None),
            owner=data.get("owner") if isinstance(data.get("owner"), str) else None,
            model_id=data.get("modelId") if isinstance(data.get("modelId"), str) else None,
            reason=_attr(message, ATTR_REASON) or "redriven by SQS after repeated receives",
            error_type=_attr(message, ATTR_ERROR_TYPE),
            attempts=int(attempts) if attempts and attempts.isdigit() else None,
            failed_at=failed_at,
            age_s=max(age, 0.0),
            receive_count=int(attributes.get("ApproximateReceiveCount", "0") or 0),
            body=body,
            receipt_handle=message["ReceiptHandle"],
        )

    def list_jobs(self, *, limit: int = 1000) -> list[DeadJob]:
        """Peek at up to ``limit`` dead jobs, oldest failure first; they stay in the queue."""
        messages = self._receive_all(limit)
        try:
            jobs = [self._describe(m) for m in messages]
        finally:
            self._release(messages)
        return sorted(jobs, key=lambda j: -j.age_s)

    def show(self, message_id: str) -> DeadJob | None:
        return next((job for job in self.list_jobs() if job.message_id == message_id), None)

    # --- writing -------------------------------------------------------------------------

    def replay(
        self,
        session_ids: Collection[str] | None = None,
        *,
        dry_run: bool = False,
        rate_per_s: float | None = None,
        force: bool = False,
        limit: int = 1000,
    ) -> list[ReplayResult]:
        """Send dead jobs back to the jobs queue as new attempts of their sessions.

        Each session goes back to QUEUED with a fresh attempt budget, then the job (marked
        ``replay``, and ``force`` if given) is sent and only then deleted from the DLQ, so a
        crash in between duplicates a job (which fencing absorbs) rather than losing it.
        A COMPLETED session is refused unless ``force``.
        """
        wanted = set(session_ids) if session_ids is not None else None
        messages = self._receive_all(limit)
        results: list[ReplayResult] = []
        untouched: list[dict[str, Any]] = []
        sent = 0
        try:
            for message in messages:
                job = self._describe(message)
                if wanted is not None and job.session_id not in wanted:
                    untouched.append(message)
                    continue
                refusal = self._refusal(job, force)
                if refusal:
                    results.append(ReplayResult(job.message_id, job.session_id, ReplayAction.REFUSED, refusal))
                    untouched.append(message)
                    continue
                if dry_run:
                    results.append(ReplayResult(job.message_id, job.session_id, ReplayAction.WOULD_REPLAY))
                    untouched.append(message)
                    continue
                if sent and rate_per_s:
                    self._sleep(1.0 / rate_per_s)
                assert job.session_id is not None
                if self._store.requeue(job.session_id, force=force) is None:
                    results.append(
                        ReplayResult(job.message_id, job.session_id, ReplayAction.REFUSED, "session changed; try again")
                    )
                    untouched.append(message)
                    continue
                self._sqs.send_message(QueueUrl=self._jobs, MessageBody=replay_body(job.body, force=force))
                self._sqs.delete_message(QueueUrl=self._dlq, ReceiptHandle=job.receipt_handle)
                sent += 1
                results.append(ReplayResult(job.message_id, job.session_id, ReplayAction.REPLAYED))
        except BaseException:
            handled = {r.message_id for r in results if r.action is ReplayAction.REPLAYED}
            untouched = [m for m in messages if m["MessageId"] not in handled]
            raise
        finally:
            self._release(untouched)
        return results

    def _refusal(self, job: DeadJob, force: bool) -> str:
        try:
            parse_job(job.body)
        except MalformedJob as exc:
            return f"job cannot be replayed: {exc.reason}"
        assert job.session_id is not None
        session = self._store.get(job.session_id)
        if session is None:
            return "session not found (expired or deleted)"
        if session.status == SessionStatus.COMPLETED and not force:
            return "session is COMPLETED; replay with force to run it again"
        return ""

    def purge(self, session_ids: Collection[str] | None = None, *, limit: int = 10_000) -> int:
        """Delete dead jobs (all, or those of ``session_ids``); returns how many."""
        wanted = set(session_ids) if session_ids is not None else None
        messages = self._receive_all(limit)
        keep: list[dict[str, Any]] = []
        deleted = 0
        try:
            for message in messages:
                job = self._describe(message)
                if wanted is not None and job.session_id not in wanted:
                    keep.append(message)
                    continue
                self._sqs.delete_message(QueueUrl=self._dlq, ReceiptHandle=message["ReceiptHandle"])
                deleted += 1
        finally:
            self._release(keep)
        return deleted
