"""The client against a scriptable fake AppSync (HTTP data plane + real-time protocol).

The fake speaks just enough AppSync for the client -- ``connection_init``/``ack``,
``start``/``start_ack``/``data``/``error``, ``stop``/``complete``, ``getEvents`` pages,
``startStream``/``getSession``/``cancelStream`` -- and lets a test decide which events are
stored, which are delivered live, when sockets drop and which requests fail. The real local
stack is exercised by tests/e2e.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from tokencast.client import (
    ApiKeyAuth,
    AuthError,
    ClientClosed,
    ClientOptions,
    ConnectionLost,
    Delta,
    Forbidden,
    InvalidRequest,
    SessionNotFound,
    StreamFailed,
    StreamOptions,
    TokencastClient,
    Usage,
)
from tokencast.core.errors import ApiError, CancelForbidden, InvalidInput, NotFound
from tokencast.events import EventType

API_KEY = "da2-fake"

FAST = StreamOptions(
    gap_grace_s=0.05,
    max_gap_backoff_s=0.2,
    idle_poll_s=0.3,
    reconnect_base_s=0.02,
    reconnect_max_s=0.1,
    max_reconnect_attempts=5,
)


def wire_event(session_id: str, attempt: int, seq: int, kind: EventType, token: str = "", **extra: Any) -> dict:
    return {
        "sessionId": session_id,
        "attempt": attempt,
        "seq": seq,
        "type": kind.value,
        "token": token,
        "isComplete": kind.is_terminal,
        "stopReason": extra.get("stopReason"),
        "usage": extra.get("usage"),
        "error": extra.get("error"),
        "timestamp": "2026-11-21T00:00:00.000Z",
    }


def attempt_events(
    session_id: str, attempt: int, tokens: list[str], terminal: EventType | None = EventType.COMPLETED, **extra: Any
) -> list[dict]:
    first = EventType.STARTED if attempt == 1 else EventType.RESTARTED
    events = [wire_event(session_id, attempt, 1, first)]
    events += [wire_event(session_id, attempt, i + 2, EventType.TOKEN, t) for i, t in enumerate(tokens)]
    if terminal is not None:
        events.append(wire_event(session_id, attempt, len(tokens) + 2, terminal, **extra))
    return events


@dataclass
class FakeAppSync:
    """AppSync's two endpoints, with knobs."""

    api_key: str = API_KEY
    sessions: dict[str, dict] = field(default_factory=dict)
    log: dict[str, dict[tuple[int, int], dict]] = field(default_factory=lambda: defaultdict(dict))
    subscribers: dict[str, list[tuple[web.WebSocketResponse, str]]] = field(default_factory=lambda: defaultdict(list))
    sockets: set = field(default_factory=set)
    requests: list[tuple[str, dict]] = field(default_factory=list)
    connections: int = 0
    #: what startStream saw: was this session subscribed already?
    subscribed_at_start: dict[str, bool] = field(default_factory=dict)
    #: the "worker": run as a task after startStream answers
    on_start: Callable[[str, dict], Awaitable[None]] | None = None
    http_failures: int = 0
    start_ack_delay_s: float = 0.0
    reject_start: dict | None = None
    forbid_cancel: bool = False
    start_error: dict | None = None
    page_limit: int = 500
    tasks: list = field(default_factory=list)
    #: notified whenever a request arrives or a subscription comes or goes
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_until(self, predicate: Callable[[], Any], timeout_s: float = 5.0) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), timeout_s)

    # -- the worker's side -------------------------------------------------------------------

    def store(self, event: dict) -> None:
        self.log[event["sessionId"]][(event["attempt"], event["seq"])] = event
        session = self.sessions.get(event["sessionId"])
        if session is not None and event["attempt"] >= session["attempt"]:
            if event["attempt"] > session["attempt"]:
                session.update(attempt=event["attempt"], text="")
            session["lastSeq"] = event["seq"]
            session["text"] += event["token"]
            kind = EventType(event["type"])
            session["status"] = {
                EventType.COMPLETED: "COMPLETED",
                EventType.FAILED: "FAILED",
                EventType.CANCELLED: "CANCELLED",
            }.get(kind, "STREAMING")
            session["error"] = event.get("error")

    async def deliver(self, event: dict) -> None:
        for ws, sub_id in list(self.subscribers.get(event["sessionId"], ())):
            if not ws.closed:
                await ws.send_json({"type": "data", "id": sub_id, "payload": {"data": {"onTokenReceived": event}}})

    async def publish(self, event: dict, *, live: bool = True, stored: bool = True) -> None:
        if stored:
            self.store(event)
        if live:
            await self.deliver(event)

    async def drop_sockets(self) -> None:
        for ws in list(self.sockets):
            await ws.close()

    async def wait_for_request(self, operation: str, count: int = 1) -> None:
        await self.wait_until(lambda: sum(1 for op, _ in self.requests if op == operation) >= count)

    def new_session(self, session_id: str, **extra: Any) -> dict:
        session = {
            "sessionId": session_id,
            "status": "QUEUED",
            "message": None,
            "timestamp": "2026-11-21T00:00:00Z",
            "error": None,
            "attempt": 0,
            "text": "",
            "lastSeq": 0,
            "usage": None,
            "stopReason": None,
            "modelId": "local",
            "visibility": "PRIVATE",
            "owner": "anonymous",
            "createdAt": None,
            "updatedAt": None,
            **extra,
        }
        self.sessions[session_id] = session
        return session

    # -- HTTP ----------------------------------------------------------------------------------

    async def graphql(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.realtime(request)
        if request.headers.get("x-api-key") != self.api_key:
            return web.json_response(
                {
                    "errors": [
                        {"errorType": "UnauthorizedException", "message": "You are not authorized to make this call."}
                    ]
                },
                status=401,
            )
        if self.http_failures > 0:
            self.http_failures -= 1
            return web.Response(status=503, text="Service Unavailable")
        body = await request.json()
        operation, variables = body.get("operationName"), body.get("variables") or {}
        self.requests.append((operation, variables))
        await self._notify()
        try:
            data = await getattr(self, f"op_{operation}")(variables)
        except ApiError as refused:  # what invokeLambda.js makes of a handler's error answer
            error = {**refused.to_graphql(), "path": [operation], "locations": []}
            return web.json_response({"data": None, "errors": [error]})
        return web.json_response({"data": data})

    async def op_StartStream(self, v: dict) -> dict:
        if self.start_error is not None:
            raise InvalidInput(self.start_error["message"])
        session_id = v["input"]["sessionId"]
        self.subscribed_at_start[session_id] = bool(self.subscribers.get(session_id))
        session = self.sessions.get(session_id) or self.new_session(session_id)
        if self.on_start is not None:
            self.tasks.append(asyncio.create_task(self.on_start(session_id, v)))
        return {"startStream": session}

    async def op_GetSession(self, v: dict) -> dict:
        return {"getSession": self.sessions.get(v["sessionId"])}

    async def op_GetEvents(self, v: dict) -> dict:
        if v["sessionId"] not in self.sessions:
            raise NotFound("sessionId: not found")
        after = (v.get("afterAttempt") or 0, v.get("afterSeq") or 0)
        limit = min(v.get("limit") or self.page_limit, self.page_limit)
        items = [e for k, e in sorted(self.log[v["sessionId"]].items()) if k > after]
        page, more = items[:limit], len(items) > limit
        return {
            "getEvents": {
                "items": page,
                "nextAttempt": page[-1]["attempt"] if more else None,
                "nextSeq": page[-1]["seq"] if more else None,
            }
        }

    async def op_CancelStream(self, v: dict) -> dict:
        session = self.sessions.get(v["sessionId"])
        if session is None:
            raise NotFound("sessionId: not found")
        if self.forbid_cancel:
            raise CancelForbidden("sessionId: only the owner may cancel")
        return {"cancelStream": session}

    # -- real-time -----------------------------------------------------------------------------

    async def realtime(self, request: web.Request) -> web.WebSocketResponse:
        headers = json.loads(base64.b64decode(request.query.get("header", "e30=")))
        ws = web.WebSocketResponse(protocols=("graphql-ws",))
        await ws.prepare(request)
        self.connections += 1
        self.sockets.add(ws)
        try:
            if headers.get("x-api-key") != self.api_key:
                await ws.send_json(
                    {
                        "type": "connection_error",
                        "payload": {
                            "errors": [
                                {
                                    "errorType": "UnauthorizedException",
                                    "message": "Valid authorization header not provided.",
                                }
                            ]
                        },
                    }
                )
                await ws.close()
                return ws
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if data["type"] == "connection_init":
                    await ws.send_json({"type": "connection_ack", "payload": {"connectionTimeoutMs": 300000}})
                elif data["type"] == "start":
                    await self._start(ws, data)
                elif data["type"] == "stop":
                    for subs in self.subscribers.values():
                        subs[:] = [(w, i) for w, i in subs if not (w is ws and i == data["id"])]
                    await ws.send_json({"type": "complete", "id": data["id"]})
        finally:
            self.sockets.discard(ws)
            for subs in self.subscribers.values():
                subs[:] = [(w, i) for w, i in subs if w is not ws]
            await self._notify()
        return ws

    async def _start(self, ws: web.WebSocketResponse, data: dict) -> None:
        request = json.loads(data["payload"]["data"])
        assert data["payload"]["extensions"]["authorization"]["x-api-key"] == self.api_key
        if self.reject_start is not None:
            await ws.send_json({"type": "error", "id": data["id"], "payload": {"errors": [self.reject_start]}})
            return
        if self.start_ack_delay_s:
            await asyncio.sleep(self.start_ack_delay_s)
        self.subscribers[request["variables"]["sessionId"]].append((ws, data["id"]))
        await self._notify()
        await ws.send_json({"type": "start_ack", "id": data["id"]})


@pytest.fixture
async def fake():
    server = FakeAppSync()
    app = web.Application()
    app.router.add_route("*", "/graphql", server.graphql)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}/graphql"  # type: ignore[attr-defined]
    yield server
    for task in server.tasks:
        task.cancel()
    await server.drop_sockets()
    await runner.cleanup()


