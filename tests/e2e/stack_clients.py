"""Plain gql clients against the running local stack, for end-to-end tests.

These deliberately do NOT use tokencast.client: pipeline tests check what AppSync clients
written for the original sample see, with nothing of ours in between.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.credentials import Credentials
from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncApiKeyAuthentication, AppSyncIAMAuthentication, AppSyncJWTAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport

from tokencast.core.models import EVENT_SELECTION
from tokencast.local.jwt_issuer import LocalJwtIssuer
from tokencast.local.stack import BackgroundStack, LocalEndpoints

WAIT_S = 20.0

EVENT_FIELDS = EVENT_SELECTION
SUBSCRIBE = "subscription On($sessionId: ID!) { onTokenReceived(sessionId: $sessionId) { %s } }"
START = """mutation Start($prompt: String, $input: StartStreamInput) {
  startStream(prompt: $prompt, input: $input) { sessionId status message timestamp error attempt owner visibility }
}"""
GET_SESSION = """query Get($sessionId: ID!) {
  getSession(sessionId: $sessionId) { sessionId status attempt text lastSeq error stopReason usage { inputTokens outputTokens totalTokens } }
}"""


def host_of(endpoints: LocalEndpoints) -> str:
    return endpoints.graphql_url.split("/")[2]


def api_key_auth(endpoints: LocalEndpoints) -> AppSyncApiKeyAuthentication:
    return AppSyncApiKeyAuthentication(host=host_of(endpoints), api_key=endpoints.api_key)


def iam_auth(endpoints: LocalEndpoints) -> AppSyncIAMAuthentication:
    """The worker's identity locally: SigV4 with the stack's credentials."""
    return AppSyncIAMAuthentication(
        host=host_of(endpoints), credentials=Credentials("test", "test"), region_name=endpoints.region
    )


def jwt_auth(endpoints: LocalEndpoints, user: str) -> AppSyncJWTAuthentication:
    return AppSyncJWTAuthentication(host=host_of(endpoints), jwt=LocalJwtIssuer.from_env().mint(user))


@asynccontextmanager
async def http_client(endpoints: LocalEndpoints, auth: Any = None) -> AsyncIterator[Any]:
    transport = AIOHTTPTransport(url=endpoints.graphql_url, auth=auth or api_key_auth(endpoints))
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        yield session


@dataclass
class Subscriber:
    """Every event AppSync delivered to one plain gql subscription, in delivery order."""

    session_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def text(self) -> str:
        return "".join(e["token"] or "" for e in self.events)

    @property
    def terminal(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["isComplete"]]

    async def add(self, event: dict[str, Any]) -> None:
        async with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = WAIT_S) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: predicate(self.events)), timeout)

    async def wait_terminal(self, attempt: int | None = None, timeout: float = WAIT_S) -> None:
        await self.wait_for(
            lambda events: any(e["isComplete"] and (attempt is None or e["attempt"] == attempt) for e in events),
            timeout,
        )

    async def wait(self, timeout: float = WAIT_S) -> Subscriber:
        """Until a terminal event arrived."""
        await self.wait_terminal(timeout=timeout)
        return self


@asynccontextmanager
async def subscribed(
    stack: BackgroundStack, session_id: str, *, auth: Any = None, selection: str = EVENT_FIELDS
) -> AsyncIterator[Subscriber]:
    """Subscribe with an unmodified gql AppSync transport; yield once the emulator registered it.

    gql does not surface start_ack, so this waits on the hub's own condition (a subscription
    is registered before start_ack is sent): from then on no event for the session is missed.
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
                await subscriber.add(result["onTokenReceived"])

        task = asyncio.create_task(consume())
        live = await asyncio.to_thread(
            hub.wait_until, lambda h: h.count(lambda s: s.arguments.get("sessionId") == session_id) > before, WAIT_S
        )
        assert live, f"subscription to {session_id} was not registered within {WAIT_S}s"
        try:
            yield subscriber
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await generator.aclose()


async def start(
    session: Any, prompt: str | None = None, input: dict[str, Any] | None = None, **input_fields: Any
) -> dict[str, Any]:
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


def aws_clients(endpoints: LocalEndpoints) -> tuple[Any, Any]:
    kwargs = {
        "region_name": endpoints.region,
        "endpoint_url": endpoints.moto_url,
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    return boto3.client("sqs", **kwargs), boto3.client("dynamodb", **kwargs)
