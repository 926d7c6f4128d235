"""The session store: one session item plus an append-only event log per session.

The table's layout is :mod:`tokencast.core.table`; its items as Python values are
:mod:`tokencast.core.records`. Every event is written in a transaction with the session
update, conditioned on the writer's attempt still being current and no cancel pending:
fencing and cancel detection cost no extra round trip. When that condition fails, the store
says why with :class:`Fenced`, :class:`CancelRequested` or :class:`SessionGone`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from tokencast.core.clock import Clock, iso, utc_now
from tokencast.core.errors import CancelRequested, Fenced, SessionGone
from tokencast.core.models import EVENT_FIELDS, SUMMARY_FIELDS
from tokencast.core.records import (
    Begin,
    BeginKind,
    SessionListPage,
    SessionRecord,
    StoredEventPage,
    event_from_item,
    status_message,
    summary_from_item,
)
from tokencast.core.table import (
    LAST_EVENT_SK,
    OWNER_INDEX,
    OWNER_INDEX_PK,
    OWNER_INDEX_PROJECTION,
    OWNER_INDEX_SK,
    PK,
    SESSION_SK,
    SK,
    TTL_ATTRIBUTE,
    Expr,
    event_sk,
    serialize,
    session_pk,
    table_definition,
    ttl_specification,
)
from tokencast.events import SessionStatus

#: What callers (cdk/storage.py, the local stack, the worker) import from here: the table's facade.
__all__ = [
    "EVENT_FIELDS",
    "OWNER_INDEX",
    "OWNER_INDEX_PK",
    "OWNER_INDEX_PROJECTION",
    "OWNER_INDEX_SK",
    "PK",
    "SK",
    "SUMMARY_FIELDS",
    "TTL_ATTRIBUTE",
    "Begin",
    "BeginKind",
    "SessionListPage",
    "SessionRecord",
    "SessionStore",
    "StoredEventPage",
    "event_from_item",
    "event_sk",
    "session_pk",
    "status_message",
    "summary_from_item",
    "table_definition",
    "ttl_specification",
]

_CONFLICT_RETRIES = 5


class SessionStore:
    """Sessions and their event log in one DynamoDB table, through the low-level client."""

    def __init__(self, client: Any, table_name: str, *, ttl_days: int = 7, clock: Clock = utc_now):
        self._db = client
        self._table = table_name
        self._ttl = timedelta(days=ttl_days)
        self._clock = clock

    # --- helpers -------------------------------------------------------------------------

    def _key(self, session_id: str) -> dict[str, Any]:
        return {PK: {"S": session_pk(session_id)}, SK: {"S": SESSION_SK}}

    def _stamp(self) -> tuple[str, int]:
        now = self._clock()
        return iso(now), int((now + self._ttl).timestamp())

    def _conditional_update(self, session_id: str, expr: Expr, update: str, condition: str) -> SessionRecord | None:
        """UpdateItem returning the new record, or None when the condition did not hold."""
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=self._key(session_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ReturnValues="ALL_NEW",
                **expr.kwargs(),
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return None
        return SessionRecord.from_item(out["Attributes"])

    # --- sessions ------------------------------------------------------------------------

    def create(
        self, *, session_id: str, owner: str, visibility: str, model_id: str, request_fingerprint: str | None = None
    ) -> tuple[SessionRecord, bool]:
        """Put a QUEUED session unless the id exists; returns (record, created).

        ``request_fingerprint`` (a hash of the request, never its text) lets a later start with
        the same id tell a retry of this request from a different one.
        """
        now, expires = self._stamp()
        item = {
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
        try:
            self._db.put_item(
                TableName=self._table,
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._db.exceptions.ConditionalCheckFailedException as exc:
            old = exc.response.get("Item")
            existing = SessionRecord.from_item(old) if old else self.get(session_id)
            if existing is None:  # deleted in between: try once more
                return self.create(
                    session_id=session_id,
                    owner=owner,
                    visibility=visibility,
                    model_id=model_id,
                    request_fingerprint=request_fingerprint,
                )
            return existing, False
        return SessionRecord.from_item(serialize(item)), True

    def warm(self) -> None:
        """Open the client's connection before the first job: one eventually consistent read of no item.

        Best effort: an unreachable table shows up on the first real request, with its error.
        """
        with contextlib.suppress(Exception):
            self._db.get_item(
                TableName=self._table,
                Key=self._key("warm-up"),
                ProjectionExpression="#pk",
                ExpressionAttributeNames={"#pk": PK},
            )

    def get(self, session_id: str) -> SessionRecord | None:
        """Strongly consistent: a client that just saw an event must see the session that wrote it."""
        out = self._db.get_item(TableName=self._table, Key=self._key(session_id), ConsistentRead=True)
        item = out.get("Item")
        return SessionRecord.from_item(item) if item else None

    def delete_queued(self, session_id: str) -> bool:
        """Undo :meth:`create` when the job could not be enqueued (only if still QUEUED)."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=self._key(session_id),
                ConditionExpression="#status = :queued",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":queued": {"S": SessionStatus.QUEUED.value}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def begin_attempt(
        self, session_id: str, *, force: bool = False, will_run: Callable[[SessionRecord], None] | None = None
    ) -> Begin:
        """Take the next attempt number atomically, so no delivery ever reuses one.

        COMPLETED/FAILED sessions are skipped (duplicate delivery) unless ``force``; a session
        cancelled while queued gets an attempt only to record its CANCELLED event.
        ``will_run(seen)`` is called once the read shows an attempt can run, before the write
        that takes it: the worker asks the model meanwhile.
        """
        for _ in range(_CONFLICT_RETRIES):
            seen = self.get(session_id)
            if seen is None:
                return Begin(BeginKind.MISSING, None)
            if seen.status == SessionStatus.CANCELLED:
                if not seen.cancel_requested:
                    return Begin(BeginKind.SKIP, seen, seen)
                kind = BeginKind.CANCEL
                status = SessionStatus.CANCELLED
            elif seen.status.is_final and not force:
                return Begin(BeginKind.SKIP, seen, seen)
            else:
                kind, status = BeginKind.RUN, SessionStatus.STREAMING
                if will_run is not None:
                    will_run(seen)
                    will_run = None
            now, expires = self._stamp()
            expr = Expr()
            update = expr.update(
                {
                    "status": status.value,
                    "message": status_message(status, seen.attempt + 1),
                    "text": "",
                    "lastSeq": 0,
                    "updatedAt": now,
                    TTL_ATTRIBUTE: expires,
                },
                removes=("stopReason", "usage", "error", "deadLettered"),
                adds={"attempt": 1},
            )
            condition = (
                f"{expr.n('attempt')} = {expr.v(seen.attempt)} AND {expr.n('status')} = {expr.v(seen.status.value)}"
            )
            record = self._conditional_update(session_id, expr, update, condition)
            if record is not None:
                return Begin(kind, record, seen)
        raise Fenced(f"session {session_id} kept changing while taking an attempt")

    def check(self, session_id: str, attempt: int) -> SessionRecord:
        """Raise Fenced / CancelRequested / SessionGone if ``attempt`` may not go on."""
        record = self.get(session_id)
        self._raise_if_stopped(record, attempt)
        assert record is not None
        return record

    @staticmethod
    def _raise_if_stopped(record: SessionRecord | None, attempt: int) -> None:
        if record is None:
            raise SessionGone("session record is gone")
        if record.attempt != attempt:
            raise Fenced(f"attempt {attempt} superseded by attempt {record.attempt}")
        if record.cancel_requested:
            raise CancelRequested("cancel requested by the owner")

    def set_retrying(self, session_id: str, attempt: int, error: str) -> SessionRecord:
        """Mark the session RETRYING (fenced, and refused when a cancel is pending)."""
        now, expires = self._stamp()
        expr = Expr()
        update = expr.update(
            {
                "status": SessionStatus.RETRYING.value,
                "message": status_message(SessionStatus.RETRYING, attempt, error),
                "error": error,
                "updatedAt": now,
                TTL_ATTRIBUTE: expires,
            }
        )
        cr = expr.n("cancelRequested")
        condition = (
            f"{expr.n('attempt')} = {expr.v(attempt)} AND (attribute_not_exists({cr}) OR {cr} = {expr.v(False)})"
        )
        record = self._conditional_update(session_id, expr, update, condition)
        if record is None:
            self._raise_if_stopped(self.get(session_id), attempt)
            raise Fenced("session changed while marking it RETRYING")
        return record

    def cancel_queued(self, session_id: str) -> SessionRecord | None:
        """QUEUED → CANCELLED with the cancel pending, for the worker to record; None if not QUEUED."""
        now, _ = self._stamp()
        expr = Expr()
        update = expr.update(
            {
                "status": SessionStatus.CANCELLED.value,
                "message": "cancelled before it started",
                "cancelRequested": True,
                "updatedAt": now,
            }
        )
        return self._conditional_update(
            session_id, expr, update, f"{expr.n('status')} = {expr.v(SessionStatus.QUEUED.value)}"
        )

    def request_cancel(self, session_id: str) -> SessionRecord | None:
        """Flag a STREAMING/RETRYING session for cancel; None if it is in another status."""
        now, _ = self._stamp()
        expr = Expr()
        update = expr.update({"cancelRequested": True, "message": "cancel requested", "updatedAt": now})
        status = expr.n("status")
        condition = f"{status} IN ({expr.v(SessionStatus.STREAMING.value)}, {expr.v(SessionStatus.RETRYING.value)})"
        return self._conditional_update(session_id, expr, update, condition)

    def requeue(self, session_id: str, *, force: bool = False) -> SessionRecord | None:
        """Back to QUEUED for a replay, with a fresh attempt budget; None if missing or (unforced) COMPLETED."""
        now, expires = self._stamp()
        expr = Expr()
        update = expr.update(
            {
                "status": SessionStatus.QUEUED.value,
                "message": "queued (replay)",
                "cancelRequested": False,
                "updatedAt": now,
                TTL_ATTRIBUTE: expires,
            },
            removes=("error", "deadLettered"),
            copies={"attemptBase": "attempt"},
        )
        condition = f"attribute_exists({expr.n(PK)})"
        if not force:
            condition += f" AND {expr.n('status')} <> {expr.v(SessionStatus.COMPLETED.value)}"
        return self._conditional_update(session_id, expr, update, condition)

    def mark_dead_lettered(self, session_id: str) -> None:
        """Remember the job reached the DLQ, so a redelivery after a crash sends it there once."""
        expr = Expr()
        update = expr.update({"deadLettered": True})
        self._conditional_update(session_id, expr, update, f"attribute_exists({expr.n(PK)})")

    def sessions_of(self, owner: str, *, limit: int, after: tuple[str, str] | None = None) -> SessionListPage:
        """``owner``'s sessions, newest first, at most ``limit``, strictly after ``after``.

        One Query on :data:`OWNER_INDEX` (eventually consistent, as every GSI read is: a
        session created a moment ago may appear on the next call). One item more than asked
        is read so the last page says so (``after`` None) instead of leading to an empty one.
        """
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OWNER_INDEX,
            "KeyConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": OWNER_INDEX_PK},
            "ExpressionAttributeValues": {":owner": {"S": owner}},
            "ScanIndexForward": False,
        }
        if after is not None:
            created_at, session_id = after
            kwargs["ExclusiveStartKey"] = {
                OWNER_INDEX_PK: {"S": owner},
                OWNER_INDEX_SK: {"S": created_at},
                **self._key(session_id),
            }
        page, more = self._query_page(kwargs, limit, summary_from_item)
        return SessionListPage(page, (page[-1]["createdAt"], page[-1]["sessionId"]) if more else None)

    def _query_page(
        self, kwargs: dict[str, Any], limit: int, convert: Callable[[Mapping[str, Any]], dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` converted items, and whether more follow (one more item is read to know)."""
        items: list[dict[str, Any]] = []
        while len(items) <= limit:
            kwargs["Limit"] = limit + 1 - len(items)
            out = self._db.query(**kwargs)
            items.extend(convert(i) for i in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        return items[:limit], len(items) > limit

    # --- events --------------------------------------------------------------------------

    def append(self, event: Mapping[str, Any], session_sets: Mapping[str, Any], *, check_cancel: bool = True) -> None:
        """Store one event and update the session in one transaction, fenced on the attempt.

        Raises :class:`Fenced`, :class:`CancelRequested` or :class:`SessionGone` when the
        condition fails. A retried write that had in fact succeeded is recognised and ignored.
        """
        session_id, attempt, seq = event["sessionId"], int(event["attempt"]), int(event["seq"])
        now, expires = self._stamp()
        item = {PK: session_pk(session_id), SK: event_sk(attempt, seq), TTL_ATTRIBUTE: expires}
        item.update({k: event.get(k) for k in EVENT_FIELDS})
        expr = Expr()
        update = expr.update({**session_sets, "lastSeq": seq, "updatedAt": now, TTL_ATTRIBUTE: expires})
        condition = f"{expr.n('attempt')} = {expr.v(attempt)}"
        if check_cancel:
            cr = expr.n("cancelRequested")
            condition += f" AND (attribute_not_exists({cr}) OR {cr} = {expr.v(False)})"
        request = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(item),
                    "ConditionExpression": "attribute_not_exists(#sk)",
                    "ExpressionAttributeNames": {"#sk": SK},
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(session_id),
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    **expr.kwargs(),
                }
            },
        ]
        for retry in range(_CONFLICT_RETRIES):
            try:
                self._db.transact_write_items(TransactItems=request)
                return
            except self._db.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                codes = [r.get("Code") for r in reasons]
                if "ConditionalCheckFailed" not in codes and "TransactionConflict" in codes:
                    time.sleep(0.005 * (retry + 1))  # a concurrent cancel touched the session
                    continue
                put_failed = codes[:1] == ["ConditionalCheckFailed"]
                old = reasons[1].get("Item") if len(reasons) > 1 else None
                record = SessionRecord.from_item(old) if old else self.get(session_id)
                if put_failed and record is not None and record.attempt == attempt and record.last_seq >= seq:
                    return  # an earlier try of this very write succeeded (SDK retry after a timeout)
                self._raise_if_stopped(record, attempt)
                raise Fenced(f"event {attempt}/{seq} already stored by another writer") from None
        raise Fenced(f"event {attempt}/{seq}: too many transaction conflicts")

    def attempt_text(self, session_id: str, attempt: int) -> str:
        """One attempt's text so far, from its stored events (only ``token`` is read)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK, "#token": "token"},
            "ExpressionAttributeValues": {
                ":pk": {"S": session_pk(session_id)},
                ":low": {"S": event_sk(attempt, 1)},
                ":high": {"S": event_sk(attempt, 999_999_999)},
            },
            "ProjectionExpression": "#token",
            "ConsistentRead": True,
        }
        parts: list[str] = []
        while True:
            out = self._db.query(**kwargs)
            parts.extend(item.get("token", {}).get("S", "") for item in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                return "".join(parts)
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def events(
        self, session_id: str, *, after_attempt: int = 0, after_seq: int = 0, limit: int = 100
    ) -> StoredEventPage:
        """Events strictly after ``(after_attempt, after_seq)``, in order, at most ``limit``."""
        low = event_sk(after_attempt, after_seq + 1)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": {
                ":pk": {"S": session_pk(session_id)},
                ":low": {"S": low},
                ":high": {"S": LAST_EVENT_SK},
            },
            "ConsistentRead": True,
        }
        page, more = self._query_page(kwargs, limit, event_from_item)
        return StoredEventPage(page, page[-1]["attempt"], page[-1]["seq"]) if more else StoredEventPage(page)
