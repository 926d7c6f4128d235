"""Pipeline benchmark: the real pipeline end to end on the local stack, storage included.

What a subscriber gets, measured from outside: ``startStream`` over HTTP → SQS → the process
handler (the deployed code: fenced DynamoDB writes in moto, SigV4 ``publishToken``) → the
AppSync emulator → real WebSocket subscribers. The clients (subscribers and ``startStream``
callers) run in a process of their own (``bench/clients.py``), as real clients do. The reference for every
delay is the local model's own emit time for each token (it records them), so model pacing
is not counted as pipeline delay.

* **delay** per token = when a subscriber had all of the token's characters − when the model
  emitted it; p50/p99 over every token of every subscriber of every answer in a cell.
* **strategies**, side by side in one run: ``per-token`` (``TOKENCAST_COALESCE=false``: one
  stored and published event per model delta, the original sample's pattern, with storage),
  ``coalesced`` (the default: first token at once, then one event per window) and
  ``adaptive`` (``TOKENCAST_DELAY_BUDGET_MS``: the window is what the budget leaves after a
  flush, counted from the oldest waiting delta and never faster than the publisher keeps up
  with, so as few events as the budget allows).
* **profiles**: ``local`` (no injected latency) and ``cloud-like`` (``--appsync-ms`` added to
  every mutation in the emulator, ``--dynamodb-ms`` to every DynamoDB request in moto).
* **TTFT overhead** = (first text at a subscriber − just before ``startStream``) − the model's
  own first-token delay; the first answer after the stack came up is reported apart.
* **fan-out**: 1 session × N subscribers and M sessions × K subscribers; every subscriber
  must get the model's exact text; emulator CPU (its event-loop thread) per delivered event.
* **concurrency**: S sessions started at once; ``startStream`` latency; every answer exact.
* **cost**: AppSync operations (mutations, deliveries) and DynamoDB write units per
  1,000-token answer, counted (DynamoDB units by :class:`tokencast.local.moto_meter.MotoMeter`).

    python bench/pipeline.py            # the full run (several minutes)
    python bench/pipeline.py --quick    # about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import ms, pct, token_delays

from clients import ClientProcess, Delivery
from tokencast.config import WORKER_CONCURRENCY, Quotas, Settings
from tokencast.local.bedrock.server import Emits, LocalBedrockConfig, prompt_fingerprint
from tokencast.local.stack import BackgroundStack, StackConfig

#: On-demand prices, US East, as docs/cloud.md lists them (USD per unit).
APPSYNC_OPERATION = 4.00e-6
APPSYNC_UPDATE = 2.00e-6
DYNAMODB_WRU = 0.625e-6
COST_RATE = 150.0  # the model rate whose measured counts price the cost table (Haiku streams ~125 tok/s)

FIRST_TOKEN_DELAY_S = 0.05


@dataclass
class Cell:
    """One row of a table: many answers, many subscribers."""

    name: str
    answers: int = 0
    tokens: int = 0
    events: int = 0
    delays: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    start_latency: list[float] = field(default_factory=list)
    subscribers: int = 0
    exact: int = 0
    write_units: int = 0
    deliveries: int = 0
    emulator_cpu_s: float = 0.0


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = BackgroundStack(
            StackConfig(
                port=0,
                moto_port=0,
                prefix=f"tokencast-bench-{uuid.uuid4().hex[:6]}",
                worker_concurrency=args.workers,
                worker_isolation=args.worker_isolation,
                moto_isolation=args.moto_isolation,
                log_level="WARNING",
                model_config=LocalBedrockConfig(first_token_delay_s=FIRST_TOKEN_DELAY_S, record_emits=True),
                settings={
                    **Settings(flush_window_ms=args.window_ms).to_env(exclude_unset=True),
                    # The bench starts many sessions as one caller: per-owner quotas off.
                    **Quotas(max_active_sessions=None, max_starts_per_minute=None).to_env(exclude_unset=True),
                },
            )
        )
        self.up_started = time.monotonic()
        self.endpoints = self.stack.start()
        self.up_s = time.monotonic() - self.up_started
        host = self.endpoints.graphql_url.split("/")[2]
        try:
            self.clients = ClientProcess(
                self.endpoints.realtime_url, self.endpoints.graphql_url, host, self.endpoints.api_key
            )
        except BaseException:
            self.stack.stop()
            raise

    # --- knobs ------------------------------------------------------------------------

    def local_post(self, path: str, body: dict[str, Any]) -> None:
        base = self.endpoints.graphql_url.rsplit("/", 1)[0]
        response = requests.post(f"{base}{path}", json=body, headers={"x-api-key": self.endpoints.api_key}, timeout=10)
        response.raise_for_status()

    def latency(self, appsync_ms: float, dynamodb_ms: float) -> None:
        self.local_post("/_local/appsync/faults", {"mutation_latency_ms": appsync_ms})
        self.meter({"latency_ms": dynamodb_ms})

    def meter(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """moto's meter (DynamoDB latency and write units): POST ``body``, or GET."""
        url = f"{self.endpoints.moto_url}/_local/dynamodb/meter"
        headers = {"x-api-key": self.endpoints.api_key}
        response = (
            requests.post(url, json=body, headers=headers, timeout=10)
            if body is not None
            else requests.get(url, headers=headers, timeout=10)
        )
        response.raise_for_status()
        meter: dict[str, Any] = response.json()
        return meter

    def strategy(self, name: str) -> None:
        settings = Settings(
            coalesce=name != "per-token", delay_budget_ms=self.args.budget_ms if name == "adaptive" else 0
        )
        self.stack.stack.process_function.update_environment(settings.to_env(exclude_unset=True))

    def rate(self, tokens_per_second: float) -> None:
        model = self.stack.stack.model
        assert model is not None
        model.configure(tokens_per_second=tokens_per_second)

    def emulator_cpu(self) -> float:
        return time.clock_gettime(time.pthread_getcpuclockid(self.stack.loop_thread_ident))

    # --- one batch of answers -----------------------------------------------------------

    def answers(self, cell: Cell, sessions: int, subscribers: int, tokens: int) -> None:
        """Start ``sessions`` answers at once, each watched by ``subscribers``; add to ``cell``."""
        ids = [str(uuid.uuid4()) for _ in range(sessions)]
        prompts = {sid: f"bench {sid} [tokens={tokens}]" for sid in ids}
        self.clients.subscribe(ids, subscribers)
        hub = self.stack.stack.emulator.hub  # type: ignore[union-attr]
        units_before, delivered_before, cpu_before = self.meter()["writeUnits"], hub.delivered, self.emulator_cpu()
        started = self.clients.start(prompts)
        cell.start_latency.extend(answered - sent for sent, answered in started.values())
        deliveries = self.clients.collect(timeout_s=60 + tokens / 20 * max(1, sessions / self.args.workers))
        cell.emulator_cpu_s += self.emulator_cpu() - cpu_before
        cell.deliveries += hub.delivered - delivered_before
        cell.write_units += self.meter()["writeUnits"] - units_before
        model = self.stack.stack.model
        assert model is not None
        for sid in ids:
            emits = model.emits(prompt_fingerprint(prompts[sid]))
            assert emits is not None, "the model saw no request for this prompt"
            self.score(cell, emits, started[sid][0], deliveries.get(sid, []))

    def score(self, cell: Cell, emits: Emits, started: float, per_subscriber: list[list[Delivery]]) -> None:
        cell.answers += 1
        cell.tokens += len(emits.tokens)
        model_text = "".join(t for _, t in emits.tokens)
        model_first = emits.tokens[0][0] - emits.received_at if emits.tokens else 0.0
        for index, events in enumerate(per_subscriber):
            cell.subscribers += 1
            final = max((e[0] for e in events), default=0)
            mine = sorted((e for e in events if e[0] == final), key=lambda e: e[1])
            gapless = [e[1] for e in mine] == list(range(1, len(mine) + 1))
            if not (mine and mine[-1][4] and gapless and "".join(e[3] for e in mine) == model_text):
                continue
            cell.exact += 1
            if index == 0:
                cell.events += len(mine)
                first_text = next(e[5] for e in mine if e[3])
                cell.ttft.append(first_text - started - model_first)
            cell.delays.extend(token_delays(emits.tokens, [(e[5], e[3]) for e in mine]))


