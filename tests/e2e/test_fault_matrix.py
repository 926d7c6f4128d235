"""The fault matrix on the real local stack (invariants 1, 2 and 4).

Each fault is injected for real -- the local model's fault rules, a SIGKILLed or SIGSTOPped
worker execution environment, the emulator's lossy delivery, a dropped WebSocket -- and
every subscriber must end with exactly the model's output for the final attempt: no
duplicate, no gap, nothing of a superseded attempt. Plain gql subscribers show what was
really delivered; the client SDK shows the merged view users get.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

import pytest

from tests.e2e.fault_helpers import (
    assert_back_within_the_heartbeats_visibility,
    assert_exact_attempt,
    assert_no_stale_text,
    attempt_events,
    close_server_side,
    delivery_faults,
    emulator_stats,
    key,
    marked,
    model_requests,
    raw_subscription,
    screen,
    sdk,
    server_connections,
    stored_events,
)
from tests.e2e.stack_clients import new_session_id
from tokencast.config import Settings
from tokencast.local.bedrock.text import expected_text, generate_tokens

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


async def collect(stream) -> list:
    return [delta async for delta in stream]


async def test_throttling_then_success(local_stack):
    prompt, session_id = marked("Explain rainfall"), new_session_id()
    local_stack.stack.model.add_fault({"kind": "throttle", "match": prompt, "times": 2})
    async with raw_subscription(local_stack, session_id) as raw, sdk(local_stack) as client:
        stream = await client.stream(prompt, session_id=session_id)
        deltas = await collect(stream)
        result = await stream.result()
        await raw.wait_terminal(attempt=3)
        session = await client.get_session(session_id)

    expected = expected_text(prompt)
    assert (result.status, result.attempt) == ("COMPLETED", 3)
    assert result.text == screen(deltas) == session.text == expected
    assert_no_stale_text(deltas)
    # Raw delivery: each throttled attempt announced itself and said nothing else.
    assert [e["type"] for e in attempt_events(raw.events, 1)] == ["STARTED"]
    assert [(e["type"], e["error"]) for e in attempt_events(raw.events, 2)] == [("RESTARTED", "model throttled")]
    assert attempt_events(raw.events, 3)[0]["error"] == "model throttled"
    assert_exact_attempt(raw.events, 3, expected)
    assert [r["outcome"] for r in model_requests(local_stack, prompt)] == ["fault", "fault", "completed"]


async def test_failure_after_n_tokens_restarts_with_only_the_final_attempts_text(local_stack):
    prompt, session_id = marked("[tokens=240] Tell a story about a kite"), new_session_id()
    local_stack.stack.model.add_fault({"kind": "fail_after", "match": prompt, "after": 40})
    async with raw_subscription(local_stack, session_id) as raw, sdk(local_stack) as client:
        stream = await client.stream(prompt, session_id=session_id)
        deltas = await collect(stream)
        result = await stream.result()
        await raw.wait_terminal(attempt=2)
        session = await client.get_session(session_id)

    expected = expected_text(prompt)
    assert (result.status, result.attempt) == ("COMPLETED", 2)
    assert result.text == screen(deltas) == session.text == expected
    assert_no_stale_text(deltas)
    # Attempt 1 really streamed 40 tokens of the answer before failing, and they were not kept.
    first = attempt_events(raw.events, 1)
    assert "".join(e["token"] for e in first) == "".join(generate_tokens(prompt)[:40])
    assert not any(e["isComplete"] for e in first)
    restarted = attempt_events(raw.events, 2)[0]
    assert restarted["type"] == "RESTARTED" and "model unavailable" in restarted["error"]
    assert_exact_attempt(raw.events, 2, expected)
    # The stored log agrees with what was delivered.
    assert [key(e) for e in stored_events(local_stack, session_id)] == sorted(key(e) for e in raw.events)


async def test_worker_killed_mid_stream_is_redelivered_and_completes_as_attempt_2(local_stack):
    poller = local_stack.stack.poller
    prompt, session_id = marked("[tokens=400] Describe the tide coming in"), new_session_id()
    # Attempt 1 streams slowly (about 4 s), so the kill certainly lands mid-stream.
    local_stack.stack.model.add_fault({"kind": "slow", "match": prompt, "delay_s": 0.01})
    crashes = poller.crashed_invocations
    async with raw_subscription(local_stack, session_id) as raw, sdk(local_stack) as client, sdk(local_stack) as other:
        stream = await client.stream(prompt, session_id=session_id)
        watcher = await other.watch(session_id)
        deltas = []
        async for delta in stream:
            deltas.append(delta)
            if len(stream.text) > 80:
                break
        killed = poller.signal_session(session_id, signal.SIGKILL)
        killed_at = time.time()
        assert len(killed) == 1, "exactly one execution environment was running the job"
        deltas += await collect(stream)
        result, watched = await asyncio.gather(stream.result(), watcher.result())
        await raw.wait_terminal(attempt=2)
        session = await client.get_session(session_id)

    expected = expected_text(prompt)
    assert (result.status, result.attempt) == ("COMPLETED", 2)
    assert result.text == watched.text == screen(deltas) == session.text == expected
    assert_no_stale_text(deltas)
    assert poller.crashed_invocations == crashes + 1
    # Attempt 1 died without a terminal event; attempt 2 says why it restarted and is exact.
    first = attempt_events(raw.events, 1)
    assert first and not any(e["isComplete"] for e in first)
    assert expected.startswith("".join(e["token"] for e in first))
    restart = attempt_events(raw.events, 2)[0]
    assert restart["type"] == "RESTARTED" and restart["error"] == "previous attempt was interrupted"
    assert_exact_attempt(raw.events, 2, expected)
    # The killed worker's model stream was abandoned, and the job came back within the
    # visibility timeout the heartbeat kept, not the queue's own.
    requests = model_requests(local_stack, prompt)
    assert [r["outcome"] for r in requests] == ["disconnected", "completed"]
    assert requests[0]["tokens_after_disconnect"] <= 1
    # SQS handed the job out again within the visibility the heartbeat kept (tests/conftest.py; the
    # queue's own is the function timeout + 60 s), plus one long poll. The new environment's
    # cold start comes on top (printed, not asserted: it depends on the machine's load).
    [received_again] = [at for sid, count, at in poller.receives if sid == session_id and count == 2]
    assert_back_within_the_heartbeats_visibility(received_again - killed_at, Settings.from_env(), "the job")
    print(
        f"killed worker's job received again after {received_again - killed_at:.2f}s, "
        f"back on the model after {requests[1]['started_at'] - killed_at:.2f}s"
    )


async def test_a_zombie_attempt_is_fenced_and_its_late_events_are_ignored(local_stack):
    """Worker A is frozen (SIGSTOP) while its publish of a stored event is in flight; SQS hands
    the job to worker B (attempt 2); A's publish is delivered after B's first event, then A
    wakes up. Clients ignore A's late event, and A stores nothing more."""
    stack = local_stack.stack
    engine, poller = stack.emulator.engine, stack.poller
    prompt, session_id = marked("[tokens=300] Explain how bridges carry weight"), new_session_id()
    stack.model.add_fault({"kind": "slow", "match": prompt, "delay_s": 0.01})  # attempt 1 only

    original = engine.on_mutation
    held_one = asyncio.Event()  # bound to the stack's loop on first use there
    holding = {"key": None}
    hold_started = asyncio.Event()  # bound to the test's loop
    test_loop = asyncio.get_running_loop()

    async def network(field_name, payload):
        """Stands in for the network between the worker and AppSync for this session."""
        if field_name == "publishToken" and payload.get("sessionId") == session_id:
            if payload["attempt"] == 1 and payload["seq"] >= 5 and holding["key"] is None:
                holding["key"] = (1, payload["seq"])
                test_loop.call_soon_threadsafe(hold_started.set)
                await held_one.wait()  # A's publish is stuck in the network...
            await original(field_name, payload)
            if payload["attempt"] == 2:
                held_one.set()  # ...and arrives once B has published
            return
        await original(field_name, payload)

    zombie: list[int] = []
    engine.on_mutation = network
    try:
        async with raw_subscription(local_stack, session_id) as raw, sdk(local_stack) as client:
            stream = await client.stream(prompt, session_id=session_id)
            await asyncio.wait_for(hold_started.wait(), 20)
            zombie = poller.signal_session(session_id, signal.SIGSTOP)
            assert len(zombie) == 1
            # B takes over once A's last visibility extension runs out; A's held event then
            # arrives after B's first one.
            late = holding["key"]
            await raw.wait_for(lambda events: late in [key(e) for e in events], timeout=20)
            zombie_stored = attempt_events(stored_events(local_stack, session_id), 1)
            os.kill(zombie[0], signal.SIGCONT)
            deltas = await collect(stream)
            result = await stream.result()
            await raw.wait_terminal(attempt=2)
            finished = await asyncio.to_thread(poller.function.wait_until, lambda f: zombie[0] not in f.running(), 20)
            assert finished, "the zombie's invocation ended"
    finally:
        engine.on_mutation = original
        if zombie:
            with contextlib.suppress(ProcessLookupError):
                os.kill(zombie[0], signal.SIGCONT)

    expected = expected_text(prompt)
    assert (result.status, result.attempt) == ("COMPLETED", 2)
    assert result.text == screen(deltas) == expected
    assert_no_stale_text(deltas)
    # Raw delivery really had A's event arrive after B's attempt had begun.
    order = [key(e) for e in raw.events]
    assert order.index(late) > order.index((2, 1))
    assert_exact_attempt(raw.events, 2, expected)
    # A was fenced: nothing it did after the takeover was stored, and what it published had
    # been stored before.
    stored = stored_events(local_stack, session_id)
    assert attempt_events(stored, 1) == zombie_stored
    assert late in [key(e) for e in zombie_stored]
    assert not any(e["isComplete"] for e in zombie_stored)
    assert {key(e) for e in raw.events if e["attempt"] == 1} <= {key(e) for e in zombie_stored}
    # A's model stream may well have finished into its socket while A was frozen: the text
    # it then read could not be stored, so it was never published either.
    assert len(model_requests(local_stack, prompt)) == 2


