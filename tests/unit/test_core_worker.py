"""The worker end to end against moto, with a scripted model and a recording transport.

Every scenario asserts the invariants a client relies on: events stored before they are
published, ``(attempt, seq)`` contiguous from 1 per attempt, exactly one terminal event, and
the final text a subscriber would assemble equal to the last attempt's model output.
"""

from __future__ import annotations

import json
import threading

import pytest
from botocore.exceptions import ClientError

from tokencast.config import Limits
from tokencast.core.dlq import ATTR_ATTEMPTS, ATTR_ERROR_TYPE, ATTR_FAILED_AT, ATTR_REASON, ATTR_SESSION_ID
from tokencast.core.results import Outcome
from tokencast.core.sessions import SessionService
from tokencast.events import SessionStatus

WORDS = [f"w{i} " for i in range(60)]


def stored(core_aws, session_id):
    return core_aws.store.events(session_id, limit=1000).items


def assert_well_formed(events):
    """Ordered by (attempt, seq), seq 1.. with no gaps per attempt, one terminal event last."""
    keys = [(e["attempt"], e["seq"]) for e in events]
    assert keys == sorted(keys)
    for attempt in {a for a, _ in keys}:
        seqs = [s for a, s in keys if a == attempt]
        assert seqs == list(range(1, len(seqs) + 1))
    assert [e["isComplete"] for e in events] == [False] * (len(events) - 1) + [True]
    first_of = {}
    for e in events:
        first_of.setdefault(e["attempt"], e["type"])
    for attempt, kind in first_of.items():
        assert kind in (("STARTED",) if attempt == 1 else ("RESTARTED",)) or (
            kind in ("CANCELLED", "FAILED") and e["seq"] == 1
        )


def client_text(events):
    """What a subscriber shows: the tokens of the highest attempt seen."""
    last = max(e["attempt"] for e in events)
    return "".join(
        e["token"]
        for e in sorted(events, key=lambda e: (e["attempt"], e["seq"]))
        if e["attempt"] == last and e["type"] == "TOKEN"
    )


def dead_letters(core_aws):
    return core_aws.receive_jobs(core_aws.settings.dead_letter_queue_url)


def test_completed_stream_is_stored_then_published_in_order(core_aws, start_job, make_worker, fakes):
    job = start_job("Say hello")
    worker, model, transport, _ = make_worker(fakes.Script(WORDS))
    result = worker.process(job.body)
    assert result.outcome == Outcome.COMPLETED and result.attempts == 1
    events = stored(core_aws, job.session_id)
    assert_well_formed(events)
    assert events[0]["type"] == "STARTED" and events[0]["token"] == "" and events[-1]["type"] == "COMPLETED"
    assert events[-1]["stopReason"] == "end_turn" and events[-1]["usage"]["outputTokens"] == len(WORDS)
    assert transport.events == events  # every published event is the stored one, in the same order
    assert client_text(transport.events) == "".join(WORDS)
    session = core_aws.store.get(job.session_id)
    assert (session.status, session.text, session.last_seq, session.attempt) == (
        SessionStatus.COMPLETED,
        "".join(WORDS),
        len(events),
        1,
    )
    assert session.usage["totalTokens"] == 3 + len(WORDS)
    assert model.jobs[0].messages[-1].text == "Say hello"


def test_tokens_are_coalesced_not_one_mutation_each(core_aws, start_job, make_worker, fakes):
    job = start_job()
    deltas = [f"t{i}" for i in range(300)]
    worker, _, transport, _ = make_worker(fakes.Script(deltas), flush_window_ms=50)
    result = worker.process(job.body)
    tokens = [e for e in transport.events if e["type"] == "TOKEN"]
    assert result.deltas == 300 and "".join(e["token"] for e in tokens) == "".join(deltas)
    # a model this fast outruns the STARTED publish, so everything merges behind it
    assert 1 <= len(tokens) <= 10, f"{len(tokens)} publishes for 300 deltas"
    assert result.publishes == len(transport.events)


