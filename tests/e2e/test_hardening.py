"""Issue 12: each class of bad input or abuse, answered without harm (emulator and real stack).

Every test also proves the server is still serving afterwards, and the module-wide
``no_tracebacks`` fixture fails a test whose bad input wrote a traceback or an ERROR line.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from typing import Any

import aiohttp
import pytest

from tests.e2e.emulator_fixtures import (
    API_KEY,
    SUBSCRIBE,
    auth_headers,
    b64_json,
    event_variables,
    raw_socket,
    serve_emulator,
)
from tests.e2e.fault_helpers import admin, marked, store
from tests.e2e.stack_clients import START, api_key_auth, jwt_auth, new_session_id, subscribed
from tests.e2e.ws_raw import BareWebSocket
from tokencast.core.start import SESSION_ID_UNAVAILABLE
from tokencast.local.admin_client import AdminClient, AdminError
from tokencast.local.appsync.cost import ExecutionLimits
from tokencast.local.appsync.emulator import EmulatorConfig
from tokencast.local.appsync.realtime import RealtimeConfig
from tokencast.local.bedrock.text import expected_text

DEEP = 5000  # far past json's recursion limit


def deep_array(levels: int = DEEP) -> str:
    return "[" * levels + "]" * levels


def deep_object(levels: int = DEEP) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture):
    """Bad input is answered, never logged as a crash (the stack's loop thread logs here too)."""
    caplog.set_level(logging.WARNING)
    yield
    crashes = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not crashes, [f"{r.name}: {r.getMessage()}" for r in crashes]


# -- JSON nesting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        deep_array(),
        deep_object(),
        json.dumps({"query": "query { __typename }"})[:-1] + ', "variables": {"v": ' + deep_array() + "}}",
        json.dumps({"query": "query { __typename }"})[:-1] + ', "variables": {"v": ' + deep_array(65) + "}}",
    ],
    ids=["array", "object", "variables", "just-past-the-limit"],
)
async def test_deeply_nested_json_body_is_a_400(emulator, body):
    status, response = await emulator.post(body, {"x-api-key": API_KEY})
    assert status == 400, response
    [error] = response["errors"]
    assert error["errorType"] == "MalformedHttpRequestException"
    assert "nested deeper than 64 levels" in error["message"]
    assert emulator.functions["start"].events == [] and emulator.functions["sessions"].events == []
    await emulator.good_request_succeeds()


def _b64(text: str, *, urlsafe: bool = False) -> str:
    raw = text.encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") if urlsafe else base64.b64encode(raw).decode()


@pytest.mark.parametrize("placement", ["query", "subprotocol"])
async def test_deeply_nested_connection_header_is_refused_before_auth(emulator, placement):
    url, protocols = emulator.realtime_url, ["graphql-ws"]
    if placement == "query":
        url += f"?header={_b64(deep_object())}&payload=e30="
    else:
        protocols.append("header-" + _b64(deep_object(), urlsafe=True))
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with emulator.http.ws_connect(url, protocols=protocols):
            pass
    assert refused.value.status == 400
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()


async def test_a_bad_frame_never_drops_the_connections_other_subscriptions(emulator):
    session_id = str(uuid.uuid4())
    authorization = auth_headers(emulator, "api_key")
    async with raw_socket(emulator, headers=authorization) as ws:
        await ws.init()
        await ws.subscribe("kept", session_id, authorization, selection="seq token")
        bad_frames: list[Any] = [
            deep_array(),
            deep_object(),
            {"type": "start", "id": "deep", "payload": {"data": deep_object()}},
            {
                "type": "start",
                "id": "deep-vars",
                "payload": {"data": json.dumps({"query": "x", "variables": {}})[:-1] + ', "v": ' + deep_array() + "}"},
            },
            {"type": "start", "id": "not-graphql", "payload": {"data": '{"query": 5}'}},
            {
                "type": "start",
                "id": "nested-query",
                "payload": {"data": json.dumps({"query": "subscription {" * 3000})},
            },
            {"type": "start", "id": "surrogate", "payload": {"data": json.dumps({"query": "subscription {\ud800}"})}},
            {
                "type": "start",
                "id": "wrong-type",
                "payload": {"data": json.dumps({"query": SUBSCRIBE % "seq", "variables": {"sessionId": {"a": [1]}}})},
            },
        ]
        for frame in bad_frames:
            await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
            message = await ws.expect("error")
            assert message["payload"]["errors"][0]["message"], message
        assert emulator.hub.count() == 1
        await emulator.publish(event_variables(session_id, 1))
        data = await ws.expect("data")
        assert data["id"] == "kept" and data["payload"]["data"]["onTokenReceived"] == {"seq": 1, "token": "t1"}