def client_for(fake: FakeAppSync, key: str = API_KEY, **options: Any) -> TokencastClient:
    return TokencastClient(
        fake.url,
        auth=ApiKeyAuth(key),  # type: ignore[attr-defined]
        options=ClientOptions(
            request_timeout_s=5, connect_timeout_s=5, ack_timeout_s=5, stream=options.pop("stream", FAST), **options
        ),
    )


def screen(deltas: list[Delta]) -> str:
    shown = ""
    for delta in deltas:
        shown = "" if delta.restarted else shown + delta.text
    return shown


async def collect(stream) -> list[Delta]:
    return [delta async for delta in stream]


pytestmark = pytest.mark.timeout(20)


# -- the happy path and ordering -------------------------------------------------------------


async def test_stream_subscribes_before_it_starts_and_assembles_the_text(fake):
    tokens = ["Hello", ", ", "world"]

    async def worker(session_id: str, variables: dict) -> None:
        for event in attempt_events(session_id, 1, tokens, usage={"outputTokens": 3}, stopReason="end_turn"):
            await fake.publish(event)

    fake.on_start = worker
    fake.start_ack_delay_s = 0.1  # startStream must still come after the ack
    async with client_for(fake) as client:
        stream = await client.stream(
            "hi",
            system="be brief",
            max_tokens=64,
            temperature=0.5,
            messages=[("user", "earlier"), {"role": "assistant", "text": "reply"}],
        )
        deltas = await collect(stream)
        result = await stream.result()
    session_id = stream.session_id
    assert uuid.UUID(session_id)
    assert fake.subscribed_at_start == {session_id: True}
    start = next(v for op, v in fake.requests if op == "StartStream")
    assert start["prompt"] == "hi"
    assert start["input"] == {
        "sessionId": session_id,
        "system": "be brief",
        "maxTokens": 64,
        "temperature": 0.5,
        "messages": [{"role": "user", "text": "earlier"}, {"role": "assistant", "text": "reply"}],
    }
    assert [d.text for d in deltas] == tokens
    assert (result.status, result.text, result.attempt) == ("COMPLETED", "Hello, world", 1)
    assert result.usage == Usage(output_tokens=3) and result.stop_reason == "end_turn"
    assert stream.text == "Hello, world" and stream.status == "COMPLETED" and stream.done


