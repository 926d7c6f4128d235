"""The client's reassembly state machine, driven synchronously with synthetic events.

A small simulator plays the stream driver's part (live deliveries at given times, a
``getEvents`` catch-up after subscribing, gap fetches when due, an idle poll) against an
in-memory event log, on a virtual clock, so every rule is checked without I/O.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from tests.vectors import assembler_cases as wire
from tokencast.client import Delta, EventPage, Session, TokenEvent, Usage
from tokencast.client.assembler import StreamAssembler
from tokencast.events import EventType, SessionStatus

SID = "3f0c2a4e-5b8d-4c1e-9a7f-1d2e3f4a5b6c"
GRACE = 0.25
IDLE_POLL = 5.0


def ev(attempt: int, seq: int, kind: EventType | str, token: str = "", **extra) -> TokenEvent:
    terminal = isinstance(kind, EventType) and kind.is_terminal
    return TokenEvent(
        session_id=extra.pop("session_id", SID),
        attempt=attempt,
        seq=seq,
        type=kind,
        token=token,
        is_complete=terminal,
        **extra,
    )


def attempt_events(
    attempt: int, tokens: list[str], terminal: EventType | None = EventType.COMPLETED, **terminal_fields
) -> list[TokenEvent]:
    """One attempt as the worker emits it: STARTED/RESTARTED, TOKENs, then the terminal event."""
    first = EventType.STARTED if attempt == 1 else EventType.RESTARTED
    events = [ev(attempt, 1, first)]
    events += [ev(attempt, i + 2, EventType.TOKEN, t) for i, t in enumerate(tokens)]
    if terminal is not None:
        events.append(ev(attempt, len(tokens) + 2, terminal, **terminal_fields))
    return events


def shown(deltas: list[Delta]) -> str:
    """What a consumer that honours restart deltas has on screen."""
    screen = ""
    for delta in deltas:
        screen = "" if delta.restarted else screen + delta.text
    return screen


@dataclass
class Log:
    """The stored event log behind ``getEvents``; an event is visible from its ``stored_at``."""

    events: list[TokenEvent]
    limit: int = 100
    stored_at: dict[tuple[int, int], float] = field(default_factory=dict)
    calls: int = 0

    def page(self, after_attempt: int, after_seq: int, now: float) -> EventPage:
        self.calls += 1
        visible = sorted((e for e in self.events if self.stored_at.get(e.key, 0.0) <= now), key=lambda e: e.key)
        after = [e for e in visible if e.key > (after_attempt, after_seq)]
        items = after[: self.limit]
        more = len(after) > self.limit
        return EventPage(
            items=tuple(items),
            next_attempt=items[-1].attempt if more else None,
            next_seq=items[-1].seq if more else None,
        )


@dataclass
class Sim:
    """The stream driver's schedule on a virtual clock."""

    assembler: StreamAssembler
    log: Log
    now: float = 0.0
    deltas: list[Delta] = field(default_factory=list)
    fetches: int = 0

    def catch_up(self) -> None:
        self.fetches += 1
        cursor = self.assembler.cursor
        while True:
            page = self.log.page(*cursor, now=self.now)
            self.deltas += self.assembler.feed_many(page.items, self.now)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        self.assembler.note_fetched(self.now)

    def advance(self, until: float) -> None:
        while (due := self.assembler.fetch_due()) is not None and due <= until and not self.assembler.done:
            self.now = max(self.now, due)
            self.catch_up()
        self.now = max(self.now, until)

    def run(
        self, deliveries: list[tuple[float, TokenEvent]], *, subscribe_catch_up: bool = True, max_polls: int = 50
    ) -> None:
        if subscribe_catch_up:
            self.catch_up()
        for at, event in deliveries:
            self.advance(at)
            self.deltas += self.assembler.feed(event, self.now)
        polls = 0
        while not self.assembler.done:
            due = self.assembler.fetch_due()
            self.advance(due if due is not None else self.now + IDLE_POLL)
            if due is None:
                self.catch_up()  # the idle safety-net poll
            polls += 1
            assert polls <= max_polls, "the stream never finished"