async def _raw_post(server, header: bytes) -> int:
    """POST /graphql with one header line written byte for byte (aiohttp's client would refuse it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    body = b'{"query": "{ __typename }"}'
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: " + server.host.encode() + b"\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n" + header + b"\r\nconnection: close\r\n\r\n" + body
    )
    status_line = await reader.readline()
    writer.close()
    return int(status_line.split()[1])


@pytest.mark.parametrize(
    "header",
    [b"x-api-key: \xff\xfe", b"authorization: \xc3", b"authorization: AWS4-HMAC-SHA256 Credential=\xff/x"],
    ids=["api-key", "jwt", "sigv4"],
)
async def test_credentials_that_are_not_utf8_are_a_401(emulator, header):
    assert await _raw_post(emulator, header) == 401
    await emulator.good_request_succeeds()


@pytest.mark.parametrize(
    "headers",
    [{"x-api-key": "\ud800"}, {"Authorization": "\udfff"}, {"x-api-key": API_KEY, "host": "\ud800"}],
    ids=["api-key", "jwt", "host"],
)
async def test_lone_surrogates_in_connection_headers_are_a_connection_error(emulator, headers):
    async with raw_socket(emulator, headers=headers) as ws:
        await ws.send({"type": "connection_init"})
        error = await ws.expect("connection_error")
        assert error["payload"]["errors"][0]["errorType"] == "UnauthorizedException"


# -- execution limits -------------------------------------------------------------------------


def _aliases(count: int, field: str) -> str:
    return "query {" + " ".join(f"a{i}: {field}" for i in range(count)) + "}"


LIMIT_CASES = {
    "resolver count": (
        _aliases(101, 'getSession(sessionId: "s") { sessionId }'),
        "The query needs 101 resolvers; the API's resolverCountLimit is 100.",
    ),
    "resolver count, 1500 aliases": (
        _aliases(1500, 'getSession(sessionId:"s"){sessionId}'),
        "the API's resolverCountLimit is 100.",
    ),
    "introspection counts as resolvers": (
        _aliases(600, "__schema { types { name } }"),
        "The query needs 600 resolvers",
    ),
    "depth": (
        'query { __type(name: "Query") { ' + "ofType { " * 20 + "name" + " }" * 21 + " }",
        "exceeds the API's queryDepthLimit of 16.",
    ),
    "document size": (
        "query { __typename " + "#" * 70_000 + "\n}",
        "the document size limit is 65536",
    ),
    "nesting past the parser's recursion": ("query " + "{ a " * 3000 + "}" * 3000, "nested too deeply"),
}


@pytest.mark.parametrize("case", list(LIMIT_CASES))
async def test_execution_limits_refuse_before_any_resolver_runs(emulator, case):
    query, expected = LIMIT_CASES[case]
    status, response = await emulator.post({"query": query}, {"x-api-key": API_KEY})
    assert status == 200 and response["data"] is None, response
    assert any(expected in error["message"] for error in response["errors"]), response
    assert emulator.functions["sessions"].events == []
    await emulator.good_request_succeeds()


async def test_a_query_at_the_limits_runs():
    limits = ExecutionLimits(max_resolvers=3, max_depth=4)
    async with serve_emulator(EmulatorConfig(limits=limits)) as server:
        query = _aliases(3, 'getEvents(sessionId: "s") { items { usage { inputTokens } } }')
        status, response = await server.post({"query": query}, {"x-api-key": API_KEY})
        assert status == 200 and "errors" not in response, response
        assert len(server.functions["sessions"].events) == 3


async def test_a_response_over_the_size_limit_is_an_error():
    async with serve_emulator(EmulatorConfig(limits=ExecutionLimits(max_response_bytes=200))) as server:
        query = 'query { getEvents(sessionId: "s") { items { sessionId seq token owner visibility timestamp } } }'
        status, response = await server.post({"query": query}, {"x-api-key": API_KEY})
        assert status == 200 and response["data"] is None, response
        [error] = response["errors"]
        assert error["errorType"] == "ResponseTooLarge" and "the response size limit is 200" in error["message"]


async def test_heavy_subscription_selections_do_not_hold_up_other_sessions(emulator):
    """Rendering a publish for subscribers with thousands of aliased fields runs on a worker
    thread: another session's events are published and delivered while it is under way."""
    heavy_session, light_session = str(uuid.uuid4()), str(uuid.uuid4())
    authorization = auth_headers(emulator, "api_key")
    heavy_selection = " ".join(f"a{i}: token" for i in range(1500))
    async with (
        raw_socket(emulator, headers=authorization) as heavy,
        raw_socket(emulator, headers=authorization) as light,
    ):
        await heavy.init()
        await light.init()
        for n in range(10):
            await heavy.subscribe(f"heavy-{n}", heavy_session, authorization, selection=heavy_selection)
        await light.subscribe("light", light_session, authorization, selection="seq")
        heavy_publish = asyncio.create_task(emulator.publish(event_variables(heavy_session, 1)))
        delivered_meanwhile = 0
        for seq in range(1, 200):
            if heavy_publish.done():
                break
            await emulator.publish(event_variables(light_session, seq))
            message = await light.expect("data")
            assert message["payload"]["data"]["onTokenReceived"] == {"seq": seq}
            delivered_meanwhile += 1
        await heavy_publish
        assert delivered_meanwhile >= 2, "the light session's events waited for the heavy render"
        for _ in range(10):
            assert (await heavy.expect("data"))["payload"]["data"]["onTokenReceived"]["a1499"] == "t1"


