"""The reassembly rules as data: cases both assemblers (Python and TypeScript) must pass.

Each case is a list of steps on one assembler: ``feed`` an event (wire shape, as AppSync
delivers it) at a time, ``catchUp`` (read the case's stored ``log`` after the cursor, as
``getEvents`` would, then ``noteFetched``), ``noteFetched``, ``settle`` from a session record,
and ``expect`` -- the state at that point and the deltas released since the last ``expect``.
Expectations are written by hand from the rules (DESIGN invariants 1 and 2), except in the
``property`` cases, whose expectation is the final attempt's text as the model produced it.

``python -m tests.vectors.assembler_cases`` rewrites ``assembler.json``;
tests/unit/test_assembler_vectors.py checks the file is current and runs it through
:mod:`tokencast.client.assembler`; clients/js/test/assembler.vectors.test.js runs it through
the TypeScript port.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, TypeVar

SID = "3f0c2a4e-5b8d-4c1e-9a7f-1d2e3f4a5b6c"
VECTORS_PATH = Path(__file__).with_name("assembler.json")
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")

Event = dict[str, Any]
Step = dict[str, Any]
T = TypeVar("T")


def ev(attempt: int, seq: int, kind: str, token: str = "", **extra: Any) -> Event:
    event = {
        "sessionId": extra.pop("sessionId", SID),
        "attempt": attempt,
        "seq": seq,
        "type": kind,
        "token": token,
        "isComplete": kind in TERMINAL,
    }
    event.update(extra)
    return event


def attempt_events(attempt: int, tokens: list[str], terminal: str | None = "COMPLETED", **fields: Any) -> list[Event]:
    """One attempt as the worker emits it: STARTED/RESTARTED, TOKENs, then the terminal event."""
    events = [ev(attempt, 1, "STARTED" if attempt == 1 else "RESTARTED")]
    events += [ev(attempt, i + 2, "TOKEN", t) for i, t in enumerate(tokens)]
    if terminal is not None:
        events.append(ev(attempt, len(tokens) + 2, terminal, **fields))
    return events


def feed(events: list[Event], now: float = 0.0) -> list[Step]:
    return [{"op": "feed", "event": e, "now": now} for e in events]


def expect(**state: Any) -> Step:
    """``deltas`` as ``[text, attempt, seq, restarted]``; other keys are assembler state."""
    return {"op": "expect", **state}


def session(status: str, attempt: int, text: str, last_seq: int, **extra: Any) -> dict[str, Any]:
    return {"sessionId": SID, "status": status, "attempt": attempt, "text": text, "lastSeq": last_seq, **extra}


def case(name: str, steps: list[Step], log: list[Event] | None = None, **options: Any) -> dict[str, Any]:
    return {"name": name, "options": {"sessionId": SID, **options}, "log": log or [], "steps": steps}


def hand_written() -> list[dict[str, Any]]:
    hello = attempt_events(1, ["Hel", "lo", ", world"], usage={"outputTokens": 3}, stopReason="end_turn")
    abcdef = attempt_events(1, list("abcdef"))
    abc = attempt_events(1, ["a", "b", "c"])
    abcdefg = attempt_events(1, list("abcdefg"))
    first = attempt_events(1, ["wrong ", "answ"], terminal=None)
    second = attempt_events(2, ["right ", "answer"])
    ab1 = attempt_events(1, ["a", "b"], terminal=None)
    cd2 = attempt_events(2, ["c", "d"])
    return [
        case(
            "in order: text, status, cursor and the terminal's details",
            [
                expect(status="QUEUED", text="", done=False, cursor=[0, 0]),
                *feed(hello[:1]),
                expect(status="STREAMING"),
                *feed(hello[1:]),
                expect(
                    deltas=[["Hel", 1, 2, False], ["lo", 1, 3, False], [", world", 1, 4, False]],
                    done=True,
                    text="Hello, world",
                    status="COMPLETED",
                    cursor=[1, 5],
                    attempt=1,
                    usage={"outputTokens": 3},
                    stopReason="end_turn",
                    fetchDue=None,
                    hasGap=False,
                ),
            ],
        ),
        case(
            "reversed delivery buffers, then releases in order",
            [
                *feed(list(reversed(abcdef[1:]))),
                expect(done=False, text="", missing=[1, 1], deltas=[]),
                *feed(abcdef[:1]),
                expect(
                    done=True,
                    text="abcdef",
                    deltas=[[c, 1, i + 2, False] for i, c in enumerate("abcdef")],
                ),
            ],
        ),
        case(
            "the terminal event first makes the gap due at once",
            [
                *feed(abc[-1:], now=7.0),
                expect(hasGap=True, missing=[1, 1], fetchDue=7.0),
                *feed(abc[:-1], now=7.1),
                expect(done=True, text="abc", fetchDue=None),
            ],
        ),
        case(
            "duplicates are dropped, applied or buffered",
            [
                *[step for e in abc for step in feed([e, e])],
                expect(text="abc", stats={"duplicates": len(abc)}),
            ],
        ),
        case(
            "a buffered duplicate is counted once",
            [*feed([abc[3], abc[3]]), expect(stats={"duplicates": 1}, text="")],
        ),
        case(
            "a gap waits the grace window, then the log fills it",
            [
                *feed(abcdefg[:2], now=1.0),
                *feed(abcdefg[3:4], now=1.5),
                expect(missing=[1, 3], fetchDue=1.75, text="a"),
                *feed([e for e in abcdefg[4:] if e["seq"] != 6], now=1.6),
                expect(text="a", done=False),
                {"op": "catchUp", "now": 1.75},
                expect(done=True, text="abcdefg", fetchDue=None, hasGap=False),
            ],
            log=abcdefg,
            gapGraceS=0.25,
        ),
        case(
            "a gap that stays open is refetched with backoff up to the maximum",
            [
                *feed([abc[0], abc[2]], now=0.0),
                expect(fetchDue=0.25),
                {"op": "noteFetched", "now": 0.25},
                expect(fetchDue=0.75),
                {"op": "noteFetched", "now": 0.75},
                expect(fetchDue=1.75),
                {"op": "noteFetched", "now": 1.75},
                expect(fetchDue=2.75),
                {"op": "noteFetched", "now": 2.75},
                expect(fetchDue=3.75),
                *feed([abc[1], abc[3], abc[4]], now=3.0),
                expect(fetchDue=None, done=True, text="abc"),
            ],
            gapGraceS=0.25,
            maxGapBackoffS=1.0,
        ),
        case(
            "a late joiner gets everything from one catch-up",
            [{"op": "catchUp", "now": 0.0}, expect(done=True, text="one two three", usage={"outputTokens": 3})],
            log=attempt_events(1, ["one ", "two ", "three"], usage={"outputTokens": 3}),
        ),
        case(
            "live and catch-up overlap without duplicating text",
            [
                {"op": "catchUp", "now": 0.0},
                *feed(abcdef, now=0.1),
                expect(text="abcdef", stats={"duplicates": len(abcdef)}, shown="abcdef"),
            ],
            log=abcdef,
        ),
        case(
            "a restart mid-stream drops the earlier attempt",
            [
                *feed(first),
                expect(text="wrong answ"),
                *feed(second, now=1.0),
                expect(
                    done=True,
                    text="right answer",
                    attempt=2,
                    shown="right answer",
                    stats={"restarts": 1},
                ),
            ],
        ),
        case(
            "a higher attempt seen out of order switches at once; late lower ones are stale",
            [
                *feed(ab1),
                expect(text="ab"),
                *feed(cd2[2:3], now=1.0),
                expect(deltas=[["", 2, 0, True]], text="", attempt=2, missing=[2, 1]),
                *feed(ab1, now=1.1),
                expect(stats={"stale": len(ab1)}, text=""),
                *feed(cd2, now=1.2),
                expect(done=True, text="cd"),
            ],
        ),
        case(
            "a restart before any text needs no restart delta",
            [
                *feed([ev(1, 1, "STARTED"), *attempt_events(2, ["x"])]),
                expect(deltas=[["x", 2, 2, False]], text="x"),
            ],
        ),
        case(
            "a gap in attempt numbers is not a gap",
            [
                *feed(attempt_events(1, ["a"], terminal=None)),
                *feed(attempt_events(3, ["c"])),
                expect(done=True, text="c", hasGap=False),
            ],
        ),
        case(
            "start attempt ignores superseded attempts",
            [
                expect(cursor=[2, 0]),
                *feed(attempt_events(1, ["old"], terminal="FAILED")),
                *feed(attempt_events(2, ["new"])),
                expect(deltas=[["new", 2, 2, False]], done=True),
            ],
            startAttempt=2,
        ),
        case(
            "FAILED carries the session error",
            [
                *feed(attempt_events(1, ["par"], terminal="FAILED", error="model throttled")),
                expect(done=True, status="FAILED", error="model throttled"),
            ],
        ),
        case(
            "CANCELLED keeps the partial text",
            [
                *feed(attempt_events(1, ["par", "tial"], terminal="CANCELLED")),
                expect(status="CANCELLED", text="partial", done=True),
            ],
        ),
        case(
            "a replay after failure reopens the stream",
            [
                *feed(attempt_events(1, ["half"], terminal="FAILED", error="boom")),
                expect(done=True),
                *feed([ev(2, 1, "RESTARTED")], now=1.0),
                expect(done=False, deltas=[["", 2, 0, True]], error=None, status="STREAMING"),
                *feed(attempt_events(2, ["whole"]), now=1.0),
                expect(done=True, text="whole", status="COMPLETED"),
            ],
        ),
        case(
            "events beyond the terminal are ignored",
            [
                *feed([ev(1, 9, "TOKEN", "zzz")]),
                *feed(attempt_events(1, ["a"])),
                *feed([ev(1, 10, "TOKEN", "zzz")]),
                expect(done=True, text="a", hasGap=False, stats={"beyondTerminal": 2}),
            ],
        ),
        case(
            "other sessions' events are ignored",
            [
                *feed([ev(1, 1, "STARTED", sessionId="someone-else")]),
                expect(cursor=[0, 0], stats={"foreign": 1, "applied": 0}),
            ],
        ),
        case(
            "an unknown event type still occupies its seq",
            [
                *feed([ev(1, 1, "STARTED"), ev(1, 2, "HEARTBEAT"), ev(1, 3, "TOKEN", "ok"), ev(1, 4, "COMPLETED")]),
                expect(done=True, text="ok"),
            ],
        ),
        case(
            "settle finishes from a final session record",
            [
                *feed(attempt_events(1, ["ab"], terminal=None)),
                expect(text="ab"),
                {"op": "settle", "session": session("COMPLETED", 1, "abcd", 4, usage={"outputTokens": 2})},
                expect(
                    deltas=[["cd", 1, 4, False]],
                    done=True,
                    text="abcd",
                    status="COMPLETED",
                    usage={"outputTokens": 2},
                ),
            ],
        ),
        case(
            "settle from a newer attempt restarts",
            [
                *feed(attempt_events(1, ["old"], terminal=None)),
                expect(text="old"),
                {"op": "settle", "session": session("CANCELLED", 2, "ne", 3)},
                expect(deltas=[["", 2, 0, True], ["ne", 2, 3, False]], done=True, text="ne", attempt=2),
            ],
        ),
        case(
            "settle ignores unfinished or stale records",
            [
                *feed(attempt_events(2, ["x"], terminal=None)),
                expect(text="x"),
                {"op": "settle", "session": session("STREAMING", 2, "xy", 4)},
                {"op": "settle", "session": session("COMPLETED", 1, "old", 4)},
                expect(deltas=[], done=False, text="x"),
            ],
        ),
        case(
            "settle: cancelled while queued",
            [
                {"op": "settle", "session": session("CANCELLED", 0, "", 0)},
                expect(deltas=[], done=True, status="CANCELLED", text=""),
            ],
        ),
    ]


def random_session(rng: random.Random) -> tuple[list[Event], str, str]:
    """1-4 attempts; all but the last stop part-way (or fail transiently); the last ends.

    Returns the events (wire shape), the final attempt's text and its terminal type.
    """
    attempts = rng.randint(1, 4)
    events: list[Event] = []
    attempt_no = 0
    text = ""
    terminal = "COMPLETED"
    for index in range(attempts):
        attempt_no += rng.choice((1, 1, 1, 2))  # an attempt number may be skipped (fenced)
        tokens = [
            rng.choice(("a", "bc", "def ", "ü", "🙂", "\n")) + str(rng.randint(0, 99))
            for _ in range(rng.randint(0, 12))
        ]
        if index < attempts - 1:
            events += attempt_events(attempt_no, tokens[: rng.randint(0, len(tokens))], terminal=None)
        else:
            terminal = rng.choice(("COMPLETED", "COMPLETED", "FAILED", "CANCELLED"))
            events += attempt_events(attempt_no, tokens, terminal=terminal)
            text = "".join(tokens)
    return events, text, terminal


def lossy_deliveries(events: list[T], rng: random.Random) -> list[T]:
    """What a subscriber may get of ``events``: some lost (AppSync delivers at most once), some
    twice (reconnect or catch-up overlap), neighbours swapped, now and then the lot shuffled."""
    deliveries = []
    for event in events:
        if rng.random() < 0.2:
            continue
        deliveries.append(event)
        if rng.random() < 0.15:
            deliveries.append(event)
    if rng.random() < 0.3:
        rng.shuffle(deliveries)
    else:
        for i in range(len(deliveries) - 1):
            if rng.random() < 0.3:
                deliveries[i], deliveries[i + 1] = deliveries[i + 1], deliveries[i]
    return deliveries


def property_cases(count: int = 40, seed: int = 20261202) -> list[dict[str, Any]]:
    """Lossy, duplicated, reordered deliveries, then catch-ups from the log until done: the
    result is the final attempt's text, whatever the order."""
    rng = random.Random(seed)
    cases = []
    for index in range(count):
        events, expected, terminal = random_session(rng)
        deliveries = lossy_deliveries(events, rng)
        steps = [{"op": "feed", "event": e, "now": round(0.01 * (i + 1), 3)} for i, e in enumerate(deliveries)]
        steps.append({"op": "catchUp", "now": 10.0})
        steps.append(expect(done=True, text=expected, shown=expected, attempt=events[-1]["attempt"], status=terminal))
        cases.append(case(f"property #{index}", steps, log=events, gapGraceS=0.25))
    return cases


def build() -> dict[str, Any]:
    return {
        "about": "Generated by tests/vectors/assembler_cases.py; do not edit by hand. "
        "Both tokencast/client/assembler.py and clients/js/src/assembler.ts must pass every case.",
        "cases": hand_written() + property_cases(),
    }


def render() -> str:
    """One case per line: small, and a changed case shows as one changed line."""
    vectors = build()
    cases = ",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in vectors["cases"])
    return f'{{"about":{json.dumps(vectors["about"])},\n"cases":[\n{cases}\n]}}\n'


if __name__ == "__main__":
    VECTORS_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {VECTORS_PATH}")
