"""``onTokenReceived`` over AppSync's real-time protocol (gql ``Client`` + ``AppSyncWebsocketsTransport``).

Three pieces:

- :class:`AppSyncRealtimeTransport` is gql's AppSync transport plus what a subscribe-first
  client needs and gql 4.4 drops: each subscription's ``start_ack`` (or its ``error``)
  reported on a future, the server's ``connectionTimeoutMs`` used as the keep-alive
  timeout, and ``connection_error`` payloads kept structured for exact errors.
- :class:`RealtimeChannel` owns a client's connections: opened on first use, shared by its
  streams (at most ``max_subscriptions`` each, AppSync's limit is 100), replaced when one
  drops. Reconnect *policy* (backoff, resume) belongs to the streams.
- :class:`LiveSubscription` is one subscription's pump: it hands each event, and finally
  how it ended, to its sink as :class:`LiveEvent` / :class:`LiveEnded`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

from gql import Client, GraphQLRequest
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from gql.transport.exceptions import (
    TransportClosed,
    TransportError,
    TransportProtocolError,
    TransportQueryError,
    TransportServerError,
)

from graphql import ExecutionResult
from tokencast.appsync_limits import MAX_SUBSCRIPTIONS_PER_CONNECTION
from tokencast.client.api import EVENT_FIELDS
from tokencast.client.auth import Auth
from tokencast.client.endpoints import Endpoints
from tokencast.client.errors import AuthError, ClientClosed, ConnectionLost, TokencastError, error_from_graphql

log = logging.getLogger(__name__)

ON_TOKEN_RECEIVED = GraphQLRequest(
    f"subscription OnTokenReceived($sessionId: ID!) {{ onTokenReceived(sessionId: $sessionId) {{ {EVENT_FIELDS} }} }}",
    operation_name="OnTokenReceived",
)


class RealtimeRejected(TransportServerError):
    """The server refused the connection (``connection_error``) or sent an error without an id."""

    def __init__(self, errors: list[Any]) -> None:
        super().__init__(f"real-time endpoint refused: {errors!r}")
        self.errors = errors


class AppSyncRealtimeTransport(AppSyncWebsocketsTransport):
    """gql's AppSync transport, reporting ``start_ack`` per subscription.

    ``subscribe(request, ack=future)`` resolves ``future`` on the subscription's
    ``start_ack`` and fails it on its ``error`` or when the connection closes first. With
    ``keep_alive_timeout=None`` the ``connectionTimeoutMs`` of ``connection_ack`` becomes the
    keep-alive timeout, as AppSync asks of clients.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        self._honour_connection_timeout = kwargs.get("keep_alive_timeout") is None
        super().__init__(url, **kwargs)
        self._acks: dict[int, asyncio.Future[None]] = {}
        self.dropped = False
        if self.keep_alive_timeout is None:
            # the liveness checker needs this event; gql creates it only for a fixed timeout
            self._next_keep_alive_message = asyncio.Event()
            self._next_keep_alive_message.set()

    async def _initialize(self) -> None:
        # Like gql's, except that a refused send is not the end: a server that rejects the
        # connection's auth may answer connection_error and close before reading
        # connection_init, and that reason is still waiting in the receive buffer.
        init_message = json.dumps({"type": "connection_init", "payload": self.init_payload})
        try:
            await self.adapter.send(init_message)
        except TransportError:
            log.debug("connection_init not sent; looking for the server's reason")
        # gql binds WebsocketsTransport._wait_ack onto its AppSync transport; mypy sees the mismatch.
        await asyncio.wait_for(self._wait_ack(), self.ack_timeout)  # type: ignore[misc]

    def _parse_answer(self, answer: str) -> tuple[str, int | None, ExecutionResult | None]:
        try:
            message = json.loads(answer)
        except ValueError:
            raise TransportProtocolError(f"Server did not return a GraphQL result: {answer}") from None
        if not isinstance(message, dict):
            raise TransportProtocolError(f"Server did not return a GraphQL result: {answer}")
        kind = message.get("type")
        raw_payload = message.get("payload")
        payload: dict[str, Any] = raw_payload if isinstance(raw_payload, dict) else {}
        if kind == "start_ack":
            query_id = _query_id(message.get("id"))
            return ("start_ack", query_id, None)
        if kind == "connection_ack":
            timeout_ms = payload.get("connectionTimeoutMs")
            if self._honour_connection_timeout and isinstance(timeout_ms, (int, float)) and timeout_ms > 0:
                self.keep_alive_timeout = timeout_ms / 1000
            return ("connection_ack", None, None)
        if kind == "connection_error" or (kind == "error" and "id" not in message):
            raise RealtimeRejected(list(payload.get("errors") or [payload or message]))
        if kind == "error":
            query_id = _query_id(message.get("id"))
            future = self._acks.get(query_id) if query_id is not None else None
            if future is not None and not future.done():
                future.set_exception(TransportQueryError(str(payload), query_id=query_id, errors=[payload]))
        return super()._parse_answer(answer)

    async def _handle_answer(
        self, answer_type: str, answer_id: int | None, execution_result: ExecutionResult | None
    ) -> None:
        if answer_type == "start_ack":
            future = self._acks.get(answer_id) if answer_id is not None else None
            if future is not None and not future.done():
                future.set_result(None)
            return
        await super()._handle_answer(answer_type, answer_id, execution_result)

    async def subscribe(
        self,
        request: GraphQLRequest,
        *,
        send_stop: bool | None = True,
        ack: asyncio.Future[None] | None = None,
    ) -> AsyncGenerator[ExecutionResult, None]:
        # gql's subscribe takes next_query_id before its first await: register the ack first
        query_id = self.next_query_id
        if ack is not None:
            self._acks[query_id] = ack
        try:
            async for result in super().subscribe(request, send_stop=send_stop):
                yield result
        finally:
            self._acks.pop(query_id, None)

    async def _close_hook(self) -> None:
        self.dropped = True
        error = self.close_exception or TransportClosed("connection closed")
        for future in self._acks.values():
            if not future.done():
                future.set_exception(error)