async def test_events_published_before_the_subscription_come_from_the_log(fake):
    session_id = str(uuid.uuid4())
    fake.new_session(session_id)
    events = attempt_events(session_id, 1, ["early ", "bird ", "late"])
    for event in events[:3]:
        await fake.publish(event, live=False)  # before start_ack: nobody was listening

    async def worker(sid: str, variables: dict) -> None:
        await fake.wait_for_request("GetEvents")  # the client caught up from the log first
        for event in events[3:]:
            await fake.publish(event)

    fake.on_start = worker
    async with client_for(fake) as client:
        stream = await client.stream("x", session_id=session_id)
        result = await stream.result()
    assert result.text == "early bird late"
    assert stream.stats.catch_ups >= 1


async def test_lost_and_reordered_live_events_are_fetched(fake):
    async def worker(session_id: str, variables: dict) -> None:
        await fake.wait_for_request("GetEvents")  # the stream's first catch-up found nothing
        events = attempt_events(session_id, 1, [f"t{i} " for i in range(12)])
        events[4], events[6] = events[6], events[4]  # delivered out of order
        for event in events:
            await fake.publish(event, live=event["seq"] not in (3, 7, 8))

    fake.on_start = worker
    async with client_for(fake) as client:
        stream = await client.stream("x")
        deltas = await collect(stream)
    assert screen(deltas) == "".join(f"t{i} " for i in range(12))
    assert [d.seq for d in deltas] == sorted(d.seq for d in deltas)
    assert stream.stats.catch_ups >= 2


