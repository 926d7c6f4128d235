"""The emulator behaves like AppSync for clients that were written for AppSync.

Clients are used unmodified: gql's ``AppSyncWebsocketsTransport`` with its three auth
classes, ``AIOHTTPTransport`` and ``RequestsHTTPTransport`` (+ requests-aws4auth, what the
worker's publisher uses). Lambda data sources are fakes that record the direct-Lambda event
AppSync would send (tests/e2e/emulator_fixtures.py), so the event's shape is asserted here.

"X does not reach Y" is proved without waiting for a timeout: a subscriber's messages arrive
in publish order, so when the first thing Y receives is a later event, the earlier one was
not delivered to Y.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncJWTAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from gql.transport.exceptions import TransportQueryError, TransportServerError
from gql.transport.requests import RequestsHTTPTransport
from requests_aws4auth import AWS4Auth

from tests.appsync_identity import COGNITO_IDENTITY_KEYS, IAM_IDENTITY_KEYS
from tests.e2e.emulator_fixtures import (
    ACCESS_KEY,
    API_KEY,
    EVENT_FIELDS,
    IAM_USER_ARN,
    PUBLISH,
    REGION,
    SECRET_KEY,
    SUBSCRIBE,
    WAIT_S,
    auth_headers,
    event_variables,
    raw_socket,
    serve_emulator,
)
from tokencast.appsync_limits import MAX_SUBSCRIPTION_PAYLOAD_BYTES
from tokencast.local.appsync.emulator import EmulatorConfig
from tokencast.local.jwt_issuer import LocalJwtIssuer

MODES = ("api_key", "iam", "jwt")
START = """mutation Start($prompt: String, $input: StartStreamInput) {
  startStream(prompt: $prompt, input: $input) { sessionId status owner visibility }
}"""
UNAUTHORIZED_PUBLISH = {
    "errorType": "Unauthorized",
    "message": "Not Authorized to access publishToken on type Mutation",
}


def request(query: str, variables: dict[str, Any] | None = None) -> GraphQLRequest:
    return GraphQLRequest(query, variable_values=variables)


def http_transport(server, mode: str, user: str = "alice") -> AIOHTTPTransport:
    """AIOHTTPTransport authenticated as AppSync clients do: x-api-key, SigV4, or a raw JWT."""
    if mode == "api_key":
        return AIOHTTPTransport(url=server.http_url, headers={"x-api-key": API_KEY})
    if mode == "iam":
        return AIOHTTPTransport(url=server.http_url, auth=server.iam_auth())
    return AIOHTTPTransport(url=server.http_url, headers={"Authorization": server.issuer.mint(user)})


def ws_transport(server, mode: str, user: str = "alice") -> AppSyncWebsocketsTransport:
    auth = {"api_key": server.api_key_auth, "iam": server.iam_auth, "jwt": lambda: server.jwt_auth(user)}[mode]()
    return AppSyncWebsocketsTransport(url=server.ws_url, auth=auth)


async def publish_with_gql(server, variables: dict[str, Any], selection: str = EVENT_FIELDS) -> dict[str, Any]:
    """The worker's call: publishToken over HTTP, signed with IAM (gql + botocore)."""
    async with Client(transport=AIOHTTPTransport(url=server.http_url, auth=server.iam_auth())) as session:
        return await session.execute(request(PUBLISH % selection, variables))


def assert_identity(mode: str, identity: Any, server, user: str = "alice") -> None:
    if mode == "api_key":
        assert identity is None
    elif mode == "iam":
        assert set(identity) == IAM_IDENTITY_KEYS
        assert identity["userArn"] == IAM_USER_ARN
        assert identity["accountId"] == "000000000000"
        assert identity["username"] == ACCESS_KEY
        assert identity["sourceIp"] == ["127.0.0.1"]
    else:
        assert set(identity) == COGNITO_IDENTITY_KEYS
        assert identity["sub"] == server.sub_of(user)
        assert identity["username"] == user
        assert identity["claims"]["cognito:username"] == user
        assert identity["claims"]["token_use"] == "id"
        assert identity["issuer"] == server.issuer.issuer
        assert identity["sourceIp"] == ["127.0.0.1"]