# -- slow consumers ---------------------------------------------------------------------------

BIG_TOKEN = "x" * 60_000


async def _slow_reader(server) -> BareWebSocket:
    host, port = server.host.split(":")
    authorization = auth_headers(server, "api_key")
    ws = await BareWebSocket.connect(
        host, int(port), f"/graphql/realtime?header={b64_json(authorization)}&payload=e30="
    )
    await ws.send({"type": "connection_init"})
    return ws


async def _publish_until_disconnected(server, session_id: str, limit: int = 400) -> int:
    for seq in range(1, limit + 1):
        await server.publish(event_variables(session_id, seq, token=BIG_TOKEN))
        if (await server.stats())["slowConsumersDisconnected"]:
            return seq
    raise AssertionError(f"a client that never reads was not disconnected after {limit} large events")


async def _subscribed_slow_reader(server, session_id: str, sub_id: str):
    """A raw socket with a tiny receive buffer, subscribed to ``session_id`` (start acknowledged)."""
    ws = await _slow_reader(server)
    await ws.send(
        {
            "id": sub_id,
            "type": "start",
            "payload": {
                "data": json.dumps({"query": SUBSCRIBE % "seq token", "variables": {"sessionId": session_id}}),
                "extensions": {"authorization": auth_headers(server, "api_key")},
            },
        }
    )
    await server.wait_subscriptions(1)
    return ws