async def test_a_lost_terminal_event_is_found_by_the_idle_poll(fake):
    async def worker(session_id: str, variables: dict) -> None:
        await fake.wait_for_request("GetEvents")
        events = attempt_events(session_id, 1, ["a", "b"])
        for event in events[:-1]:
            await fake.publish(event)
        await fake.publish(events[-1], live=False)

    fake.on_start = worker
    async with client_for(fake) as client:
        stream = await client.stream("x")
        result = await asyncio.wait_for(stream.result(), 3)
    assert result.status == "COMPLETED" and result.text == "ab"
    assert stream.stats.idle_polls >= 1


async def test_a_session_that_ends_without_a_stored_terminal_settles_from_the_record(fake):
    async def worker(session_id: str, variables: dict) -> None:
        await fake.wait_for_request("GetEvents")
        fake.sessions[session_id].update(status="CANCELLED", attempt=0)

    fake.on_start = worker
    async with client_for(fake) as client:
        stream = await client.stream("x")
        result = await asyncio.wait_for(stream.result(), 3)
    assert result.status == "CANCELLED" and result.text == ""
    assert stream.stats.assembler.settled == 1


async def test_a_hole_in_the_log_itself_cannot_hang_a_finished_session(fake):
    async def worker(session_id: str, variables: dict) -> None:
        await fake.wait_for_request("GetEvents")
        for event in attempt_events(session_id, 1, ["a", "b", "c"]):
            if event["seq"] != 3:
                await fake.publish(event)  # seq 3 lost live *and* never stored
        fake.sessions[session_id].update(text="abc", lastSeq=5, status="COMPLETED")

    fake.on_start = worker
    async with client_for(fake) as client:
        stream = await client.stream("x")
        deltas = await collect(stream)
        result = await stream.result()
    assert result.status == "COMPLETED" and result.text == "abc" == screen(deltas)
    assert stream.stats.assembler.settled == 1


async def test_restart_drops_the_earlier_attempt(fake):
    async def worker(session_id: str, variables: dict) -> None:
        await fake.wait_for_request("GetEvents")
        for event in attempt_events(session_id, 1, ["wrong ", "turn"], terminal=None):
            await fake.publish(event)
        for event in attempt_events(session_id, 2, ["right ", "answer"]):
            await fake.publish(event)

    fake.on_start = worker
    async with client_for(fake) as client:
        stream = await client.stream("x")
        deltas = await collect(stream)
        result = await stream.result()
    assert Delta("", 2, 0, restarted=True) in deltas
    assert screen(deltas) == "right answer" == result.text and result.attempt == 2