def _query_id(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


# -- subscriptions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveEvent:
    """One ``onTokenReceived`` payload, as received."""

    subscription: LiveSubscription
    data: dict[str, Any]


@dataclass(frozen=True)
class LiveEnded:
    """The subscription ended: ``error`` None means the server completed it."""

    subscription: LiveSubscription
    error: BaseException | None


Sink = Callable[[Any], None]


def realtime_error(error: BaseException) -> TokencastError:
    """A gql / websocket failure as the client's exception."""
    if isinstance(error, TokencastError):
        return error
    if isinstance(error, RealtimeRejected):
        return error_from_graphql(error.errors)
    if isinstance(error, TransportQueryError):
        return error_from_graphql(error.errors or [{"message": str(error)}])
    status = _upgrade_status(error)
    if status in (401, 403):
        return AuthError(f"real-time endpoint refused the upgrade: HTTP {status}", error_type=f"HTTP {status}")
    lost = ConnectionLost(f"real-time connection failed: {error or type(error).__name__}")
    lost.__cause__ = error
    return lost


def _upgrade_status(error: BaseException) -> int | None:
    """The HTTP status of a refused WebSocket upgrade, if that is what ``error`` comes from."""
    cause: BaseException | None = error
    while cause is not None:
        response = getattr(cause, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
        cause = cause.__cause__
    return None


class _Connection:
    """One WebSocket: a gql Client session over an :class:`AppSyncRealtimeTransport`."""

    def __init__(
        self,
        endpoints: Endpoints,
        auth: Auth,
        *,
        connect_timeout_s: float,
        ack_timeout_s: float,
        keep_alive_timeout_s: float | None,
    ) -> None:
        self.transport = AppSyncRealtimeTransport(
            endpoints.realtime_url,
            auth=auth.authentication(endpoints.host),
            connect_timeout=connect_timeout_s,
            ack_timeout=ack_timeout_s,
            keep_alive_timeout=keep_alive_timeout_s,
        )
        self.client = Client(transport=self.transport, execute_timeout=None)
        self.session: Any = None
        self.subscriptions = 0

    @property
    def alive(self) -> bool:
        return self.session is not None and not self.transport.dropped

    async def open(self) -> None:
        try:
            self.session = await self.client.connect_async()
        except (TimeoutError, TransportError, OSError) as error:
            raise realtime_error(error) from error

    async def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(Exception):
                await self.client.close_async()
            self.session = None


class LiveSubscription:
    """One ``onTokenReceived`` subscription; events go to ``sink`` as they arrive."""

    def __init__(self, connection: _Connection, session_id: str, sink: Sink) -> None:
        self.session_id = session_id
        self._connection = connection
        self._sink = sink
        self._ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None
        self._released = False

    async def start(self, ack_timeout_s: float) -> None:
        """Send ``start`` and wait for ``start_ack``; raise the exact error if refused."""
        connection_id = id(self._connection)
        self._task = asyncio.create_task(self._pump(), name=f"tokencast-subscription-{self.session_id}")
        try:
            await asyncio.wait_for(self._ack, ack_timeout_s)
        except TimeoutError:
            raise ConnectionLost(f"no start_ack within {ack_timeout_s}s (connection {connection_id:x})") from None
        except (TransportError, OSError) as error:
            raise realtime_error(error) from error

    async def _pump(self) -> None:
        request = GraphQLRequest(ON_TOKEN_RECEIVED, variable_values={"sessionId": self.session_id})
        error: BaseException | None = None
        try:
            async for data in self._connection.session.subscribe(request, ack=self._ack):
                payload = data.get("onTokenReceived") if isinstance(data, dict) else None
                if payload is not None:
                    self._sink(LiveEvent(self, payload))
        except asyncio.CancelledError:
            self._release()
            raise
        except Exception as exc:  # transport or query error: the stream decides what to do
            error = exc
        self._release()
        if not self._ack.done():
            self._ack.set_exception(error or ConnectionLost("subscription completed before start_ack"))
            return
        if self._ack.cancelled() or self._ack.exception() is not None:
            return  # never started: start() reported it
        self._sink(LiveEnded(self, error))

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._connection.subscriptions -= 1

    async def close(self) -> None:
        """Stop the subscription (sends ``stop`` while the connection is up)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._release()
        if self._ack.done() and not self._ack.cancelled():
            self._ack.exception()  # retrieved: no "exception was never retrieved" warning


class RealtimeChannel:
    """A client's real-time connections: lazily opened, shared, replaced when dropped."""

    def __init__(
        self,
        endpoints: Endpoints,
        auth: Auth,
        *,
        connect_timeout_s: float = 10.0,
        ack_timeout_s: float = 10.0,
        keep_alive_timeout_s: float | None = None,
        max_subscriptions: int = MAX_SUBSCRIPTIONS_PER_CONNECTION,
    ) -> None:
        self.endpoints = endpoints
        self.auth = auth
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s
        self.keep_alive_timeout_s = keep_alive_timeout_s
        self.max_subscriptions = max_subscriptions
        self.connections_opened = 0
        self._connections: list[_Connection] = []
        self._lock = asyncio.Lock()
        self._closed = False

    async def subscribe(self, session_id: str, sink: Sink) -> LiveSubscription:
        """Subscribe to a session's events; returns once AppSync acknowledged the subscription."""
        async with self._lock:
            if self._closed:
                raise ClientClosed("the client is closed")
            connection = await self._connection_with_room()
            connection.subscriptions += 1
        subscription = LiveSubscription(connection, session_id, sink)
        try:
            await subscription.start(self.ack_timeout_s)
        except BaseException:
            await subscription.close()
            raise
        return subscription

    async def _connection_with_room(self) -> _Connection:
        for dead in [c for c in self._connections if not c.alive]:
            self._connections.remove(dead)
            await dead.close()
        for connection in self._connections:
            if connection.subscriptions < self.max_subscriptions:
                return connection
        connection = _Connection(
            self.endpoints,
            self.auth,
            connect_timeout_s=self.connect_timeout_s,
            ack_timeout_s=self.ack_timeout_s,
            keep_alive_timeout_s=self.keep_alive_timeout_s,
        )
        await connection.open()
        self.connections_opened += 1
        self._connections.append(connection)
        return connection

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for connection in connections:
            await connection.close()
