"""AppSync's real-time protocol at ``/graphql/realtime`` (subprotocol ``graphql-ws``).

The conversation, as AppSync speaks it::

    client                                   server
    (upgrade: auth in ?header=, header-<b64> subprotocol, or plain headers)
    connection_init  (optional)      ──▶
                                     ◀──    connection_ack {connectionTimeoutMs}
                                     ◀──    ka  (every keep-alive interval)
    start {id, payload.data: "<json>",
           payload.extensions.authorization} ──▶
                                     ◀──    start_ack {id}   |  error {id, payload.errors}
                                     ◀──    data {id, payload: {data}}
    stop {id}                        ──▶
                                     ◀──    complete {id}

Bad connection auth gets ``connection_error`` and a close. Subscriptions are authorized per
``start`` message with the headers in ``extensions.authorization``; for IAM they are signed
over the ``payload.data`` string at ``/graphql`` (the connect signature covers
``/graphql/connect`` with body ``{}``).

A message the server cannot read (bad JSON, JSON nested deeper than
:data:`~tokencast.local.bounded_json.MAX_JSON_DEPTH`, a bad ``payload.data``) gets an ``error``
and leaves the connection and its other subscriptions as they were.

What the server holds for a connection is bounded: messages wait in an outbox of at most
``RealtimeConfig.max_outbox_bytes``. A client that reads too slowly to keep it below that (or
not at all) gets ``connection_error`` ``SlowConsumerError`` and is disconnected (close code
1008; the TCP connection is dropped if even the close cannot be written), so one stalled
reader cannot make the server's memory grow.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from graphql import GraphQLError
from tokencast.appsync_limits import MAX_SUBSCRIPTIONS_PER_CONNECTION
from tokencast.local import bounded_json
from tokencast.local.appsync.auth import Authenticator, AuthRejected, Caller
from tokencast.local.appsync.errors import UNSUPPORTED_OPERATION, RequestRejected
from tokencast.local.appsync.execution import GraphQLEngine
from tokencast.local.appsync.subscriptions import Subscription, SubscriptionHub

log = logging.getLogger(__name__)

SUBPROTOCOL = "graphql-ws"
HEADER_SUBPROTOCOL_PREFIX = "header-"


@dataclass(frozen=True)
class RealtimeConfig:
    connection_timeout_ms: int = 300_000
    keep_alive_interval_s: float = 60.0
    #: how long a new connection may stay silent before its first message
    init_timeout_s: float = 10.0
    max_subscriptions: int = MAX_SUBSCRIPTIONS_PER_CONNECTION
    #: bytes of messages waiting for one slow client before it is disconnected
    max_outbox_bytes: int = 4 * 1024 * 1024
    #: how long a disconnected slow client's close may take before the TCP connection is dropped
    slow_close_timeout_s: float = 2.0


SLOW_CONSUMER_CLOSE_CODE = 1008  # policy violation


@dataclass
class RealtimeStats:
    """Across the API's connections, for ``/_local/appsync/stats``."""

    slow_consumers_disconnected: int = 0
    #: the most bytes any one connection's outbox held
    outbox_high_water_bytes: int = 0


