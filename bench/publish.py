"""Publish benchmark: one mutation per token vs tokencast's coalesced publisher, side by side.

Both strategies stream the same answers from the local model, through the real local
AppSync emulator (SigV4-verified HTTP, real WebSocket fan-out) to a real gql subscriber, with
the same injected publish round trip (default 25 ms, what a Lambda sees calling AppSync):

* ``per-token``: the original sample's pattern — for each token, one synchronous
  ``publishToken`` on a fresh HTTPS connection, in the loop that reads the model stream;
* ``coalesced``: :class:`tokencast.core.coalescer.Coalescer` over
  :class:`~tokencast.core.publisher.AppSyncPublisher` (one keep-alive connection, first
  token at once, later tokens merged while a publish is in flight or within the window).

A reader thread timestamps each token as the model emits it, so the model never waits on
publishing (as with Bedrock, whose stream is buffered by TCP). Delay for a token = the time
the subscriber receives the event that completes it minus the time the model emitted it.
Event storage is left out of both paths: this measures publishing only.

    python bench/publish.py [--latency-ms 25] [--rates 50,150,500] [--answers 2] [--tokens 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import queue
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from gql import Client, GraphQLRequest
from gql.transport.appsync_auth import AppSyncApiKeyAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from requests_aws4auth import AWS4Auth

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import Timed, ms, pct, token_delays

from tokencast.access import ANONYMOUS
from tokencast.config import LOCAL_MODEL_ID
from tokencast.core.coalescer import Coalescer
from tokencast.core.models import TokenEvent
from tokencast.core.publisher import PUBLISH_MUTATION, AppSyncPublisher
from tokencast.events import EventType, Visibility
from tokencast.local.bedrock.config import LocalBedrockConfig
from tokencast.local.stack import BackgroundStack, StackConfig

SUBSCRIPTION = "subscription On($id: ID!) { onTokenReceived(sessionId: $id) { seq token isComplete } }"
_DONE = object()


@dataclass
class Run:
    strategy: str
    rate: float
    tokens: int = 0
    publishes: int = 0
    delays: list[float] = field(default_factory=list)
    tail_lag: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)


def event(session_id: str, seq: int, kind: EventType, token: str) -> dict[str, Any]:
    """The ``publishToken`` variables of one event of the benchmark's single attempt."""
    return TokenEvent(
        session_id=session_id,
        attempt=1,
        seq=seq,
        type=kind,
        token=token,
        is_complete=kind.is_terminal,
        stop_reason="end_turn" if kind.is_terminal else None,
        owner=ANONYMOUS,
        visibility=Visibility.PRIVATE.value,
    ).to_graphql()


def read_model(endpoint: str, prompt: str, out: queue.Queue[Any]) -> None:
    """Stream one answer; put (emitted_at, token) per token, then _DONE."""
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    response = client.converse_stream(
        modelId=LOCAL_MODEL_ID,
        messages=[{"role": "user", "content": [{"text": prompt}]}],
        inferenceConfig={"maxTokens": 4096},
    )
    for item in response["stream"]:
        text = item.get("contentBlockDelta", {}).get("delta", {}).get("text")
        if text:
            out.put((time.perf_counter(), text))
    out.put(_DONE)


def publish_per_token(graphql_url: str, session_id: str, tokens: queue.Queue[Any]) -> int:
    """The sample's loop: read a token, publish it on a new connection, wait, repeat."""
    auth = AWS4Auth("test", "test", "us-east-1", "appsync")
    seq, publishes = 0, 0
    while (item := tokens.get()) is not _DONE:
        seq += 1
        variables = event(session_id, seq, EventType.TOKEN, item[1])
        requests.post(
            graphql_url, json={"query": PUBLISH_MUTATION, "variables": variables}, auth=auth, timeout=10
        ).raise_for_status()  # a plain requests.post opens a fresh connection
        publishes += 1
    variables = event(session_id, seq + 1, EventType.COMPLETED, "")
    requests.post(graphql_url, json={"query": PUBLISH_MUTATION, "variables": variables}, auth=auth, timeout=10)
    return publishes + 1


def publish_coalesced(graphql_url: str, session_id: str, tokens: queue.Queue[Any], window_s: float) -> int:
    seq = 0

    def sink(kind: EventType, token: str = "", **_: Any) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        return event(session_id, seq, kind, token)

    publisher = AppSyncPublisher(graphql_url, "us-east-1", credentials=_credentials())
    coalescer = Coalescer(sink, publisher, window_s=window_s).start()
    while (item := tokens.get()) is not _DONE:
        coalescer.add(item[1])
    coalescer.finish(EventType.COMPLETED)
    publisher.close()
    return coalescer.stats.publishes


def _credentials():
    from botocore.credentials import Credentials

    return Credentials("test", "test")


