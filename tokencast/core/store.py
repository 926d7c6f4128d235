"""The session store's writes: a session's lifecycle and its fenced, append-only event log.

Reads (one session, the event log and owner lists by page) are :class:`SessionReader`'s,
which :class:`SessionStore` extends; the table's layout is :mod:`tokencast.core.table`, its
items as Python values (both ways) :mod:`tokencast.core.records`. Every write is
conditional. Every event is written in a transaction with the session update, conditioned
on the writer's attempt still being current and no cancel pending: fencing and cancel
detection cost no extra round trip. When that condition fails, the store says why with
:class:`Fenced`, :class:`CancelRequested` or :class:`SessionGone`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from tokencast.core.clock import Clock, iso, utc_now
from tokencast.core.errors import CancelRequested, Fenced, SessionGone
from tokencast.core.reader import SessionReader
from tokencast.core.records import Begin, BeginKind, SessionRecord, event_item, new_session_item, status_message
from tokencast.core.table import PK, SK, TTL_ATTRIBUTE, Expr, serialize
from tokencast.events import SessionStatus

_CONFLICT_RETRIES = 5


def _no_cancel_pending(expr: Expr) -> str:
    """The condition "the owner has not asked to cancel" (the flag absent or false)."""
    cancel_requested = expr.n("cancelRequested")
    return f"(attribute_not_exists({cancel_requested}) OR {cancel_requested} = {expr.v(False)})"


class SessionStore(SessionReader):
    """Sessions and their event log in one DynamoDB table: the reads, and the conditional writes."""

    def __init__(self, client: Any, table_name: str, *, ttl_days: int = 7, clock: Clock = utc_now):
        super().__init__(client, table_name)
        self._ttl = timedelta(days=ttl_days)
        self._clock = clock

    # --- helpers -------------------------------------------------------------------------

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
        item = serialize(
            new_session_item(
                session_id=session_id,
                owner=owner,
                visibility=visibility,
                model_id=model_id,
                request_fingerprint=request_fingerprint,
                now=now,
                expires=expires,
            )
        )
        while True:
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": PK},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except self._db.exceptions.ConditionalCheckFailedException as exc:
                old = exc.response.get("Item")
                existing = SessionRecord.from_item(old) if old else self.get(session_id)
                if existing is not None:
                    return existing, False
                continue  # deleted in between (delete_queued of a start that failed): put again
            return SessionRecord.from_item(item), True

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
        condition = f"{expr.n('attempt')} = {expr.v(attempt)} AND {_no_cancel_pending(expr)}"
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

    # --- events --------------------------------------------------------------------------

    def append(self, event: Mapping[str, Any], session_sets: Mapping[str, Any], *, check_cancel: bool = True) -> None:
        """Store one event and update the session in one transaction, fenced on the attempt.

        Raises :class:`Fenced`, :class:`CancelRequested` or :class:`SessionGone` when the
        condition fails. A retried write that had in fact succeeded is recognised and ignored.
        """
        session_id, attempt, seq = event["sessionId"], int(event["attempt"]), int(event["seq"])
        now, expires = self._stamp()
        item = event_item(event, expires)
        expr = Expr()
        update = expr.update({**session_sets, "lastSeq": seq, "updatedAt": now, TTL_ATTRIBUTE: expires})
        condition = f"{expr.n('attempt')} = {expr.v(attempt)}"
        if check_cancel:
            condition += f" AND {_no_cancel_pending(expr)}"
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