# -- connections -----------------------------------------------------------------------------


async def test_a_dropped_socket_is_resubscribed_and_the_gap_caught_up(fake):
    resumed = asyncio.Event()

    async def worker(session_id: str, variables: dict) -> None:
        await fake.wait_for_request("GetEvents")
        events = attempt_events(session_id, 1, [f"w{i} " for i in range(10)])
        for event in events[:4]:
            await fake.publish(event)
        await fake.drop_sockets()
        await fake.wait_until(lambda: not fake.subscribers.get(session_id))
        for event in events[4:8]:
            await fake.publish(event)  # nobody subscribed: stored only
        await fake.wait_until(lambda: fake.subscribers.get(session_id))
        resumed.set()
        for event in events[8:]:
            await fake.publish(event)

    fake.on_start = worker
    async with client_for(fake) as client:
        stream = await client.stream("x")
        deltas = await collect(stream)
        assert client.channel.connections_opened == 2
    assert resumed.is_set()
    assert screen(deltas) == "".join(f"w{i} " for i in range(10))
    assert stream.stats.drops == 1 and stream.stats.resubscribes == 1


async def test_streams_share_a_connection_up_to_its_subscription_limit(fake):
    async with client_for(fake, max_subscriptions_per_connection=2) as client:
        streams = [await client.stream(f"p{i}") for i in range(3)]
        assert fake.connections == 2 and client.channel.connections_opened == 2
        for stream in streams:
            for event in attempt_events(stream.session_id, 1, [stream.session_id[:4]]):
                await fake.publish(event)
        results = await asyncio.gather(*(s.result() for s in streams))
    assert [r.text for r in results] == [s.session_id[:4] for s in streams]


async def test_transient_http_failures_are_retried(fake):
    fake.http_failures = 2
    async with client_for(fake) as client:
        session = await client.start("x")
    assert session.status == "QUEUED"


async def test_a_failing_catch_up_is_retried_later_not_fatal(fake):
    async def worker(session_id: str, variables: dict) -> None:
        await fake.wait_for_request("GetEvents")
        events = attempt_events(session_id, 1, ["x", "y", "z"])
        fake.http_failures = 4  # more than the API's own 3 retries: one catch-up fails
        for event in events:
            await fake.publish(event, live=event["seq"] != 3)

    fake.on_start = worker
    async with client_for(fake) as client:
        stream = await client.stream("x")
        result = await asyncio.wait_for(stream.result(), 5)
    assert result.text == "xyz"
    assert stream.stats.fetch_failures == 1


async def test_closing_a_stream_ends_iteration_and_result(fake):
    async with client_for(fake) as client:
        stream = await client.stream("x")
        await fake.publish(attempt_events(stream.session_id, 1, ["part"], terminal=None)[1])
        await fake.publish(attempt_events(stream.session_id, 1, ["part"], terminal=None)[0])
        first = await asyncio.wait_for(anext(aiter(stream)), 5)
        assert first == Delta("part", 1, 2) and stream.text == "part"
        await stream.close()
        assert await collect(stream) == []
        with pytest.raises(ClientClosed):
            await stream.result()
        await fake.wait_until(lambda: not fake.subscribers.get(stream.session_id))  # stop was sent


async def test_client_close_closes_its_streams(fake):
    async with client_for(fake) as client:
        stream = await client.stream("x")
    with pytest.raises(ClientClosed):
        await stream.result()
    with pytest.raises(ClientClosed):
        await client.get_session(stream.session_id)


# -- late joins ------------------------------------------------------------------------------


