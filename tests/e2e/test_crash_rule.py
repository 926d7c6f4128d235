"""A worker killed on every allowed attempt: the worker itself (not SQS) ends the session FAILED
with a reason and dead-letters the job -- never silently -- with the cloud's queue numbers.

The local stack creates its queue from the same Settings as cdk/ (redrive backstop
``max_attempts + 2``); each kill lands mid-stream (the local model stalls after a few tokens),
and the heartbeat-kept visibility brings the job back within seconds each time.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.e2e.fault_helpers import (
    assert_back_within_the_heartbeats_visibility,
    attempt_events,
    marked,
    raw_subscription,
    sdk,
)
from tests.e2e.stack_clients import aws_clients, new_session_id
from tokencast.config import Settings
from tokencast.core.dlq import ATTR_ATTEMPTS, ATTR_ERROR_TYPE, ATTR_REASON, ATTR_SESSION_ID

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def queue_numbers(local_stack) -> tuple[Settings, dict]:
    sqs, _ = aws_clients(local_stack.endpoints)
    attributes = sqs.get_queue_attributes(
        QueueUrl=local_stack.endpoints.queues.jobs_url, AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
    )["Attributes"]
    return Settings.from_env(), attributes


def test_the_local_queue_has_the_clouds_numbers(local_stack):
    settings, attributes = queue_numbers(local_stack)
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == settings.redrive_max_receive_count == settings.max_attempts + 2
    assert int(attributes["VisibilityTimeout"]) == settings.queue_visibility_timeout_s


async def test_a_worker_killed_on_every_attempt_ends_failed_with_a_reason_and_the_job_in_the_dlq(local_stack):
    settings, _ = queue_numbers(local_stack)
    poller = local_stack.stack.poller
    prompt, session_id = marked("[tokens=200] Describe a lighthouse keeper's night"), new_session_id()
    local_stack.stack.model.add_fault({"kind": "stall", "match": prompt, "after": 5, "times": settings.max_attempts})
    async with raw_subscription(local_stack, session_id) as raw, sdk(local_stack) as client:
        await client.start(prompt, session_id=session_id)
        killed_at = []
        for attempt in range(1, settings.max_attempts + 1):
            # Mid-stream: the attempt has said something and stalled.
            await raw.wait_for(lambda events, a=attempt: any(e["attempt"] == a and e["token"] for e in events))
            assert len(poller.signal_session(session_id, signal.SIGKILL)) == 1, f"attempt {attempt}: one worker"
            killed_at.append(time.time())
        await raw.wait_terminal()
        session = await client.get_session(session_id)

    # Each crashed job was handed out again within the heartbeat's visibility (+ one long poll),
    # not the queue's own (function timeout + 60 s).
    received = {count: at for sid, count, at in poller.receives if sid == session_id}
    for kill, at in enumerate(killed_at, start=2):
        assert_back_within_the_heartbeats_visibility(received[kill] - at, settings, f"receive {kill}:")

    reason = f"processing was interrupted {settings.max_attempts} times; job moved to the dead-letter queue"
    [failed] = raw.terminal
    assert (failed["type"], failed["error"]) == ("FAILED", reason)
    assert failed["attempt"] == settings.max_attempts + 1 and attempt_events(raw.events, failed["attempt"]) == [failed]
    assert (session.status, session.error) == ("FAILED", reason)

    sqs, _ = aws_clients(local_stack.endpoints)
    dlq = local_stack.endpoints.queues.dlq_url
    messages = sqs.receive_message(
        QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages", [])
    [dead] = [m for m in messages if json.loads(m["Body"])["sessionId"] == session_id]
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes[ATTR_REASON] == reason and attributes[ATTR_ERROR_TYPE] == "Interrupted"
    assert attributes[ATTR_SESSION_ID] == session_id
    assert int(attributes[ATTR_ATTEMPTS]) == settings.max_attempts + 1
    # The worker dead-lettered it (with attributes), a receive before SQS's backstop would have.
    assert (
        int(json.loads(queue_numbers(local_stack)[1]["RedrivePolicy"])["maxReceiveCount"]) > settings.max_attempts + 1
    )