def live(events: list[TokenEvent], step: float = 0.01, start: float = 0.01) -> list[tuple[float, TokenEvent]]:
    return [(start + i * step, e) for i, e in enumerate(events)]


# -- one attempt ---------------------------------------------------------------------------


def test_in_order_stream_assembles_text_and_finishes():
    events = attempt_events(1, ["Hel", "lo", ", world"], usage={"outputTokens": 3}, stop_reason="end_turn")
    asm = StreamAssembler(SID)
    deltas = asm.feed_many(events, now=0.0)
    assert [d.text for d in deltas] == ["Hel", "lo", ", world"]
    assert [d.seq for d in deltas] == [2, 3, 4]
    assert not any(d.restarted for d in deltas)
    assert asm.done and asm.text == "Hello, world" and asm.status == SessionStatus.COMPLETED
    assert asm.cursor == (1, 5)
    assert asm.usage == Usage(output_tokens=3) and asm.stop_reason == "end_turn"
    assert asm.fetch_due() is None and not asm.has_gap
    result = asm.result()
    assert (result.session_id, result.text, result.attempt, result.status) == (SID, "Hello, world", 1, "COMPLETED")


def test_status_moves_from_queued_to_streaming():
    asm = StreamAssembler(SID)
    assert asm.status == SessionStatus.QUEUED and asm.text == "" and not asm.done
    asm.feed(ev(1, 1, EventType.STARTED), 0.0)
    assert asm.status == SessionStatus.STREAMING


def test_reversed_delivery_buffers_then_releases_in_order():
    events = attempt_events(1, list("abcdef"))
    asm = StreamAssembler(SID)
    deltas: list[Delta] = []
    for i, event in enumerate(reversed(events)):
        deltas += asm.feed(event, now=float(i))
        if event.seq > 1:
            assert not asm.done and asm.text == ""
    assert asm.done and asm.text == "abcdef"
    assert "".join(d.text for d in deltas) == "abcdef"
    assert [d.seq for d in deltas] == sorted(d.seq for d in deltas)


def test_terminal_first_makes_the_gap_due_at_once():
    events = attempt_events(1, ["x", "y"])
    asm = StreamAssembler(SID)
    asm.feed(events[-1], now=7.0)
    assert asm.has_gap and asm.missing == (1, 1)
    assert asm.fetch_due() == 7.0  # the terminal is here: nothing more comes live, fetch now
    asm.feed_many(events[:-1], now=7.1)
    assert asm.done and asm.text == "xy" and asm.fetch_due() is None


def test_duplicates_are_dropped_wherever_they_fall():
    events = attempt_events(1, ["a", "b", "c"])
    asm = StreamAssembler(SID)
    deltas = []
    for event in events:
        deltas += asm.feed(event, 0.0)
        deltas += asm.feed(event, 0.0)  # applied already
    asm2 = StreamAssembler(SID)
    asm2.feed(events[3], 0.0)
    asm2.feed(events[3], 0.0)  # buffered already
    assert asm.text == "abc" and "".join(d.text for d in deltas) == "abc"
    assert asm.stats.duplicates == len(events)
    assert asm2.stats.duplicates == 1


def test_a_gap_waits_the_grace_window_then_is_fetched():
    events = attempt_events(1, list("abcdefg"))
    dropped = {3, 6}
    asm = StreamAssembler(SID, gap_grace_s=GRACE)
    asm.feed_many([e for e in events if e.seq < 3], now=1.0)
    asm.feed(events[3], now=1.5)  # seq 4 arrives, 3 is missing
    assert asm.missing == (1, 3) and asm.fetch_due() == pytest.approx(1.5 + GRACE)
    assert asm.text == "a"
    sim = Sim(asm, Log(events), now=1.5)
    sim.run([(1.6, e) for e in events if e.seq > 4 and e.seq not in dropped], subscribe_catch_up=False)
    assert asm.done and asm.text == "abcdefg"
    assert sim.fetches >= 1


