"""Queries and mutations over one persistent HTTP session (gql ``Client`` + ``AIOHTTPTransport``).

The session opens on the first request and stays open until :meth:`GraphQLApi.close`.
Every operation here is idempotent (``startStream`` always carries a client-chosen
``sessionId``), so transport failures -- a refused or reset connection, a timeout, a 5xx or
429 -- are retried with backoff; GraphQL errors are mapped to exact exceptions and never
retried unless AppSync says they are transient.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import (
    TransportClosed,
    TransportConnectionFailed,
    TransportError,
    TransportProtocolError,
    TransportQueryError,
    TransportServerError,
)
from tenacity import RetryCallState

from tokencast.client.auth import Auth
from tokencast.client.backoff import Backoff, retrying
from tokencast.client.endpoints import Endpoints
from tokencast.client.errors import (
    AuthError,
    ClientClosed,
    ConnectionLost,
    RequestError,
    TokencastError,
    error_from_graphql,
    is_transient,
)
from tokencast.client.types import EventPage, SessionPage
from tokencast.core.models import EVENT_SELECTION, SESSION_SELECTION, SUMMARY_SELECTION, Session

log = logging.getLogger(__name__)

#: The selections, derived from the wire models: every field of each type.
SESSION_FIELDS = SESSION_SELECTION
SUMMARY_FIELDS = SUMMARY_SELECTION
EVENT_FIELDS = EVENT_SELECTION

START_STREAM = GraphQLRequest(
    "mutation StartStream($prompt: String, $input: StartStreamInput) "
    f"{{ startStream(prompt: $prompt, input: $input) {{ {SESSION_FIELDS} }} }}",
    operation_name="StartStream",
)
CANCEL_STREAM = GraphQLRequest(
    f"mutation CancelStream($sessionId: ID!) {{ cancelStream(sessionId: $sessionId) {{ {SESSION_FIELDS} }} }}",
    operation_name="CancelStream",
)
GET_SESSION = GraphQLRequest(
    f"query GetSession($sessionId: ID!) {{ getSession(sessionId: $sessionId) {{ {SESSION_FIELDS} }} }}",
    operation_name="GetSession",
)
GET_EVENTS = GraphQLRequest(
    "query GetEvents($sessionId: ID!, $afterAttempt: Int, $afterSeq: Int, $limit: Int) "
    "{ getEvents(sessionId: $sessionId, afterAttempt: $afterAttempt, afterSeq: $afterSeq, limit: $limit) "
    f"{{ items {{ {EVENT_FIELDS} }} nextAttempt nextSeq }} }}",
    operation_name="GetEvents",
)

LIST_SESSIONS = GraphQLRequest(
    "query ListSessions($limit: Int, $nextToken: String) "
    f"{{ listSessions(limit: $limit, nextToken: $nextToken) {{ items {{ {SUMMARY_FIELDS} }} nextToken }} }}",
    operation_name="ListSessions",
)


def _transport_error(error: BaseException) -> TokencastError:
    """A gql / network failure as the client's exception (auth by status, else ConnectionLost)."""
    if isinstance(error, TransportServerError) and error.code in (401, 403):
        return AuthError(str(error), error_type=f"HTTP {error.code}")
    if (
        isinstance(error, TransportServerError)
        and error.code is not None
        and 400 <= error.code < 500
        and error.code != 429
    ):
        return RequestError(str(error), error_type=f"HTTP {error.code}")
    lost = ConnectionLost(f"GraphQL request failed: {error or type(error).__name__}")
    lost.__cause__ = error
    return lost


