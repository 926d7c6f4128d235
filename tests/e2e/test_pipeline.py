"""The pipeline end to end on the real local stack: startStream → SQS → model → publishToken → subscribers.

Clients are unmodified gql transports over real HTTP and WebSocket; the queue and table are
read back through boto3 from the real moto server.
"""

from __future__ import annotations

import asyncio

import pytest
from gql import gql
from gql.transport.exceptions import TransportQueryError

from tests.e2e.stack_clients import (
    aws_clients,
    get_session,
    http_client,
    new_session_id,
    op,
    start,
    subscribed,
)
from tokencast.config import Limits
from tokencast.local.bedrock.text import expected_text

pytestmark = pytest.mark.e2e


def assert_well_formed(events: list[dict], session_id: str) -> None:
    """One attempt, seq 1..N without gaps, STARTED first, exactly one terminal event, last."""
    assert all(e["sessionId"] == session_id for e in events)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {e["attempt"] for e in events} == {1}
    assert events[0]["type"] == "STARTED"
    assert [e["isComplete"] for e in events].count(True) == 1 and events[-1]["isComplete"]
    assert events[-1]["type"] == "COMPLETED"


async def test_every_subscriber_gets_exactly_its_sessions_text_in_order(local_stack):
    first, second = new_session_id(), new_session_id()
    prompt_a, prompt_b = "Tell me about rivers", "Tell me about lanterns"
    async with (
        subscribed(local_stack, first) as a1,
        subscribed(local_stack, first) as a2,
        subscribed(local_stack, second) as b1,
    ):
        async with http_client(local_stack.endpoints) as session:
            started = await asyncio.gather(
                start(session, input={"sessionId": first, "prompt": prompt_a}),
                start(session, input={"sessionId": second, "prompt": prompt_b}),
            )
        assert [s["status"] for s in started] == ["QUEUED", "QUEUED"]
        await asyncio.gather(a1.wait(), a2.wait(), b1.wait())

    assert a1.text == a2.text == expected_text(prompt_a)
    assert b1.text == expected_text(prompt_b)
    assert a1.events == a2.events
    for subscriber in (a1, a2, b1):
        assert_well_formed(subscriber.events, subscriber.session_id)
    # Coalescing: far fewer publishes than tokens, and usage is reported on the terminal event.
    usage = a1.events[-1]["usage"]
    assert usage["outputTokens"] > len(a1.events)
    assert a1.events[-1]["stopReason"] == "end_turn"


async def test_sample_schema_operations_work_unchanged(local_stack):
    """The original sample's operations: startStream(prompt:) then subscribe with its selection."""
    async with http_client(local_stack.endpoints) as session:
        prompt = "Sample client question [tokens=300]"
        local_stack.stack.model.add_fault({"kind": "slow", "match": prompt, "delay_s": 0.01})
        result = await session.execute(
            gql(f'mutation {{ startStream(prompt: "{prompt}") {{ sessionId status message timestamp error }} }}')
        )
        started = result["startStream"]
        assert set(started) == {"sessionId", "status", "message", "timestamp", "error"}
        assert started["status"] == "QUEUED" and started["error"] is None

        async with subscribed(
            local_stack, started["sessionId"], selection="sessionId token isComplete timestamp"
        ) as subscriber:
            await subscriber.wait()
        final = await get_session(session, started["sessionId"])

    assert all(set(e) == {"sessionId", "token", "isComplete", "timestamp"} for e in subscriber.events)
    assert subscriber.terminal == [subscriber.events[-1]]
    # Subscribed after starting (as the sample does): what arrived is the tail of the answer.
    assert final["text"] == expected_text(prompt)
    assert final["text"].endswith(subscriber.text)


async def test_get_session_after_completion_has_full_text_and_usage(local_stack):
    session_id, prompt = new_session_id(), "Summarise the harbor"
    async with subscribed(local_stack, session_id) as subscriber, http_client(local_stack.endpoints) as session:
        await start(session, prompt, sessionId=session_id)
        await subscriber.wait()
        final = await get_session(session, session_id)
        alias = await session.execute(
            op("query($id: ID!) { getStreamStatus(sessionId: $id) { status text } }", id=session_id)
        )
    assert final["status"] == "COMPLETED"
    assert final["text"] == expected_text(prompt) == subscriber.text
    assert final["lastSeq"] == subscriber.events[-1]["seq"]
    assert final["usage"] == subscriber.events[-1]["usage"]
    assert final["usage"]["inputTokens"] == 3 and final["usage"]["outputTokens"] > 0
    assert alias["getStreamStatus"] == {"status": "COMPLETED", "text": final["text"]}


