"""One job, start to finish: attempts, retries, cancel, fencing, dead-lettering.

The worker is the only writer of a session's events. For each attempt it takes a fresh
attempt number from the session record, streams the model through a :class:`Coalescer`
(which stores then publishes), and ends the attempt with exactly one of:

- COMPLETED -- the model finished;
- CANCELLED -- the owner asked (noticed by a fenced write or an idle check; the model stream
  is closed at once and the partial text stays in the session);
- fenced -- a newer attempt owns the session (this worker is a zombie): publish nothing more;
- a transient error -- RETRYING, backoff with full jitter, then a new attempt (RESTARTED)
  in the same invocation, up to ``max_attempts`` since the job was (re)queued;
- a permanent error, or transient ones exhausted -- FAILED event, session FAILED, the
  original job body in the DLQ with its reason. The record then counts as processed.

While a job runs, its message's visibility is kept short by a heartbeat
(``Settings.visibility_timeout_s``), so a crashed worker's job is back within that time, and
the worker counts the interruptions itself: the receive after ``max_attempts`` interrupted
attempts fails the session with a FAILED event and dead-letters the job with its reason.

Anything else (DynamoDB or SQS unreachable) propagates: the message is released at once with a
short visibility (``Settings.release_visibility_s``, the backoff before its retry), the record
becomes a batch item failure and SQS redelivers it. The queue's redrive policy
(``Settings.redrive_max_receive_count``, strictly above the worker's own limit) is only the
backstop for jobs the worker cannot settle at all.

A session's terminal event (COMPLETED, FAILED, CANCELLED), once stored and before it is
published, gives the owner's quota slot back and counts the answer's tokens
(:mod:`tokencast.core.quotas`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tokencast.access import ANONYMOUS
from tokencast.config import Limits, Settings
from tokencast.core.attempt import AttemptLog
from tokencast.core.clock import parse_iso
from tokencast.core.dlq import DeadLetterSender
from tokencast.core.errors import (
    CancelRequested,
    Fenced,
    JobError,
    MalformedJob,
    PermanentError,
    PublishFailed,
    SessionGone,
    classify,
)
from tokencast.core.heartbeat import VisibilityHeartbeat
from tokencast.core.jobs import Job, parse_job
from tokencast.core.model import ModelAdapter, ModelStream
from tokencast.core.publisher import Coalescer, PublishTransport, publish_with_retries
from tokencast.core.quotas import QuotaLedger, settle_quietly
from tokencast.core.store import Begin, SessionRecord, SessionStore
from tokencast.events import EventType, SessionStatus

logger = logging.getLogger(__name__)

DLQ_SUFFIX = "job moved to the dead-letter queue"


class Outcome(StrEnum):
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    DEAD_LETTERED = "DEAD_LETTERED"
    SKIPPED = "SKIPPED"
    FENCED = "FENCED"


@dataclass
class JobResult:
    """What one ``process`` call did; the handler turns it into metrics."""

    outcome: Outcome
    session_id: str | None = None
    attempts: int = 0
    events: int = 0
    publishes: int = 0
    deltas: int = 0
    error_type: str | None = None
    #: Of the completed attempt: first model token after the job was enqueued, and tokens per
    #: second while streaming (metrics).
    time_to_first_token_ms: float | None = None
    tokens_per_second: float | None = None


@dataclass
class _AttemptEnd:
    kind: str  # completed | cancelled | fenced | error
    error: JobError | None = None


class _StreamHolder:
    """The current model stream, closable from the coalescer thread before it even exists."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stream: ModelStream | None = None
        self._closed = False

    def set(self, stream: ModelStream) -> None:
        with self._lock:
            self._stream = stream
            closed = self._closed
        if closed:
            stream.close()

    def close(self, _exc: BaseException | None = None) -> None:
        with self._lock:
            self._closed = True
            stream = self._stream
        if stream is not None:
            stream.close()