def _b64_json(value: str) -> dict[str, Any]:
    padded = value + "=" * (-len(value) % 4)
    decoded = bounded_json.loads(base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_")))
    if not isinstance(decoded, dict):
        raise ValueError("not a JSON object")
    return decoded


def connection_headers(request: web.Request) -> dict[str, str]:
    """Auth headers for the connection, from wherever the client put them."""
    header_param = request.query.get("header")
    if header_param:
        return {k.lower(): str(v) for k, v in _b64_json(header_param).items()}
    for protocol in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        protocol = protocol.strip()
        if protocol.startswith(HEADER_SUBPROTOCOL_PREFIX):
            return {k.lower(): str(v) for k, v in _b64_json(protocol[len(HEADER_SUBPROTOCOL_PREFIX) :]).items()}
    return {k.lower(): v for k, v in request.headers.items()}


def _message_type(raw: str) -> Any:
    try:
        message = bounded_json.loads(raw)
    except ValueError:
        return None
    return message.get("type") if isinstance(message, dict) else None


class RealtimeConnection:
    """One WebSocket: its subscriptions, its keep-alives and an ordered outbox."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        *,
        engine: GraphQLEngine,
        hub: SubscriptionHub,
        authenticator: Authenticator,
        config: RealtimeConfig,
        stats: RealtimeStats | None = None,
    ) -> None:
        self.ws = ws
        self.request = request
        self.engine = engine
        self.hub = hub
        self.authenticator = authenticator
        self.config = config
        self.caller: Caller | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.stats = stats or RealtimeStats()
        #: serialized messages, in order; None ends the writer
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.outbox_bytes = 0
        self._overflowed = False
        self._writer: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self._transport = request.transport

    # Subscriber protocol: the hub calls this from the event loop; the writer task sends in order.
    def deliver(self, message: dict[str, Any]) -> None:
        if self._overflowed:
            return
        text = json.dumps(message, separators=(",", ":"))
        if self.outbox_bytes + len(text) > self.config.max_outbox_bytes:
            self._disconnect_slow_consumer()
            return
        self.outbox_bytes += len(text)
        self.stats.outbox_high_water_bytes = max(self.stats.outbox_high_water_bytes, self.outbox_bytes)
        self._outbox.put_nowait(text)

    def _disconnect_slow_consumer(self) -> None:
        """Drop what is queued, tell the client why, close; abort the TCP connection if even that stalls."""
        self._overflowed = True
        self.stats.slow_consumers_disconnected += 1
        log.warning(
            "disconnecting a real-time client that fell behind by more than %d bytes", self.config.max_outbox_bytes
        )
        while not self._outbox.empty():
            self._outbox.get_nowait()
        self.outbox_bytes = 0
        error = {
            "type": "connection_error",
            "payload": {
                "errors": [
                    {
                        "errorType": "SlowConsumerError",
                        "message": f"the client fell more than {self.config.max_outbox_bytes} bytes behind",
                        "errorCode": SLOW_CONSUMER_CLOSE_CODE,
                    }
                ]
            },
        }
        self._outbox.put_nowait(json.dumps(error, separators=(",", ":")))
        self._outbox.put_nowait(None)
        self._closing = asyncio.ensure_future(self._close_slow())

    async def _close_slow(self) -> None:
        async def flush_and_close() -> None:
            if self._writer is not None:
                await self._writer
            await self.ws.close(code=SLOW_CONSUMER_CLOSE_CODE, message=b"slow consumer")

        await self._close_within(flush_and_close(), self.config.slow_close_timeout_s)

    async def close(self, timeout_s: float = 1.0) -> None:
        """Close from the server's side (shutdown); a client that does not read is dropped."""
        await self._close_within(self.ws.close(), timeout_s)

    async def _close_within(self, closing: Coroutine[Any, Any, Any], timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                await closing
        except (TimeoutError, ConnectionError):
            if self._transport is not None:
                self._transport.abort()

    async def serve(self, connect_headers: Mapping[str, str]) -> None:
        self._writer = writer = asyncio.create_task(self._write())
        keep_alive: asyncio.Task[None] | None = None
        try:
            try:
                self.caller = self.authenticator.authenticate(
                    path="/graphql/connect", headers=connect_headers, body=b"{}", source_ip=self._source_ip()
                )
            except AuthRejected as error:
                # Sent as the answer to the client's first message (its connection_init): a
                # client that reads replies only after sending it would otherwise meet a
                # closed socket instead of the reason.
                with contextlib.suppress(asyncio.TimeoutError):
                    await self._first_message()
                await self._connection_error(error.error_type, str(error), error.status)
                return
            try:
                first = await self._first_message()
            except TimeoutError:
                await self._connection_error("ConnectionTimeout", "no message was received in time", 400)
                return
            if first is None:
                return
            # connection_init is optional in AppSync's protocol: when sent, it is acknowledged;
            # otherwise the first message is already an operation.
            if _message_type(first) == "connection_init":
                self.deliver(
                    {"type": "connection_ack", "payload": {"connectionTimeoutMs": self.config.connection_timeout_ms}}
                )
                first = None
            keep_alive = asyncio.create_task(self._keep_alive())
            if first is not None:
                await self._handle(first)
            async for message in self.ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                await self._handle(message.data)
        finally:
            for subscription in self.subscriptions.values():
                self.hub.remove(subscription)
            self.subscriptions.clear()
            if keep_alive:
                keep_alive.cancel()
            self._outbox.put_nowait(None)
            await writer

    async def _first_message(self) -> str | None:
        """The first text message, or None when the client closed; raises
        ``asyncio.TimeoutError`` when it stays silent for ``init_timeout_s``."""
        while True:
            message = await self.ws.receive(timeout=self.config.init_timeout_s)
            if message.type is WSMsgType.TEXT:
                text: str = message.data
                return text
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return None

    async def _connection_error(self, error_type: str, message: str, code: int) -> None:
        self.deliver(
            {
                "type": "connection_error",
                "payload": {"errors": [{"errorType": error_type, "message": message, "errorCode": code}]},
            }
        )
        self._outbox.put_nowait(None)
        if self._writer is not None:
            await self._writer
        await self.ws.close()

    async def _write(self) -> None:
        while (text := await self._outbox.get()) is not None:
            if not self.ws.closed:
                try:
                    await self.ws.send_str(text)
                except (ConnectionError, RuntimeError):  # the peer went away mid-send
                    break
            if not self._overflowed:
                self.outbox_bytes -= len(text)

    async def _keep_alive(self) -> None:
        while True:
            self.deliver({"type": "ka"})
            await asyncio.sleep(self.config.keep_alive_interval_s)

    def _source_ip(self) -> str:
        return self.request.remote or "127.0.0.1"

    # -- messages ------------------------------------------------------------------------

    async def _handle(self, raw: str) -> None:
        try:
            message = bounded_json.loads(raw)
            if not isinstance(message, dict):
                raise ValueError
        except bounded_json.JsonTooDeep as error:
            self._error(None, "MalformedMessage", f"message {error}")
            return
        except ValueError:
            self._error(None, "MalformedMessage", "message is not a JSON object")
            return
        kind, sub_id, payload = message.get("type"), message.get("id"), message.get("payload")
        if kind == "start" and isinstance(payload, dict) and isinstance(payload.get("data"), str):
            await self._start(sub_id, payload)
        elif kind == "stop":
            self._stop(sub_id)
        elif kind in ("connection_init", "ka"):
            return
        else:
            # What AppSync cannot read as one of its operations (another type, or a start
            # without a payload.data string, as graphql-ws clients send) is "unknown", and
            # AppSync answers it without an id.
            self._error(None, UNSUPPORTED_OPERATION, "unknown not supported through the realtime channel")

    def _error(self, sub_id: str | None, error_type: str, message: str, **extra: Any) -> None:
        body: dict[str, Any] = {
            "type": "error",
            "payload": {"errors": [{"errorType": error_type, "message": message, **extra}]},
        }
        if sub_id is not None:
            body["id"] = sub_id
        self.deliver(body)

    async def _start(self, sub_id: Any, payload: Mapping[str, Any]) -> None:
        if not isinstance(sub_id, str) or not sub_id:
            self._error(None, "MalformedMessage", "start needs an id")
            return
        if sub_id in self.subscriptions:
            self._error(sub_id, "DuplicatedOperationError", f"subscription {sub_id} already exists")
            return
        if len(self.subscriptions) >= self.config.max_subscriptions:
            self._error(
                sub_id,
                "MaxSubscriptionsReachedError",
                f"Max number of {self.config.max_subscriptions} subscriptions reached",
            )
            return
        data = payload["data"]
        extensions = payload.get("extensions")
        authorization = extensions.get("authorization") if isinstance(extensions, dict) else None
        try:
            caller = self.caller
            if authorization is not None:
                if not isinstance(authorization, dict):
                    raise AuthRejected("UnauthorizedException", "Valid authorization header not provided.", 401)
                headers = {str(k).lower(): str(v) for k, v in authorization.items()}
                caller = self.authenticator.authenticate(
                    path="/graphql", headers=headers, body=data.encode(), source_ip=self._source_ip()
                )
            if caller is None:  # a start before connection_init was acknowledged
                raise AuthRejected("UnauthorizedException", "Valid authorization header not provided.", 401)
            request = bounded_json.loads(data)
            if not isinstance(request, dict):
                raise RequestRejected("MalformedMessage", "payload.data must encode a JSON object")
            operation = await self.engine.prepare_off_loop(request)
            field_name, arguments = self.engine.subscription_field(operation)
            subscription_filter = self.engine.subscribe(field_name, arguments, caller)
        except AuthRejected as error:
            self._error(sub_id, error.error_type, str(error))
            return
        except RequestRejected as error:
            for item in error.as_errors():  # validation errors carry no errorType over HTTP
                self._error(sub_id, item.get("errorType", error.error_type), item["message"])
            return
        except bounded_json.JsonTooDeep as error:
            self._error(sub_id, "MalformedMessage", f"payload.data {error}")
            return
        except ValueError:
            self._error(sub_id, "MalformedMessage", "payload.data is not valid JSON")
            return
        except GraphQLError as error:  # from the resolver (e.g. Unauthorized) or argument coercion
            extensions = error.extensions or {}
            self._error(sub_id, extensions.get("errorType", "Unknown"), error.message)
            return
        except Exception:  # a bug, not bad input: say so in the log, keep the connection
            log.exception("could not start subscription %s", sub_id)
            self._error(sub_id, "InternalFailure", "the subscription could not be started")
            return
        subscription = Subscription(sub_id, field_name, arguments, subscription_filter, operation, self)
        self.subscriptions[sub_id] = subscription
        self.hub.add(subscription)
        self.deliver({"type": "start_ack", "id": sub_id})

    def _stop(self, sub_id: Any) -> None:
        subscription = self.subscriptions.pop(sub_id, None) if isinstance(sub_id, str) else None
        if subscription is not None:
            self.hub.remove(subscription)
        self.deliver({"type": "complete", "id": sub_id})


def realtime_handler(
    *, engine: GraphQLEngine, hub: SubscriptionHub, authenticator: Authenticator, config: RealtimeConfig
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for ``GET /graphql/realtime``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        if SUBPROTOCOL not in offered:
            raise web.HTTPBadRequest(
                text=json.dumps(
                    {
                        "errors": [
                            {
                                "errorType": "UnsupportedProtocol",
                                "message": f"the {SUBPROTOCOL} subprotocol is required",
                            }
                        ]
                    }
                ),
                content_type="application/json",
            )
        try:
            headers = connection_headers(request)
        except (ValueError, binascii.Error):
            raise web.HTTPBadRequest(
                text=json.dumps(
                    {
                        "errors": [
                            {
                                "errorType": "MalformedHttpRequestException",
                                "message": "the header parameter is not base64 JSON",
                            }
                        ]
                    }
                ),
                content_type="application/json",
            ) from None
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), heartbeat=None, autoping=True, max_msg_size=1024 * 1024)
        await ws.prepare(request)
        connection = RealtimeConnection(
            ws, request, engine=engine, hub=hub, authenticator=authenticator, config=config, stats=request.app[STATS]
        )
        request.app[CONNECTIONS].add(connection)
        try:
            await connection.serve(headers)
        finally:
            request.app[CONNECTIONS].discard(connection)
        return ws

    return handle


CONNECTIONS: web.AppKey[set[RealtimeConnection]] = web.AppKey("realtime_connections", set[RealtimeConnection])
STATS: web.AppKey[RealtimeStats] = web.AppKey("realtime_stats", RealtimeStats)