# -- gql clients, each auth mode ---------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_gql_start_subscribe_publish_receive(emulator, mode):
    """startStream over HTTP and onTokenReceived over WebSocket, both in ``mode``; the event is
    published by the worker's way (IAM) and reaches the subscriber through gql."""
    session_id = f"session-{mode}"
    async with Client(transport=http_transport(emulator, mode)) as http:
        started = await http.execute(request(START, {"prompt": "hi", "input": {"sessionId": session_id}}))
    event = emulator.functions["start"].events[-1]
    assert_identity(mode, event["identity"], emulator)
    owner = started["startStream"]["owner"]
    assert owner == {"api_key": "anonymous", "iam": IAM_USER_ARN, "jwt": emulator.sub_of("alice")}[mode]

    async with Client(transport=ws_transport(emulator, mode)) as ws:
        events = ws.subscribe(
            request(SUBSCRIBE % "sessionId seq token isComplete owner stopReason", {"sessionId": session_id})
        )
        first = asyncio.ensure_future(events.__anext__())
        await emulator.wait_subscriptions(1)
        # the mutation does not select stopReason: the subscriber gets null for it
        published = await publish_with_gql(
            emulator,
            event_variables(session_id, 1, owner=owner, stopReason="end_turn"),
            selection="sessionId seq token isComplete owner",
        )
        assert published["publishToken"]["seq"] == 1
        received = await asyncio.wait_for(first, WAIT_S)
        await events.aclose()
    assert received == {
        "onTokenReceived": {
            "sessionId": session_id,
            "seq": 1,
            "token": "t1",
            "isComplete": False,
            "owner": owner,
            "stopReason": None,
        }
    }


async def test_requests_transport_with_aws4auth_publishes(emulator):
    """RequestsHTTPTransport signed by requests-aws4auth, as the worker's publisher signs."""
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.subscribe("1", "s-requests", auth_headers(emulator, "api_key", "x"), selection="seq token")

        def publish() -> dict[str, Any]:
            transport = RequestsHTTPTransport(
                url=emulator.http_url, auth=AWS4Auth(ACCESS_KEY, SECRET_KEY, REGION, "appsync")
            )
            with Client(transport=transport) as session:
                return session.execute(
                    request(PUBLISH % "sessionId seq token owner", event_variables("s-requests", 1, token="hello"))
                )

        assert (await asyncio.to_thread(publish))["publishToken"]["token"] == "hello"
        message = await ws.expect("data")
        assert message["payload"] == {"data": {"onTokenReceived": {"seq": 1, "token": "hello"}}}


@pytest.mark.parametrize("mode", ("api_key", "jwt"))
async def test_requests_transport_queries(emulator, mode):
    headers = {"x-api-key": API_KEY} if mode == "api_key" else {"Authorization": emulator.issuer.mint("dora")}

    def query() -> dict[str, Any]:
        with Client(transport=RequestsHTTPTransport(url=emulator.http_url, headers=headers)) as session:
            return session.execute(gql('query { getStreamStatus(sessionId: "s9") { sessionId status owner } }'))

    result = await asyncio.to_thread(query)
    assert result == {
        "getStreamStatus": {
            "sessionId": "s9",
            "status": "STREAMING",
            "owner": "anonymous" if mode == "api_key" else emulator.sub_of("dora"),
        }
    }