# --- the run ----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args)
    out: dict[str, Any] = {"up_s": bench.up_s, "tables": {}, "load": [os.getloadavg()]}
    try:
        # The first answer after `up`, before anything else warmed the pipeline.
        bench.latency(0, 0)
        first = Cell("first answer after up")
        bench.rate(150)
        bench.answers(first, 1, 1, 20)
        out["first_after_up"] = first
        progress("first answer after up", first)

        profiles = [("local", 0.0, 0.0), ("cloud-like", args.appsync_ms, args.dynamodb_ms)]
        for profile, appsync_ms, dynamodb_ms in [p for p in profiles if p[0] in args.profiles]:
            bench.latency(appsync_ms, dynamodb_ms)
            rows: list[Cell] = []
            for rate in args.rates:
                bench.rate(rate)
                for strategy in args.strategies:
                    bench.strategy(strategy)
                    cell = Cell(f"{rate:.0f} tok/s · {strategy}")
                    cell.rate, cell.strategy = rate, strategy  # type: ignore[attr-defined]
                    for _ in range(args.answers):
                        bench.answers(cell, 1, args.subscribers, args.tokens)
                    rows.append(cell)
                    progress(f"{profile}: {cell.name}", cell)
            out["tables"][profile] = {"appsync_ms": appsync_ms, "dynamodb_ms": dynamodb_ms, "rows": rows}
            out["load"].append(os.getloadavg())

        bench.strategy("coalesced")
        bench.latency(0, 0)
        bench.rate(150)
        ttft = Cell("TTFT, warm")
        for _ in range(args.ttft_answers if "ttft" in args.sections else 0):
            bench.answers(ttft, 1, 1, 10)
        out["ttft"] = ttft
        progress("ttft", ttft)

        fan: list[Cell] = []
        for sessions, per in args.fanout if "fanout" in args.sections else []:
            cell = Cell(f"{sessions} session(s) × {per} subscribers")
            bench.answers(cell, sessions, per, args.fanout_tokens)
            fan.append(cell)
            progress("fan-out", cell)
        out["fanout"] = fan

        concurrent = Cell(f"{args.concurrent} concurrent sessions")
        if "concurrent" in args.sections:
            bench.answers(concurrent, args.concurrent, 1, args.concurrent_tokens)
        out["concurrent"] = concurrent
        progress("concurrency", concurrent)
        out["load"].append(os.getloadavg())
    finally:
        bench.clients.stop()
        bench.stack.stop()
    return out


