"""The reassembly state machine: events in any order, duplicated or missing → the final text.

Pure and synchronous: no I/O, no clock of its own (callers pass ``now``), so every rule is
testable with synthetic events. The stream driver (:mod:`tokencast.client.stream`) feeds it
live events and ``getEvents`` pages and asks it when a gap is due to be fetched.

The rules, from the event contract (``graphql/schema.graphql``, DESIGN invariants 1 and 2):

- events are ordered by ``(attempt, seq)``; ``seq`` starts at 1 per attempt, without gaps;
- only the highest attempt seen counts: on a higher attempt the text of lower ones is
  dropped (a restart :class:`Delta` tells the consumer to drop what it showed), and late
  events of lower attempts are ignored;
- an event at or below the applied position, or already buffered, is a duplicate;
- an event beyond the next expected ``seq`` waits in a buffer, and the hole is a *gap*: it
  is due to be fetched after a grace window (at once when the terminal event is already
  buffered), then again with backoff while it persists -- never waited on forever;
- the stream is done when the terminal event of the current attempt has been applied, which
  by construction means nothing before it is missing. A still higher attempt (a replay from
  the dead-letter queue) reopens it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tokencast.client.types import Delta, StreamResult
from tokencast.core.models import Session, TokenEvent, Usage
from tokencast.events import STATUS_AFTER, SessionStatus

DEFAULT_GAP_GRACE_S = 0.25
DEFAULT_MAX_GAP_BACKOFF_S = 4.0


@dataclass
class AssemblerStats:
    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    foreign: int = 0
    beyond_terminal: int = 0
    restarts: int = 0
    settled: int = 0


class StreamAssembler:
    """Reassembles one session's events. Feed with :meth:`feed`; read :attr:`text` etc."""

    def __init__(
        self,
        session_id: str | None = None,
        *,
        start_attempt: int = 0,
        gap_grace_s: float = DEFAULT_GAP_GRACE_S,
        max_gap_backoff_s: float = DEFAULT_MAX_GAP_BACKOFF_S,
    ) -> None:
        """``start_attempt``: ignore attempts below it (a late joiner that knows the current
        attempt need not replay superseded ones). ``session_id``: ignore other sessions' events."""
        self.session_id = session_id
        self.gap_grace_s = gap_grace_s
        self.max_gap_backoff_s = max_gap_backoff_s
        self.stats = AssemblerStats()
        self._attempt = start_attempt
        self._seq = 0
        self._pending: dict[int, TokenEvent] = {}
        self._parts: list[str] = []
        self._text_cache: str | None = ""
        self._shown = False
        self._done = False
        self._status: SessionStatus | str = SessionStatus.QUEUED
        self._usage: Usage | None = None
        self._stop_reason: str | None = None
        self._error: str | None = None
        self._gap_since: float | None = None
        self._gap_fetches = 0

    # -- reading ---------------------------------------------------------------------------

    @property
    def attempt(self) -> int:
        """The attempt being assembled: the highest seen (or ``start_attempt``)."""
        return self._attempt

    @property
    def cursor(self) -> tuple[int, int]:
        """``(attempt, seq)`` of the last event applied without a gap before it: fetch after it."""
        return (self._attempt, self._seq)

    @property
    def text(self) -> str:
        """The current attempt's text so far (contiguous part only)."""
        if self._text_cache is None:
            self._text_cache = "".join(self._parts)
        return self._text_cache

    @property
    def status(self) -> SessionStatus | str:
        return self._status

    @property
    def done(self) -> bool:
        """The current attempt's terminal event is applied (nothing before it is missing)."""
        return self._done

    @property
    def has_gap(self) -> bool:
        return bool(self._pending)

    @property
    def missing(self) -> tuple[int, int] | None:
        """The first missing ``(attempt, seq)`` when there is a gap."""
        return (self._attempt, self._seq + 1) if self._pending else None

    @property
    def usage(self) -> Usage | None:
        return self._usage

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    @property
    def error(self) -> str | None:
        return self._error

    def result(self, session_id: str | None = None) -> StreamResult:
        return StreamResult(
            session_id=session_id or self.session_id or "",
            status=self._status,
            text=self.text,
            attempt=self._attempt,
            usage=self._usage,
            stop_reason=self._stop_reason,
            error=self._error,
        )

    # -- gaps ------------------------------------------------------------------------------

    def fetch_due(self) -> float | None:
        """When (in the caller's clock) the current gap should be fetched; None without a gap.

        First fetch: ``gap_grace_s`` after the gap appeared, or at once when the terminal
        event is already buffered (nothing more is coming live). While the gap persists after
        fetches, the delay doubles up to ``max_gap_backoff_s``.
        """
        if self._gap_since is None:
            return None
        if self._gap_fetches == 0:
            urgent = any(event.is_terminal for event in self._pending.values())
            return self._gap_since + (0.0 if urgent else self.gap_grace_s)
        return self._gap_since + min(self.gap_grace_s * 2.0**self._gap_fetches, self.max_gap_backoff_s)

    def note_fetched(self, now: float) -> None:
        """The caller fetched from :attr:`cursor` to the end of the log; a gap still open backs off."""
        if self._pending:
            self._gap_since = now
            self._gap_fetches += 1
        else:
            self._gap_since = None
            self._gap_fetches = 0

    # -- feeding ---------------------------------------------------------------------------

    def feed_many(self, events: Iterable[TokenEvent], now: float) -> list[Delta]:
        deltas: list[Delta] = []
        for event in events:
            deltas.extend(self.feed(event, now))
        return deltas

    def feed(self, event: TokenEvent, now: float) -> list[Delta]:
        """Take one event from anywhere (live or catch-up); return the deltas it releases."""
        if self.session_id is not None and event.session_id != self.session_id:
            self.stats.foreign += 1
            return []
        if event.attempt < self._attempt:
            self.stats.stale += 1
            return []
        deltas: list[Delta] = []
        if event.attempt > self._attempt:
            deltas.extend(self._begin_attempt(event.attempt))
        if event.seq <= self._seq or event.seq in self._pending:
            self.stats.duplicates += 1
            return deltas
        if self._done:
            self.stats.beyond_terminal += 1
            return deltas
        self._pending[event.seq] = event
        while not self._done and (following := self._pending.pop(self._seq + 1, None)) is not None:
            deltas.extend(self._apply(following))
        if self._done and self._pending:
            self.stats.beyond_terminal += len(self._pending)
            self._pending.clear()
        self._track_gap(now)
        return deltas

    def settle(self, session: Session) -> list[Delta]:
        """Finish from the session record: the backstop for a final session whose event log
        holds nothing more for us (e.g. a terminal event that was never stored).

        Call only when ``session`` is final and a catch-up from :attr:`cursor` found nothing.
        A record of a lower attempt than ours is stale and ignored.
        """
        if not session.is_final or session.attempt < self._attempt:
            return []
        deltas: list[Delta] = []
        if session.attempt > self._attempt:
            deltas.extend(self._begin_attempt(session.attempt))
        current = self.text
        if session.text != current:
            if session.text.startswith(current):
                deltas.append(Delta(session.text[len(current) :], self._attempt, max(session.last_seq, self._seq)))
            else:
                if self._shown:
                    deltas.append(Delta("", self._attempt, 0, restarted=True))
                    self.stats.restarts += 1
                if session.text:
                    deltas.append(Delta(session.text, self._attempt, max(session.last_seq, self._seq)))
            self._parts = [session.text]
            self._text_cache = session.text
            self._shown = self._shown or bool(session.text)
        self._seq = max(self._seq, session.last_seq)
        self._pending.clear()
        self._track_gap(0.0)
        self._done = True
        self._status = session.status
        self._usage = session.usage
        self._stop_reason = session.stop_reason
        self._error = session.error
        self.stats.settled += 1
        return deltas

    # -- internals -------------------------------------------------------------------------

    def _begin_attempt(self, attempt: int) -> list[Delta]:
        restart = self._shown
        self._attempt = attempt
        self._seq = 0
        self._pending.clear()
        self._parts = []
        self._text_cache = ""
        self._shown = False
        self._done = False
        self._status = SessionStatus.STREAMING
        self._usage = self._stop_reason = self._error = None
        self._gap_since = None
        self._gap_fetches = 0
        if restart:
            self.stats.restarts += 1
            return [Delta("", attempt, 0, restarted=True)]
        return []

    def _apply(self, event: TokenEvent) -> list[Delta]:
        self._seq = event.seq
        self.stats.applied += 1
        deltas: list[Delta] = []
        if event.token:
            self._parts.append(event.token)
            self._text_cache = None
            self._shown = True
            deltas.append(Delta(event.token, event.attempt, event.seq))
        if event.is_terminal:
            self._done = True
            self._status = STATUS_AFTER[event.type]  # type: ignore[index]
            self._usage = event.usage
            self._stop_reason = event.stop_reason
            self._error = event.error
        else:
            self._status = SessionStatus.STREAMING
        return deltas

    def _track_gap(self, now: float) -> None:
        if not self._pending:
            self._gap_since = None
            self._gap_fetches = 0
        elif self._gap_since is None:
            self._gap_since = now