def test_gap_filled_by_the_log_releases_buffered_events_in_order():
    events = attempt_events(1, list("abcdefgh"))
    asm = StreamAssembler(SID)
    sim = Sim(asm, Log(events, limit=2))
    sim.run(live([e for e in events if e.seq not in (2, 5, 9)]), subscribe_catch_up=False)
    assert asm.done and asm.text == "abcdefgh"
    assert "".join(d.text for d in sim.deltas) == "abcdefgh"
    assert [d.seq for d in sim.deltas] == sorted(d.seq for d in sim.deltas)


def test_a_gap_that_stays_open_is_refetched_with_backoff():
    events = attempt_events(1, ["a", "b", "c"])
    asm = StreamAssembler(SID, gap_grace_s=0.25, max_gap_backoff_s=1.0)
    asm.feed(events[0], 0.0)
    asm.feed(events[2], 0.0)
    dues = []
    now = 0.0
    for _ in range(5):
        due = asm.fetch_due()
        dues.append(due - now)
        now = due
        asm.note_fetched(now)  # the log did not have seq 2 yet
    assert dues == [0.25, 0.5, 1.0, 1.0, 1.0]
    asm.feed(events[1], now)
    asm.feed(events[3], now)
    asm.feed(events[4], now)
    assert asm.fetch_due() is None and asm.done and asm.text == "abc"


def test_store_lag_is_survived_by_refetching():
    events = attempt_events(1, list("abcd"))
    lagging = {e.key: 3.0 for e in events if e.seq == 3}  # seq 3 lost live, stored only at t=3
    asm = StreamAssembler(SID)
    sim = Sim(asm, Log(events, stored_at=lagging))
    sim.run(live([e for e in events if e.seq != 3]))
    assert asm.done and asm.text == "abcd" and sim.now >= 3.0


def test_late_join_gets_everything_from_catch_up():
    events = attempt_events(1, ["one ", "two ", "three"], usage={"outputTokens": 3})
    asm = StreamAssembler(SID)
    sim = Sim(asm, Log(events, limit=2))
    sim.run([])
    assert asm.done and asm.text == "one two three" and sim.fetches == 1
    assert asm.usage == Usage(output_tokens=3)


def test_live_and_catch_up_overlap_without_duplicating_text():
    events = attempt_events(1, list("abcdef"))
    asm = StreamAssembler(SID)
    sim = Sim(asm, Log(events))
    sim.catch_up()  # everything already stored
    sim.run(live(events), subscribe_catch_up=False)  # and all delivered live again
    assert shown(sim.deltas) == "abcdef" and asm.stats.duplicates == len(events)


# -- attempts ------------------------------------------------------------------------------


def test_restart_mid_stream_drops_the_earlier_attempt():
    first = attempt_events(1, ["wrong ", "answ"], terminal=None)
    second = attempt_events(2, ["right ", "answer"])
    asm = StreamAssembler(SID)
    deltas = asm.feed_many(first, 0.0)
    assert asm.text == "wrong answ"
    deltas += asm.feed_many(second, 1.0)
    assert asm.done and asm.text == "right answer" and asm.attempt == 2
    restart = [d for d in deltas if d.restarted]
    assert restart == [Delta("", 2, 0, restarted=True)]
    assert shown(deltas) == "right answer"
    assert asm.stats.restarts == 1


def test_higher_attempt_seen_out_of_order_switches_at_once():
    first = attempt_events(1, ["a", "b"], terminal=None)
    second = attempt_events(2, ["c", "d"])
    asm = StreamAssembler(SID)
    asm.feed_many(first, 0.0)
    deltas = asm.feed(second[2], 1.0)  # attempt 2 seq 3 before its RESTARTED
    assert deltas == [Delta("", 2, 0, restarted=True)]
    assert asm.text == "" and asm.attempt == 2 and asm.missing == (2, 1)
    asm.feed_many(first, 1.1)  # late attempt-1 events: ignored
    assert asm.stats.stale == len(first) and asm.text == ""
    asm.feed_many(second, 1.2)
    assert asm.done and asm.text == "cd"


