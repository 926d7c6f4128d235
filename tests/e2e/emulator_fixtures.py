"""The AppSync emulator alone, on an ephemeral port, with fake Lambda functions.

The conformance and real-time protocol tests import their helpers from here and get the
``emulator`` fixture from tests/e2e/conftest.py. The emulator is the real one; only the Lambda data
sources are replaced by :class:`FakeFunction`, which records the AppSync event it got and
answers with canned ``Session``/``EventPage`` dicts (or raises), so the direct-Lambda event
shape can be asserted without the pipeline behind it.

Synchronisation is by events, never by sleeping: :meth:`EmulatorServer.wait_subscriptions`
waits on a condition the hub signals when subscriptions come and go, and
:class:`RawSocket` waits for messages with timeouts.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from gql.transport.appsync_auth import (
    AppSyncApiKeyAuthentication,
    AppSyncIAMAuthentication,
    AppSyncJWTAuthentication,
)

from tokencast.access import principal_of
from tokencast.core.errors import ApiError, NotFound
from tokencast.core.models import EVENT_SELECTION
from tokencast.local.admin import guard_admin_routes
from tokencast.local.appsync.auth import AuthConfig, Authenticator
from tokencast.local.appsync.emulator import AppSyncEmulator, EmulatorConfig
from tokencast.local.jwt_issuer import LocalJwtIssuer
from tokencast.local.lambda_runtime import LambdaInvocationError

API_KEY = "da2-conformance-key"
ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"
IAM_USER_ARN = f"arn:aws:iam::000000000000:user/{ACCESS_KEY}"
TIMESTAMP = "2026-11-21T12:00:00.000Z"
#: How long a test waits for something that should happen at once.
WAIT_S = 5.0

SESSION_FIELDS = "sessionId status message timestamp error attempt owner visibility"
EVENT_FIELDS = EVENT_SELECTION
SUBSCRIBE = "subscription OnToken($sessionId: ID!) { onTokenReceived(sessionId: $sessionId) { %s } }"
PUBLISH = """mutation Publish($sessionId: ID!, $attempt: Int!, $seq: Int!, $type: EventType!, $token: String!,
  $isComplete: Boolean!, $stopReason: String, $owner: String, $visibility: Visibility, $timestamp: AWSDateTime) {
  publishToken(sessionId: $sessionId, attempt: $attempt, seq: $seq, type: $type, token: $token,
    isComplete: $isComplete, stopReason: $stopReason, owner: $owner, visibility: $visibility, timestamp: $timestamp) { %s }
}"""


def event_variables(session_id: str, seq: int, **overrides: Any) -> dict[str, Any]:
    """The variables of a publishToken call: one TOKEN event, owned by API-key callers by default."""
    variables: dict[str, Any] = {
        "sessionId": session_id,
        "attempt": 1,
        "seq": seq,
        "type": "TOKEN",
        "token": f"t{seq}",
        "isComplete": False,
        "stopReason": None,
        "owner": "anonymous",
        "visibility": "PRIVATE",
        "timestamp": TIMESTAMP,
    }
    variables.update(overrides)
    return variables


# -- fake Lambda functions ------------------------------------------------------------------


class FakeFunction:
    """Stands in for a LocalFunction: records each AppSync event, answers from ``handler``.

    Answers in the envelope the real handlers use (tokencast.core.appsync_routes.resolve): the value
    as ``{"data": ...}``, an :class:`ApiError` as ``{"error": ...}``. Any other exception becomes
    the invocation's error, as the Lambda runtime reports it (``LambdaInvocationError``).
    """

    def __init__(self, name: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        self.name = name
        self.handler = handler
        self.events: list[dict[str, Any]] = []

    async def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(copy.deepcopy(event))
        try:
            return {"data": self.handler(event)}
        except ApiError as error:
            return {"error": error.to_graphql()}
        except Exception as error:
            raise LambdaInvocationError(type(error).__name__, str(error)) from error

    async def drain_and_close(self) -> None:
        pass  # invocations run inline: none is left running when the emulator shuts down


def canned_session(
    session_id: str, identity: Mapping[str, Any] | None, status: str = "QUEUED", visibility: str = "PRIVATE"
) -> dict[str, Any]:
    return {
        "sessionId": session_id,
        "status": status,
        "message": f"session {status.lower()}",
        "timestamp": TIMESTAMP,
        "error": None,
        "attempt": 0,
        "owner": principal_of(identity),
        "visibility": visibility,
        "usage": {"inputTokens": 3, "outputTokens": 0, "totalTokens": 3},
    }


def start_handler(event: dict[str, Any]) -> dict[str, Any]:
    arguments = event["arguments"]
    given = arguments.get("input") or {}
    if (arguments.get("prompt") or given.get("prompt")) == "explode":
        raise ValueError("prompt: the model refused to start")
    return canned_session(
        given.get("sessionId") or str(uuid.uuid4()), event["identity"], visibility=given.get("visibility") or "PRIVATE"
    )


def sessions_handler(event: dict[str, Any]) -> dict[str, Any] | None:
    field_name, arguments = event["info"]["fieldName"], event["arguments"]
    if arguments.get("sessionId") == "missing":
        raise NotFound("sessionId: not found")
    if field_name in ("getSession", "getStreamStatus"):
        return canned_session(arguments["sessionId"], event["identity"], status="STREAMING")
    if field_name == "cancelStream":
        return canned_session(arguments["sessionId"], event["identity"], status="CANCELLED")
    if field_name == "getEvents":
        items = [{**event_variables(arguments["sessionId"], seq), "usage": None, "error": None} for seq in (1, 2)]
        return {"items": items, "nextAttempt": None, "nextSeq": None}
    raise KeyError(field_name)


def fake_functions() -> dict[str, FakeFunction]:
    """The three functions graphql/resolvers.json names; "process" is never an API resolver."""
    return {
        "start": FakeFunction("start", start_handler),
        "sessions": FakeFunction("sessions", sessions_handler),
        "process": FakeFunction("process", lambda event: None),
    }


# -- the server ------------------------------------------------------------------------------


@dataclass
class EmulatorServer:
    emulator: AppSyncEmulator
    issuer: LocalJwtIssuer
    functions: dict[str, FakeFunction]
    port: int
    http: aiohttp.ClientSession
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}/graphql"

    @property
    def ws_url(self) -> str:
        """What gql's AppSyncWebsocketsTransport is given (it appends ``?header=…&payload=e30=``)."""
        return f"ws://{self.host}/graphql"

    @property
    def realtime_url(self) -> str:
        return f"ws://{self.host}/graphql/realtime"

    @property
    def hub(self):
        return self.emulator.hub

    # auth, as the gql client classes produce it
    def api_key_auth(self, key: str = API_KEY) -> AppSyncApiKeyAuthentication:
        return AppSyncApiKeyAuthentication(host=self.host, api_key=key)

    def iam_auth(self, secret: str = SECRET_KEY) -> AppSyncIAMAuthentication:
        return AppSyncIAMAuthentication(host=self.host, credentials=Credentials(ACCESS_KEY, secret), region_name=REGION)

    def jwt_auth(self, username: str) -> AppSyncJWTAuthentication:
        return AppSyncJWTAuthentication(host=self.host, jwt=self.issuer.mint(username))

    def sub_of(self, username: str) -> str:
        return self.issuer.subject_for(username)

    # waiting
    def _notify(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    async def wait_subscriptions(self, count: int, timeout: float = WAIT_S) -> None:
        """Until exactly ``count`` subscriptions are registered in the hub."""

        async def reached() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.hub.count() == count)

        await asyncio.wait_for(reached(), timeout)

    # HTTP
    async def post(
        self,
        body: bytes | str | dict[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        async with self.http.post(self.http_url, data=body, headers=dict(headers or {})) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    def signed_headers(self, body: bytes, secret: str = SECRET_KEY) -> dict[str, str]:
        """SigV4 headers for ``POST /graphql`` with ``body``, as botocore signs them."""
        request = AWSRequest(method="POST", url=self.http_url, data=body, headers={"content-type": "application/json"})
        SigV4Auth(Credentials(ACCESS_KEY, secret), "appsync", REGION).add_auth(request)
        return dict(request.headers.items())

    async def publish(self, variables: Mapping[str, Any], selection: str = EVENT_FIELDS) -> dict[str, Any]:
        """publishToken over HTTP with IAM, as the worker does; returns the response body."""
        body = json.dumps({"query": PUBLISH % selection, "variables": dict(variables)}).encode()
        status, response = await self.post(body, self.signed_headers(body))
        assert status == 200 and not response.get("errors"), response
        return response

    async def stats(self) -> dict[str, Any]:
        async with self.http.get(
            f"http://{self.host}/_local/appsync/stats", headers={"x-api-key": API_KEY}
        ) as response:
            return await response.json()

    async def good_request_succeeds(self) -> None:
        """A well-formed request after a bad one: the server still serves."""
        status, body = await self.post(
            {"query": 'query { getSession(sessionId: "alive") { sessionId status } }'}, {"x-api-key": API_KEY}
        )
        assert status == 200, body
        assert body == {"data": {"getSession": {"sessionId": "alive", "status": "STREAMING"}}}


@asynccontextmanager
async def serve_emulator(
    config: EmulatorConfig | None = None, functions: dict[str, FakeFunction] | None = None
) -> AsyncIterator[EmulatorServer]:
    issuer = LocalJwtIssuer.generate()
    authenticator = Authenticator(
        AuthConfig(
            api_keys=frozenset({API_KEY}),
            iam_credentials={ACCESS_KEY: SECRET_KEY},
            iam_principals={},
            jwt=issuer,
            region=REGION,
        )
    )
    functions = fake_functions() if functions is None else functions
    emulator = AppSyncEmulator(authenticator, config or EmulatorConfig(), functions=functions)
    app = web.Application()
    emulator.add_routes(app)
    guard_admin_routes(app, [API_KEY])
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with aiohttp.ClientSession() as http:
        server = EmulatorServer(emulator, issuer, functions, port, http)
        add, remove = emulator.hub.add, emulator.hub.remove

        def add_and_notify(subscription) -> None:
            add(subscription)
            server._notify()

        def remove_and_notify(subscription) -> None:
            remove(subscription)
            server._notify()

        emulator.hub.add, emulator.hub.remove = add_and_notify, remove_and_notify
        try:
            yield server
        finally:
            await runner.cleanup()


# -- raw WebSocket ---------------------------------------------------------------------------


def b64_json(value: Mapping[str, Any], *, urlsafe: bool = False) -> str:
    raw = json.dumps(dict(value), separators=(",", ":")).encode()
    if urlsafe:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return base64.b64encode(raw).decode()


class RawSocket:
    """A WebSocket speaking AppSync's protocol by hand; ``ka`` messages are counted and skipped."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.keep_alives = 0
        self._barriers = 0

    async def send(self, message: Mapping[str, Any] | str) -> None:
        await self.ws.send_str(message if isinstance(message, str) else json.dumps(message))

    async def receive(self, timeout: float = WAIT_S, *, skip_ka: bool = True) -> dict[str, Any]:
        """The next protocol message; raises if the socket closes first."""

        async def next_message() -> dict[str, Any]:
            while True:
                message = await self.ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"socket ended: {message.type.name} {message.data!r}")
                parsed = json.loads(message.data)
                if parsed.get("type") == "ka":
                    self.keep_alives += 1
                    if skip_ka:
                        continue
                return parsed

        return await asyncio.wait_for(next_message(), timeout)

    async def expect(self, kind: str, timeout: float = WAIT_S) -> dict[str, Any]:
        message = await self.receive(timeout)
        assert message.get("type") == kind, message
        return message

    async def init(self) -> dict[str, Any]:
        await self.send({"type": "connection_init"})
        return await self.expect("connection_ack")

    async def start(
        self,
        sub_id: str,
        data: Mapping[str, Any] | str,
        authorization: Mapping[str, Any] | None,
    ) -> None:
        data_str = data if isinstance(data, str) else json.dumps(dict(data), separators=(",", ":"))
        payload: dict[str, Any] = {"data": data_str}
        if authorization is not None:
            payload["extensions"] = {"authorization": dict(authorization)}
        await self.send({"id": sub_id, "type": "start", "payload": payload})

    async def subscribe(
        self, sub_id: str, session_id: str, authorization: Mapping[str, Any] | None, selection: str = EVENT_FIELDS
    ) -> dict[str, Any]:
        """start → start_ack for onTokenReceived(sessionId)."""
        await self.start(
            sub_id, {"query": SUBSCRIBE % selection, "variables": {"sessionId": session_id}}, authorization
        )
        ack = await self.expect("start_ack")
        assert ack["id"] == sub_id
        return ack

    async def barrier(self, authorization: Mapping[str, Any]) -> None:
        """Asserts that nothing was queued for this socket before now.

        Replies travel through the same ordered outbox as ``data``: when the ``start_ack`` of
        a throwaway subscription (on a session nobody publishes to) is the next message,
        nothing else was waiting. The subscription is stopped again.
        """
        self._barriers += 1
        marker = f"barrier-{self._barriers}"
        await self.start(marker, {"query": SUBSCRIBE % "seq", "variables": {"sessionId": marker}}, authorization)
        message = await self.receive()
        assert message == {"type": "start_ack", "id": marker}, message
        await self.send({"type": "stop", "id": marker})
        message = await self.receive()
        assert message == {"type": "complete", "id": marker}, message

    async def close(self) -> None:
        await self.ws.close()


def auth_headers(server: EmulatorServer, mode: str, data: str | None = None, *, user: str = "alice") -> dict[str, Any]:
    """The headers each gql auth class produces (``data`` None: the connect handshake)."""
    auth = {"api_key": server.api_key_auth, "iam": server.iam_auth, "jwt": lambda: server.jwt_auth(user)}[mode]()
    return auth.get_headers(data)


@asynccontextmanager
async def raw_socket(
    server: EmulatorServer,
    *,
    headers: Mapping[str, Any] | None = None,
    placement: str = "query",
    url: str | None = None,
    protocols: tuple[str, ...] = ("graphql-ws",),
) -> AsyncIterator[RawSocket]:
    """Open the real-time socket with connection auth in ``placement``: query, subprotocol or headers."""
    url = url or server.realtime_url
    request_headers: dict[str, str] = {}
    if headers is not None:
        if placement == "query":
            url = f"{url}?header={b64_json(headers)}&payload=e30="
        elif placement == "subprotocol":
            protocols = (*protocols, f"header-{b64_json(headers, urlsafe=True)}")
        elif placement == "headers":
            request_headers = {k: str(v) for k, v in headers.items()}
        else:
            raise ValueError(placement)
    async with server.http.ws_connect(url, protocols=protocols, headers=request_headers, autoping=True) as ws:
        socket = RawSocket(ws)
        try:
            yield socket
        finally:
            await ws.close()
