"""AppSync's real-time protocol, message by message, over a raw WebSocket.

Each test speaks the protocol by hand (aiohttp's client, no GraphQL library) so every
message type, every place connection auth can travel and every error is checked on the
wire: ``connection_init`` → ``connection_ack {connectionTimeoutMs}``, ``ka``, ``start`` →
``start_ack``/``error {id}``, ``data``, ``stop`` → ``complete``, ``connection_error``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC

import aiohttp
import pytest

from tests.e2e.emulator_fixtures import (
    API_KEY,
    IAM_USER_ARN,
    SUBSCRIBE,
    WAIT_S,
    auth_headers,
    b64_json,
    event_variables,
    raw_socket,
    serve_emulator,
)
from tokencast.local.appsync.cost import ExecutionLimits
from tokencast.local.appsync.emulator import EmulatorConfig
from tokencast.local.appsync.realtime import RealtimeConfig

PLACEMENTS = ("query", "subprotocol", "headers")
MODES = ("api_key", "iam", "jwt")


def owner_for(server, mode: str, user: str = "alice") -> str:
    return {"api_key": "anonymous", "iam": IAM_USER_ARN, "jwt": server.sub_of(user)}[mode]


def subscription_data(session_id: str, selection: str = "sessionId seq token owner") -> str:
    return json.dumps({"query": SUBSCRIBE % selection, "variables": {"sessionId": session_id}}, separators=(",", ":"))


# -- the conversation --------------------------------------------------------------------------


async def test_connection_ack_carries_connection_timeout(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        assert ws.ws.protocol == "graphql-ws"
        ack = await ws.init()
        assert ack == {"type": "connection_ack", "payload": {"connectionTimeoutMs": 300_000}}


async def test_connection_timeout_is_configurable():
    config = EmulatorConfig(realtime=RealtimeConfig(connection_timeout_ms=1234))
    async with serve_emulator(config) as server, raw_socket(server, headers=auth_headers(server, "api_key")) as ws:
        ack = await ws.init()
        assert ack["payload"]["connectionTimeoutMs"] == 1234


async def test_keep_alives_arrive_at_the_configured_interval(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(3):
            assert await ws.receive(timeout=1.0, skip_ka=False) == {"type": "ka"}
        # three keep-alives at a 50 ms interval: far sooner than the 60 s default
        assert loop.time() - started < 1.0


async def test_start_ack_data_stop_complete(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.subscribe("sub-1", "s1", auth_headers(emulator, "api_key", "ignored"), selection="sessionId seq token")
        assert emulator.hub.count() == 1

        await emulator.publish(event_variables("s1", 1))
        data = await ws.expect("data")
        assert data == {
            "type": "data",
            "id": "sub-1",
            "payload": {"data": {"onTokenReceived": {"sessionId": "s1", "seq": 1, "token": "t1"}}},
        }

        await ws.send({"type": "stop", "id": "sub-1"})
        assert await ws.receive() == {"type": "complete", "id": "sub-1"}
        await emulator.wait_subscriptions(0)

        # stopped means stopped: nothing is queued for sub-1 by a later publish
        await emulator.publish(event_variables("s1", 2))
        await ws.barrier(auth_headers(emulator, "api_key", "x"))


async def test_several_subscriptions_share_one_connection(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.subscribe("a", "s1", auth_headers(emulator, "api_key", "x"), selection="seq")
        await ws.subscribe("b", "s1", auth_headers(emulator, "api_key", "x"), selection="token")
        await emulator.publish(event_variables("s1", 7))
        received = {}
        for _ in range(2):
            message = await ws.expect("data")
            received[message["id"]] = message["payload"]["data"]["onTokenReceived"]
        assert received == {"a": {"seq": 7}, "b": {"token": "t7"}}


async def test_closing_the_socket_removes_its_subscriptions(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.subscribe("a", "s1", auth_headers(emulator, "api_key", "x"))
        await ws.subscribe("b", "s2", auth_headers(emulator, "api_key", "x"))
        await emulator.wait_subscriptions(2)
    await emulator.wait_subscriptions(0)


async def test_the_server_completes_the_close_handshake_promptly(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.subscribe("a", "s1", auth_headers(emulator, "api_key", "x"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(ws.ws.close(), 1.0)
        assert ws.ws.close_code == aiohttp.WSCloseCode.OK
        assert loop.time() - started < 1.0


# -- where connection auth travels, for each mode ---------------------------------------------


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("mode", MODES)
async def test_auth_placement(emulator, mode, placement):
    """Connect with auth in the ``header`` query parameter, a ``header-<b64url>`` subprotocol
    (next to ``graphql-ws``, as Amplify sends it) or plain headers; then start with the same
    mode signed over ``payload.data`` and receive an event owned by that principal."""
    async with raw_socket(emulator, headers=auth_headers(emulator, mode), placement=placement) as ws:
        assert ws.ws.protocol == "graphql-ws"
        await ws.init()
        data = subscription_data("s-auth")
        await ws.start("1", data, auth_headers(emulator, mode, data))
        assert await ws.expect("start_ack") == {"type": "start_ack", "id": "1"}
        owner = owner_for(emulator, mode)
        await emulator.publish(event_variables("s-auth", 1, owner=owner))
        message = await ws.expect("data")
        assert message["id"] == "1"
        assert message["payload"]["data"]["onTokenReceived"] == {
            "sessionId": "s-auth",
            "seq": 1,
            "token": "t1",
            "owner": owner,
        }


async def test_start_without_authorization_uses_the_connection_identity(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "jwt", user="carol")) as ws:
        await ws.init()
        await ws.start("1", subscription_data("s1"), None)
        await ws.expect("start_ack")
        # carol's PRIVATE session reaches her; the filter was built from the connection's identity
        await emulator.publish(event_variables("s1", 1, owner="anonymous"))
        await emulator.publish(event_variables("s1", 2, owner=emulator.sub_of("carol")))
        message = await ws.expect("data")
        assert message["payload"]["data"]["onTokenReceived"]["seq"] == 2


# -- errors -----------------------------------------------------------------------------------


def only_error(message: dict) -> dict:
    errors = message["payload"]["errors"]
    assert len(errors) == 1, errors
    return errors[0]


async def expect_connection_error(ws) -> dict:
    message = await ws.expect("connection_error")
    assert "id" not in message
    error = only_error(message)
    # the server closes the socket after a connection_error
    closing = await asyncio.wait_for(ws.ws.receive(), WAIT_S)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    return error


@pytest.mark.parametrize("placement", PLACEMENTS)
async def test_bad_api_key_on_connect_is_a_connection_error(emulator, placement):
    headers = {"host": emulator.host, "x-api-key": "da2-wrong"}
    async with raw_socket(emulator, headers=headers, placement=placement) as ws:
        await ws.send({"type": "connection_init"})
        error = await expect_connection_error(ws)
        assert error == {
            "errorType": "UnauthorizedException",
            "message": "You are not authorized to make this call.",
            "errorCode": 401,
        }


async def test_bad_iam_signature_on_connect_is_a_connection_error(emulator):
    headers = emulator.iam_auth(secret="not-the-secret").get_headers()
    async with raw_socket(emulator, headers=headers) as ws:
        await ws.send({"type": "connection_init"})
        error = await expect_connection_error(ws)
        assert error["errorType"] == "InvalidSignatureException"
        assert error["errorCode"] == 403
        assert error["message"].startswith("The request signature we calculated does not match")


async def test_expired_jwt_on_connect_is_a_connection_error(emulator):
    from datetime import datetime, timedelta

    token = emulator.issuer.mint("alice", ttl=timedelta(minutes=1), now=datetime.now(UTC) - timedelta(hours=1))
    async with raw_socket(emulator, headers={"host": emulator.host, "Authorization": token}) as ws:
        await ws.send({"type": "connection_init"})
        error = await expect_connection_error(ws)
        assert error == {"errorType": "UnauthorizedException", "message": "Token has expired.", "errorCode": 401}


async def test_no_auth_on_connect_is_a_connection_error(emulator):
    async with raw_socket(emulator, headers=None) as ws:
        await ws.send({"type": "connection_init"})
        error = await expect_connection_error(ws)
        assert error["errorType"] == "UnauthorizedException"
        assert error["errorCode"] == 401


async def test_bad_api_key_on_start_is_an_error_with_id(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.start("7", subscription_data("s1"), {"host": emulator.host, "x-api-key": "da2-wrong"})
        message = await ws.expect("error")
        assert message["id"] == "7"
        assert only_error(message) == {
            "errorType": "UnauthorizedException",
            "message": "You are not authorized to make this call.",
        }
        assert emulator.hub.count() == 0
        # the connection survives a refused start
        await ws.subscribe("8", "s1", auth_headers(emulator, "api_key", "x"))


async def test_bad_iam_signature_on_start_is_an_error_with_id(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "iam")) as ws:
        await ws.init()
        data = subscription_data("s1")
        await ws.start("1", data, emulator.iam_auth(secret="not-the-secret").get_headers(data))
        message = await ws.expect("error")
        assert message["id"] == "1"
        assert only_error(message)["errorType"] == "InvalidSignatureException"
        assert emulator.hub.count() == 0


async def test_start_with_a_tampered_body_is_refused(emulator):
    """Signed over one payload.data, sent with another: the signature covers the body."""
    async with raw_socket(emulator, headers=auth_headers(emulator, "iam")) as ws:
        await ws.init()
        signed_for = subscription_data("my-session")
        sent = subscription_data("someone-elses-session")
        await ws.start("1", sent, emulator.iam_auth().get_headers(signed_for))
        message = await ws.expect("error")
        assert message["id"] == "1"
        error = only_error(message)
        assert error["errorType"] == "InvalidSignatureException"
        assert emulator.hub.count() == 0
        # the same headers with the payload they were signed for are fine
        await ws.start("2", signed_for, emulator.iam_auth().get_headers(signed_for))
        assert await ws.expect("start_ack") == {"type": "start_ack", "id": "2"}


@pytest.mark.parametrize("kind", ["subscribe", "bogus", None])
async def test_unknown_message_type_is_unsupported(emulator, kind):
    """AppSync answers an operation it cannot read with an error that has no id."""
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        message = {"id": "1", "payload": {"query": "subscription { x }"}}
        if kind is not None:
            message["type"] = kind
        await ws.send(message)
        reply = await ws.expect("error")
        assert "id" not in reply
        assert only_error(reply) == {
            "errorType": "UnsupportedOperation",
            "message": "unknown not supported through the realtime channel",
        }
        await ws.subscribe("2", "s1", auth_headers(emulator, "api_key", "x"))


async def test_start_without_payload_data_is_unsupported(emulator):
    """What graphql-ws clients send (payload.query, no payload.data) is not AppSync's start."""
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.send(
            {
                "id": "1",
                "type": "start",
                "payload": {
                    "query": 'subscription { onTokenReceived(sessionId: "s") { seq } }',
                    "extensions": {"authorization": auth_headers(emulator, "api_key", "x")},
                },
            }
        )
        reply = await ws.expect("error")
        assert only_error(reply)["errorType"] == "UnsupportedOperation"
        await ws.subscribe("2", "s1", auth_headers(emulator, "api_key", "x"))


