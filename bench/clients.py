"""The benchmark's AppSync clients in a child process, for bench/pipeline.py: many
real-time subscribers, and callers of ``startStream``.

Clients run in their own process (their own GIL and event loop), as real clients run apart
from the service: a thousand subscribers or fifty simultaneous ``startStream`` calls neither
slow the stack down nor get slowed by it, and the stack's CPU can be told apart from theirs.

* Each subscriber is one WebSocket connection with one ``onTokenReceived`` subscription,
  speaking AppSync's protocol (``graphql-ws``, API-key auth in ``?header=``). Every delivered
  event is stamped with ``time.monotonic()`` on arrival.
* ``start`` sends every ``startStream`` at once, over HTTP with the API key, and returns when
  each was sent and answered.

The clock is system-wide, so the parent compares these stamps with the model's emit times.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import multiprocessing
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

SUBSCRIPTION = (
    "subscription On($sessionId: ID!) { onTokenReceived(sessionId: $sessionId) "
    "{ sessionId attempt seq type token isComplete } }"
)

START = "mutation Start($prompt: String, $input: StartStreamInput) { startStream(prompt: $prompt, input: $input) { sessionId status } }"

#: one delivered event: (attempt, seq, type, token, isComplete, received_at)
Delivery = tuple[int, int, str, str, bool, float]
#: one ``startStream``: (sent_at, answered_at)
Started = tuple[float, float]


@dataclass
class _Sub:
    session_id: str
    events: list[Delivery] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ws: Any = None
    task: Any = None


async def _open(http: aiohttp.ClientSession, url: str, host: str, api_key: str, sub: _Sub) -> None:
    auth = {"host": host, "x-api-key": api_key}
    header = base64.b64encode(json.dumps(auth).encode()).decode()
    ws = await http.ws_connect(f"{url}?header={header}&payload=e30=", protocols=("graphql-ws",), max_msg_size=0)
    await ws.send_str(json.dumps({"type": "connection_init"}))
    while (await ws.receive_json())["type"] != "connection_ack":
        pass
    data = json.dumps({"query": SUBSCRIPTION, "variables": {"sessionId": sub.session_id}})
    sub_id = str(uuid.uuid4())
    await ws.send_str(
        json.dumps({"id": sub_id, "type": "start", "payload": {"data": data, "extensions": {"authorization": auth}}})
    )
    while True:
        message = await ws.receive_json()
        if message["type"] == "start_ack":
            break
        if message["type"] == "error":
            raise RuntimeError(f"subscription refused: {message}")
    sub.ws = ws


async def _read(sub: _Sub) -> None:
    async for message in sub.ws:
        if message.type != aiohttp.WSMsgType.TEXT:
            break
        now = time.monotonic()
        body = json.loads(message.data)
        if body.get("type") != "data":
            continue
        e = body["payload"]["data"]["onTokenReceived"]
        sub.events.append((e["attempt"], e["seq"], e["type"], e["token"] or "", e["isComplete"], now))
        if e["isComplete"]:
            sub.done.set()


async def _start(http: aiohttp.ClientSession, graphql_url: str, api_key: str, session_id: str, prompt: str) -> Started:
    body = {"query": START, "variables": {"prompt": prompt, "input": {"sessionId": session_id}}}
    sent = time.monotonic()
    async with http.post(graphql_url, json=body, headers={"x-api-key": api_key}) as response:
        response.raise_for_status()
        answer = await response.json()
    if answer.get("errors"):
        raise RuntimeError(f"startStream: {answer['errors']}")
    return sent, time.monotonic()


async def _serve(conn: Any, url: str, graphql_url: str, host: str, api_key: str) -> None:
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        subs: list[_Sub] = []
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            kind = command[0]
            if kind == "stop":
                return
            if kind == "subscribe":
                _, session_ids, per_session = command
                new = [_Sub(s) for s in session_ids for _ in range(per_session)]
                gate = asyncio.Semaphore(64)

                async def open_one(sub: _Sub, gate: asyncio.Semaphore = gate) -> None:
                    async with gate:
                        await _open(http, url, host, api_key, sub)
                    sub.task = asyncio.create_task(_read(sub))

                try:
                    await asyncio.gather(*(open_one(s) for s in new))
                except Exception as exc:
                    conn.send(("error", repr(exc)))
                    continue
                subs.extend(new)
                conn.send(("ready", len(new)))
            elif kind == "start":
                _, prompts = command
                try:
                    stamps = await asyncio.gather(
                        *(_start(http, graphql_url, api_key, sid, prompt) for sid, prompt in prompts.items())
                    )
                except Exception as exc:
                    conn.send(("error", repr(exc)))
                    continue
                conn.send(("started", dict(zip(prompts, stamps, strict=True))))
            elif kind == "collect":
                _, timeout_s = command
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in subs)), timeout_s)
                out: dict[str, list[list[Delivery]]] = {}
                for s in subs:
                    out.setdefault(s.session_id, []).append(s.events)
                    if s.task:
                        s.task.cancel()
                    if s.ws is not None:
                        await s.ws.close()
                subs = []
                conn.send(("events", out))


def _main(conn: Any, url: str, graphql_url: str, host: str, api_key: str) -> None:
    asyncio.run(_serve(conn, url, graphql_url, host, api_key))


class ClientProcess:
    """The parent's handle: ``subscribe`` (returns once every subscription is acknowledged),
    ``start``, ``collect``."""

    def __init__(self, realtime_url: str, graphql_url: str, host: str, api_key: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_main, args=(child, realtime_url, graphql_url, host, api_key), daemon=True
        )
        self._process.start()

    def subscribe(self, session_ids: list[str], per_session: int) -> None:
        self._conn.send(("subscribe", session_ids, per_session))
        reply = self._conn.recv()
        if reply[0] != "ready":
            raise RuntimeError(reply[1])

    def start(self, prompts: dict[str, str]) -> dict[str, Started]:
        """``startStream`` for every ``{sessionId: prompt}`` at once; when each was sent and answered."""
        self._conn.send(("start", prompts))
        reply = self._conn.recv()
        if reply[0] != "started":
            raise RuntimeError(reply[1])
        stamps: dict[str, Started] = reply[1]
        return stamps

    def collect(self, timeout_s: float) -> dict[str, list[list[Delivery]]]:
        """Every subscriber's deliveries, once all saw a terminal event (or the timeout passed)."""
        self._conn.send(("collect", timeout_s))
        reply = self._conn.recv()
        events: dict[str, list[list[Delivery]]] = reply[1]
        return events

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(("stop",))
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
