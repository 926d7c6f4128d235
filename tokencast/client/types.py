"""The values the client SDK hands out besides the wire types: deltas, pages, results.

The GraphQL object types themselves -- ``TokenEvent``, ``Session``, ``SessionSummary`` and
``Usage`` -- are the pydantic models of :mod:`tokencast.core.models`, the one Python spelling
of their fields; :mod:`tokencast.client` re-exports them. Their parsing (``from_graphql``)
is tolerant on purpose: AppSync sends a subscriber only the fields the triggering mutation
selected, so optional fields may be missing from live events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokencast.core.models import SessionSummary, TokenEvent, Usage
from tokencast.events import SessionStatus


@dataclass(frozen=True, slots=True)
class Delta:
    """What a stream yields: new text, or (``restarted=True``, empty text) "drop what you showed".

    A restart delta means a higher attempt superseded the text delivered so far; the text
    that follows is the new attempt's, from its beginning.
    """

    text: str
    attempt: int
    seq: int
    restarted: bool = False


@dataclass(frozen=True, slots=True)
class SessionPage:
    """One page of ``listSessions``: the caller's sessions, newest first."""

    items: tuple[SessionSummary, ...]
    #: pass to the next ``list_sessions`` call; None on the last page
    next_token: str | None = None

    @classmethod
    def from_graphql(cls, data: Mapping[str, Any]) -> SessionPage:
        return cls(
            items=tuple(SessionSummary.from_graphql(item) for item in data.get("items") or ()),
            next_token=data.get("nextToken"),
        )


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of ``getEvents``: items in ``(attempt, seq)`` order, and where to go on."""

    items: tuple[TokenEvent, ...]
    next_attempt: int | None = None
    next_seq: int | None = None

    @property
    def next_cursor(self) -> tuple[int, int] | None:
        """``(afterAttempt, afterSeq)`` for the next page, or None at the end of the log."""
        if self.next_attempt is None or self.next_seq is None:
            return None
        return (self.next_attempt, self.next_seq)

    @classmethod
    def from_graphql(cls, data: Mapping[str, Any]) -> EventPage:
        return cls(
            items=tuple(TokenEvent.from_graphql(item) for item in data.get("items") or ()),
            next_attempt=data.get("nextAttempt"),
            next_seq=data.get("nextSeq"),
        )


@dataclass(frozen=True, slots=True)
class StreamResult:
    """How a stream ended: the final attempt's whole text and the terminal event's details."""

    session_id: str
    status: SessionStatus | str
    text: str
    attempt: int
    usage: Usage | None = None
    stop_reason: str | None = None
    error: str | None = None

    def raise_for_status(self) -> StreamResult:
        """Raise :class:`~tokencast.client.errors.StreamFailed` for FAILED; return self otherwise."""
        if self.status == SessionStatus.FAILED:
            from tokencast.client.errors import StreamFailed

            raise StreamFailed(self)
        return self
