"""JobResult.of: a job's result summed from the steps that returned it (tokencast/core/results.py)."""

from __future__ import annotations

import pytest

from tokencast.core.errors import PermanentError, TransientError
from tokencast.core.results import AttemptEnd, Counts, JobResult, Outcome, Speed


def test_counts_add_field_by_field():
    assert Counts(1, 2, 3) + Counts(10, 20, 30) == Counts(11, 22, 33)


def test_a_retried_job_sums_its_attempts_and_keeps_the_last_error_type_and_the_final_speed():
    throttled = AttemptEnd.failed(TransientError("model throttled", "ThrottlingException"), Counts(2, 2, 5))
    completed = AttemptEnd(Outcome.COMPLETED, Counts(4, 4, 9), speed=Speed(120.0, 40.0))
    result = JobResult.of("s1", [throttled, completed])
    assert result == JobResult(
        Outcome.COMPLETED,
        "s1",
        attempts=2,
        events=6,
        publishes=6,
        deltas=14,
        error_type="ThrottlingException",
        time_to_first_token_ms=120.0,
        tokens_per_second=40.0,
    )


def test_the_settling_step_decides_the_outcome_and_is_not_an_attempt():
    rejected = AttemptEnd.failed(PermanentError("model rejected the request", "ValidationException"), Counts(1, 1, 0))
    dead_lettered = AttemptEnd(Outcome.DEAD_LETTERED, Counts(1, 0), error_type="ValidationException")
    result = JobResult.of("s1", [rejected], dead_lettered)
    assert (result.outcome, result.attempts, result.events, result.publishes) == (Outcome.DEAD_LETTERED, 1, 2, 1)
    assert result.error_type == "ValidationException" and result.time_to_first_token_ms is None
    assert JobResult.of("s2", [], AttemptEnd(Outcome.SKIPPED)) == JobResult(Outcome.SKIPPED, "s2")


def test_a_job_cannot_end_on_an_unsettled_failure():
    with pytest.raises(ValueError, match="settled"):
        JobResult.of("s1", [AttemptEnd.failed(TransientError("model throttled", "ThrottlingException"), Counts())])
