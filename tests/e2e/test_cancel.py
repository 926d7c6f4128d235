"""cancelStream on the real local stack: the model stops, CANCELLED is delivered, the partial
text is kept; a job cancelled while queued never reaches the model; only the owner cancels."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.fault_helpers import attempt_events, marked, model_requests, raw_subscription, screen, sdk, stored_events
from tests.e2e.stack_clients import new_session_id
from tokencast.client import Forbidden, JwtAuth
from tokencast.local.bedrock.text import expected_text
from tokencast.local.jwt_issuer import LocalJwtIssuer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

LONG_TOKENS = 4000  # 4 s at the test model's 1000 tokens/s


async def test_cancel_mid_stream_stops_the_model_and_keeps_the_partial_text(local_stack):
    prompt, session_id = marked(f"[tokens={LONG_TOKENS}] Go on and on about clouds"), new_session_id()
    async with raw_subscription(local_stack, session_id) as raw, sdk(local_stack) as client:
        started = time.monotonic()
        stream = await client.stream(prompt, session_id=session_id, max_tokens=LONG_TOKENS)
        deltas = []
        async for delta in stream:
            deltas.append(delta)
            if len(stream.text) > 200:
                break
        cancelled_at = time.monotonic()
        await client.cancel(session_id)
        async for delta in stream:
            deltas.append(delta)
        result = await stream.result()
        ended = time.monotonic()
        await raw.wait_terminal()
        session = await client.get_session(session_id)

    full = expected_text(prompt, max_tokens=LONG_TOKENS)
    assert result.status == "CANCELLED" and session.status == "CANCELLED"
    # The partial text is kept, the same everywhere, and really is the start of the answer.
    assert result.text == screen(deltas) == session.text
    assert full.startswith(result.text) and 200 < len(result.text) < len(full) // 2
    delivered = attempt_events(raw.events, 1)
    assert [e["seq"] for e in delivered] == list(range(1, len(delivered) + 1))
    assert delivered[-1]["type"] == "CANCELLED" and delivered[-1]["isComplete"]
    assert "".join(e["token"] for e in delivered) == result.text
    fields = ("attempt", "seq", "type", "token", "isComplete")
    assert [{f: e[f] for f in fields} for e in stored_events(local_stack, session_id)] == [
        {f: e[f] for f in fields} for e in delivered
    ]
    # The worker closed the model stream at once: nothing (or one token in flight) was
    # generated after that, and the answer stopped long before its natural end.
    [request] = model_requests(local_stack, prompt)
    assert request["outcome"] == "disconnected"
    assert request["tokens_after_disconnect"] <= 1
    assert request["tokens_sent"] < LONG_TOKENS // 2
    print(
        f"cancel → CANCELLED in {ended - cancelled_at:.2f}s; model stopped after {request['tokens_sent']} "
        f"of {LONG_TOKENS} tokens; stream lasted {ended - started:.2f}s"
    )
    assert ended - cancelled_at < 1.5, "the worker noticed the cancel within about a second"


async def test_a_job_cancelled_while_queued_never_calls_the_model(local_stack):
    poller = local_stack.stack.poller
    prompt, session_id = marked("Never asked"), new_session_id()
    # The event source is switched off (as one can disable a Lambda event source mapping), so
    # the job certainly waits in the queue while it is cancelled.
    assert await asyncio.to_thread(poller.pause)
    try:
        async with raw_subscription(local_stack, session_id) as raw, sdk(local_stack) as client:
            queued = await client.start(prompt, session_id=session_id)
            assert queued.status == "QUEUED"
            cancelled = await client.cancel(session_id)
            assert cancelled.status == "CANCELLED"
            poller.resume()
            await raw.wait_terminal()
            session = await client.get_session(session_id)
    finally:
        poller.resume()

    assert [(e["attempt"], e["seq"], e["type"], e["isComplete"]) for e in raw.events] == [(1, 1, "CANCELLED", True)]
    assert (session.status, session.text) == ("CANCELLED", "")
    assert model_requests(local_stack, prompt) == [], "the model was never called"


async def test_only_the_owner_can_cancel(local_stack):
    prompt = marked("[tokens=300] alice's shared answer")
    issuer = LocalJwtIssuer.from_env()
    async with (
        sdk(local_stack, JwtAuth(issuer.mint("alice"))) as alice,
        sdk(local_stack, JwtAuth(issuer.mint("bob"))) as bob,
    ):
        stream = await alice.stream(prompt, visibility="SHARED")
        watching = await bob.watch(stream.session_id)
        async for _ in stream:
            break  # mid-stream
        with pytest.raises(Forbidden) as raised:
            await bob.cancel(stream.session_id)
        mine, watched = await asyncio.gather(stream.result(), watching.result())
    assert "only the owner may cancel" in raised.value.message
    assert mine.status == watched.status == "COMPLETED"
    assert mine.text == watched.text == expected_text(prompt)
