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

The first attempt's model request goes out while the attempt is being taken
(:mod:`tokencast.core.early_stream`), once the session's record shows it can run.

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
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

from tokencast.access import ANONYMOUS
from tokencast.config import Limits, Settings
from tokencast.core.attempt import AttemptLog
from tokencast.core.coalescer import Coalescer
from tokencast.core.dlq import DeadLetterSender
from tokencast.core.early_stream import EarlyStream
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
from tokencast.core.publisher import PublishTransport, publish_with_retries
from tokencast.core.quotas import QuotaLedger, settle_quietly
from tokencast.core.records import Begin, BeginKind, SessionRecord
from tokencast.core.results import AttemptEnd, Counts, JobResult, Outcome, Speed
from tokencast.core.store import SessionStore
from tokencast.events import EventType, SessionStatus

logger = logging.getLogger(__name__)

DLQ_SUFFIX = "job moved to the dead-letter queue"


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


def _counts(coalescer: Coalescer) -> Counts:
    stats = coalescer.stats
    return Counts(stats.events, stats.publishes, stats.deltas)


class Worker:
    """Processes job messages. Thread-compatible: one ``process`` call per thread at a time.

    Each step (a model attempt, a cancel, a dead-lettering) returns its
    :class:`~tokencast.core.results.AttemptEnd`; ``process`` sums them into one
    :class:`~tokencast.core.results.JobResult` when the job is settled.
    """

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
        #: opens the first attempt's model stream while the attempt is taken (EarlyStream)
        self._openers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="model-open")

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
        asked: list[EarlyStream] = []

        def ask_the_model_early(seen: SessionRecord) -> None:
            if self._may_stream(job) and seen.attempt + 1 - seen.attempt_base <= self._settings.max_attempts:
                asked.append(EarlyStream.request(self._model, job, self._openers))

        try:
            begin = self._store.begin_attempt(job.session_id, force=job.force, will_run=ask_the_model_early)
            return self._begun(job, body, begin, asked[0] if asked else None)
        finally:
            for early in asked:
                early.discard()

    def _may_stream(self, job: Job) -> bool:
        return job.model_id in self._limits.allowed_models

    def _begun(self, job: Job, body: str, begin: Begin, early: EarlyStream | None) -> JobResult:
        if begin.kind is not BeginKind.RUN:
            return JobResult.of(job.session_id, [], self._not_run(begin, job, body))
        assert begin.session is not None and begin.previous is not None  # RUN carries both
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
            return JobResult.of(job.session_id, [], self._fail(log, body, reason, "Interrupted"))
        if not self._may_stream(job):
            refused = PermanentError(f"model {job.model_id} is not allowed in this deployment", "UnknownModel")
            settled = self._fail(log, body, f"{refused.reason}; {DLQ_SUFFIX}", refused.error_type)
            return JobResult.of(job.session_id, [], settled)
        return self._attempts(job, body, log, restart_reason, early)

    def _attempts(
        self, job: Job, body: str, log: AttemptLog, restart_reason: str | None, early: EarlyStream | None
    ) -> JobResult:
        """Model attempts until one settles the job, with a backoff before each retry."""
        tried: list[AttemptEnd] = []
        failures: list[JobError] = []
        while True:
            end = self._attempt(job, log, restart_reason, early)
            early = None  # a retry asks the model again
            tried.append(end)
            if end.error is None:
                return JobResult.of(job.session_id, tried)
            error = end.error
            logger.warning(
                "attempt failed",
                extra={"attempt": log.attempt, "errorType": error.error_type, "transient": error.transient},
            )
            if not error.transient:
                settled = self._fail(log, body, f"{error.reason}; {DLQ_SUFFIX}", error.error_type)
                return JobResult.of(job.session_id, tried, settled)
            failures.append(error)
            if log.attempts_used >= self._settings.max_attempts:
                settled = self._fail(log, body, exhausted_reason(failures), error.error_type)
                return JobResult.of(job.session_id, tried, settled)
            try:
                self._store.set_retrying(log.session_id, log.attempt, error.reason)
                self._backoff(len(failures), log)
            except (Fenced, SessionGone):
                return JobResult.of(job.session_id, tried, AttemptEnd(Outcome.FENCED))
            except CancelRequested:
                return JobResult.of(job.session_id, tried, self._cancelled(log))
            begin = self._store.begin_attempt(job.session_id)
            if begin.kind is not BeginKind.RUN:
                return JobResult.of(job.session_id, tried, self._not_run(begin, job, body))
            assert begin.session is not None
            log = self._log(begin.session)
            restart_reason = error.reason

    def _not_run(self, begin: Begin, job: Job, body: str) -> AttemptEnd:
        """Settle a job whose session gave it no attempt to stream."""
        if begin.kind is BeginKind.MISSING:
            logger.warning("job for a session that does not exist; acknowledged")
            return AttemptEnd(Outcome.SKIPPED)
        assert begin.session is not None
        if begin.kind is BeginKind.CANCEL:
            return self._cancelled(self._log(begin.session))
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
            return AttemptEnd(Outcome.DEAD_LETTERED)
        logger.info("duplicate delivery of a settled session; acknowledged", extra={"status": session.status.value})
        return AttemptEnd(Outcome.SKIPPED)

    # --- one attempt ---------------------------------------------------------------------

    def _attempt(self, job: Job, log: AttemptLog, restart_reason: str | None, early: EarlyStream | None) -> AttemptEnd:
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
        model_error: Exception | None = None
        stream: ModelStream | None = None
        first_at: float | None = None
        try:
            stream = early.take() if early is not None else self._model.stream(job)
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
                speed = Speed.measure(job, stream, first_at, coalescer.stats.deltas)
                return AttemptEnd(Outcome.COMPLETED, _counts(coalescer), speed=speed)
            if coalescer.failure is None:
                assert model_error is not None
                holder.close()
                coalescer.drain()  # keep what the model did say in this attempt's log
                return AttemptEnd.failed(classify(model_error), _counts(coalescer))
        except Exception:
            pass  # coalescer.failure says why
        counts = _counts(coalescer)
        coalescer.abort()
        holder.close()
        return self._after_stop(coalescer.failure, log, counts)

    def _after_stop(self, failure: BaseException | None, log: AttemptLog, counts: Counts) -> AttemptEnd:
        """The attempt's end once storing or publishing stopped it."""
        if isinstance(failure, (Fenced, SessionGone)):
            logger.info("attempt superseded; stopping without publishing", extra={"attempt": log.attempt})
            return AttemptEnd(Outcome.FENCED, counts)
        if isinstance(failure, CancelRequested):
            cancelled = self._cancelled(log)
            return replace(cancelled, counts=counts + cancelled.counts)
        if isinstance(failure, PublishFailed):
            return AttemptEnd.failed(failure, counts)
        assert failure is not None
        raise failure

    def _cancelled(self, log: AttemptLog) -> AttemptEnd:
        counts = self._settling_event(log, EventType.CANCELLED)
        return AttemptEnd(Outcome.FENCED) if counts is None else AttemptEnd(Outcome.CANCELLED, counts)

    def _settling_event(self, log: AttemptLog, type: EventType, **fields: Any) -> Counts | None:
        """Store a CANCELLED or FAILED event, then publish it; None if a newer attempt owns the session.

        Its publish may fail: the event is stored, and settling the job must not wait on AppSync.
        """
        try:
            event = log.append(type, **fields)
        except (Fenced, SessionGone):
            return None
        published = publish_with_retries(self._transport, event, sleep=self._sleep)
        return Counts(events=1, publishes=int(published))

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

    def _fail(self, log: AttemptLog, body: str, reason: str, error_type: str) -> AttemptEnd:
        """FAILED event, session FAILED, original body to the DLQ -- in that order."""
        counts = self._settling_event(log, EventType.FAILED, error=reason)
        if counts is None:
            return AttemptEnd(Outcome.FENCED)
        self._dead_letters.send(
            body, reason=reason, error_type=error_type, session_id=log.session_id, attempts=log.attempts_used
        )
        self._store.mark_dead_lettered(log.session_id)
        logger.warning("job dead-lettered", extra={"errorType": error_type, "attempts": log.attempts_used})
        return AttemptEnd(Outcome.DEAD_LETTERED, counts, error_type=error_type)

    def _dead_letter_malformed(self, body: str, exc: MalformedJob) -> JobResult:
        reason = f"{exc.reason}; {DLQ_SUFFIX}"
        if exc.session_id:
            begin = self._store.begin_attempt(exc.session_id)
            if begin.kind in (BeginKind.RUN, BeginKind.CANCEL):
                assert begin.session is not None
                settled = self._fail(self._log(begin.session), body, reason, exc.error_type)
                return JobResult.of(exc.session_id, [], replace(settled, error_type=exc.error_type))
            if begin.kind is BeginKind.SKIP and begin.session is not None and begin.session.dead_lettered:
                return JobResult(Outcome.SKIPPED, exc.session_id, error_type=exc.error_type)
        logger.warning("malformed job dead-lettered", extra={"errorType": exc.error_type})
        self._dead_letters.send(body, reason=reason, error_type=exc.error_type, session_id=exc.session_id, attempts=0)
        return JobResult(Outcome.DEAD_LETTERED, exc.session_id, error_type=exc.error_type)