async def test_a_client_that_stops_reading_is_disconnected_with_an_error_and_memory_stays_bounded():
    bound = 256 * 1024
    config = EmulatorConfig(realtime=RealtimeConfig(max_outbox_bytes=bound, slow_close_timeout_s=30))
    async with serve_emulator(config) as server:
        session_id = str(uuid.uuid4())
        ws = await _subscribed_slow_reader(server, session_id, "slow")
        try:
            await _publish_until_disconnected(server, session_id)
            stats = await server.stats()
            assert stats["outboxHighWaterBytes"] <= bound

            # Reading again, the client gets what was already on its way, then the reason and the close.
            kinds = []
            while True:
                opcode, payload = await ws.frame()
                if opcode == 0x8:
                    assert int.from_bytes(payload[:2], "big") == 1008
                    break
                kinds.append(json.loads(payload))
            error = kinds[-1]
            assert error["type"] == "connection_error", error
            assert error["payload"]["errors"][0]["errorType"] == "SlowConsumerError"
            assert all(k["type"] in ("connection_ack", "ka", "start_ack", "data") for k in kinds[:-1])
            await server.wait_subscriptions(0)
        finally:
            ws.close()


async def test_a_client_that_never_reads_again_is_dropped():
    """Even the close cannot be written to it: the TCP connection is aborted, nothing stays queued."""
    bound = 128 * 1024
    config = EmulatorConfig(realtime=RealtimeConfig(max_outbox_bytes=bound, slow_close_timeout_s=0.2))
    async with serve_emulator(config) as server:
        session_id = str(uuid.uuid4())
        ws = await _subscribed_slow_reader(server, session_id, "never")
        try:
            await _publish_until_disconnected(server, session_id)
            await server.wait_subscriptions(0, timeout=10)
            assert (await server.stats())["connections"] == 0
            assert (await server.stats())["outboxHighWaterBytes"] <= bound
        finally:
            ws.close()


# -- /_local ----------------------------------------------------------------------------------


async def test_local_endpoints_need_the_api_key_and_refuse_cross_origin_requests(emulator):
    base = f"http://{emulator.host}"
    async with emulator.http.post(f"{base}/_local/appsync/faults", json={"drop_rate": 1}) as response:
        assert response.status == 401
    # a web page's "simple" request: text/plain, no preflight, Origin of the page
    page = {"Origin": "http://evil.example", "content-type": "text/plain", "x-api-key": API_KEY}
    async with emulator.http.post(f"{base}/_local/appsync/faults", data='{"drop_rate": 1}', headers=page) as response:
        assert response.status == 403
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    async with emulator.http.options(f"{base}/_local/appsync/faults", headers=preflight) as response:
        assert response.status == 403
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert emulator.hub.faults is None and emulator.emulator.engine.mutation_latency_s == 0
    own = {"Origin": base, "x-api-key": API_KEY}
    async with emulator.http.get(f"{base}/_local/appsync/stats", headers=own) as response:
        assert response.status == 200
    async with emulator.http.post(
        f"{base}/_local/appsync/faults", json={"drop_rate": "all"}, headers={"x-api-key": API_KEY}
    ) as response:
        assert response.status == 400 and emulator.hub.faults is None


def test_the_admin_client_needs_the_stacks_key(local_stack):
    endpoints = local_stack.endpoints
    with pytest.raises(AdminError) as refused:
        AdminClient.for_stack(endpoints.graphql_url, "not-the-key").model_stats()
    assert refused.value.status == 401
    assert "requests" in admin(local_stack).model_stats()


# -- the real handlers ------------------------------------------------------------------------


async def _graphql(endpoints, query: str, variables: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(endpoints.graphql_url, json={"query": query, "variables": variables}, headers=headers) as response,
    ):
        assert response.status == 200
        return await response.json()


def _error_messages(response: dict[str, Any]) -> list[str]:
    return [error["message"] for error in response.get("errors") or []]