@pytest.mark.parametrize(
    "mode,error_type",
    [("api_key", "UnauthorizedException"), ("iam", "InvalidSignatureException"), ("jwt", "UnauthorizedException")],
)
async def test_gql_sees_the_connection_error_for_bad_connect_auth(emulator, mode, error_type):
    """connection_error answers connection_init, so gql reports AppSync's reason rather than
    a socket that closed under it."""
    auth = {
        "api_key": lambda: emulator.api_key_auth("da2-wrong"),
        "iam": lambda: emulator.iam_auth(secret="not-the-secret"),
        "jwt": lambda: AppSyncJWTAuthentication(host=emulator.host, jwt=LocalJwtIssuer.generate().mint("mallory")),
    }[mode]()
    with pytest.raises(TransportServerError) as refused:
        async with Client(transport=AppSyncWebsocketsTransport(url=emulator.ws_url, auth=auth)):
            pass
    assert f"'errorType': '{error_type}'" in str(refused.value)


async def test_gql_client_closes_promptly_with_a_live_subscription(emulator):
    """Leaving the client while a subscription waits: gql sends stop, the emulator answers
    complete and the close handshake at once, so gql's 10 s close_timeout never fires."""
    loop = asyncio.get_running_loop()
    async with Client(transport=ws_transport(emulator, "api_key")) as ws:
        events = ws.subscribe(request(SUBSCRIBE % "seq", {"sessionId": "s-close"}))
        pending = asyncio.ensure_future(events.__anext__())
        await emulator.wait_subscriptions(1)
        started = loop.time()
    assert loop.time() - started < 1.0
    with pytest.raises(StopAsyncIteration):  # ended by the server's complete, not by an error
        await pending
    await emulator.wait_subscriptions(0)


# -- the direct Lambda event ---------------------------------------------------------------------


async def test_direct_lambda_event_shape(emulator):
    query = """mutation Start($prompt: String, $input: StartStreamInput) {
      started: startStream(prompt: $prompt, input: $input) { sessionId status usage { inputTokens totalTokens } }
    }"""
    variables = {"prompt": "hello", "input": {"sessionId": "s-event", "visibility": "SHARED", "maxTokens": 5}}
    status, body = await emulator.post(
        {"query": query, "variables": variables}, {"x-api-key": API_KEY, "x-custom": "kept"}
    )
    assert status == 200, body
    assert body == {
        "data": {"started": {"sessionId": "s-event", "status": "QUEUED", "usage": {"inputTokens": 3, "totalTokens": 3}}}
    }
    [event] = emulator.functions["start"].events
    headers = event["request"].pop("headers")
    assert headers["x-api-key"] == API_KEY and headers["x-custom"] == "kept"
    assert headers["host"] == emulator.host
    assert all(name == name.lower() for name in headers)
    assert event == {
        "arguments": {"prompt": "hello", "input": {"sessionId": "s-event", "visibility": "SHARED", "maxTokens": 5}},
        "identity": None,
        "source": None,
        "request": {"domainName": None},
        "info": {
            "fieldName": "startStream",
            "parentTypeName": "Mutation",
            "variables": variables,
            "selectionSetList": ["sessionId", "status", "usage", "usage/inputTokens", "usage/totalTokens"],
            "selectionSetGraphQL": "{\n  sessionId\n  status\n  usage {\n    inputTokens\n    totalTokens\n  }\n}",
        },
        "prev": None,
        "stash": {},
    }


@pytest.mark.parametrize("mode", MODES)
async def test_identity_reaching_the_lambda_per_auth_mode(emulator, mode):
    async with Client(transport=http_transport(emulator, mode, user="erin")) as http:
        page = await http.execute(gql('query { getEvents(sessionId: "s1", limit: 2) { items { seq } nextSeq } }'))
    assert page == {"getEvents": {"items": [{"seq": 1}, {"seq": 2}], "nextSeq": None}}
    [event] = emulator.functions["sessions"].events
    assert event["info"]["fieldName"] == "getEvents" and event["info"]["parentTypeName"] == "Query"
    assert event["arguments"] == {"sessionId": "s1", "limit": 2}
    assert event["info"]["selectionSetList"] == ["items", "items/seq", "nextSeq"]
    assert_identity(mode, event["identity"], emulator, user="erin")


