"""Event types and session statuses: the Python side of the schema's enums.

tests/unit/test_contract.py proves these equal the enums in graphql/schema.graphql, so the
schema stays the one source of truth while Lambda bundles need no schema file.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    STARTED = "STARTED"
    TOKEN = "TOKEN"
    RESTARTED = "RESTARTED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_EVENTS


class SessionStatus(StrEnum):
    QUEUED = "QUEUED"
    STREAMING = "STREAMING"
    RETRYING = "RETRYING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


class Visibility(StrEnum):
    PRIVATE = "PRIVATE"
    SHARED = "SHARED"


TERMINAL_EVENTS = frozenset({EventType.COMPLETED, EventType.FAILED, EventType.CANCELLED})
FINAL_STATUSES = frozenset({SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED})

#: The session status a terminal event leaves behind.
STATUS_AFTER = {
    EventType.COMPLETED: SessionStatus.COMPLETED,
    EventType.FAILED: SessionStatus.FAILED,
    EventType.CANCELLED: SessionStatus.CANCELLED,
}
