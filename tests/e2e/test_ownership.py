"""Owner-only sessions on the real local stack: the same rule AppSync enforces in the cloud.

alice's PRIVATE session: bob (another signed-in user) cannot read it, list its events, cancel
it or receive its events; alice can. A SHARED session is readable and watchable by bob but
still only cancellable by alice. Handlers, emulator filter and JWTs are all the real ones.
"""

from __future__ import annotations

import pytest
from gql.transport.exceptions import TransportQueryError

from tests.e2e.stack_clients import (
    get_session,
    http_client,
    iam_auth,
    jwt_auth,
    new_session_id,
    op,
    start,
    subscribed,
)
from tokencast.core.publisher import PUBLISH_MUTATION
from tokencast.local.bedrock.text import expected_text
from tokencast.local.jwt_issuer import LocalJwtIssuer

pytestmark = pytest.mark.e2e

EVENTS = "query($id: ID!) { getEvents(sessionId: $id) { items { seq token } } }"
CANCEL = "mutation($id: ID!) { cancelStream(sessionId: $id) { sessionId status } }"


async def publish_sentinel(local_stack, session_id: str, owner: str) -> None:
    """An event addressed to ``owner``: once it arrives, everything sent before it has too."""
    event = {
        "sessionId": session_id,
        "attempt": 99,
        "seq": 1,
        "type": "STARTED",
        "token": "",
        "isComplete": True,
        "owner": owner,
        "visibility": "PRIVATE",
    }
    async with http_client(local_stack.endpoints, iam_auth(local_stack.endpoints)) as as_worker:
        await as_worker.execute(op(PUBLISH_MUTATION, **event))


async def test_another_user_cannot_read_cancel_or_subscribe_to_a_private_session(local_stack):
    endpoints = local_stack.endpoints
    session_id, prompt = new_session_id(), "alice's private question"
    alice, bob = jwt_auth(endpoints, "alice"), jwt_auth(endpoints, "bob")
    async with (
        subscribed(local_stack, session_id, auth=alice) as alice_sees,
        subscribed(local_stack, session_id, auth=bob) as bob_sees,
        subscribed(local_stack, session_id) as api_key_sees,
    ):
        async with http_client(endpoints, alice) as as_alice:
            started = await start(as_alice, prompt, sessionId=session_id)
            assert started["visibility"] == "PRIVATE"
            await alice_sees.wait()
            assert (await get_session(as_alice, session_id))["text"] == expected_text(prompt)
        # Each connection delivers in order: when a sentinel addressed to bob (and one to API
        # key callers) arrives first, none of alice's events was ever sent to them.
        await publish_sentinel(local_stack, session_id, LocalJwtIssuer.from_env().subject_for("bob"))
        await publish_sentinel(local_stack, session_id, "anonymous")
        await bob_sees.wait()
        await api_key_sees.wait()

    assert alice_sees.text == expected_text(prompt)
    assert [e["attempt"] for e in bob_sees.events] == [99]
    assert [e["attempt"] for e in api_key_sees.events] == [99]

    async with http_client(endpoints, bob) as as_bob:
        assert await get_session(as_bob, session_id) is None  # as if it did not exist
        with pytest.raises(TransportQueryError) as events:
            await as_bob.execute(op(EVENTS, id=session_id))
        with pytest.raises(TransportQueryError) as cancel:
            await as_bob.execute(op(CANCEL, id=session_id))
    # Not found, not "forbidden": bob learns nothing about whether the session exists.
    assert "sessionId: not found" in events.value.errors[0]["message"]
    assert "sessionId" in cancel.value.errors[0]["message"]
    # Typed, so clients never read the words: NotFound for both.
    assert events.value.errors[0]["errorType"] == cancel.value.errors[0]["errorType"] == "NotFound"
    async with http_client(endpoints, alice) as as_alice:
        assert (await get_session(as_alice, session_id))["status"] == "COMPLETED"  # bob's cancel changed nothing


async def test_shared_session_is_watchable_by_signed_in_users_but_cancellable_only_by_its_owner(local_stack):
    endpoints = local_stack.endpoints
    session_id, prompt = new_session_id(), "alice shares this [tokens=40]"
    alice, bob = jwt_auth(endpoints, "alice"), jwt_auth(endpoints, "bob")
    async with (
        subscribed(local_stack, session_id, auth=bob) as bob_sees,
        subscribed(local_stack, session_id) as api_key_sees,
    ):
        async with http_client(endpoints, alice) as as_alice:
            await start(as_alice, prompt, sessionId=session_id, visibility="SHARED")
        await bob_sees.wait()
        await publish_sentinel(local_stack, session_id, "anonymous")
        await api_key_sees.wait()

    assert bob_sees.text == expected_text(prompt)
    assert [e["attempt"] for e in api_key_sees.events] == [99]  # an API key is not a signed-in user
    async with http_client(endpoints, bob) as as_bob:
        assert (await get_session(as_bob, session_id))["text"] == expected_text(prompt)
        with pytest.raises(TransportQueryError) as cancel:
            await as_bob.execute(op(CANCEL, id=session_id))
    assert "only the owner may cancel" in cancel.value.errors[0]["message"]
    assert cancel.value.errors[0]["errorType"] == "Forbidden"