async def test_a_crashed_handler_is_internal_without_its_exception_text(emulator):
    """invokeLambda.js: the function's own failure (ctx.error, Lambda:Unhandled) is errorType Internal."""
    async with Client(transport=http_transport(emulator, "api_key")) as http:
        with pytest.raises(TransportQueryError) as failed:
            await http.execute(request(START, {"prompt": "explode"}))
    [error] = failed.value.errors
    assert error["errorType"] == "Internal"
    assert error["errorInfo"] == {"cause": "Lambda:Unhandled"}
    assert error["message"] == "startStream: the request failed unexpectedly; try again"
    assert error["path"] == ["startStream"]
    assert error["locations"] == [{"line": 2, "column": 3, "sourceName": None}]
    assert failed.value.data is None
    await emulator.good_request_succeeds()


async def test_a_typed_error_answer_reaches_the_client_with_its_error_type(emulator):
    status, body = await emulator.post(
        {"query": 'query { getEvents(sessionId: "missing") { nextSeq } }'}, {"x-api-key": API_KEY}
    )
    assert status == 200
    [error] = body["errors"]
    assert (error["errorType"], error["message"], error["path"]) == ("NotFound", "sessionId: not found", ["getEvents"])
    assert body["data"] is None


async def test_lambda_returning_null_for_a_non_null_field(emulator):
    emulator.functions["start"].handler = lambda event: {"sessionId": "s1", "status": None}
    status, body = await emulator.post(
        {"query": 'mutation { startStream(prompt: "x") { sessionId status } }'}, {"x-api-key": API_KEY}
    )
    assert status == 200
    assert body == {
        "data": None,
        "errors": [
            {
                "path": ["startStream", "status"],
                "locations": None,
                "message": "Cannot return null for non-nullable type: 'SessionStatus' within parent 'Session' "
                "(/startStream/status)",
            }
        ],
    }


# -- subscription semantics: arguments and the selection set -----------------------------------------


async def test_argument_filter_and_selection_set_rule(emulator):
    """Two subscribers on different sessionIds: each gets only its session's events, and only
    the fields the mutation selected (stopReason, set but not selected, arrives null)."""
    selection = "sessionId seq stopReason"
    mutation_selection = "sessionId seq owner visibility"
    async with (
        raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as a,
        raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as b,
    ):
        for ws, session in ((a, "session-A"), (b, "session-B")):
            await ws.init()
            await ws.subscribe("sub", session, auth_headers(emulator, "api_key", "x"), selection=selection)

        await emulator.publish(event_variables("session-A", 1, stopReason="end_turn"), mutation_selection)
        assert (await a.expect("data"))["payload"] == {
            "data": {"onTokenReceived": {"sessionId": "session-A", "seq": 1, "stopReason": None}}
        }

        await emulator.publish(
            event_variables("session-B", 2, stopReason="end_turn"), mutation_selection + " stopReason"
        )
        # B's first message is its own event: session-A's never reached it
        assert (await b.expect("data"))["payload"] == {
            "data": {"onTokenReceived": {"sessionId": "session-B", "seq": 2, "stopReason": "end_turn"}}
        }
        await a.barrier(auth_headers(emulator, "api_key", "x"))  # and B's event never reached A
        assert (await emulator.stats())["delivered"] == 2