async def one_answer(
    stack: BackgroundStack, strategy: str, prompt: str, window_s: float
) -> tuple[list[Timed], list[Timed], int, float]:
    """Stream one answer with ``strategy``; return (emitted, received, publishes, wall seconds)."""
    endpoints = stack.endpoints
    session_id = str(uuid.uuid4())
    host = endpoints.graphql_url.split("/")[2]
    transport = AppSyncWebsocketsTransport(
        url=endpoints.realtime_url, auth=AppSyncApiKeyAuthentication(host=host, api_key=endpoints.api_key)
    )
    received: list[Timed] = []
    emitted: list[Timed] = []
    hub = stack.stack.emulator.hub
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        generator = session.subscribe(GraphQLRequest(SUBSCRIPTION, variable_values={"id": session_id}))

        async def consume() -> None:
            async for result in generator:
                data = result["onTokenReceived"]
                received.append((time.perf_counter(), data["token"]))
                if data["isComplete"]:
                    return

        consumer = asyncio.create_task(consume())
        await asyncio.to_thread(
            hub.wait_until, lambda h: h.count(lambda s: s.arguments.get("sessionId") == session_id) > 0, 10
        )

        raw: queue.Queue[Any] = queue.Queue()
        forwarded: queue.Queue[Any] = queue.Queue()

        def tee() -> None:  # record emit times, forward to the publisher untouched
            while (item := raw.get()) is not _DONE:
                emitted.append(item)
                forwarded.put(item)
            forwarded.put(_DONE)

        started = time.perf_counter()
        reader = threading.Thread(target=read_model, args=(endpoints.model_url, prompt, raw))
        teer = threading.Thread(target=tee)
        reader.start(), teer.start()
        publish: Callable[[], int] = (
            (lambda: publish_per_token(endpoints.graphql_url, session_id, forwarded))
            if strategy == "per-token"
            else (lambda: publish_coalesced(endpoints.graphql_url, session_id, forwarded, window_s))
        )
        publishes = await asyncio.to_thread(publish)
        await asyncio.wait_for(consumer, 120)
        wall = time.perf_counter() - started
        reader.join(), teer.join()
        await generator.aclose()
    return emitted, received, publishes, wall


async def bench(args: argparse.Namespace) -> list[Run]:
    stack = BackgroundStack(
        StackConfig(
            port=0, moto_port=0, prefix="tokencast-bench", model_config=LocalBedrockConfig(first_token_delay_s=0.05)
        )
    )
    stack.start()
    try:
        stack.call(lambda: setattr(stack.stack.emulator.engine, "mutation_latency_s", args.latency_ms / 1000))
        runs: list[Run] = []
        for rate in args.rates:
            stack.stack.model.configure(tokens_per_second=rate)
            for strategy in ("per-token", "coalesced"):
                run = Run(strategy, rate)
                for answer in range(args.answers):
                    prompt = f"Benchmark answer {answer} [tokens={args.tokens}]"
                    emitted, received, publishes, wall = await one_answer(
                        stack, strategy, prompt, args.window_ms / 1000
                    )
                    delays = token_delays(emitted, received)
                    run.tokens += len(emitted)
                    run.publishes += publishes
                    run.delays.extend(delays)
                    run.tail_lag.append(delays[-1])
                    run.wall.append(wall)
                runs.append(run)
                print(f"  {rate:>5.0f} tok/s  {strategy:<10} done", flush=True)
        return runs
    finally:
        stack.stop()


def report(runs: list[Run], args: argparse.Namespace) -> str:
    lines = [
        f"publish benchmark: {args.answers} answers x {args.tokens} tokens per cell, publish round trip "
        f"{args.latency_ms} ms, flush window {args.window_ms} ms",
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}",
        "",
        f"{'model tok/s':>11} | {'strategy':<10} | {'mutations/1k tokens':>19} | {'delay p50':>9} | {'delay p99':>9} | {'last token behind':>17}",
        "-" * 90,
    ]
    by_rate: dict[float, dict[str, Run]] = {}
    for run in runs:
        by_rate.setdefault(run.rate, {})[run.strategy] = run
        lines.append(
            f"{run.rate:>11.0f} | {run.strategy:<10} | {1000 * run.publishes / run.tokens:>19.0f} | "
            f"{ms(pct(run.delays, 50)):>9} | {ms(pct(run.delays, 99)):>9} | {ms(statistics.mean(run.tail_lag)):>17}"
        )
    lines.append("")
    for rate, pair in by_rate.items():
        if {"per-token", "coalesced"} <= pair.keys():
            a, b = pair["per-token"], pair["coalesced"]
            lines.append(
                f"at {rate:.0f} tok/s coalescing sends {a.publishes / a.tokens / (b.publishes / b.tokens):.1f}x fewer "
                f"mutations; p99 delay ratio per-token/coalesced = "
                f"{pct(a.delays, 99) / pct(b.delays, 99):.1f}x"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=25.0, help="injected publish round trip")
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[50.0, 150.0, 500.0])
    parser.add_argument("--answers", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--window-ms", type=float, default=50.0, help="coalescing window (the default setting)")
    parser.add_argument("--json", help="also write the raw numbers here")
    args = parser.parse_args()
    runs = asyncio.run(bench(args))
    print()
    print(report(runs, args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{**r.__dict__, "delays": None} for r in runs], f, indent=2)


if __name__ == "__main__":
    main()
