"""What the worker's steps return: each step's :class:`AttemptEnd`, the job's :class:`JobResult`.

The worker never mutates a result while it runs: every step (a model attempt, a cancel, a
dead-lettering) returns how it ended and what it counted, and :meth:`JobResult.of` sums the
steps once the job is settled. The Lambda handler turns the result into logs and metrics.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum

from tokencast.core.clock import parse_iso
from tokencast.core.errors import JobError
from tokencast.core.jobs import Job
from tokencast.core.model import ModelStream


class Outcome(StrEnum):
    """How a job (or one step of it) ended; the handler's metric names derive from it."""

    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    DEAD_LETTERED = "DEAD_LETTERED"
    SKIPPED = "SKIPPED"
    FENCED = "FENCED"


@dataclass(frozen=True)
class Counts:
    """Events stored, events published and model deltas seen -- summed over a job's steps."""

    events: int = 0
    publishes: int = 0
    deltas: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.events + other.events, self.publishes + other.publishes, self.deltas + other.deltas)


@dataclass(frozen=True)
class Speed:
    """Of a completed attempt: first model token after the job was enqueued, and tokens per
    second while streaming (metrics)."""

    time_to_first_token_ms: float | None = None
    tokens_per_second: float | None = None

    @classmethod
    def measure(cls, job: Job, stream: ModelStream, first_at: float | None, deltas: int) -> Speed:
        """The completed attempt's latency and speed; ``first_at`` is when its first delta came."""
        if first_at is None:
            return cls()
        usage = stream.usage or {}
        first_ms: float | None = None
        with suppress(ValueError):  # an unreadable enqueuedAt only costs the metric
            first_ms = max(0.0, (first_at - parse_iso(job.enqueued_at).timestamp()) * 1000)
        elapsed = time.time() - first_at
        produced = int(usage.get("outputTokens") or deltas)
        return cls(first_ms, produced / elapsed if elapsed > 0 and produced else None)


@dataclass(frozen=True)
class AttemptEnd:
    """How one step of a job ended: a model attempt, or the settling that follows it.

    ``outcome`` is None when the attempt failed with ``error`` and the job goes on (a retry)
    or is settled by a further step (dead-lettering). ``error_type`` is what the step failed
    with, if it did.
    """

    outcome: Outcome | None
    counts: Counts = Counts()
    error: JobError | None = None
    error_type: str | None = None
    speed: Speed = Speed()

    @classmethod
    def failed(cls, error: JobError, counts: Counts) -> AttemptEnd:
        return cls(None, counts, error=error, error_type=error.error_type)


@dataclass(frozen=True)
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

    @classmethod
    def of(cls, session_id: str | None, attempts: list[AttemptEnd], settled: AttemptEnd | None = None) -> JobResult:
        """The job's result from its model attempts and the step that settled it, if any."""
        steps = [*attempts, settled] if settled is not None else attempts
        last = steps[-1]
        if last.outcome is None:
            raise ValueError("a job ends with a step that settled it, not with a failed attempt")
        counts = sum((step.counts for step in steps), Counts())
        error_types = [step.error_type for step in steps if step.error_type]
        return cls(
            last.outcome,
            session_id,
            attempts=len(attempts),
            events=counts.events,
            publishes=counts.publishes,
            deltas=counts.deltas,
            error_type=error_types[-1] if error_types else None,
            time_to_first_token_ms=last.speed.time_to_first_token_ms,
            tokens_per_second=last.speed.tokens_per_second,
        )
