"""Plain gql clients against the running local stack, for end-to-end tests.

These deliberately do NOT use tokencast.client: pipeline tests check what AppSync clients
written for the original sample see, with nothing of ours in between.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import boto3
from gql import Client, GraphQLRequest, gql
from gql.transport.aiohttp import AIOHTTPTransport
from botocore.credentials import Credentials
from gql.transport.appsync_auth import AppSyncApiKeyAuthentication, AppSyncIAMAuthentication, AppSyncJWTAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport

from tokencast.local.jwt_issuer import LocalJwtIssuer
from tokencast.local.stack import BackgroundStack, Endpoints

WAIT_S = 20.0

EVENT_FIELDS = "sessionId attempt seq type token isComplete stopReason error timestamp usage { inputTokens outputTokens totalTokens }"
SUBSCRIBE = "subscription On($sessionId: ID!) { onTokenReceived(sessionId: $sessionId) { %s } }"
START = """mutation Start($prompt: String, $input: StartStreamInput) {
  startStream(prompt: $prompt, input: $input) { sessionId status message timestamp error attempt owner visibility }
}"""
GET_SESSION = """query Get($sessionId: ID!) {
  getSession(sessionId: $sessionId) { sessionId status attempt text lastSeq error stopReason usage { inputTokens outputTokens totalTokens } }
}"""


def host_of(endpoints: Endpoints) -> str:
    return endpoints.graphql_url.split("/")[2]


def api_key_auth(endpoints: Endpoints) -> AppSyncApiKeyAuthentication:
    return AppSyncApiKeyAuthentication(host=host_of(endpoints), api_key=endpoints.api_key)


def iam_auth(endpoints: Endpoints) -> AppSyncIAMAuthentication:
    """The worker's identity locally: SigV4 with the stack's credentials."""
    return AppSyncIAMAuthentication(host=host_of(endpoints), credentials=Credentials("test", "test"),
                                    region_name=endpoints.region)


def jwt_auth(endpoints: Endpoints, user: str) -> AppSyncJWTAuthentication:
    return AppSyncJWTAuthentication(host=host_of(endpoints), jwt=LocalJwtIssuer.from_env().mint(user))


@asynccontextmanager
async def http_client(endpoints: Endpoints, auth: Any = None) -> AsyncIterator[Any]:
    transport = AIOHTTPTransport(url=endpoints.graphql_url, auth=auth or api_key_auth(endpoints))
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        yield session


@dataclass
class Subscriber:
    """One websocket subscription that records every event until the terminal one."""

    session_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def text(self) -> str:
        return "".join(e["token"] or "" for e in self.events)

    @property
    def terminal(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["isComplete"]]

    async def wait(self, timeout: float = WAIT_S) -> "Subscriber":
        await asyncio.wait_for(self.done.wait(), timeout)
        return self


@asynccontextmanager
async def subscribed(stack: BackgroundStack, session_id: str, *, auth: Any = None,
                     selection: str = EVENT_FIELDS) -> AsyncIterator[Subscriber]:
    """Subscribe; return once the emulator registered the subscription (it then sends start_ack).

    gql does not surface start_ack, so the test waits on the hub's own condition instead:
    from that moment no event for the session can be missed.
    """
    endpoints = stack.endpoints
    hub = stack.stack.emulator.hub
    before = hub.count(lambda s: s.arguments.get("sessionId") == session_id)
    transport = AppSyncWebsocketsTransport(url=endpoints.realtime_url, auth=auth or api_key_auth(endpoints))
    subscriber = Subscriber(session_id)
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        generator = session.subscribe(op(SUBSCRIBE % selection, sessionId=session_id))

        async def consume() -> None:
            async for result in generator:
                subscriber.events.append(result["onTokenReceived"])
                if result["onTokenReceived"]["isComplete"]:
                    subscriber.done.set()

        task = asyncio.create_task(consume())
        live = await asyncio.to_thread(
            hub.wait_until, lambda h: h.count(lambda s: s.arguments.get("sessionId") == session_id) > before, WAIT_S)
        assert live, f"subscription to {session_id} was not registered within {WAIT_S}s"
        try:
            yield subscriber
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await generator.aclose()


async def start(session: Any, prompt: str | None = None, input: dict[str, Any] | None = None,
                **input_fields: Any) -> dict[str, Any]:
    """``startStream``; keyword fields are merged into ``input``."""
    variables: dict[str, Any] = {"prompt": prompt}
    if input or input_fields:
        variables["input"] = {**(input or {}), **input_fields}
    result = await session.execute(op(START, **variables))
    return result["startStream"]


async def get_session(session: Any, session_id: str) -> dict[str, Any] | None:
    return (await session.execute(op(GET_SESSION, sessionId=session_id)))["getSession"]


def op(query: str, **variables: Any) -> GraphQLRequest:
    """A request with its variables (gql 4 style)."""
    return GraphQLRequest(query, variable_values=variables or None)


def new_session_id() -> str:
    return str(uuid.uuid4())


def aws_clients(endpoints: Endpoints) -> tuple[Any, Any]:
    kwargs = dict(region_name=endpoints.region, endpoint_url=endpoints.moto_url,
                  aws_access_key_id="test", aws_secret_access_key="test")
    return boto3.client("sqs", **kwargs), boto3.client("dynamodb", **kwargs)