def test_restart_before_any_text_needs_no_restart_delta():
    asm = StreamAssembler(SID)
    deltas = asm.feed(ev(1, 1, EventType.STARTED), 0.0)
    deltas += asm.feed_many(attempt_events(2, ["x"]), 0.0)
    assert not any(d.restarted for d in deltas) and asm.text == "x"


def test_gap_in_attempt_numbers_is_not_a_gap():
    asm = StreamAssembler(SID)
    asm.feed_many(attempt_events(1, ["a"], terminal=None), 0.0)
    asm.feed_many(attempt_events(3, ["c"]), 0.0)  # attempt 2 was fenced before publishing
    assert asm.done and asm.text == "c" and not asm.has_gap


def test_start_attempt_ignores_superseded_attempts():
    asm = StreamAssembler(SID, start_attempt=2)
    assert asm.cursor == (2, 0)
    deltas = asm.feed_many(attempt_events(1, ["old"], terminal=EventType.FAILED), 0.0)
    deltas += asm.feed_many(attempt_events(2, ["new"]), 0.0)
    assert deltas == [Delta("new", 2, 2)] and asm.done


def test_failed_and_cancelled_terminals_carry_their_details():
    asm = StreamAssembler(SID)
    asm.feed_many(attempt_events(1, ["par"], terminal=EventType.FAILED, error="model throttled"), 0.0)
    assert asm.done and asm.status == SessionStatus.FAILED and asm.error == "model throttled"
    assert asm.result().status == "FAILED"
    asm = StreamAssembler(SID)
    asm.feed_many(attempt_events(1, ["par", "tial"], terminal=EventType.CANCELLED), 0.0)
    assert asm.status == SessionStatus.CANCELLED and asm.text == "partial"


def test_replay_after_failure_reopens_the_stream():
    asm = StreamAssembler(SID)
    asm.feed_many(attempt_events(1, ["half"], terminal=EventType.FAILED, error="boom"), 0.0)
    assert asm.done
    deltas = asm.feed(ev(2, 1, EventType.RESTARTED), 1.0)
    assert not asm.done and deltas == [Delta("", 2, 0, restarted=True)]
    assert asm.error is None and asm.status == SessionStatus.STREAMING
    asm.feed_many(attempt_events(2, ["whole"]), 1.0)
    assert asm.done and asm.text == "whole" and asm.status == SessionStatus.COMPLETED


def test_events_beyond_the_terminal_are_ignored():
    events = attempt_events(1, ["a"])
    asm = StreamAssembler(SID)
    asm.feed(ev(1, 9, EventType.TOKEN, "zzz"), 0.0)
    asm.feed_many(events, 0.0)
    asm.feed(ev(1, 10, EventType.TOKEN, "zzz"), 0.0)
    assert asm.done and asm.text == "a" and not asm.has_gap and asm.stats.beyond_terminal == 2


def test_other_sessions_events_are_ignored():
    asm = StreamAssembler(SID)
    asm.feed(ev(1, 1, EventType.STARTED, session_id="someone-else"), 0.0)
    assert asm.cursor == (0, 0)
    assert asm.stats.foreign == 1 and asm.stats.applied == 0


def test_an_unknown_event_type_still_occupies_its_seq():
    asm = StreamAssembler(SID)
    asm.feed_many(
        [
            ev(1, 1, EventType.STARTED),
            ev(1, 2, "HEARTBEAT"),
            ev(1, 3, EventType.TOKEN, "ok"),
            ev(1, 4, EventType.COMPLETED),
        ],
        0.0,
    )
    assert asm.done and asm.text == "ok"


