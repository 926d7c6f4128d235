"""Permanent failure → DLQ with its reason → `tokencast dlq replay` → COMPLETED (invariants 4, 5),
watched throughout by clients that stayed subscribed. Replaying a COMPLETED session is
refused unless forced."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e.fault_helpers import assert_exact_attempt, attempt_events, marked, raw_subscription, sdk
from tests.e2e.stack_clients import aws_clients, new_session_id
from tokencast.cli.local import as_target
from tokencast.cli.main import main
from tokencast.cli.target import save_local
from tokencast.config import LOCAL_MODEL_ID
from tokencast.core.dlq import ATTR_ERROR_TYPE, ATTR_REASON, ATTR_SESSION_ID
from tokencast.core.jobs import Job, Message
from tokencast.local.bedrock.text import expected_text

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture
def cli(local_stack, tmp_path, monkeypatch, capsys):
    """Run `tokencast ...` in this process against the shared stack; returns (exit code, stdout)."""
    monkeypatch.setenv("TOKENCAST_STATE_DIR", str(tmp_path))
    save_local(as_target(local_stack.endpoints))

    async def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        return code, capsys.readouterr().out

    return run


def dead_jobs(local_stack, session_id: str) -> list[dict]:
    """The DLQ's messages for one session, received and released again at once."""
    sqs, _ = aws_clients(local_stack.endpoints)
    url = local_stack.endpoints.queues.dlq_url
    found, seen = [], []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=30,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        seen += batch
        found += [m for m in batch if json.loads(m["Body"]).get("sessionId") == session_id]
    for message in seen:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return found


async def test_permanent_failure_goes_to_the_dlq_and_a_replay_completes_it(local_stack, cli):
    prompt, session_id = marked("[tokens=200] Explain permissions"), new_session_id()
    local_stack.stack.model.add_fault({"kind": "http_error", "match": prompt, "error": "AccessDeniedException"})
    async with raw_subscription(local_stack, session_id) as raw, sdk(local_stack) as client, sdk(local_stack) as other:
        stream = await client.stream(prompt, session_id=session_id, follow=True)
        failed = await stream.result()
        await raw.wait_terminal(attempt=1)
        watcher = await other.watch(session_id, follow=True)  # joins while it is FAILED
        session = await client.get_session(session_id)

        # Failed at once, with a readable reason, everywhere.
        assert (failed.status, failed.attempt) == ("FAILED", 1)
        assert failed.error.startswith("access to the model denied")
        assert failed.error.endswith("job moved to the dead-letter queue")
        assert (session.status, session.error) == ("FAILED", failed.error)
        assert [(e["type"], e["error"]) for e in raw.events] == [("STARTED", None), ("FAILED", failed.error)]

        # The job is in the DLQ with its reason, listed with session, owner, model and age.
        [message] = dead_jobs(local_stack, session_id)
        attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert attributes[ATTR_REASON] == failed.error
        assert attributes[ATTR_ERROR_TYPE] == "AccessDeniedException"
        assert attributes[ATTR_SESSION_ID] == session_id
        code, out = await cli("dlq", "list", "--json")
        assert code == 0
        [listed] = [job for job in json.loads(out) if job["session_id"] == session_id]
        assert listed["reason"] == failed.error and listed["attempts"] == 1
        assert listed["owner"] == "anonymous" and listed["model_id"] and listed["age_s"] >= 0
        code, out = await cli("dlq", "show", listed["message_id"], "--json")
        assert code == 0 and json.loads(json.loads(out)["body"])["sessionId"] == session_id

        # A dry run changes nothing.
        code, out = await cli("dlq", "replay", "--session", session_id, "--dry-run")
        assert code == 0 and f"would-replay  session {session_id}" in out
        assert len(dead_jobs(local_stack, session_id)) == 1
        assert (await client.get_session(session_id)).status == "FAILED"

        # The replay: the session streams again as attempt 2 to the clients that stayed.
        code, out = await cli("dlq", "replay", "--session", session_id)
        assert code == 0 and f"replayed      session {session_id}" in out
        replayed, watched = await asyncio.gather(stream.result(after_attempt=1), watcher.result(after_attempt=1))
        await raw.wait_terminal(attempt=2)
        assert dead_jobs(local_stack, session_id) == []

    expected = expected_text(prompt)
    assert (replayed.status, replayed.attempt) == ("COMPLETED", 2)
    assert replayed.text == watched.text == stream.text == expected
    restart = attempt_events(raw.events, 2)[0]
    assert (restart["type"], restart["error"]) == ("RESTARTED", "replayed from the dead-letter queue")
    assert_exact_attempt(raw.events, 2, expected)


async def test_replaying_a_completed_session_is_refused_unless_forced(local_stack, cli):
    prompt, session_id = marked("[tokens=120] Describe a finished thing"), new_session_id()
    sqs, _ = aws_clients(local_stack.endpoints)
    async with sdk(local_stack) as client:
        stream = await client.stream(prompt, session_id=session_id, follow=True)
        done = await stream.result()
        assert (done.status, done.attempt) == ("COMPLETED", 1)
        # A duplicate of its job reaches the DLQ (as SQS's redrive would move one: no reason).
        job = Job(
            session_id=session_id,
            owner="anonymous",
            model_id=LOCAL_MODEL_ID,
            messages=[Message(role="user", text=prompt)],
            max_tokens=1024,
            enqueued_at="2026-01-01T00:00:00.000Z",
        )
        sqs.send_message(QueueUrl=local_stack.endpoints.queues.dlq_url, MessageBody=job.to_body())

        code, out = await cli("dlq", "replay", "--session", session_id)
        assert code == 1
        assert f"refused       session {session_id}" in out and "COMPLETED" in out and "--force" in out
        assert len(dead_jobs(local_stack, session_id)) == 1
        session = await client.get_session(session_id)
        assert (session.status, session.attempt, session.text) == ("COMPLETED", 1, expected_text(prompt))

        code, out = await cli("dlq", "replay", "--session", session_id, "--force", "--json")
        assert code == 0
        assert [r["action"] for r in json.loads(out)["results"]] == ["replayed"]
        again = await stream.result(after_attempt=1)

    assert (again.status, again.attempt) == ("COMPLETED", 2)
    assert again.text == expected_text(prompt)
    assert dead_jobs(local_stack, session_id) == []

    code, out = await cli("dlq", "replay", "--session", session_id)
    assert code == 1 and "not found" in out


async def test_watching_right_after_a_replay_follows_the_new_attempt(local_stack, cli):
    """A replayed session is QUEUED with its failed attempt still current: a watcher that joins
    then must wait for the next attempt, not end on the old FAILED event."""
    prompt, session_id = marked("[tokens=80] Replay, then watch"), new_session_id()
    local_stack.stack.model.add_fault({"kind": "http_error", "match": prompt, "error": "AccessDeniedException"})
    poller = local_stack.stack.poller
    async with sdk(local_stack) as client:
        failed = await (await client.stream(prompt, session_id=session_id)).result()
        assert (failed.status, failed.attempt) == ("FAILED", 1)
        assert await asyncio.to_thread(poller.pause)  # hold the replayed job in the queue
        try:
            code, _ = await cli("dlq", "replay", "--session", session_id)
            assert code == 0
            assert (await client.get_session(session_id)).status == "QUEUED"
            watcher = await client.watch(session_id)
        finally:
            poller.resume()
        watched = await watcher.result()
    assert (watched.status, watched.attempt, watched.text) == ("COMPLETED", 2, expected_text(prompt))
