"""The client SDK on the real local stack: every auth mode, lossy delivery, retries, failure,
cancel, late joins and a dropped socket -- the final text always the model's output."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tokencast.client import (
    ApiKeyAuth,
    ClientOptions,
    Delta,
    IamAuth,
    InvalidRequest,
    JwtAuth,
    SessionNotFound,
    StreamFailed,
    StreamOptions,
    TokencastClient,
)
from tokencast.local.admin_client import AdminClient, AppSyncFaults
from tokencast.local.bedrock.text import expected_text
from tokencast.local.jwt_issuer import LocalJwtIssuer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

OPTIONS = ClientOptions(stream=StreamOptions(gap_grace_s=0.1, idle_poll_s=1.0, reconnect_base_s=0.05))


def client(stack, auth=None) -> TokencastClient:
    endpoints = stack.endpoints
    return TokencastClient(endpoints.graphql_url, auth=auth or ApiKeyAuth(endpoints.api_key), options=OPTIONS)


def screen(deltas: list[Delta]) -> str:
    shown = ""
    for delta in deltas:
        shown = "" if delta.restarted else shown + delta.text
    return shown


async def delivery_faults(stack, **faults) -> None:
    admin = AdminClient.for_stack(stack.endpoints.graphql_url, stack.endpoints.api_key)
    await asyncio.to_thread(admin.set_appsync_faults, AppSyncFaults(**faults) if faults else None)


def marked(text: str) -> str:
    """A prompt of its own (model faults match on it); keep [tokens=N] below the deployment's
    default maxTokens (1024) so the answer is expected_text(prompt)."""
    return f"{text} #{uuid.uuid4().hex[:8]}"


async def test_stream_with_an_api_key(local_stack):
    prompt = marked("Describe a lighthouse")
    async with client(local_stack) as tc:
        stream = await tc.stream(prompt)
        deltas = [delta async for delta in stream]
        result = await stream.result(check=True)
    assert result.text == expected_text(prompt) == screen(deltas) == stream.text
    assert (result.status, result.attempt, result.stop_reason) == ("COMPLETED", 1, "end_turn")
    assert result.usage is not None and result.usage.output_tokens is not None and result.usage.output_tokens > 0


@pytest.mark.parametrize("mode", ["jwt", "iam"])
async def test_stream_with_jwt_and_iam(local_stack, mode):
    endpoints = local_stack.endpoints
    auth = JwtAuth(LocalJwtIssuer.from_env().mint("alice")) if mode == "jwt" else IamAuth(region=endpoints.region)
    prompt = marked(f"Explain tides ({mode})")
    async with client(local_stack, auth) as tc:
        stream = await tc.stream(prompt)
        result = await stream.result()
        session = await tc.get_session(stream.session_id)
    assert result.text == expected_text(prompt) == session.text
    assert session.owner not in (None, "", "anonymous")


async def test_dropped_and_reordered_deliveries_still_give_the_exact_text(local_stack):
    session_id = str(uuid.uuid4())
    prompt = marked("[tokens=300] Write about harbours")
    await delivery_faults(local_stack, drop_rate=0.3, reorder_rate=0.3, match=session_id, seed=7)
    try:
        async with client(local_stack) as tc:
            stream = await tc.stream(prompt, session_id=session_id)
            deltas = [delta async for delta in stream]
            result = await stream.result()
    finally:
        await delivery_faults(local_stack)
    assert result.text == expected_text(prompt) == screen(deltas)
    assert stream.stats.catch_ups >= 2, "gaps were fetched"


async def test_a_mid_stream_failure_restarts_as_a_new_attempt(local_stack):
    prompt = marked("[tokens=200] Tell a story about a kite")
    local_stack.stack.model.add_fault({"kind": "fail_after", "match": prompt, "after": 40})
    async with client(local_stack) as tc:
        stream = await tc.stream(prompt)
        deltas = [delta async for delta in stream]
        result = await stream.result()
    assert result.attempt == 2 and result.text == expected_text(prompt) == screen(deltas)
    if any(d.attempt == 1 and d.text for d in deltas):
        assert any(d.restarted for d in deltas)


async def test_a_permanent_failure_raises_stream_failed_on_check(local_stack):
    prompt = marked("Anything at all")
    local_stack.stack.model.add_fault({"kind": "http_error", "match": prompt, "error": "AccessDeniedException"})
    async with client(local_stack) as tc:
        stream = await tc.stream(prompt)
        result = await stream.result()
        assert result.status == "FAILED" and result.error
        with pytest.raises(StreamFailed) as raised:
            await stream.result(check=True)
    assert raised.value.error == result.error


async def test_cancel_keeps_the_partial_text(local_stack):
    prompt = marked("[tokens=4000] Go on and on about clouds")
    async with client(local_stack) as tc:
        stream = await tc.stream(prompt, max_tokens=4000)
        async for delta in stream:
            if len(stream.text) > 50:
                break
        await tc.cancel(stream.session_id)
        result = await stream.result()
    assert result.status == "CANCELLED"
    full = expected_text(prompt, max_tokens=4000)
    assert full.startswith(result.text) and 50 < len(result.text) < len(full)


async def test_watch_joins_late_and_after_completion(local_stack):
    prompt = marked("[tokens=400] Describe a long train journey")
    async with client(local_stack) as tc:
        stream = await tc.stream(prompt)
        async for _ in stream:
            if len(stream.text) > 100:
                break
        late = await tc.watch(stream.session_id)  # mid-stream
        first, second = await asyncio.gather(stream.result(), late.result())
        after = await tc.watch(stream.session_id)  # after the end
        third = await after.result()
    assert first.text == second.text == third.text == expected_text(prompt)


async def test_a_dropped_socket_resubscribes_and_catches_up(local_stack):
    prompt = marked("[tokens=900] Narrate a river from source to sea")
    async with client(local_stack) as tc:
        stream = await tc.stream(prompt)
        deltas = []
        async for delta in stream:
            deltas.append(delta)
            if len(deltas) == 3:
                for connection in tc.channel._connections:  # the network goes away under us
                    await connection.transport.adapter.websocket.close()
        result = await stream.result()
    assert result.text == expected_text(prompt) == screen(deltas)
    assert stream.stats.drops >= 1 and stream.stats.resubscribes >= 1


async def test_errors_are_exact(local_stack):
    async with client(local_stack) as tc:
        with pytest.raises(SessionNotFound):
            await tc.watch(str(uuid.uuid4()))
        with pytest.raises(InvalidRequest) as raised:
            await tc.stream("x", max_tokens=0)
        assert "maxTokens" in raised.value.message