# -- settling from the session record ------------------------------------------------------


def session(status: SessionStatus, attempt: int, text: str, last_seq: int, **extra) -> Session:
    return Session(session_id=SID, status=status, attempt=attempt, text=text, last_seq=last_seq, **extra)


def test_settle_finishes_from_a_final_session_record():
    asm = StreamAssembler(SID)
    asm.feed_many(attempt_events(1, ["ab"], terminal=None), 0.0)
    deltas = asm.settle(session(SessionStatus.COMPLETED, 1, "abcd", 4, usage={"outputTokens": 2}))
    assert deltas == [Delta("cd", 1, 4)] and asm.done and asm.text == "abcd"
    assert asm.status == SessionStatus.COMPLETED and asm.usage == Usage(output_tokens=2)


def test_settle_from_a_newer_attempt_restarts():
    asm = StreamAssembler(SID)
    asm.feed_many(attempt_events(1, ["old"], terminal=None), 0.0)
    deltas = asm.settle(session(SessionStatus.CANCELLED, 2, "ne", 3))
    assert deltas == [Delta("", 2, 0, restarted=True), Delta("ne", 2, 3)]
    assert asm.done and asm.text == "ne" and asm.attempt == 2


def test_settle_ignores_unfinished_or_stale_records():
    asm = StreamAssembler(SID)
    asm.feed_many(attempt_events(2, ["x"], terminal=None), 0.0)
    assert asm.settle(session(SessionStatus.STREAMING, 2, "xy", 4)) == [] and not asm.done
    assert asm.settle(session(SessionStatus.COMPLETED, 1, "old", 4)) == [] and not asm.done


def test_settle_cancelled_while_queued():
    asm = StreamAssembler(SID)
    assert asm.settle(session(SessionStatus.CANCELLED, 0, "", 0)) == []
    assert asm.done and asm.status == SessionStatus.CANCELLED and asm.text == ""


# -- the property: any delivery order, duplicates and losses give the final attempt's text --


def random_session(rng: random.Random) -> tuple[list[TokenEvent], str, EventType]:
    """The shared vectors' random session (:func:`wire.random_session`), parsed as the SDK does."""
    events, text, terminal = wire.random_session(rng)
    return [TokenEvent.from_graphql(e) for e in events], text, EventType(terminal)


@pytest.mark.parametrize("seed", range(400))
def test_any_order_duplicates_and_losses_converge_on_the_final_attempt(seed):
    rng = random.Random(seed)
    events, expected, terminal = random_session(rng)
    deliveries = wire.lossy_deliveries(events, rng)
    stored_at = {e.key: rng.choice((0.0, 0.0, 0.0, rng.uniform(0, 3))) for e in events}  # store lag
    asm = StreamAssembler(SID, gap_grace_s=GRACE)
    log = Log(events, limit=rng.choice((1, 2, 5, 100)), stored_at=stored_at)
    sim = Sim(asm, log)
    sim.run(live(deliveries, step=rng.choice((0.001, 0.05, 0.3))), subscribe_catch_up=rng.random() < 0.8)

    assert asm.done
    assert asm.text == expected
    assert asm.attempt == events[-1].attempt
    assert (
        asm.status
        == {
            EventType.COMPLETED: SessionStatus.COMPLETED,
            EventType.FAILED: SessionStatus.FAILED,
            EventType.CANCELLED: SessionStatus.CANCELLED,
        }[terminal]
    )
    assert shown(sim.deltas) == expected
    # within an attempt, text deltas come in seq order, each seq at most once
    by_attempt: dict[int, list[int]] = {}
    for delta in sim.deltas:
        if not delta.restarted:
            by_attempt.setdefault(delta.attempt, []).append(delta.seq)
    for seqs in by_attempt.values():
        assert seqs == sorted(set(seqs))
    # attempts only go up
    attempts_seen = [d.attempt for d in sim.deltas]
    assert attempts_seen == sorted(attempts_seen)