async def test_ill_formed_ids_and_text_are_refused_by_field_and_store_nothing(local_stack):
    endpoints = local_stack.endpoints
    key = {"x-api-key": endpoints.api_key}
    session_id = new_session_id()
    cases = [
        ({"input": {"sessionId": session_id + "\n", "prompt": "hi"}}, "input.sessionId: must be a UUID"),
        ({"input": {"sessionId": "{" + session_id + "}", "prompt": "hi"}}, "input.sessionId: must be a UUID"),
        ({"prompt": "hi \ud800"}, "prompt: must be valid Unicode text (no lone surrogates)"),
        ({"input": {"prompt": "hi", "system": "\udfff"}}, "input.system: must be valid Unicode text"),
        (
            {"input": {"messages": [{"role": "user", "text": "x\ud83d"}]}},
            "input.messages[0].text: must be valid Unicode text",
        ),
    ]
    for variables, expected in cases:
        response = await _graphql(endpoints, START, variables, key)
        assert response["data"] is None, response
        assert any(m.startswith(expected) for m in _error_messages(response)), response
    for query in (
        "query($id: ID!) { getSession(sessionId: $id) { sessionId } }",
        "query($id: ID!) { getEvents(sessionId: $id) { nextSeq } }",
        "mutation($id: ID!) { cancelStream(sessionId: $id) { sessionId } }",
    ):
        response = await _graphql(endpoints, query, {"id": session_id + "\n"}, key)
        assert any(m.startswith("sessionId: must be a UUID") for m in _error_messages(response)), response
    assert store(local_stack).get(session_id + "\n") is None and store(local_stack).get(session_id) is None


async def test_someone_elses_session_id_is_refused_without_confirming_it_exists(local_stack):
    endpoints = local_stack.endpoints
    session_id = new_session_id()
    variables = {"input": {"sessionId": session_id, "prompt": marked("mine [tokens=3]")}}
    alice = jwt_auth(endpoints, "alice").get_headers()
    bob = jwt_auth(endpoints, "bob").get_headers()
    assert (await _graphql(endpoints, START, variables, alice))["data"]["startStream"]["sessionId"] == session_id
    refused = await _graphql(endpoints, START, variables, bob)
    assert _error_messages(refused) == [SESSION_ID_UNAVAILABLE]
    unknown = await _graphql(
        endpoints, "query($id: ID!) { getSession(sessionId: $id) { sessionId } }", {"id": session_id}, bob
    )
    assert unknown["data"] == {"getSession": None}


@pytest.fixture
def generous_limits(local_stack):
    """Limits that let a heavy request through (100 resolvers, introspection), for this test only."""
    engine = local_stack.stack.emulator.engine
    saved = engine.limits
    local_stack.call(setattr, engine, "limits", ExecutionLimits(max_resolvers=100, max_depth=16, introspection=True))
    yield
    local_stack.call(setattr, engine, "limits", saved)


async def test_another_clients_stream_keeps_flowing_while_a_heavy_query_runs(local_stack, generous_limits):
    """The heavy request (100 aliased introspections, inside the limits) is parsed, validated and
    executed on worker threads: events of a running stream keep arriving while it runs."""
    endpoints = local_stack.endpoints
    prompt = marked("steady [tokens=100]")
    admin(local_stack).add_model_faults({"kind": "slow", "match": prompt, "delay_s": 0.02, "times": 1})
    heavy = _aliases(100, "__schema { types { name fields { name args { name type { name } } type { name } } } }")
    session_id = new_session_id()
    async with subscribed(local_stack, session_id, auth=api_key_auth(endpoints)) as subscriber:
        started = await _graphql(
            endpoints, START, {"input": {"sessionId": session_id, "prompt": prompt}}, {"x-api-key": endpoints.api_key}
        )
        assert started["data"]["startStream"]["sessionId"] == session_id
        await subscriber.wait_for(lambda events: any(e["type"] == "TOKEN" for e in events))
        before = len(subscriber.events)
        response = await _graphql(endpoints, heavy, {}, {"x-api-key": endpoints.api_key})
        during = len(subscriber.events) - before
        assert "errors" not in response and len(response["data"]) == 100
        assert during >= 2, f"only {during} events arrived while the heavy query ran"
        await subscriber.wait()
        assert subscriber.text == expected_text(prompt)
