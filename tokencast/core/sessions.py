"""Reading sessions and events, and cancelling -- with the access rule of tokencast.access.

A caller who may not read a session is told it does not exist (``sessionId: not found``),
so private session ids cannot be probed. A ``sessionId`` that is not exactly a UUID is bad
input (``sessionId: must be a UUID ...``), whoever asks. Cancel is the owner's alone; a reader who is not
the owner hears ``sessionId: only the owner may cancel``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokencast.access import can_cancel, can_read, principal_of
from tokencast.core.cursor import decode_cursor, encode_cursor
from tokencast.core.errors import CancelForbidden, InvalidInput, NotFound
from tokencast.core.records import SessionRecord
from tokencast.core.start_request import parse_session_id
from tokencast.core.store import SessionStore
from tokencast.events import SessionStatus


class SessionService:
    def __init__(self, *, store: SessionStore, events_page_limit: int = 500, sessions_page_limit: int = 50):
        self._store = store
        self._page_limit = events_page_limit
        self._sessions_limit = sessions_page_limit

    def _readable(self, session_id: str, identity: Mapping[str, Any] | None) -> SessionRecord | None:
        record = self._store.get(session_id)
        if record is None or not can_read(record.owner, record.visibility, identity):
            return None
        return record

    def _view(self, record: SessionRecord) -> dict[str, Any]:
        """The Session as clients see it: a live attempt's text comes from its event log."""
        view = record.to_graphql()
        if record.status in (SessionStatus.STREAMING, SessionStatus.RETRYING) and record.attempt > 0:
            view["text"] = self._store.attempt_text(record.session_id, record.attempt)
        return view

    def get(self, session_id: str, identity: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """``getSession`` / ``getStreamStatus``: the Session, or null."""
        parse_session_id(session_id)
        record = self._readable(session_id, identity)
        return self._view(record) if record else None

    def events(
        self,
        session_id: str,
        identity: Mapping[str, Any] | None,
        *,
        after_attempt: int | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """``getEvents``: events strictly after ``(afterAttempt, afterSeq)``, in order."""
        problems = []
        try:
            parse_session_id(session_id)
        except InvalidInput as exc:
            problems.append(str(exc))
        if after_attempt is not None and after_attempt < 0:
            problems.append("afterAttempt: must be 0 or more")
        if after_seq is not None and after_seq < 0:
            problems.append("afterSeq: must be 0 or more")
        if limit is not None and not 1 <= limit <= self._page_limit:
            problems.append(f"limit: must be between 1 and {self._page_limit}")
        if problems:
            raise InvalidInput("; ".join(problems))
        if self._readable(session_id, identity) is None:
            raise NotFound("sessionId: not found")
        page = self._store.events(
            session_id, after_attempt=after_attempt or 0, after_seq=after_seq or 0, limit=limit or self._page_limit
        )
        return page.to_graphql()

    def list(
        self, identity: Mapping[str, Any] | None, *, limit: int | None = None, next_token: str | None = None
    ) -> dict[str, Any]:
        """``listSessions``: the caller's own sessions, newest first, one page.

        Owner-only by construction: the index is queried with the caller's principal and
        nothing else, whatever the token says. API-key callers share the principal
        ``anonymous``, exactly as they share read access to API-key sessions.
        """
        if limit is not None and not 1 <= limit <= self._sessions_limit:
            raise InvalidInput(f"limit: must be between 1 and {self._sessions_limit}")
        after = decode_cursor(next_token) if next_token is not None else None
        page = self._store.sessions_of(principal_of(identity), limit=limit or self._sessions_limit, after=after)
        return {"items": page.items, "nextToken": encode_cursor(*page.after) if page.after else None}

    def cancel(self, session_id: str, identity: Mapping[str, Any] | None) -> dict[str, Any]:
        """``cancelStream``: QUEUED → CANCELLED now; STREAMING/RETRYING → flagged for the worker."""
        parse_session_id(session_id)
        record = self._readable(session_id, identity)
        if record is None:
            raise NotFound("sessionId: not found")
        if not can_cancel(record.owner, identity):
            raise CancelForbidden("sessionId: only the owner may cancel")
        for _ in range(5):
            if record.status == SessionStatus.QUEUED:
                updated = self._store.cancel_queued(session_id)
            elif record.status in (SessionStatus.STREAMING, SessionStatus.RETRYING):
                updated = self._store.request_cancel(session_id)
            else:
                return record.to_graphql()  # already settled
            if updated is not None:
                return self._view(updated)
            record = self._store.get(session_id)  # the status moved under us: decide again
            if record is None:
                raise NotFound("sessionId: not found")
        return self._view(record)
