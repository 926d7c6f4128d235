"""One processing attempt's event log: assigns ``seq``, keeps the text, stores with fencing.

Only one thread appends at a time (the coalescer's, then the worker's once the coalescer has
stopped), so the counters need no lock. State advances only after the store accepted the
event, so a refused write leaves ``seq`` without a gap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tokencast.core.clock import Clock, iso, utc_now
from tokencast.core.models import TokenEvent, Usage
from tokencast.core.records import SessionRecord, status_message
from tokencast.core.store import SessionStore
from tokencast.events import STATUS_AFTER, EventType, SessionStatus

#: Called once the attempt's terminal event is stored, before anyone is told about it.
OnTerminal = Callable[[SessionRecord, dict[str, Any]], None]


class AttemptLog:
    def __init__(
        self,
        store: SessionStore,
        session: SessionRecord,
        *,
        clock: Clock = utc_now,
        on_terminal: OnTerminal | None = None,
    ):
        self.session = session
        self._on_terminal = on_terminal
        self.attempt = session.attempt
        self.seq = 0
        self.text = ""
        self._store = store
        self._clock = clock

    @property
    def session_id(self) -> str:
        return self.session.session_id

    @property
    def attempts_used(self) -> int:
        """Attempts taken since the job was (re)queued -- what ``max_attempts`` bounds."""
        return self.attempt - self.session.attempt_base

    def append(
        self,
        type: EventType | str,
        token: str = "",
        *,
        stop_reason: str | None = None,
        usage: Mapping[str, int] | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Store the next event (and the session's new state); return its wire shape (a ``TokenEvent``)."""
        kind = EventType(type)
        seq = self.seq + 1
        text = self.text + token
        event = TokenEvent(
            session_id=self.session.session_id,
            attempt=self.attempt,
            seq=seq,
            type=kind,
            token=token,
            is_complete=kind.is_terminal,
            stop_reason=stop_reason,
            usage=Usage.model_validate(usage) if usage else None,
            error=error,
            timestamp=iso(self._clock()),
            owner=self.session.owner,
            visibility=self.session.visibility,
        ).to_graphql()
        status = STATUS_AFTER.get(kind, SessionStatus.STREAMING)
        # The session item gets the attempt's text once, with its terminal event; rewriting it
        # on every event would make a long answer's writes grow quadratically. While the
        # attempt streams, readers assemble it from the stored events (SessionService).
        sets: dict[str, Any] = {"text": text} if kind.is_terminal else {}
        if kind != EventType.TOKEN:
            sets["status"] = status.value
            sets["message"] = status_message(status, self.attempt, error)
        if kind == EventType.COMPLETED:
            sets["stopReason"] = stop_reason
            sets["usage"] = event["usage"]
        elif kind == EventType.FAILED:
            sets["error"] = error
        elif kind == EventType.CANCELLED:
            sets["cancelRequested"] = False  # the cancel has been carried out
        self._store.append(event, sets, check_cancel=kind not in (EventType.CANCELLED, EventType.FAILED))
        self.seq, self.text = seq, text
        if kind.is_terminal and self._on_terminal is not None:
            self._on_terminal(self.session, event)
        return event

    def check(self) -> None:
        """Raise Fenced / CancelRequested / SessionGone if this attempt may not go on."""
        self._store.check(self.session.session_id, self.attempt)