async def test_dropped_and_reordered_deliveries_are_filled_from_the_log(local_stack):
    prompt, session_id = marked("[tokens=500] Write about lighthouses"), new_session_id()
    local_stack.stack.model.add_fault({"kind": "slow", "match": prompt, "delay_s": 0.002})  # ~60 events
    before = await emulator_stats(local_stack)
    await delivery_faults(local_stack, drop_rate=0.25, reorder_rate=0.25, match=session_id, seed=11)
    try:
        async with raw_subscription(local_stack, session_id) as raw, sdk(local_stack) as one, sdk(local_stack) as two:
            first = await one.stream(prompt, session_id=session_id)
            second = await two.watch(session_id)
            deltas_one, deltas_two = await asyncio.gather(collect(first), collect(second))
            results = await asyncio.gather(first.result(), second.result())
        stats = await emulator_stats(local_stack)
    finally:
        await delivery_faults(local_stack)

    expected = expected_text(prompt)
    assert [r.text for r in results] == [expected, expected]
    assert screen(deltas_one) == screen(deltas_two) == expected
    # Delivery really was lossy and out of order, and the SDK fetched what was missing.
    stored = stored_events(local_stack, session_id)
    delivered = [key(e) for e in raw.events]
    assert len(delivered) == len(set(delivered)), "AppSync delivers at most once"
    assert set(delivered) < {key(e) for e in stored}, "some events were dropped"
    assert delivered != sorted(delivered), "some events arrived out of order"
    assert stats["droppedByFaults"] > before["droppedByFaults"]
    assert first.stats.catch_ups >= 2 and second.stats.catch_ups >= 2


