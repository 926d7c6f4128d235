"""One semantics in two languages: the shared assembler vectors, run through the Python
assembler (the TypeScript port runs the same file in clients/js/test)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.vectors.assembler_cases import VECTORS_PATH, render
from tokencast.client import Delta, Session, TokenEvent
from tokencast.client.assembler import StreamAssembler

VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
STATS = {"beyondTerminal": "beyond_terminal"}


def test_the_vector_file_is_current():
    assert VECTORS_PATH.read_text(encoding="utf-8") == render(), (
        "tests/vectors/assembler.json is stale: run `.venv/bin/python -m tests.vectors.assembler_cases`"
    )


def shown(deltas: list[Delta]) -> str:
    screen = ""
    for delta in deltas:
        screen = "" if delta.restarted else screen + delta.text
    return screen


def state(asm: StreamAssembler, key: str, deltas_since: list[Delta], all_deltas: list[Delta]) -> Any:
    if key == "deltas":
        return [[d.text, d.attempt, d.seq, d.restarted] for d in deltas_since]
    if key == "shown":
        return shown(all_deltas)
    if key == "cursor":
        return list(asm.cursor)
    if key == "missing":
        return list(asm.missing) if asm.missing else None
    if key == "fetchDue":
        return asm.fetch_due()
    if key == "hasGap":
        return asm.has_gap
    if key == "stopReason":
        return asm.stop_reason
    if key == "status":
        return str(asm.status)
    if key == "usage":  # the vectors hold the wire shape: only the counts the model reported
        return asm.usage.model_dump(by_alias=True, exclude_none=True) if asm.usage else None
    return getattr(asm, key)


def run(case: dict[str, Any]) -> None:
    options = case["options"]
    asm = StreamAssembler(
        options["sessionId"],
        start_attempt=options.get("startAttempt", 0),
        gap_grace_s=options.get("gapGraceS", 0.25),
        max_gap_backoff_s=options.get("maxGapBackoffS", 4.0),
    )
    log = sorted((TokenEvent.from_graphql(e) for e in case["log"]), key=lambda e: e.key)
    since: list[Delta] = []
    every: list[Delta] = []
    for index, step in enumerate(case["steps"]):
        op = step["op"]
        released: list[Delta] = []
        if op == "feed":
            released = asm.feed(TokenEvent.from_graphql(step["event"]), step["now"])
        elif op == "catchUp":
            released = asm.feed_many([e for e in log if e.key > asm.cursor], step["now"])
            asm.note_fetched(step["now"])
        elif op == "noteFetched":
            asm.note_fetched(step["now"])
        elif op == "settle":
            released = asm.settle(Session.from_graphql(step["session"]))
        elif op == "expect":
            for key, want in step.items():
                if key == "op":
                    continue
                if key == "stats":
                    for name, count in want.items():
                        got = getattr(asm.stats, STATS.get(name, name))
                        assert got == count, f"step {index}: stats.{name}"
                    continue
                got = state(asm, key, since, every)
                if isinstance(want, float):
                    assert got == pytest.approx(want), f"step {index}: {key}"
                else:
                    assert got == want, f"step {index}: {key}"
            since = []
        else:
            raise AssertionError(f"unknown op {op!r}")
        since += released
        every += released


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_python_assembler_passes_the_shared_vectors(case):
    run(case)
