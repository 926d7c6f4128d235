"""The values the client SDK hands out: events, deltas, sessions, pages, results.

All are frozen dataclasses built from the GraphQL wire shape by ``from_graphql``, which
parses through the wire models of :mod:`tokencast.core.models` (the one mapping of camelCase
fields to snake_case attributes) and is tolerant on purpose: AppSync sends a subscriber only
the fields the triggering mutation selected, so optional fields may be missing from live
events. ``usage`` stays the wire mapping (``inputTokens``, ``outputTokens``, ``totalTokens``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, TypeVar, cast

from tokencast.core import models
from tokencast.events import EventType, SessionStatus

_T = TypeVar("_T")


@cache
def _shared_fields(cls: type, model: type[models.WireModel]) -> tuple[str, ...]:
    """The attributes ``cls`` copies from ``model`` (computed once per pair: parsing is per event)."""
    return tuple(f.name for f in fields(cls) if f.name in model.model_fields)


def _from_wire(cls: type[_T], model: type[models.WireModel], data: Any) -> _T:
    """``cls`` from a wire object, parsed by ``model``: same-named attributes are copied.

    A ValueError (pydantic's ValidationError is one) when a required field is missing; an
    unknown event type or status is kept as its string (added after this client was written).
    """
    wire = model.model_validate(data)
    values = {name: getattr(wire, name) for name in _shared_fields(cast(type, cls), model)}
    if isinstance(values.get("usage"), models.Usage):
        values["usage"] = values["usage"].model_dump(by_alias=True, exclude_none=True)
    return cls(**values)


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """One stored and published event of a session, identified by ``(attempt, seq)``."""

    session_id: str
    attempt: int
    seq: int
    type: EventType | str
    token: str = ""
    is_complete: bool = False
    stop_reason: str | None = None
    usage: dict[str, int] | None = None
    error: str | None = None
    timestamp: str | None = None
    owner: str | None = None
    visibility: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.attempt, self.seq)

    @property
    def is_terminal(self) -> bool:
        return isinstance(self.type, EventType) and self.type.is_terminal

    @classmethod
    def from_graphql(cls, data: Mapping[str, Any]) -> TokenEvent:
        """Build from a ``TokenEvent`` object; ValueError when identity fields are missing."""
        return _from_wire(cls, models.TokenEvent, data)


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
class SessionInfo:
    """The ``Session`` GraphQL type."""

    session_id: str
    status: SessionStatus | str
    attempt: int = 0
    text: str = ""
    last_seq: int = 0
    message: str | None = None
    error: str | None = None
    usage: dict[str, int] | None = None
    stop_reason: str | None = None
    model_id: str | None = None
    visibility: str | None = None
    owner: str | None = None
    timestamp: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def is_final(self) -> bool:
        return isinstance(self.status, SessionStatus) and self.status.is_final

    @classmethod
    def from_graphql(cls, data: Mapping[str, Any]) -> SessionInfo:
        return _from_wire(cls, models.Session, data)


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """The ``SessionSummary`` GraphQL type: one row of ``listSessions`` (no text; see getSession)."""

    session_id: str
    status: SessionStatus | str
    created_at: str | None = None
    attempt: int = 0
    message: str | None = None
    model_id: str | None = None
    visibility: str | None = None
    usage: dict[str, int] | None = None
    stop_reason: str | None = None
    error: str | None = None

    @classmethod
    def from_graphql(cls, data: Mapping[str, Any]) -> SessionSummary:
        return _from_wire(cls, models.SessionSummary, data)


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
    usage: dict[str, int] | None = None
    stop_reason: str | None = None
    error: str | None = None

    def raise_for_status(self) -> StreamResult:
        """Raise :class:`~tokencast.client.errors.StreamFailed` for FAILED; return self otherwise."""
        if self.status == SessionStatus.FAILED:
            from tokencast.client.errors import StreamFailed

            raise StreamFailed(self)
        return self