async def test_get_events_pages_the_stored_log(local_stack):
    session_id = new_session_id()
    async with subscribed(local_stack, session_id) as subscriber:
        async with http_client(local_stack.endpoints) as session:
            await start(session, "Page through the log", sessionId=session_id)
            await subscriber.wait()
            query = """query($id: ID!, $a: Int, $s: Int) { getEvents(sessionId: $id, afterAttempt: $a, afterSeq: $s, limit: 3) {
                items { attempt seq type token isComplete } nextAttempt nextSeq } }"""
            stored, after = [], {"a": 0, "s": 0}
            while True:
                page = (await session.execute(op(query, id=session_id, **after)))["getEvents"]
                stored.extend(page["items"])
                if page["nextSeq"] is None:
                    break
                after = {"a": page["nextAttempt"], "s": page["nextSeq"]}
    delivered = [{k: e[k] for k in ("attempt", "seq", "type", "token", "isComplete")} for e in subscriber.events]
    assert stored == delivered


LIMITS = Limits()
BAD_INPUTS = [
    pytest.param({"prompt": ""}, "input.prompt", id="empty-prompt"),
    pytest.param({"prompt": "x" * (LIMITS.max_prompt_chars + 1)}, "input.prompt", id="oversized-prompt"),
    pytest.param(
        {"messages": [{"role": "user", "text": "hi"}] * (LIMITS.max_messages + 1)},
        "input.messages",
        id="too-many-messages",
    ),
    pytest.param({"prompt": "hi", "modelId": "anthropic.unknown-model"}, "input.modelId", id="unknown-model"),
    pytest.param({"prompt": "hi", "maxTokens": 0}, "input.maxTokens", id="max-tokens-zero"),
    pytest.param({"prompt": "hi", "maxTokens": LIMITS.max_tokens + 1}, "input.maxTokens", id="max-tokens-too-big"),
    pytest.param({"prompt": "hi", "temperature": 1.5}, "input.temperature", id="temperature-out-of-range"),
    pytest.param({"prompt": "hi", "sessionId": "not-a-uuid"}, "input.sessionId", id="malformed-session-id"),
    pytest.param({"prompt": 42}, "prompt", id="wrong-type"),
    pytest.param({"prompt": "hi", "visibility": "PUBLIC"}, "visibility", id="unknown-enum"),
]


def _stored_sessions(dynamodb, table: str) -> int:
    return dynamodb.scan(TableName=table, Select="COUNT")["Count"]


def _queued_jobs(sqs, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


@pytest.mark.parametrize(("input_fields", "field"), BAD_INPUTS)
async def test_bad_input_is_a_graphql_error_naming_the_field_and_nothing_is_stored_or_enqueued(
    local_stack, input_fields, field
):
    endpoints = local_stack.endpoints
    sqs, dynamodb = aws_clients(endpoints)
    stored_before = _stored_sessions(dynamodb, endpoints.table_name)
    invocations_before = local_stack.stack.poller.invocations
    assert _queued_jobs(sqs, endpoints.queues.jobs_url) == 0

    async with http_client(endpoints) as session:
        with pytest.raises(TransportQueryError) as raised:
            await start(session, input=input_fields)
    error = raised.value.errors[0]
    assert field in error["message"], error
    # Typed: the handler's InvalidInput (its errorInfo names each field and rule), or AppSync's
    # own validation error (no errorType, no path) for what the schema already refuses.
    if "errorType" in error:
        assert error["errorType"] == "InvalidInput", error
        assert any(field in (v["field"] or "") for v in error["errorInfo"]["violations"]), error
    else:
        assert error["path"] is None, error
    # A message the user can act on: it states the rule, not a stack trace.
    assert "Traceback" not in error["message"] and len(error["message"]) < 500

    assert _stored_sessions(dynamodb, endpoints.table_name) == stored_before
    # Nothing was sent: not waiting, not in flight, and the poller invoked nothing new.
    assert _queued_jobs(sqs, endpoints.queues.jobs_url) == 0
    assert local_stack.stack.poller.invocations == invocations_before