async def test_a_subscriber_that_joins_after_completion_gets_the_final_attempt(local_stack):
    prompt = marked("[tokens=150] Describe a quiet library")
    local_stack.stack.model.add_fault({"kind": "fail_after", "match": prompt, "after": 20})
    async with sdk(local_stack) as client:
        stream = await client.stream(prompt)
        finished = await stream.result()
    async with sdk(local_stack) as late:
        watcher = await late.watch(stream.session_id)
        deltas = await collect(watcher)
        watched = await watcher.result()
        session = await late.get_session(stream.session_id)

    expected = expected_text(prompt)
    assert finished.attempt == watched.attempt == session.attempt == 2
    assert watched.text == screen(deltas) == finished.text == session.text == expected
    assert all(d.attempt == 2 for d in deltas), "a late joiner never sees a superseded attempt"


async def test_a_client_whose_socket_drops_mid_stream_reconnects_and_resumes(local_stack):
    prompt, session_id = marked("[tokens=600] Narrate a river from source to sea"), new_session_id()
    local_stack.stack.model.add_fault({"kind": "slow", "match": prompt, "delay_s": 0.002})
    async with sdk(local_stack) as server_dropped, sdk(local_stack) as client_dropped, sdk(local_stack) as undisturbed:
        a = await server_dropped.stream(prompt, session_id=session_id)
        [a_connection] = server_connections(local_stack, session_id)
        b = await client_dropped.watch(session_id)
        c = await undisturbed.watch(session_id)
        deltas_a: list = []
        async for delta in a:
            deltas_a.append(delta)
            if len(deltas_a) == 3:
                close_server_side(local_stack, a_connection)  # the server end goes away
                for connection in client_dropped.channel._connections:  # and our own end
                    await connection.transport.adapter.websocket.close()
        deltas_b, deltas_c = await asyncio.gather(collect(b), collect(c))
        results = await asyncio.gather(a.result(), b.result(), c.result())

    expected = expected_text(prompt)
    assert [r.text for r in results] == [expected] * 3
    assert screen(deltas_a) == screen(deltas_b) == screen(deltas_c) == expected
    assert a.stats.drops >= 1 and a.stats.resubscribes >= 1
    assert b.stats.drops >= 1 and b.stats.resubscribes >= 1
    assert c.stats.drops == 0
