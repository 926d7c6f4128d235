"""DLQ operations against moto: list/show peek without consuming, replay, refuse, purge."""

from __future__ import annotations

import json

from tokencast.core.dlq import DeadLetterQueue, DeadLetterSender
from tokencast.core.results import Outcome
from tokencast.events import SessionStatus


def dlq_of(core_aws, sleeps=None):
    return DeadLetterQueue(
        core_aws.sqs,
        core_aws.settings.dead_letter_queue_url,
        core_aws.settings.jobs_queue_url,
        core_aws.store,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
    )


def fail_permanently(core_aws, start_job, make_worker, fakes, n):
    jobs = [start_job(f"prompt {i}") for i in range(n)]
    scripts = [fakes.Script([], raise_on_call=fakes.client_error("AccessDeniedException", "no access")) for _ in jobs]
    worker, *_ = make_worker(*scripts)
    for job in jobs:
        assert worker.process(job.body).outcome == Outcome.DEAD_LETTERED
    return jobs


def test_list_and_show_peek_without_consuming(core_aws, start_job, make_worker, fakes):
    jobs = fail_permanently(core_aws, start_job, make_worker, fakes, 2)
    dlq = dlq_of(core_aws)
    listed = dlq.list_jobs()
    assert {j.session_id for j in listed} == {j.session_id for j in jobs}
    entry = listed[0]
    assert entry.owner == "alice" and entry.model_id == "tokencast.local-model-v1" and entry.attempts == 1
    assert entry.reason.startswith("access to the model denied") and entry.error_type == "AccessDeniedException"
    assert entry.age_s >= 0 and "body" not in entry.to_dict()
    assert len(dlq.list_jobs()) == 2, "listing hid the messages"
    assert dlq.show(entry.message_id).session_id == entry.session_id
    assert dlq.show("nope") is None


def test_replay_streams_the_session_again_as_a_new_attempt(core_aws, start_job, make_worker, fakes):
    first, second = fail_permanently(core_aws, start_job, make_worker, fakes, 2)
    dlq = dlq_of(core_aws)
    dry = dlq.replay([first.session_id], dry_run=True)
    assert [(r.session_id, r.action) for r in dry] == [(first.session_id, "would-replay")]
    assert core_aws.store.get(first.session_id).status == SessionStatus.FAILED and len(dlq.list_jobs()) == 2

    [result] = dlq.replay([first.session_id])
    assert result.action == "replayed"
    session = core_aws.store.get(first.session_id)
    assert (session.status, session.error, session.attempt_base) == (SessionStatus.QUEUED, None, 1)
    assert [j.session_id for j in dlq.list_jobs()] == [second.session_id]
    [message] = core_aws.receive_jobs()
    body = json.loads(message["Body"])
    assert body["replay"] is True and body["force"] is False and body["sessionId"] == first.session_id

    worker, _, transport, _ = make_worker(fakes.Script(["again"]))
    assert worker.process(message["Body"]).outcome == Outcome.COMPLETED
    assert transport.events[0]["type"] == "RESTARTED" and transport.events[0]["attempt"] == 2
    assert transport.events[0]["error"] == "replayed from the dead-letter queue"
    assert core_aws.store.get(first.session_id).text == "again"


def test_replay_refuses_completed_sessions_unless_forced(core_aws, start_job, make_worker, fakes):
    job = start_job()
    worker, *_ = make_worker(fakes.Script(["done"]), fakes.Script(["done again"]))
    assert worker.process(job.body).outcome == Outcome.COMPLETED
    DeadLetterSender(core_aws.sqs, core_aws.settings.dead_letter_queue_url).send(
        job.body, reason="operator test", error_type="Test", session_id=job.session_id, attempts=1
    )
    dlq = dlq_of(core_aws)
    [refused] = dlq.replay()
    assert refused.action == "refused" and "COMPLETED" in refused.reason
    assert len(dlq.list_jobs()) == 1 and core_aws.receive_jobs() == []

    [forced] = dlq.replay(force=True)
    assert forced.action == "replayed" and dlq.list_jobs() == []
    [message] = core_aws.receive_jobs()
    assert worker.process(message["Body"]).outcome == Outcome.COMPLETED
    session = core_aws.store.get(job.session_id)
    assert (session.attempt, session.text) == (2, "done again")


def test_replay_all_is_rate_limited_and_purge_empties(core_aws, start_job, make_worker, fakes):
    fail_permanently(core_aws, start_job, make_worker, fakes, 3)
    core_aws.sqs.send_message(QueueUrl=core_aws.settings.dead_letter_queue_url, MessageBody="garbage")
    sleeps: list[float] = []
    dlq = dlq_of(core_aws, sleeps)
    results = dlq.replay(rate_per_s=4)
    assert sorted(r.action for r in results) == ["refused", "replayed", "replayed", "replayed"]
    assert sleeps == [0.25, 0.25]
    assert len(dlq.list_jobs()) == 1  # the malformed one stays
    assert dlq.purge() == 1 and dlq.list_jobs() == []