@pytest.mark.parametrize(
    "raw",
    [
        "not json at all",
        "[1, 2]",
        json.dumps({"type": "start", "id": "1", "payload": "not an object"}),
        json.dumps({"type": "start", "id": "1", "payload": {"data": "{}", "extensions": "nope"}}),
        json.dumps({"type": "start", "id": "1", "payload": {"data": "{}", "extensions": {"authorization": "nope"}}}),
        json.dumps({"type": "start", "id": "1", "payload": {"data": "not json"}}),
        json.dumps({"type": "start", "id": "1", "payload": {"data": "[]"}}),
        json.dumps({"type": "start", "id": ["1"], "payload": {"data": "{}"}}),
        json.dumps({"type": "stop", "id": {"x": 1}}),
    ],
)
async def test_malformed_messages_never_kill_the_connection(emulator, raw):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.send(raw)
        reply = await ws.receive()
        assert reply["type"] in ("error", "complete"), reply
        if reply["type"] == "error":
            assert reply["payload"]["errors"][0]["errorType"]
        await ws.subscribe("ok", "s1", auth_headers(emulator, "api_key", "x"))


async def test_invalid_graphql_in_start_is_an_error_with_id(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        for sub_id, query in [
            ("syntax", "subscription { onTokenReceived(sessionId: "),
            ("unknown-field", 'subscription { onTokenReceived(sessionId: "s") { nope } }'),
            ("missing-arg", "subscription { onTokenReceived { seq } }"),
        ]:
            data = json.dumps({"query": query})
            await ws.start(sub_id, data, auth_headers(emulator, "api_key", data))
            message = await ws.expect("error")
            assert message["id"] == sub_id
            assert message["payload"]["errors"][0]["errorType"] == "ValidationError"
        data = json.dumps({"query": SUBSCRIBE % "seq", "variables": {"sessionId": 5.5}})
        await ws.start("bad-variable", data, auth_headers(emulator, "api_key", data))
        message = await ws.expect("error")
        assert message["id"] == "bad-variable"
        assert message["payload"]["errors"][0]["errorType"] == "ValidationError"
        assert emulator.hub.count() == 0


@pytest.mark.parametrize(
    "query",
    [
        'query { getSession(sessionId: "s") { sessionId } }',
        'mutation { cancelStream(sessionId: "s") { sessionId } }',
    ],
)
async def test_queries_and_mutations_are_not_served_on_the_realtime_channel(emulator, query):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        data = json.dumps({"query": query})
        await ws.start("q", data, auth_headers(emulator, "api_key", data))
        message = await ws.expect("error")
        assert message["id"] == "q"
        operation = query.split()[0]
        assert only_error(message) == {
            "errorType": "UnsupportedOperation",
            "message": f"{operation} not supported through the realtime channel",
        }
        assert emulator.functions["sessions"].events == []  # nothing ran


async def test_duplicate_subscription_id_is_refused(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.subscribe("same", "s1", auth_headers(emulator, "api_key", "x"))
        await ws.start("same", subscription_data("s2"), auth_headers(emulator, "api_key", "x"))
        message = await ws.expect("error")
        assert message["id"] == "same"
        assert only_error(message)["errorType"] == "DuplicatedOperationError"
        assert emulator.hub.count() == 1


async def test_the_101st_subscription_is_refused(emulator):
    """AppSync allows 100 subscriptions per connection (the emulator's default)."""
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        authorization = auth_headers(emulator, "api_key", "x")
        for index in range(100):
            await ws.start(str(index), subscription_data(f"s{index}"), authorization)
        for index in range(100):
            assert await ws.expect("start_ack") == {"type": "start_ack", "id": str(index)}
        await ws.start("100", subscription_data("s100"), authorization)
        message = await ws.expect("error")
        assert message["id"] == "100"
        assert only_error(message) == {
            "errorType": "MaxSubscriptionsReachedError",
            "message": "Max number of 100 subscriptions reached",
        }
        assert emulator.hub.count() == 100
        # a stop frees a slot
        await ws.send({"type": "stop", "id": "0"})
        await ws.expect("complete")
        await ws.subscribe("100", "s100", authorization)


async def test_missing_graphql_ws_subprotocol_is_refused(emulator):
    url = f"{emulator.realtime_url}?header={b64_json(auth_headers(emulator, 'api_key'))}&payload=e30="
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with emulator.http.ws_connect(url, protocols=("graphql-transport-ws",)):
            pass
    assert refused.value.status == 400
    with pytest.raises(aiohttp.WSServerHandshakeError):
        async with emulator.http.ws_connect(url):
            pass
    assert (await emulator.stats())["connections"] == 0


async def test_undecodable_header_parameter_is_refused(emulator):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with emulator.http.ws_connect(
            f"{emulator.realtime_url}?header=%%%&payload=e30=", protocols=("graphql-ws",)
        ):
            pass
    assert refused.value.status == 400


async def test_connection_init_is_optional(emulator):
    """AppSync's protocol makes connection_init optional: a start may come first, and then
    no connection_ack is sent."""
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.start("1", subscription_data("s1"), auth_headers(emulator, "api_key", "x"))
        assert await ws.receive() == {"type": "start_ack", "id": "1"}
        await emulator.publish(event_variables("s1", 1))
        assert (await ws.expect("data"))["payload"]["data"]["onTokenReceived"]["seq"] == 1


async def test_connection_init_is_awaited_only_so_long():
    config = EmulatorConfig(realtime=RealtimeConfig(init_timeout_s=0.1))
    async with serve_emulator(config) as server, raw_socket(server, headers=auth_headers(server, "api_key")) as ws:
        error = await expect_connection_error(ws)
        assert error["errorType"] == "ConnectionTimeout"


async def test_same_protocol_on_get_graphql(emulator):
    """Clients that only swap the scheme reach the real-time endpoint at /graphql."""
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key"), url=emulator.ws_url) as ws:
        await ws.init()
        await ws.subscribe("1", "s1", {"host": emulator.host, "x-api-key": API_KEY}, selection="seq")
        await emulator.publish(event_variables("s1", 3))
        assert (await ws.expect("data"))["payload"]["data"] == {"onTokenReceived": {"seq": 3}}


async def test_a_resolver_error_on_start_is_typed(emulator):
    """onTokenReceived's resolver refuses a sessionId no session can have: errorType InvalidInput."""
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        data = subscription_data("x" * 129)
        await ws.start("too-long", data, auth_headers(emulator, "api_key", data))
        message = await ws.expect("error")
        assert message["id"] == "too-long"
        assert only_error(message) == {
            "errorType": "InvalidInput",
            "message": "sessionId: must be 1 to 128 characters",
        }
        assert emulator.hub.count() == 0


async def test_the_api_limits_apply_to_subscriptions_too():
    async with serve_emulator(EmulatorConfig(limits=ExecutionLimits(max_depth=1))) as server:
        async with raw_socket(server, headers=auth_headers(server, "api_key")) as ws:
            await ws.init()
            data = subscription_data("s1", "sessionId usage { totalTokens }")  # depth 3
            await ws.start("deep", data, auth_headers(server, "api_key", data))
            message = await ws.expect("error")
            assert only_error(message) == {
                "errorType": "ValidationError",
                "message": "Validation error: Query depth 3 exceeds the API's queryDepthLimit of 1.",
            }
            assert server.hub.count() == 0