def test_transient_error_restarts_as_a_new_attempt(core_aws, start_job, make_worker, fakes):
    job = start_job()
    throttled = fakes.Script(
        ["Hel", "lo, wo"], error=fakes.client_error("ThrottlingException", status=400), raise_after=2
    )
    worker, model, transport, sleeps = make_worker(throttled, fakes.Script(["Hello", " world"]))
    result = worker.process(job.body)
    assert result.outcome == Outcome.COMPLETED and result.attempts == 2 and len(model.jobs) == 2
    assert result.error_type == "ThrottlingException" and result.deltas == 4
    events = stored(core_aws, job.session_id)
    assert_well_formed(events)
    assert result.events == len(events) and result.publishes == len(transport.events)
    restarted = next(e for e in events if e["attempt"] == 2)
    assert (restarted["type"], restarted["seq"], restarted["error"]) == ("RESTARTED", 1, "model throttled")
    assert client_text(transport.events) == "Hello world" == core_aws.store.get(job.session_id).text
    assert len(sleeps) >= 1 and 0 < sum(sleeps) <= core_aws.settings.retry_base_delay_ms / 1000


def test_permanent_error_fails_at_once_and_dead_letters_the_original_job(core_aws, start_job, make_worker, fakes):
    job = start_job()
    worker, model, transport, _ = make_worker(
        fakes.Script([], raise_on_call=fakes.client_error("ValidationException", "bad input"))
    )
    result = worker.process(job.body)
    assert result.outcome == Outcome.DEAD_LETTERED and len(model.jobs) == 1
    events = stored(core_aws, job.session_id)
    assert_well_formed(events)
    assert [e["type"] for e in events] == ["STARTED", "FAILED"]
    assert (result.attempts, result.events, result.publishes, result.error_type) == (1, 2, 2, "ValidationException")
    assert events[-1]["error"] == "model rejected the request: bad input; job moved to the dead-letter queue"
    assert transport.events[-1]["type"] == "FAILED"
    session = core_aws.store.get(job.session_id)
    assert session.status == SessionStatus.FAILED and session.error == events[-1]["error"]
    [message] = dead_letters(core_aws)
    assert message["Body"] == job.body
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes[ATTR_REASON] == session.error and attributes[ATTR_ERROR_TYPE] == "ValidationException"
    assert attributes[ATTR_SESSION_ID] == job.session_id and attributes[ATTR_ATTEMPTS] == "1"
    assert attributes[ATTR_FAILED_AT].endswith("Z")


def test_exhausted_attempts_dead_letter_the_job_with_a_readable_reason(core_aws, start_job, make_worker, fakes):
    job = start_job()
    throttle = lambda: fakes.Script([], raise_on_call=fakes.client_error("ThrottlingException"))
    worker, model, transport, sleeps = make_worker(throttle(), throttle(), throttle(), max_attempts=3)
    result = worker.process(job.body)
    assert result.outcome == Outcome.DEAD_LETTERED and len(model.jobs) == 3 and len(sleeps) >= 2
    events = stored(core_aws, job.session_id)
    assert_well_formed(events)
    assert [(e["attempt"], e["type"]) for e in events] == [
        (1, "STARTED"),
        (2, "RESTARTED"),
        (3, "RESTARTED"),
        (3, "FAILED"),
    ]
    session = core_aws.store.get(job.session_id)
    assert session.error == "model throttled 3 times; job moved to the dead-letter queue"
    [message] = dead_letters(core_aws)
    assert message["MessageAttributes"][ATTR_ATTEMPTS]["StringValue"] == "3"


def test_publish_failures_count_as_transient(core_aws, start_job, make_worker, fakes):
    job = start_job()
    transport = fakes.RecordingTransport(fail=lambda event: True)
    worker, model, _, _ = make_worker(
        *(fakes.Script(["a", "b"]) for _ in range(2)), transport=transport, max_attempts=2
    )
    result = worker.process(job.body)
    assert result.outcome == Outcome.DEAD_LETTERED and len(model.jobs) == 2
    assert transport.attempts >= 2 * 3  # quick retries before giving the attempt up
    session = core_aws.store.get(job.session_id)
    assert session.status == SessionStatus.FAILED and "publishing to AppSync failed" in session.error
    assert len(dead_letters(core_aws)) == 1