async def test_watch_after_completion_reads_everything_from_the_log(fake):
    session_id = str(uuid.uuid4())
    fake.new_session(session_id)
    fake.page_limit = 2
    for event in attempt_events(session_id, 1, ["old"], terminal=None) + attempt_events(session_id, 2, ["a", "b", "c"]):
        fake.store(event)
    async with client_for(fake) as client:
        watcher = await client.watch(session_id)
        deltas = await collect(watcher)
        result = await watcher.result()
    assert result.text == "abc" and result.attempt == 2
    assert not any(d.restarted for d in deltas), "the superseded attempt is skipped, not replayed"
    assert watcher.stats.live_events == 0


async def test_watch_follow_sees_a_replay_after_failure(fake):
    session_id = str(uuid.uuid4())
    fake.new_session(session_id)
    for event in attempt_events(session_id, 1, ["par"], terminal=EventType.FAILED, error="model unavailable"):
        await fake.publish(event)
    async with client_for(fake) as client:
        watcher = await client.watch(session_id, follow=True)
        failed = await watcher.result()
        assert failed.status == "FAILED" and failed.error == "model unavailable"
        with pytest.raises(StreamFailed) as raised:
            await watcher.result(check=True)
        assert raised.value.error == "model unavailable" and raised.value.result.text == "par"
        for event in attempt_events(session_id, 2, ["whole"]):  # replayed from the DLQ
            await fake.publish(event)
        replayed = await watcher.result(after_attempt=failed.attempt)
        assert (replayed.status, replayed.text, replayed.attempt) == ("COMPLETED", "whole", 2)
        await watcher.close()


# -- errors ----------------------------------------------------------------------------------


async def test_a_bad_api_key_is_an_auth_error(fake):
    async with client_for(fake, key="wrong") as client:
        with pytest.raises(AuthError) as raised:
            await client.stream("x")
        assert raised.value.error_type == "UnauthorizedException"
        with pytest.raises(AuthError):
            await client.get_session("nope")


async def test_a_refused_subscription_is_its_exact_error(fake):
    fake.reject_start = {"errorType": "Unauthorized", "message": "Not Authorized to access onTokenReceived"}
    async with client_for(fake) as client:
        with pytest.raises(AuthError) as raised:
            await client.stream("x")
    assert "onTokenReceived" in raised.value.message
    assert not fake.subscribed_at_start, "nothing was started"


async def test_unknown_session_and_resolver_errors_are_exact(fake):
    async with client_for(fake) as client:
        with pytest.raises(SessionNotFound) as raised:
            await client.watch("0000")
        assert raised.value.session_id == "0000"
        with pytest.raises(SessionNotFound):
            await client.cancel("0000")
        fake.start_error = {"message": "input.maxTokens: must be between 1 and 4096"}
        with pytest.raises(InvalidRequest) as invalid:
            await client.stream("x", max_tokens=10**6)
        assert invalid.value.message.startswith("input.maxTokens")
        fake.start_error = None
        session = await client.start("x")
        fake.forbid_cancel = True
        with pytest.raises(Forbidden):
            await client.cancel(session.session_id)


async def test_an_unreachable_api_is_connection_lost():
    client = TokencastClient(
        "http://127.0.0.1:9/graphql",
        auth=ApiKeyAuth("k"),
        options=ClientOptions(
            request_retries=1,
            connect_timeout_s=1,
            stream=StreamOptions(max_reconnect_attempts=2, reconnect_base_s=0.01),
        ),
    )
    async with client:
        with pytest.raises(ConnectionLost):
            await client.get_session("x")
        with pytest.raises(ConnectionLost):
            await client.stream("x")


async def test_the_client_must_be_open():
    client = TokencastClient("http://127.0.0.1:9/graphql", auth=ApiKeyAuth("k"))
    with pytest.raises(ClientClosed):
        await client.get_session("x")


async def test_a_refused_websocket_upgrade_is_an_auth_error():
    async def refuse(request: web.Request) -> web.Response:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return web.Response(status=401)
        return web.json_response({"data": {"getSession": None}})

    app = web.Application()
    app.router.add_route("*", "/graphql", refuse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/graphql"
        async with TokencastClient(url, auth=ApiKeyAuth("k")) as client:
            with pytest.raises(AuthError, match="HTTP 401"):
                await client.stream("x")
    finally:
        await runner.cleanup()