async def test_non_null_field_the_mutation_did_not_select_is_an_error_payload(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.subscribe("sub", "s1", auth_headers(emulator, "api_key", "x"), selection="sessionId seq token")
        await emulator.publish(event_variables("s1", 1), "sessionId seq owner visibility")
        message = await ws.expect("data")
        assert message == {
            "type": "data",
            "id": "sub",
            "payload": {
                "data": {"onTokenReceived": None},
                "errors": [
                    {
                        "path": ["onTokenReceived", "token"],
                        "locations": None,
                        "message": "Cannot return null for non-nullable type: 'String' within parent 'TokenEvent' "
                        "(/onTokenReceived/token)",
                    }
                ],
            },
        }


async def test_argument_the_mutation_did_not_select_never_matches(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.subscribe("sub", "s1", auth_headers(emulator, "api_key", "x"), selection="seq")
        await emulator.publish(event_variables("s1", 1), "seq owner visibility")  # no sessionId selected
        await emulator.publish(event_variables("s1", 2), "sessionId seq owner visibility")
        assert (await ws.expect("data"))["payload"]["data"] == {"onTokenReceived": {"seq": 2}}


async def test_aliases_and_fragments_in_the_mutation_select_by_field_name(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.subscribe("sub", "s1", auth_headers(emulator, "api_key", "x"), selection="seq token")
        body = json.dumps(
            {
                "query": """
            mutation { p: publishToken(sessionId: "s1", attempt: 1, seq: 4, type: TOKEN, token: "aliased",
                                       isComplete: false, owner: "anonymous") { id: sessionId ...F tok: token } }
            fragment F on TokenEvent { seq owner visibility }"""
            }
        ).encode()
        status, response = await emulator.post(body, emulator.signed_headers(body))
        assert status == 200 and response["data"]["p"]["tok"] == "aliased", response
        assert (await ws.expect("data"))["payload"]["data"] == {"onTokenReceived": {"seq": 4, "token": "aliased"}}


# -- enhanced filter: who may receive a session's events ------------------------------------------


async def test_ownership_filter(emulator):
    """alice's PRIVATE session reaches alice only; SHARED reaches bob too; API-key callers
    receive only events owned by "anonymous"."""
    alice, session_id = emulator.sub_of("alice"), "shared-session"
    query = SUBSCRIBE % "seq owner visibility"
    async with (
        Client(transport=ws_transport(emulator, "jwt", "alice")) as alice_ws,
        Client(transport=ws_transport(emulator, "jwt", "bob")) as bob_ws,
        Client(transport=ws_transport(emulator, "api_key")) as anon_ws,
    ):
        streams = {
            name: ws.subscribe(request(query, {"sessionId": session_id}))
            for name, ws in (("alice", alice_ws), ("bob", bob_ws), ("anon", anon_ws))
        }
        pending = {name: asyncio.ensure_future(stream.__anext__()) for name, stream in streams.items()}
        await emulator.wait_subscriptions(3)

        async def next_seq(name: str) -> int:
            value = await asyncio.wait_for(pending[name], WAIT_S)
            pending[name] = asyncio.ensure_future(streams[name].__anext__())
            return value["onTokenReceived"]["seq"]

        await publish_with_gql(emulator, event_variables(session_id, 1, owner=alice, visibility="PRIVATE"))
        await publish_with_gql(emulator, event_variables(session_id, 2, owner=alice, visibility="SHARED"))
        await publish_with_gql(emulator, event_variables(session_id, 3, owner="anonymous", visibility="PRIVATE"))
        await publish_with_gql(emulator, event_variables(session_id, 4, owner=alice, visibility="SHARED"))
        # another session's events reach nobody subscribed to this one
        await publish_with_gql(emulator, event_variables("other", 5, owner=alice, visibility="SHARED"))
        await publish_with_gql(emulator, event_variables(session_id, 6, owner="anonymous", visibility="SHARED"))

        assert [await next_seq("alice") for _ in range(3)] == [1, 2, 4]
        assert [await next_seq("bob") for _ in range(2)] == [2, 4]  # not 1 (PRIVATE), not 3 (anonymous's)
        assert [await next_seq("anon") for _ in range(2)] == [3, 6]  # only what "anonymous" owns
        for task in pending.values():
            task.cancel()
        for stream in streams.values():
            await stream.aclose()


async def test_iam_subscriber_receives_what_its_principal_owns(emulator):
    async with raw_socket(emulator, headers=auth_headers(emulator, "iam")) as ws:
        await ws.init()
        data = json.dumps({"query": SUBSCRIBE % "seq", "variables": {"sessionId": "s1"}})
        await ws.start("1", data, emulator.iam_auth().get_headers(data))
        await ws.expect("start_ack")
        await emulator.publish(event_variables("s1", 1, owner=emulator.sub_of("alice")))
        await emulator.publish(event_variables("s1", 2, owner=IAM_USER_ARN))
        assert (await ws.expect("data"))["payload"]["data"] == {"onTokenReceived": {"seq": 2}}


# -- HTTP: bad input never kills the server ---------------------------------------------------------


GOOD_QUERY = 'query { getSession(sessionId: "s") { sessionId } }'
UNPARSABLE = {"errors": [{"errorType": "MalformedHttpRequestException", "message": "Unable to parse GraphQL query."}]}
#: Request-level failures: 400 and AppSync's exact body (graphql/graphql-over-http#81).
MALFORMED = {
    "empty body": (
        b"",
        {"errors": [{"errorType": "MalformedHttpRequestException", "message": "Request body is empty."}]},
    ),
    "malformed JSON": (b'{"query": "query {', UNPARSABLE),
    "meow": (b"meow", UNPARSABLE),
    "JSON array": (b"[]", UNPARSABLE),
    "JSON string": (b'"query"', UNPARSABLE),
    "JSON null": (b"null", UNPARSABLE),
    "trailing brace": (b"{}}", UNPARSABLE),
    "not UTF-8": (b'{"query": "\xff\xfe"}', UNPARSABLE),
    "missing query": (b"{}", UNPARSABLE),
    "query not a string": (b'{"query": 42}', UNPARSABLE),
    "variables not an object": (json.dumps({"query": GOOD_QUERY, "variables": [1]}).encode(), UNPARSABLE),
}
#: GraphQL that does not parse, validate or coerce: 200, data null, errors with a message
#: naming the problem, path null and no errorType (as AppSync answers "{badfield}").
INVALID = {
    "syntax error": ({"query": "query { getSession(sessionId: "}, "Invalid Syntax : ", "<EOF>"),
    "unknown field": ({"query": "query { nope }"}, "Validation error: ", "'nope'"),
    "unknown argument": ({"query": 'query { getSession(id: "s") { sessionId } }'}, "Validation error: ", "'id'"),
    "missing argument": ({"query": "query { getSession { sessionId } }"}, "Validation error: ", "sessionId"),
    "no selection on an object": ({"query": 'query { getSession(sessionId: "s") }'}, "Validation error: ", "Session"),
    "wrong variable type": (
        {
            "query": "query Q($id: ID!) { getSession(sessionId: $id) { sessionId } }",
            "variables": {"id": {"not": "an id"}},
        },
        "Validation error: ",
        "$id",
    ),
    "missing variable": (
        {"query": "query Q($id: ID!) { getSession(sessionId: $id) { sessionId } }"},
        "Validation error: ",
        "$id",
    ),
    "bad enum literal": (
        {"query": "mutation { startStream(input: {visibility: PUBLIC}) { sessionId } }"},
        "Validation error of type WrongType: ",
        "argument 'input.visibility' with value 'PUBLIC' is not a valid 'Visibility' @ 'startStream'",
    ),
    # AppSync names the argument of a literal of the wrong type (graphql-core alone does not)
    "wrong literal type": (
        {"query": "mutation { startStream(prompt: 5) { sessionId } }"},
        "Validation error of type WrongType: ",
        "argument 'prompt' with value '5' is not a valid 'String' @ 'startStream'",
    ),
    "wrong literal type in a list": (
        {
            "query": 'mutation { startStream(input: {messages: [{role: user, text: "a"}, {role: user, text: 7}]}) { sessionId } }'
        },
        "Validation error of type WrongType: ",
        "argument 'input.messages[1].text' with value '7' is not a valid 'String!' @ 'startStream'",
    ),
    "bad enum variable": (
        {
            "query": "mutation S($i: StartStreamInput) { startStream(input: $i) { sessionId } }",
            "variables": {"i": {"visibility": "PUBLIC"}},
        },
        "Validation error: ",
        "PUBLIC",
    ),
    "bad scalar": (
        {"query": 'query Q($n: Int) { getEvents(sessionId: "s", limit: $n) { nextSeq } }', "variables": {"n": "ten"}},
        "Validation error: ",
        "Int",
    ),
    "unknown operationName": ({"query": GOOD_QUERY, "operationName": "Nope"}, "Validation error: ", "'Nope'"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_requests_get_400(emulator, case):
    body, expected = MALFORMED[case]
    status, response = await emulator.post(body, {"x-api-key": API_KEY, "content-type": "application/json"})
    assert (status, response) == (400, expected)
    assert emulator.functions["start"].events == [] and emulator.functions["sessions"].events == []
    await emulator.good_request_succeeds()


@pytest.mark.parametrize("case", list(INVALID))
async def test_invalid_graphql_gets_200_with_errors(emulator, case):
    request, prefix, named = INVALID[case]
    status, response = await emulator.post(request, {"x-api-key": API_KEY})
    assert status == 200, response
    assert response["data"] is None and response["errors"], response
    for error in response["errors"]:
        assert set(error) == {"path", "locations", "message"}, error
        assert error["path"] is None
        assert error["message"].startswith(prefix), error
    assert any(named in error["message"] for error in response["errors"]), response
    assert emulator.functions["start"].events == [] and emulator.functions["sessions"].events == []
    await emulator.good_request_succeeds()


async def test_invalid_graphql_through_gql_is_a_query_error(emulator):
    async with Client(transport=http_transport(emulator, "api_key"), fetch_schema_from_transport=False) as http:
        with pytest.raises(TransportQueryError) as invalid:
            await http.execute(gql('query { getSession(sessionId: "s") { sessionId nope } }'))
    assert invalid.value.errors[0]["message"].startswith("Validation error: ")
    assert "nope" in invalid.value.errors[0]["message"]


async def test_validation_errors_carry_locations(emulator):
    status, response = await emulator.post({"query": "query {\n  nope\n}"}, {"x-api-key": API_KEY})
    assert status == 200
    [error] = response["errors"]
    assert error["locations"] == [{"line": 2, "column": 3, "sourceName": None}]
    assert "nope" in error["message"]
    assert response["data"] is None


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversized_body_is_refused(chunked):
    limit = 4096
    async with serve_emulator(EmulatorConfig(max_body_bytes=limit)) as server:
        body = json.dumps({"query": GOOD_QUERY, "variables": {"pad": "x" * limit}}).encode()
        assert len(body) > limit

        async def stream():
            for start in range(0, len(body), 1024):
                yield body[start : start + 1024]

        async with server.http.post(
            server.http_url, data=stream() if chunked else body, headers={"x-api-key": API_KEY}
        ) as response:
            assert response.status == 413
            payload = await response.json()
        assert payload == {
            "errors": [
                {"errorType": "PayloadTooLargeException", "message": f"Request body is larger than {limit} bytes"}
            ]
        }
        await server.good_request_succeeds()
        # just under the limit is served
        fitting = json.dumps({"query": GOOD_QUERY, "variables": {"pad": "x" * (limit - 100)}}).encode()
        assert len(fitting) <= limit
        status, _ = await server.post(fitting, {"x-api-key": API_KEY})
        assert status == 200


async def test_body_limit_above_aiohttps_default_is_honoured():
    """aiohttp refuses bodies over 1 MiB by itself; a larger configured limit still applies."""
    async with serve_emulator(EmulatorConfig(max_body_bytes=2 * 1024 * 1024)) as server:
        body = json.dumps({"query": GOOD_QUERY, "variables": {"pad": "x" * (1536 * 1024)}}).encode()
        status, response = await server.post(body, {"x-api-key": API_KEY})
        assert status == 200, response
        assert response == {"data": {"getSession": {"sessionId": "s"}}}


async def test_default_body_limit_is_one_mebibyte(emulator):
    body = b'{"query": "' + b" " * (1024 * 1024) + b'"}'
    status, response = await emulator.post(body, {"x-api-key": API_KEY})
    assert status == 413 and response["errors"][0]["errorType"] == "PayloadTooLargeException"
    await emulator.good_request_succeeds()


@pytest.mark.parametrize("case", ["no auth", "bad key", "bad signature", "tampered body", "bad jwt"])
async def test_bad_http_auth(emulator, case):
    body = json.dumps({"query": GOOD_QUERY}).encode()
    headers = {
        "no auth": {},
        "bad key": {"x-api-key": "da2-wrong"},
        "bad signature": emulator.signed_headers(body, secret="not-the-secret"),
        "tampered body": emulator.signed_headers(json.dumps({"query": "query { other }"}).encode()),
        "bad jwt": {"Authorization": "not.a.jwt"},
    }[case]
    status, response = await emulator.post(body, headers)
    expected = {
        "no auth": (401, "UnauthorizedException"),
        "bad key": (401, "UnauthorizedException"),
        "bad signature": (403, "InvalidSignatureException"),
        "tampered body": (403, "InvalidSignatureException"),
        "bad jwt": (401, "UnauthorizedException"),
    }[case]
    assert (status, response["errors"][0]["errorType"]) == expected, response
    assert emulator.functions["sessions"].events == []
    await emulator.good_request_succeeds()


@pytest.mark.parametrize("mode", ("api_key", "jwt"))
async def test_publish_token_is_iam_only(emulator, mode):
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.subscribe("sub", "s1", auth_headers(emulator, "api_key", "x"), selection="seq")
        async with Client(transport=http_transport(emulator, mode)) as http:
            with pytest.raises(TransportQueryError) as refused:
                await http.execute(request(PUBLISH % "seq", event_variables("s1", 1)))
        [error] = refused.value.errors
        assert {k: error[k] for k in ("errorType", "message")} == UNAUTHORIZED_PUBLISH
        assert error["path"] == ["publishToken"]
        assert refused.value.data is None
        await ws.barrier(auth_headers(emulator, "api_key", "x"))  # nothing was fanned out
        assert (await emulator.stats())["delivered"] == 0


# -- the 240 KB subscription payload limit ----------------------------------------------------------


async def test_payloads_over_240_kb_are_dropped(emulator):
    overhead = len(json.dumps({"data": {"onTokenReceived": {"token": ""}}}, separators=(",", ":")))
    at_limit = "a" * (MAX_SUBSCRIPTION_PAYLOAD_BYTES - overhead)
    over_limit = at_limit + "b"
    async with raw_socket(emulator, headers=auth_headers(emulator, "api_key")) as ws:
        await ws.init()
        await ws.subscribe("sub", "s1", auth_headers(emulator, "api_key", "x"), selection="token")
        await emulator.publish(event_variables("s1", 1, token=over_limit), "sessionId token owner visibility")
        await emulator.publish(event_variables("s1", 2, token=at_limit), "sessionId token owner visibility")
        await emulator.publish(event_variables("s1", 3, token="small"), "sessionId token owner visibility")
        first = await ws.expect("data")
        assert first["payload"]["data"]["onTokenReceived"]["token"] == at_limit  # seq 1 never came
        assert (await ws.expect("data"))["payload"]["data"]["onTokenReceived"]["token"] == "small"
        stats = await emulator.stats()
        assert stats["droppedOversized"] == 1
        assert stats["delivered"] == 2


async def test_jwks_publishes_the_public_key_that_verifies_local_tokens(emulator):
    """Like Cognito's ``<issuer>/.well-known/jwks.json``: the key set verifies what the
    local pool mints, and it holds no private part."""
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet

    async with emulator.http.get(f"http://{emulator.host}/.well-known/jwks.json") as response:
        assert response.status == 200
        jwks = await response.json()
    [key] = jwks["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["kid"] == emulator.issuer.kid
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    token = emulator.issuer.mint("hana")
    claims = jose_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims["cognito:username"] == "hana"