def test_malformed_jobs_go_to_the_dead_letter_queue(core_aws, start_job, make_worker, fakes):
    worker, model, transport, _ = make_worker()
    assert worker.process("{not json").outcome == Outcome.DEAD_LETTERED
    job = start_job()
    future = json.dumps({**json.loads(job.body), "version": 99})
    assert worker.process(future).outcome == Outcome.DEAD_LETTERED
    assert model.jobs == []
    session = core_aws.store.get(job.session_id)
    assert session.status == SessionStatus.FAILED and "unknown job version 99" in session.error
    assert [e["type"] for e in transport.events] == ["FAILED"]
    messages = dead_letters(core_aws)
    types = sorted(m["MessageAttributes"][ATTR_ERROR_TYPE]["StringValue"] for m in messages)
    assert types == ["MalformedJob", "UnknownJobVersion"] and {m["Body"] for m in messages} == {"{not json", future}


def test_unknown_model_is_permanent(core_aws, start_job, make_worker, fakes):
    job = start_job()
    worker, model, _, _ = make_worker(limits=Limits(allowed_models=["other"], default_model="other"))
    assert worker.process(job.body).outcome == Outcome.DEAD_LETTERED and model.jobs == []
    assert "is not allowed" in core_aws.store.get(job.session_id).error


def test_duplicate_delivery_of_a_completed_job_is_skipped(core_aws, start_job, make_worker, fakes):
    job = start_job()
    worker, model, transport, _ = make_worker(fakes.Script(["once"]))
    assert worker.process(job.body).outcome == Outcome.COMPLETED
    published = len(transport.events)
    assert worker.process(job.body).outcome == Outcome.SKIPPED
    assert len(model.jobs) == 1 and len(transport.events) == published
    assert core_aws.store.get(job.session_id).attempt == 1


def test_a_job_cancelled_while_queued_never_calls_the_model(core_aws, start_job, make_worker, fakes):
    job = start_job()
    SessionService(store=core_aws.store).cancel(job.session_id, {"sub": "alice"})
    worker, model, transport, _ = make_worker(fakes.Script(["never"]))
    assert worker.process(job.body).outcome == Outcome.CANCELLED
    assert model.jobs == []
    events = stored(core_aws, job.session_id)
    assert [(e["attempt"], e["seq"], e["type"], e["isComplete"]) for e in events] == [(1, 1, "CANCELLED", True)]
    assert transport.events == events
    assert worker.process(job.body).outcome == Outcome.SKIPPED  # redelivery


def asked_event(model) -> threading.Event:
    """Set when the worker asks ``model`` for a stream."""
    asked = threading.Event()
    stream = model.stream
    model.stream = lambda job: (asked.set(), stream(job))[1]
    return asked


def test_the_model_is_asked_while_the_attempt_is_taken(core_aws, start_job, make_worker, fakes, monkeypatch):
    """The first token comes sooner: the model request overlaps the write that takes the attempt."""
    job = start_job()
    worker, model, transport, _ = make_worker(fakes.Script(["hi"]))
    asked = asked_event(model)
    take = core_aws.store._conditional_update

    def taking(*args, **kwargs):
        assert asked.wait(5), "the model was asked only after the attempt was taken"
        return take(*args, **kwargs)

    monkeypatch.setattr(core_aws.store, "_conditional_update", taking)
    assert worker.process(job.body).outcome == Outcome.COMPLETED
    assert len(model.jobs) == 1 and client_text(transport.events) == "hi"


