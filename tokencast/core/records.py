"""The table's items as Python values and back: the session record, event pages, GraphQL shapes.

The one codec between DynamoDB items and what the core works with: :func:`new_session_item`
and :func:`event_item` build the items the store writes; :meth:`SessionRecord.from_item`,
:func:`event_from_item` and :func:`summary_from_item` read them back. The GraphQL field
lists come from :mod:`tokencast.core.models`; the item attributes are the same camelCase
names, so an event item is its TokenEvent fields plus keys and TTL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tokencast.core.models import EVENT_FIELDS, SUMMARY_FIELDS, Session, Usage
from tokencast.core.table import PK, SESSION_SK, SK, TTL_ATTRIBUTE, deserialize, event_sk, plain, session_pk
from tokencast.events import SessionStatus, Visibility


@dataclass(frozen=True)
class SessionRecord:
    """The session item, typed. ``attempt_base`` is the attempt a (re)queued job started from."""

    session_id: str
    status: SessionStatus
    owner: str
    visibility: str = Visibility.PRIVATE.value
    model_id: str | None = None
    attempt: int = 0
    last_seq: int = 0
    text: str = ""
    message: str | None = None
    usage: Mapping[str, int] | None = None
    stop_reason: str | None = None
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    cancel_requested: bool = False
    attempt_base: int = 0
    dead_lettered: bool = False
    #: what startStream was asked (see tokencast.core.start.request_fingerprint); never shown to clients
    request_fingerprint: str | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> SessionRecord:
        data = plain(deserialize(item))
        return cls(
            session_id=data["sessionId"],
            status=SessionStatus(data["status"]),
            owner=data.get("owner") or "",
            visibility=data.get("visibility") or Visibility.PRIVATE.value,
            model_id=data.get("modelId"),
            attempt=int(data.get("attempt") or 0),
            last_seq=int(data.get("lastSeq") or 0),
            text=data.get("text") or "",
            message=data.get("message"),
            usage=data.get("usage"),
            stop_reason=data.get("stopReason"),
            error=data.get("error"),
            created_at=data.get("createdAt"),
            updated_at=data.get("updatedAt"),
            cancel_requested=bool(data.get("cancelRequested")),
            attempt_base=int(data.get("attemptBase") or 0),
            dead_lettered=bool(data.get("deadLettered")),
            request_fingerprint=data.get("requestFingerprint"),
        )

    def to_graphql(self) -> dict[str, Any]:
        """The ``Session`` GraphQL type; ``timestamp`` is the last change."""
        return Session(
            session_id=self.session_id,
            status=self.status,
            message=self.message,
            timestamp=self.updated_at or self.created_at,
            error=self.error,
            attempt=self.attempt,
            text=self.text,
            last_seq=self.last_seq,
            usage=Usage.model_validate(self.usage) if self.usage else None,
            stop_reason=self.stop_reason,
            model_id=self.model_id,
            visibility=self.visibility,
            owner=self.owner,
            created_at=self.created_at,
            updated_at=self.updated_at,
        ).to_graphql()


class BeginKind(StrEnum):
    """What :meth:`SessionStore.begin_attempt` decided."""

    RUN = "run"  # stream a new attempt
    CANCEL = "cancel"  # cancelled while queued: store CANCELLED only
    SKIP = "skip"  # already final (a duplicate delivery)
    MISSING = "missing"  # no session record


@dataclass(frozen=True)
class Begin:
    """What :meth:`SessionStore.begin_attempt` decided (``kind``), and on which record.

    ``previous`` is the record as it was before this attempt was taken.
    """

    kind: BeginKind
    session: SessionRecord | None
    previous: SessionRecord | None = None


@dataclass(frozen=True)
class StoredEventPage:
    items: list[dict[str, Any]]
    next_attempt: int | None = None
    next_seq: int | None = None

    def to_graphql(self) -> dict[str, Any]:
        return {"items": self.items, "nextAttempt": self.next_attempt, "nextSeq": self.next_seq}


@dataclass(frozen=True)
class SessionListPage:
    """One page of an owner's sessions, newest first; ``after`` positions the next page."""

    items: list[dict[str, Any]]
    #: ``(createdAt, sessionId)`` of the last item when more follow, else None
    after: tuple[str, str] | None = None


def status_message(status: SessionStatus, attempt: int = 0, error: str | None = None) -> str:
    """The human-readable ``Session.message`` for a status (kept from the sample schema)."""
    if status == SessionStatus.STREAMING:
        return f"streaming (attempt {attempt})"
    if status == SessionStatus.RETRYING:
        return f"retrying after attempt {attempt}: {error}"
    if status == SessionStatus.FAILED:
        return f"failed: {error}"
    return status.value.lower()


def summary_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A session item (or its index projection) as the GraphQL ``SessionSummary``."""
    data = plain(deserialize(item))
    summary = {name: data.get(name) for name in SUMMARY_FIELDS}
    summary["attempt"] = int(summary["attempt"] or 0)
    summary["visibility"] = summary["visibility"] or Visibility.PRIVATE.value
    return summary


def event_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored event as the GraphQL ``TokenEvent`` (absent optional fields are null)."""
    data = plain(deserialize(item))
    return {name: data.get(name) for name in EVENT_FIELDS}


def new_session_item(
    *,
    session_id: str,
    owner: str,
    visibility: str,
    model_id: str,
    request_fingerprint: str | None,
    now: str,
    expires: int,
) -> dict[str, Any]:
    """A QUEUED session's item (plain values: :func:`~tokencast.core.table.serialize` it to write)."""
    return {
        PK: session_pk(session_id),
        SK: SESSION_SK,
        "sessionId": session_id,
        "status": SessionStatus.QUEUED.value,
        "message": status_message(SessionStatus.QUEUED),
        "attempt": 0,
        "lastSeq": 0,
        "text": "",
        "modelId": model_id,
        "visibility": visibility,
        "owner": owner,
        "createdAt": now,
        "updatedAt": now,
        "cancelRequested": False,
        "requestFingerprint": request_fingerprint,
        TTL_ATTRIBUTE: expires,
    }


def event_item(event: Mapping[str, Any], expires: int) -> dict[str, Any]:
    """A ``TokenEvent`` as its stored item: keys from its identity, its fields, and the TTL."""
    item: dict[str, Any] = {PK: session_pk(event["sessionId"]), SK: event_sk(int(event["attempt"]), int(event["seq"]))}
    item.update({name: event.get(name) for name in EVENT_FIELDS})
    item[TTL_ATTRIBUTE] = expires
    return item