class GraphQLApi:
    """tokencast's queries and mutations; ``open``/``close`` bracket the HTTP session."""

    def __init__(
        self,
        endpoints: Endpoints,
        auth: Auth,
        *,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff: Backoff | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.auth = auth
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff = backoff or Backoff(base_s=0.1, max_s=2.0)
        self._client: Client | None = None
        self._session: Any = None
        self._lock = asyncio.Lock()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    async def _connected(self) -> Any:
        if self._closed:
            raise ClientClosed("the client is closed")
        if self._session is None:
            async with self._lock:
                if self._session is None:
                    transport = AIOHTTPTransport(
                        url=self.endpoints.graphql_url,
                        auth=self.auth.authentication(self.endpoints.host),
                        timeout=int(max(1, self.timeout_s)),
                    )
                    client = Client(transport=transport, execute_timeout=self.timeout_s)
                    self._session = await client.connect_async()
                    self._client = client
        return self._session

    async def close(self) -> None:
        self._closed = True
        async with self._lock:
            client, self._client, self._session = self._client, None, None
        if client is not None:
            await client.close_async()

    # -- requests --------------------------------------------------------------------------

    async def execute(
        self, request: GraphQLRequest, variables: Mapping[str, Any], *, session_id: str | None = None
    ) -> dict[str, Any]:
        """Run one operation; retry transport failures; raise the exact error otherwise."""
        name = request.operation_name or "request"

        def note_retry(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            log.debug("retrying %s (try %d failed: %r)", name, state.attempt_number, failure)

        async for attempt in retrying(
            attempts=self.retries + 1,
            backoff=self.backoff,
            retry_on=lambda error: isinstance(error, TokencastError) and is_transient(error),
            before_sleep=note_retry,
        ):
            with attempt:
                return await self._execute_once(request, variables, session_id)
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    async def _execute_once(
        self, request: GraphQLRequest, variables: Mapping[str, Any], session_id: str | None
    ) -> dict[str, Any]:
        try:
            session = await self._connected()
            result: dict[str, Any] = await session.execute(GraphQLRequest(request, variable_values=dict(variables)))
            return result
        except TransportQueryError as error:
            raise error_from_graphql(error.errors or [{"message": str(error)}], session_id=session_id) from None
        except (
            TimeoutError,
            TransportServerError,
            TransportConnectionFailed,
            TransportProtocolError,
            TransportClosed,
            TransportError,
            OSError,
        ) as error:
            raise _transport_error(error) from None

    async def start_stream(
        self,
        *,
        session_id: str,
        prompt: str | None = None,
        messages: Sequence[Mapping[str, str]] | None = None,
        system: str | None = None,
        model_id: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        visibility: str | None = None,
    ) -> Session:
        fields = {
            "sessionId": session_id,
            "messages": messages,
            "system": system,
            "modelId": model_id,
            "maxTokens": max_tokens,
            "temperature": temperature,
            "visibility": visibility,
        }
        data = await self.execute(
            START_STREAM,
            {"prompt": prompt, "input": {k: v for k, v in fields.items() if v is not None}},
            session_id=session_id,
        )
        return Session.from_graphql(data["startStream"])

    async def cancel_stream(self, session_id: str) -> Session:
        data = await self.execute(CANCEL_STREAM, {"sessionId": session_id}, session_id=session_id)
        return Session.from_graphql(data["cancelStream"])

    async def get_session(self, session_id: str) -> Session | None:
        data = await self.execute(GET_SESSION, {"sessionId": session_id}, session_id=session_id)
        return Session.from_graphql(data["getSession"]) if data.get("getSession") else None

    async def get_events(
        self, session_id: str, after_attempt: int = 0, after_seq: int = 0, limit: int | None = None
    ) -> EventPage:
        variables: dict[str, Any] = {"sessionId": session_id, "afterAttempt": after_attempt, "afterSeq": after_seq}
        if limit is not None:
            variables["limit"] = limit
        data = await self.execute(GET_EVENTS, variables, session_id=session_id)
        return EventPage.from_graphql(data["getEvents"])

    async def list_sessions(self, limit: int | None = None, next_token: str | None = None) -> SessionPage:
        variables: dict[str, Any] = {}
        if limit is not None:
            variables["limit"] = limit
        if next_token is not None:
            variables["nextToken"] = next_token
        data = await self.execute(LIST_SESSIONS, variables)
        return SessionPage.from_graphql(data["listSessions"])