def test_an_early_stream_is_closed_unread_when_the_session_is_cancelled_meanwhile(
    core_aws, start_job, make_worker, fakes, monkeypatch
):
    job = start_job()
    worker, model, transport, _ = make_worker(fakes.Script(["never"]))
    asked = asked_event(model)
    take = core_aws.store._conditional_update
    cancelling = threading.Event()

    def cancel_then_take(*args, **kwargs):
        if not cancelling.is_set():  # the owner cancels between the worker's read and its write
            cancelling.set()
            assert asked.wait(5)
            SessionService(store=core_aws.store).cancel(job.session_id, {"sub": "alice"})
        return take(*args, **kwargs)

    monkeypatch.setattr(core_aws.store, "_conditional_update", cancel_then_take)
    assert worker.process(job.body).outcome == Outcome.CANCELLED
    assert model.streams[0].closed.wait(5), "the unused stream was left open"
    assert [e["type"] for e in transport.events] == ["CANCELLED"]


def test_cancel_mid_stream_closes_the_model_and_keeps_partial_text(core_aws, start_job, make_worker, fakes):
    job = start_job()
    script = fakes.Script(["par", "tial", " never"], block_after=2)  # then the model goes quiet
    worker, model, transport, _ = make_worker(script, cancel_poll_interval_ms=20)
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("result", worker.process(job.body)))
    thread.start()
    assert transport.wait_for(lambda evs: "".join(e["token"] for e in evs) == "partial")
    SessionService(store=core_aws.store).cancel(job.session_id, {"sub": "alice"})
    thread.join(10)
    assert not thread.is_alive() and outcome["result"].outcome == Outcome.CANCELLED
    assert model.streams[0].closed.is_set()
    events = stored(core_aws, job.session_id)
    assert_well_formed(events)
    assert events[-1]["type"] == "CANCELLED" and transport.events[-1] == events[-1]
    session = core_aws.store.get(job.session_id)
    assert (session.status, session.text, session.cancel_requested) == (SessionStatus.CANCELLED, "partial", False)


def test_a_cancel_during_backoff_ends_the_failed_attempt(core_aws, start_job, make_worker, fakes):
    job = start_job()
    cancel = lambda seconds: SessionService(store=core_aws.store).cancel(job.session_id, {"sub": "alice"})
    throttled = fakes.Script([], raise_on_call=fakes.client_error("ThrottlingException"))
    worker, model, transport, _ = make_worker(throttled, fakes.Script(["never"]), sleep=cancel)
    assert worker.process(job.body).outcome == Outcome.CANCELLED and len(model.jobs) == 1
    events = stored(core_aws, job.session_id)
    assert [(e["attempt"], e["seq"], e["type"]) for e in events] == [(1, 1, "STARTED"), (1, 2, "CANCELLED")]
    assert core_aws.store.get(job.session_id).status == SessionStatus.CANCELLED


def test_a_superseded_worker_stops_publishing_at_once(core_aws, start_job, make_worker, fakes):
    job = start_job()
    takeover = {}

    def another_worker_takes_over(i):
        if i == 3:
            takeover["attempt"] = core_aws.store.begin_attempt(job.session_id).session.attempt
            takeover["stored"] = stored(core_aws, job.session_id)  # what the zombie wrote before

    script = fakes.Script([f"{i} " for i in range(10)], on_delta=another_worker_takes_over)
    worker, model, transport, _ = make_worker(script)
    result = worker.process(job.body)
    assert result.outcome == Outcome.FENCED and takeover["attempt"] == 2
    assert model.streams[0].closed.is_set()
    zombie_events = [e for e in stored(core_aws, job.session_id) if e["attempt"] == 1]
    assert zombie_events == takeover["stored"], "the zombie stored events after the takeover"
    assert all(not e["isComplete"] for e in zombie_events)
    assert all(e in zombie_events for e in transport.events), "the zombie published what it could not store"
    session = core_aws.store.get(job.session_id)
    assert session.attempt == 2 and session.status == SessionStatus.STREAMING