def exhausted_reason(failures: list[JobError]) -> str:
    """E.g. ``model throttled 3 times; job moved to the dead-letter queue``."""
    reasons = [f.reason for f in failures]
    if len(set(reasons)) == 1:
        return f"{reasons[0]} {len(reasons)} times; {DLQ_SUFFIX}"
    return f"{len(reasons)} attempts failed, last: {reasons[-1]}; {DLQ_SUFFIX}"


def _measure(result: JobResult, job: Job, stream: ModelStream, first_at: float | None, deltas: int) -> None:
    """The completed attempt's latency and speed, for metrics."""
    usage = stream.usage or {}
    if first_at is None:
        return
    with suppress(ValueError):  # an unreadable enqueuedAt only costs the metric
        result.time_to_first_token_ms = max(0.0, (first_at - parse_iso(job.enqueued_at).timestamp()) * 1000)
    elapsed = time.time() - first_at
    produced = int(usage.get("outputTokens") or deltas)
    if elapsed > 0 and produced:
        result.tokens_per_second = produced / elapsed


class Worker:
    """Processes job messages. Thread-compatible: one ``process`` call per thread at a time."""

    def __init__(
        self,
        *,
        store: SessionStore,
        model: ModelAdapter,
        transport: PublishTransport,
        dead_letters: DeadLetterSender,
        settings: Settings,
        limits: Limits,
        sqs: Any = None,
        quotas: QuotaLedger | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ):
        self._store = store
        self._model = model
        self._transport = transport
        self._dead_letters = dead_letters
        self._settings = settings
        self._limits = limits
        self._sqs = sqs
        self._quotas = quotas
        self._sleep = sleep
        self._rand = rand

    # --- entry ---------------------------------------------------------------------------

    def process(self, body: str, receipt_handle: str | None = None) -> JobResult:
        """Run one job message to a settled state; raise only for infrastructure failures."""
        try:
            with self._heartbeat(receipt_handle):
                try:
                    job = parse_job(body)
                except MalformedJob as exc:
                    return self._dead_letter_malformed(body, exc)
                result = self._process(job, body)
        except Exception:
            self._release_early(receipt_handle)
            raise
        return result

    def _log(self, session: SessionRecord) -> AttemptLog:
        """An attempt's log that frees the owner's quota slot once its terminal event is stored,
        before the event is published: a client that sees COMPLETED may start again at once."""
        return AttemptLog(self._store, session, on_terminal=self._settle_quota)

    def _settle_quota(self, session: SessionRecord, event: dict[str, Any]) -> None:
        tokens = int((event.get("usage") or {}).get("totalTokens") or 0)
        settle_quietly(self._quotas, session.owner or ANONYMOUS, session.session_id, tokens=tokens)

    def _release_early(self, receipt_handle: str | None) -> None:
        """Make a job that failed for an infrastructure reason visible again after a short backoff."""
        if self._sqs is None or not receipt_handle or not self._settings.jobs_queue_url:
            return
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._settings.jobs_queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=self._settings.release_visibility_s,
            )
        except Exception as exc:  # it comes back when the heartbeat's visibility runs out instead
            logger.warning("could not release the failed job early", extra={"error": type(exc).__name__})

    def _heartbeat(self, receipt_handle: str | None) -> AbstractContextManager[Any]:
        if self._sqs is None or not receipt_handle or not self._settings.jobs_queue_url:
            return nullcontext()
        return VisibilityHeartbeat(
            self._sqs,
            self._settings.jobs_queue_url,
            receipt_handle,
            visibility_timeout_s=self._settings.visibility_timeout_s,
        )

    # --- one job -------------------------------------------------------------------------

    def _process(self, job: Job, body: str) -> JobResult:
        result = JobResult(Outcome.SKIPPED, job.session_id)
        begin = self._store.begin_attempt(job.session_id, force=job.force)
        if begin.kind != "run":
            return self._not_run(begin, job, body, result)
        assert begin.session is not None and begin.previous is not None  # kind "run" carries both
        log = self._log(begin.session)
        if log.attempt == 1:
            restart_reason: str | None = None
        elif job.replay and log.attempts_used == 1:
            restart_reason = "replayed from the dead-letter queue"
        else:
            restart_reason = begin.previous.error or "previous attempt was interrupted"

        if log.attempts_used > self._settings.max_attempts:
            # Redelivered again and again: workers keep dying mid-stream (timeouts, crashes).
            reason = f"processing was interrupted {log.attempts_used - 1} times; {DLQ_SUFFIX}"
            return self._fail(log, body, reason, "Interrupted", result)
        if job.model_id not in self._limits.allowed_models:
            refused = PermanentError(f"model {job.model_id} is not allowed in this deployment", "UnknownModel")
            return self._fail(log, body, f"{refused.reason}; {DLQ_SUFFIX}", refused.error_type, result)

        failures: list[JobError] = []
        while True:
            result.attempts += 1
            end = self._attempt(job, log, restart_reason, result)
            if end.kind == "completed":
                result.outcome = Outcome.COMPLETED
                return result
            if end.kind == "cancelled":
                result.outcome = Outcome.CANCELLED
                return result
            if end.kind == "fenced":
                result.outcome = Outcome.FENCED
                return result
            error = end.error
            assert error is not None
            result.error_type = error.error_type
            logger.warning(
                "attempt failed",
                extra={"attempt": log.attempt, "errorType": error.error_type, "transient": error.transient},
            )
            if not error.transient:
                return self._fail(log, body, f"{error.reason}; {DLQ_SUFFIX}", error.error_type, result)
            failures.append(error)
            if log.attempts_used >= self._settings.max_attempts:
                return self._fail(log, body, exhausted_reason(failures), error.error_type, result)
            try:
                self._store.set_retrying(log.session_id, log.attempt, error.reason)
                self._backoff(len(failures), log)
            except (Fenced, SessionGone):
                result.outcome = Outcome.FENCED
                return result
            except CancelRequested:
                return self._cancelled(log, result)
            begin = self._store.begin_attempt(job.session_id)
            if begin.kind != "run":
                return self._not_run(begin, job, body, result)
            assert begin.session is not None
            log = self._log(begin.session)
            restart_reason = error.reason

    def _not_run(self, begin: Begin, job: Job, body: str, result: JobResult) -> JobResult:
        if begin.kind == "missing":
            logger.warning("job for a session that does not exist; acknowledged")
            return result
        assert begin.session is not None
        if begin.kind == "cancel":
            return self._cancelled(self._log(begin.session), result)
        session = begin.session
        if session.status == SessionStatus.FAILED and not session.dead_lettered:
            # A worker stored FAILED and stopped before the DLQ send: finish its job.
            self._dead_letters.send(
                body,
                reason=session.error or "failed",
                error_type="Interrupted",
                session_id=job.session_id,
                attempts=session.attempt - session.attempt_base,
            )
            self._store.mark_dead_lettered(job.session_id)
            result.outcome = Outcome.DEAD_LETTERED
            return result
        logger.info("duplicate delivery of a settled session; acknowledged", extra={"status": session.status.value})
        return result

    # --- one attempt ---------------------------------------------------------------------

    def _attempt(self, job: Job, log: AttemptLog, restart_reason: str | None, result: JobResult) -> _AttemptEnd:
        holder = _StreamHolder()
        coalescer = Coalescer(
            log.append,
            self._transport,
            window_s=self._settings.flush_window_ms / 1000,
            coalesce=self._settings.coalesce,
            delay_budget_s=self._settings.delay_budget_ms / 1000 or None,
            idle_check=log.check,
            idle_interval_s=self._settings.cancel_poll_interval_ms / 1000,
            on_failure=holder.close,
        ).start()
        if restart_reason is None:
            coalescer.emit(EventType.STARTED)
        else:
            coalescer.emit(EventType.RESTARTED, error=restart_reason)
        model_error: BaseException | None = None
        stream: ModelStream | None = None
        first_at: float | None = None
        try:
            stream = self._model.stream(job)
            holder.set(stream)
            for delta in stream:
                if coalescer.failure is not None:
                    break
                if first_at is None:
                    first_at = time.time()
                coalescer.add(delta)
        except Exception as exc:  # classified below, unless we caused it by closing
            model_error = exc
        try:
            if coalescer.failure is None and model_error is None:
                assert stream is not None
                coalescer.finish(EventType.COMPLETED, stop_reason=stream.stop_reason, usage=stream.usage)
                _measure(result, job, stream, first_at, coalescer.stats.deltas)
                return _AttemptEnd("completed")
            if coalescer.failure is None:
                holder.close()
                coalescer.drain()  # keep what the model did say in this attempt's log
                return _AttemptEnd("error", classify(model_error))  # type: ignore[arg-type]
        except Exception:
            pass  # coalescer.failure says why
        finally:
            result.events += coalescer.stats.events
            result.publishes += coalescer.stats.publishes
            result.deltas += coalescer.stats.deltas
        coalescer.abort()
        holder.close()
        return self._after_stop(coalescer.failure, log, result)

    def _after_stop(self, failure: BaseException | None, log: AttemptLog, result: JobResult) -> _AttemptEnd:
        if isinstance(failure, (Fenced, SessionGone)):
            logger.info("attempt superseded; stopping without publishing", extra={"attempt": log.attempt})
            return _AttemptEnd("fenced")
        if isinstance(failure, CancelRequested):
            end = self._cancelled(log, result)
            return _AttemptEnd("cancelled" if end.outcome == Outcome.CANCELLED else "fenced")
        if isinstance(failure, PublishFailed):
            return _AttemptEnd("error", failure)
        assert failure is not None
        raise failure

    def _cancelled(self, log: AttemptLog, result: JobResult) -> JobResult:
        try:
            event = log.append(EventType.CANCELLED)
        except (Fenced, SessionGone):
            result.outcome = Outcome.FENCED
            return result
        result.events += 1
        result.publishes += publish_with_retries(self._transport, event, sleep=self._sleep)
        result.outcome = Outcome.CANCELLED
        return result

    def _backoff(self, failures: int, log: AttemptLog) -> None:
        """Full jitter, in slices of the cancel poll interval so a cancel is not kept waiting."""
        cap_ms = min(self._settings.retry_max_delay_ms, self._settings.retry_base_delay_ms * 2 ** (failures - 1))
        remaining = self._rand() * cap_ms / 1000
        poll = self._settings.cancel_poll_interval_ms / 1000
        while remaining > 0:
            step = min(remaining, poll)
            self._sleep(step)
            remaining -= step
            log.check()

    # --- failure -------------------------------------------------------------------------

    def _fail(self, log: AttemptLog, body: str, reason: str, error_type: str, result: JobResult) -> JobResult:
        """FAILED event, session FAILED, original body to the DLQ -- in that order."""
        try:
            event = log.append(EventType.FAILED, error=reason)
        except (Fenced, SessionGone):
            result.outcome = Outcome.FENCED
            return result
        result.events += 1
        result.publishes += publish_with_retries(self._transport, event, sleep=self._sleep)
        self._dead_letters.send(
            body, reason=reason, error_type=error_type, session_id=log.session_id, attempts=log.attempts_used
        )
        self._store.mark_dead_lettered(log.session_id)
        result.outcome = Outcome.DEAD_LETTERED
        result.error_type = error_type
        logger.warning("job dead-lettered", extra={"errorType": error_type, "attempts": log.attempts_used})
        return result

    def _dead_letter_malformed(self, body: str, exc: MalformedJob) -> JobResult:
        result = JobResult(Outcome.DEAD_LETTERED, exc.session_id, error_type=exc.error_type)
        reason = f"{exc.reason}; {DLQ_SUFFIX}"
        if exc.session_id:
            begin = self._store.begin_attempt(exc.session_id)
            if begin.kind in ("run", "cancel"):
                assert begin.session is not None
                return self._fail(self._log(begin.session), body, reason, exc.error_type, result)
            if begin.kind == "skip" and begin.session is not None and begin.session.dead_lettered:
                result.outcome = Outcome.SKIPPED
                return result
        logger.warning("malformed job dead-lettered", extra={"errorType": exc.error_type})
        self._dead_letters.send(body, reason=reason, error_type=exc.error_type, session_id=exc.session_id, attempts=0)
        return result