def progress(label: str, cell: Cell) -> None:
    print(
        f"  {label}: {cell.answers} answers, {cell.exact}/{cell.subscribers} exact, "
        f"p50 {ms(pct(cell.delays, 50))}, p99 {ms(pct(cell.delays, 99))}",
        file=sys.stderr,
        flush=True,
    )


# --- the report --------------------------------------------------------------------------


def report(out: dict[str, Any], args: argparse.Namespace) -> str:
    w = args.window_ms
    loads = ", ".join("/".join(f"{x:.1f}" for x in load) for load in out["load"])
    lines = [
        "## Pipeline benchmark (`bench/pipeline.py`)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()}; load average (1/5/15 min) during the run: {loads}. "
        f"Worker isolation: {args.worker_isolation}, moto: {args.moto_isolation}, {args.workers} concurrent workers; flush window {w} ms; "
        f"{args.answers} answers × {args.tokens} tokens × {args.subscribers} subscribers per row. "
        f"`tokencast up` equivalent started in {out['up_s']:.1f} s.",
        "",
    ]
    for profile, table in out["tables"].items():
        target = w + (15 if table["appsync_ms"] == 0 and table["dynamodb_ms"] == 0 else 48)
        lines += [
            f"### {profile}: AppSync +{table['appsync_ms']:g} ms per mutation, DynamoDB +{table['dynamodb_ms']:g} ms "
            f"per request (coalesced target: p99 ≤ {target:g} ms)",
            "",
            "| model rate | strategy | delay p50 | delay p99 | events per 1,000 tokens | exact subscribers |",
            "|---|---|---|---|---|---|",
        ]
        for cell in table["rows"]:
            lines.append(
                f"| {cell.rate:.0f} tok/s | {cell.strategy} | {ms(pct(cell.delays, 50))} | {ms(pct(cell.delays, 99))} | "
                f"{1000 * cell.events / max(1, cell.tokens):.0f} | {cell.exact}/{cell.subscribers} |"
            )
        lines.append("")
    first, ttft = out["first_after_up"], out["ttft"]
    lines += [
        "### Time to first token added by the pipeline",
        "",
        "(startStream → first text at a subscriber) − the model's own first-token delay "
        f"({FIRST_TOKEN_DELAY_S * 1000:.0f} ms); local profile.",
        "",
        "| | p50 | p99 | answers |",
        "|---|---|---|---|",
        f"| warm | {ms(pct(ttft.ttft, 50))} | {ms(pct(ttft.ttft, 99))} | {len(ttft.ttft)} |",
        f"| first answer after `up` | {ms(pct(first.ttft, 50))} | | 1 |",
        "",
        "### Fan-out and concurrency (local profile, 150 tok/s, coalesced)",
        "",
        "Emulator CPU = CPU time of the stack's event-loop thread (the emulator's HTTP, GraphQL and "
        "WebSocket work, and the local model's streaming, which shares it) per delivered event.",
        "",
        "| shape | subscribers exact | delay p50 | delay p99 | emulator CPU per delivered event | startStream p50 | startStream p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell in [*out["fanout"], out["concurrent"]]:
        cpu = 1e6 * cell.emulator_cpu_s / max(1, cell.deliveries)
        lines.append(
            f"| {cell.name} | {cell.exact}/{cell.subscribers} | {ms(pct(cell.delays, 50))} | {ms(pct(cell.delays, 99))} | "
            f"{cpu:.0f} µs | {ms(pct(cell.start_latency, 50))} | {ms(pct(cell.start_latency, 99))} |"
        )
    lines += [
        "",
        "### Cost per 1,000-token answer (counted; local profile, one subscriber per answer)",
        "",
        "| strategy | model rate | AppSync mutations | AppSync messages delivered per subscriber | DynamoDB write units |",
        "|---|---|---|---|---|",
    ]
    for cell in out["tables"].get("local", {}).get("rows", []):
        per_k = 1000 / max(1, cell.tokens)
        lines.append(
            f"| {cell.strategy} | {cell.rate:.0f} tok/s | {cell.events * per_k:.0f} (+1 startStream) | "
            f"{cell.events * per_k:.0f} | {cell.write_units * per_k:.0f} |"
        )
    rows = {c.strategy: c for c in out["tables"].get("local", {}).get("rows", []) if c.rate == COST_RATE}
    if rows:
        names = list(rows)
        lines += [
            "",
            f"Priced (US East on-demand, as in docs/cloud.md) from the {COST_RATE:.0f} tok/s counts, per 1,000 answers "
            "of 1,000 tokens with one subscriber:",
            "",
            "| per 1,000 answers | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        per_answer = {n: 1000 / max(1, c.tokens) for n, c in rows.items()}
        ops = {n: (rows[n].events * per_answer[n] + 1) * 1000 for n in names}
        updates = {n: rows[n].events * per_answer[n] * 1000 for n in names}
        wru = {n: rows[n].write_units * per_answer[n] * 1000 for n in names}
        total = {n: ops[n] * APPSYNC_OPERATION + updates[n] * APPSYNC_UPDATE + wru[n] * DYNAMODB_WRU for n in names}
        lines += [
            "| AppSync operations (startStream + publishes) | "
            + " | ".join(f"${ops[n] * APPSYNC_OPERATION:.2f} ({ops[n] / 1000:.0f} k)" for n in names)
            + " |",
            "| AppSync real-time updates | "
            + " | ".join(f"${updates[n] * APPSYNC_UPDATE:.2f} ({updates[n] / 1000:.0f} k)" for n in names)
            + " |",
            "| DynamoDB writes | "
            + " | ".join(f"${wru[n] * DYNAMODB_WRU:.2f} ({wru[n] / 1e6:.2f} M WRU)" for n in names)
            + " |",
            "| **AppSync + DynamoDB** | " + " | ".join(f"**${total[n]:.2f}**" for n in names) + " |",
        ]
    lines += [
        "",
        "Mutations per answer = events stored and published (every one reaches each subscriber "
        "once); write units are DynamoDB's billing (1 KB per item written, ×2 in a transaction, "
        "the session item included), measured in moto and scaled to 1,000 tokens "
        "(session create and final text included).",
    ]
    return "\n".join(lines)


def pairs(text: str) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in part.split("x")) for part in text.split(",") if part]  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: about a minute")
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[50.0, 150.0, 500.0])
    parser.add_argument("--strategies", type=lambda s: s.split(","), default=["per-token", "coalesced", "adaptive"])
    parser.add_argument("--answers", type=int, default=4, help="answers per row")
    parser.add_argument("--tokens", type=int, default=300, help="tokens per answer")
    parser.add_argument("--subscribers", type=int, default=3, help="subscribers per answer in the rate table")
    parser.add_argument("--window-ms", type=int, default=50)
    parser.add_argument("--budget-ms", type=int, default=100, help="the adaptive strategy's delay budget")
    parser.add_argument("--appsync-ms", type=float, default=25.0, help="cloud-like profile: added per mutation")
    parser.add_argument("--dynamodb-ms", type=float, default=8.0, help="cloud-like profile: added per DynamoDB request")
    parser.add_argument("--ttft-answers", type=int, default=30)
    parser.add_argument("--fanout", type=pairs, default=pairs("1x1000,100x10"), help="SESSIONSxSUBSCRIBERS,...")
    parser.add_argument("--fanout-tokens", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--concurrent-tokens", type=int, default=100)
    parser.add_argument(
        "--workers", type=int, default=WORKER_CONCURRENCY, help="worker concurrency (SQS poller); default: as deployed"
    )
    parser.add_argument("--worker-isolation", choices=("thread", "process"), default="thread")
    parser.add_argument("--moto-isolation", choices=("thread", "process"), default="process")
    parser.add_argument("--profiles", type=lambda s: s.split(","), default=["local", "cloud-like"])
    parser.add_argument(
        "--sections",
        type=lambda s: s.split(","),
        default=["ttft", "fanout", "concurrent"],
        help="besides the rate tables",
    )
    parser.add_argument("--json", help="also write the raw numbers here")
    args = parser.parse_args()
    if args.quick:
        args.answers, args.tokens, args.subscribers, args.ttft_answers = 1, 100, 2, 10
        args.fanout, args.fanout_tokens = pairs("1x200,20x10"), 50
        args.concurrent, args.concurrent_tokens = 20, 50
    out = run(args)
    print(report(out, args))
    if args.json:
        Path(args.json).write_text(json.dumps(out, default=lambda o: {**o.__dict__, "delays": None}, indent=1))


if __name__ == "__main__":
    main()