def test_redelivery_after_a_crash_restarts_with_a_new_attempt(core_aws, start_job, make_worker, fakes):
    job = start_job()
    core_aws.store.begin_attempt(job.session_id)  # a worker took attempt 1 and died
    worker, _, transport, _ = make_worker(fakes.Script(["fresh"]))
    assert worker.process(job.body).outcome == Outcome.COMPLETED
    assert transport.events[0]["attempt"] == 2 and transport.events[0]["type"] == "RESTARTED"
    assert transport.events[0]["error"] == "previous attempt was interrupted"


def test_a_job_whose_workers_keep_dying_is_dead_lettered_with_a_reason(core_aws, start_job, make_worker, fakes):
    job = start_job()
    for _ in range(3):
        core_aws.store.begin_attempt(job.session_id)  # three workers took an attempt and died
    worker, model, transport, _ = make_worker(fakes.Script(["never"]), max_attempts=3)
    assert worker.process(job.body).outcome == Outcome.DEAD_LETTERED and model.jobs == []
    assert transport.events[-1]["type"] == "FAILED" and transport.events[-1]["attempt"] == 4
    assert (
        core_aws.store.get(job.session_id).error
        == "processing was interrupted 3 times; job moved to the dead-letter queue"
    )
    assert len(dead_letters(core_aws)) == 1


def test_heartbeat_keeps_the_message_invisible_while_streaming(core_aws, start_job, make_worker, fakes):
    job = start_job()
    calls = threading.Event()
    real = core_aws.sqs.change_message_visibility

    def spy(**kwargs):
        calls.set()
        return real(**kwargs)

    worker, *_ = make_worker(fakes.Script(["x"], on_delta=lambda i: calls.wait(5)), visibility_timeout_s=45)
    core_aws.sqs.change_message_visibility = spy
    assert worker.process(job.body, job.receipt_handle).outcome == Outcome.COMPLETED
    assert calls.is_set()


def test_an_infrastructure_failure_releases_the_job_at_once_for_a_quick_retry(
    core_aws, start_job, make_worker, fakes, monkeypatch
):
    """Not the queue's 6-minute visibility, nor the heartbeat's: ``release_visibility_s``."""
    job = start_job()
    calls: list[int] = []
    real = core_aws.sqs.change_message_visibility

    def spy(**kwargs):
        calls.append(kwargs["VisibilityTimeout"])
        return real(**kwargs)

    core_aws.sqs.change_message_visibility = spy
    worker, model, *_ = make_worker(fakes.Script(["x"]), visibility_timeout_s=45, release_visibility_s=0)
    monkeypatch.setattr(
        core_aws.store,
        "begin_attempt",
        lambda *a, **k: (_ for _ in ()).throw(fakes.client_error("InternalServerError")),
    )
    with pytest.raises(ClientError, match="InternalServerError"):  # a batch item failure for SQS
        worker.process(job.body, job.receipt_handle)
    assert calls[0] == 45 and calls[-1] == 0  # heartbeat first, then the early release
    assert [m["Body"] for m in core_aws.receive_jobs()] == [job.body]  # visible again at once
    assert model.jobs == []


def test_a_settled_session_frees_its_quota_slot_and_counts_its_tokens(core_aws, start_job, make_worker, fakes):
    from tokencast.config import Quotas
    from tokencast.core.quotas import QuotaLedger, quota_key

    job = start_job(identity={"sub": "alice"})
    ledger = QuotaLedger(core_aws.ddb, core_aws.settings.table_name, Quotas(max_active_sessions=1))
    ledger.acquire("alice", job.session_id)
    worker, *_ = make_worker(fakes.Script(WORDS[:3]), quotas=ledger)  # the fake reports totalTokens 3 + 3
    assert worker.process(job.body).outcome == Outcome.COMPLETED
    item = core_aws.ddb.get_item(TableName=core_aws.settings.table_name, Key=quota_key("alice"))["Item"]
    assert item["active"]["M"] == {} and item["tokens"]["N"] == "6"
    ledger.acquire("alice", "next")  # the slot is free again
