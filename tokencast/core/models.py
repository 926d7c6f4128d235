"""The GraphQL wire types as pydantic models: the one Python spelling of their fields.

``graphql/schema.graphql`` is the contract; tests/unit/test_core_models.py proves each
model's aliases equal its schema type's fields. Everything that lists those fields derives
from here: the store's event and summary attributes (:data:`EVENT_FIELDS`,
:data:`SUMMARY_FIELDS`), the worker's ``publishToken`` selection and events, and the Python
SDK's selections -- whose values *are* these models (``tokencast.client`` re-exports them).
Field names are snake_case; ``alias_generator`` gives the camelCase wire names, and
``populate_by_name`` lets code build a model with either.

Parsing is tolerant where the wire may be partial: AppSync hands a subscriber only what the
publishing mutation selected, so every field a client may go without has a default. The
types the SDK must tolerate from a newer server (an event type or status added later) accept
any string after trying the enum.
"""

from __future__ import annotations

from typing import Annotated, Any, Self, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from tokencast.events import EventType, SessionStatus


class WireModel(BaseModel):
    """A GraphQL object type: camelCase on the wire, snake_case in Python, frozen."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        """A null field is an absent one: it takes its default (``token`` "" rather than an error)."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    @classmethod
    def from_graphql(cls, data: Any) -> Self:
        """Parse the wire shape (the inverse of :meth:`to_graphql`).

        A ValueError (pydantic's ValidationError is one) when a required field is missing.
        """
        return cls.model_validate(data)

    def to_graphql(self) -> dict[str, Any]:
        """The wire shape: every field under its GraphQL name, enums as their names, nulls kept."""
        return self.model_dump(by_alias=True, mode="json")


#: An enum value, or (from a newer server) a string this code does not know yet.
OpenEventType = Annotated[EventType | str, Field(union_mode="left_to_right")]
OpenSessionStatus = Annotated[SessionStatus | str, Field(union_mode="left_to_right")]


class Usage(WireModel):
    """Token counts of an attempt, as the model reported them."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


class TokenEvent(WireModel):
    """One stored and published event, identified by ``(session_id, attempt, seq)``."""

    session_id: str
    attempt: int
    seq: int
    type: OpenEventType
    token: str = ""
    is_complete: bool = False
    stop_reason: str | None = None
    usage: Usage | None = None
    error: str | None = None
    timestamp: str | None = None
    #: the subscription filter (graphql/resolvers/onTokenReceived.js) reads these two
    owner: str | None = None
    visibility: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        """``(attempt, seq)``: the event's place in its session's log."""
        return (self.attempt, self.seq)

    @property
    def is_terminal(self) -> bool:
        """The attempt's last event; False for an event type this code does not know yet."""
        return isinstance(self.type, EventType) and self.type.is_terminal


class Session(WireModel):
    """A session as ``getSession``/``startStream``/``cancelStream`` return it."""

    session_id: str
    status: OpenSessionStatus
    message: str | None = None
    timestamp: str | None = None
    error: str | None = None
    attempt: int = 0
    text: str = ""
    last_seq: int = 0
    usage: Usage | None = None
    stop_reason: str | None = None
    model_id: str | None = None
    visibility: str | None = None
    owner: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def is_final(self) -> bool:
        """COMPLETED, FAILED or CANCELLED; False for a status this code does not know yet."""
        return isinstance(self.status, SessionStatus) and self.status.is_final


class SessionSummary(WireModel):
    """One row of ``listSessions``: what changes with the status, not with every token."""

    session_id: str
    status: OpenSessionStatus
    message: str | None = None
    created_at: str | None = None
    attempt: int = 0
    model_id: str | None = None
    visibility: str | None = None
    usage: Usage | None = None
    stop_reason: str | None = None
    error: str | None = None


def wire_fields(model: type[WireModel]) -> tuple[str, ...]:
    """The model's GraphQL field names, in declaration (= schema) order."""
    return tuple(info.alias or name for name, info in model.model_fields.items())


def _nested_model(annotation: Any) -> type[WireModel] | None:
    """The WireModel inside ``X | None`` (or ``X`` itself), if any."""
    candidates = get_args(annotation) if get_origin(annotation) is not None else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, WireModel):
            return candidate
    return None


def selection(model: type[WireModel], *, exclude: frozenset[str] = frozenset()) -> str:
    """A GraphQL selection set (without the outer braces) of every field, nested types expanded.

    ``exclude`` names wire fields to leave out (top level only).
    """
    parts = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if alias in exclude:
            continue
        nested = _nested_model(info.annotation)
        parts.append(f"{alias} {{ {selection(nested)} }}" if nested else alias)
    return " ".join(parts)


#: The TokenEvent fields; a stored event item holds exactly these (+ keys and TTL).
EVENT_FIELDS = wire_fields(TokenEvent)
#: The SessionSummary fields; the owner index projects exactly these.
SUMMARY_FIELDS = wire_fields(SessionSummary)
#: The Session fields.
SESSION_FIELDS = wire_fields(Session)
#: The Usage fields (Bedrock's ConverseStream reports usage under the same names).
USAGE_FIELDS = wire_fields(Usage)

#: Every TokenEvent field: what publishToken selects, so subscribers (and the subscription
#: filter, which reads ``owner`` and ``visibility``) can receive any of them.
EVENT_SELECTION = selection(TokenEvent)
SESSION_SELECTION = selection(Session)
SUMMARY_SELECTION = selection(SessionSummary)
