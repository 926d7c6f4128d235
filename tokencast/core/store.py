"""The DynamoDB table: one session item plus an append-only event log per session.

Layout (shared with ``cdk/`` and the local stack, which create the table from these names)::

    pk = SESSION  # <sessionId>   sk = SESSION                     the session record
    pk = SESSION  # <sessionId>   sk = EVENT#<attempt:06d>#<seq:09d> one TokenEvent

    index byOwner: owner (HASH), createdAt (RANGE)   session items only (events have no createdAt)

Sort keys order events by ``(attempt, seq)``, so ``getEvents`` is one Query. Every event is
written in a transaction with the session update, conditioned on the writer's attempt still
being current and no cancel pending: fencing and cancel detection cost no extra round trip.
When that condition fails, the store says why with :class:`Fenced`, :class:`CancelRequested`
or :class:`SessionGone`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from tokencast.core.clock import Clock, iso, utc_now
from tokencast.core.errors import CancelRequested, Fenced, SessionGone
from tokencast.events import SessionStatus, Visibility

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expiresAt"
SESSION_PREFIX = "SESSION#"
SESSION_SK = "SESSION"
EVENT_PREFIX = "EVENT#"

#: The TokenEvent fields, in schema order; an event item holds exactly these (+ keys, TTL).
EVENT_FIELDS = (
    "sessionId",
    "attempt",
    "seq",
    "type",
    "token",
    "isComplete",
    "stopReason",
    "usage",
    "error",
    "timestamp",
    "owner",
    "visibility",
)

#: The global secondary index ``listSessions`` reads: one owner's sessions by creation time.
#: Event items carry ``owner`` but no ``createdAt``, so the index holds session items only.
OWNER_INDEX = "byOwner"
OWNER_INDEX_PK = "owner"
OWNER_INDEX_SK = "createdAt"
#: The ``SessionSummary`` GraphQL fields, in schema order: what a session list shows.
#: The index projects exactly these, none of which a TOKEN event changes (text, lastSeq,
#: updatedAt and the TTL are left out), so streaming an answer never writes to the index.
SUMMARY_FIELDS = (
    "sessionId",
    "status",
    "message",
    "createdAt",
    "attempt",
    "modelId",
    "visibility",
    "usage",
    "stopReason",
    "error",
)
#: Non-key attributes the index projects (its keys and the table's are always projected).
OWNER_INDEX_PROJECTION = tuple(f for f in SUMMARY_FIELDS if f not in (OWNER_INDEX_PK, OWNER_INDEX_SK))

_LAST_EVENT_SK = f"{EVENT_PREFIX}999999#999999999"
_CONFLICT_RETRIES = 5


def session_pk(session_id: str) -> str:
    return f"{SESSION_PREFIX}{session_id}"


def event_sk(attempt: int, seq: int) -> str:
    return f"{EVENT_PREFIX}{attempt:06d}#{seq:09d}"


def table_definition(table_name: str) -> dict[str, Any]:
    """``create_table`` arguments for the table (on-demand); pair with :func:`ttl_specification`."""
    return {
        "TableName": table_name,
        "KeySchema": [{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in (PK, SK, OWNER_INDEX_PK, OWNER_INDEX_SK)
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": OWNER_INDEX,
                "KeySchema": [
                    {"AttributeName": OWNER_INDEX_PK, "KeyType": "HASH"},
                    {"AttributeName": OWNER_INDEX_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(OWNER_INDEX_PROJECTION)},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def ttl_specification() -> dict[str, Any]:
    """``update_time_to_live`` ``TimeToLiveSpecification`` argument."""
    return {"Enabled": True, "AttributeName": TTL_ATTRIBUTE}


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
        data = _plain(_deserialize(item))
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
        return {
            "sessionId": self.session_id,
            "status": self.status.value,
            "message": self.message,
            "timestamp": self.updated_at or self.created_at,
            "error": self.error,
            "attempt": self.attempt,
            "text": self.text,
            "lastSeq": self.last_seq,
            "usage": dict(self.usage) if self.usage else None,
            "stopReason": self.stop_reason,
            "modelId": self.model_id,
            "visibility": self.visibility,
            "owner": self.owner,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


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
class EventPage:
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


@dataclass
class _Expr:
    """Builds expression attribute names/values so no reserved word ever bites."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def n(self, attribute: str) -> str:
        key = f"#{attribute}"
        self.names[key] = attribute
        return key

    def v(self, value: Any) -> str:
        key = f":v{len(self.values)}"
        self.values[key] = _SER.serialize(value)
        return key

    def update(
        self,
        sets: Mapping[str, Any],
        removes: Iterable[str] = (),
        adds: Mapping[str, int] | None = None,
        copies: Mapping[str, str] | None = None,
    ) -> str:
        """SET (None values become REMOVE), ADD, and ``copies`` as SET target = source."""
        parts = []
        set_items = [f"{self.n(k)} = {self.v(v)}" for k, v in sets.items() if v is not None]
        set_items += [f"{self.n(k)} = {self.n(src)}" for k, src in (copies or {}).items()]
        remove_items = [self.n(k) for k in removes] + [self.n(k) for k, v in sets.items() if v is None]
        if set_items:
            parts.append("SET " + ", ".join(set_items))
        if adds:
            parts.append("ADD " + ", ".join(f"{self.n(k)} {self.v(v)}" for k, v in adds.items()))
        if remove_items:
            parts.append("REMOVE " + ", ".join(remove_items))
        return " ".join(parts)

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        return out


_SER = TypeSerializer()
_DES = TypeDeserializer()


def _serialize(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(v) for k, v in data.items() if v is not None}


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _DES.deserialize(v) for k, v in item.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; everything we store is an int."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _message(status: SessionStatus, attempt: int = 0, error: str | None = None) -> str:
    if status == SessionStatus.STREAMING:
        return f"streaming (attempt {attempt})"
    if status == SessionStatus.RETRYING:
        return f"retrying after attempt {attempt}: {error}"
    if status == SessionStatus.FAILED:
        return f"failed: {error}"
    return status.value.lower()


def status_message(status: SessionStatus, attempt: int = 0, error: str | None = None) -> str:
    """The human-readable ``Session.message`` for a status (kept from the sample schema)."""
    return _message(status, attempt, error)


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

    def _conditional_update(self, session_id: str, expr: _Expr, update: str, condition: str) -> SessionRecord | None:
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
            "message": _message(SessionStatus.QUEUED),
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
                Item=_serialize(item),
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
        return SessionRecord.from_item(_serialize(item)), True

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

    def begin_attempt(self, session_id: str, *, force: bool = False) -> Begin:
        """Take the next attempt number atomically, so no delivery ever reuses one.

        COMPLETED/FAILED sessions are skipped (duplicate delivery) unless ``force``; a session
        cancelled while queued gets an attempt only to record its CANCELLED event.
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
            now, expires = self._stamp()
            expr = _Expr()
            update = expr.update(
                {
                    "status": status.value,
                    "message": _message(status, seen.attempt + 1),
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
        expr = _Expr()
        update = expr.update(
            {
                "status": SessionStatus.RETRYING.value,
                "message": _message(SessionStatus.RETRYING, attempt, error),
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
        expr = _Expr()
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
        expr = _Expr()
        update = expr.update({"cancelRequested": True, "message": "cancel requested", "updatedAt": now})
        status = expr.n("status")
        condition = f"{status} IN ({expr.v(SessionStatus.STREAMING.value)}, {expr.v(SessionStatus.RETRYING.value)})"
        return self._conditional_update(session_id, expr, update, condition)

    def requeue(self, session_id: str, *, force: bool = False) -> SessionRecord | None:
        """Back to QUEUED for a replay, with a fresh attempt budget; None if missing or (unforced) COMPLETED."""
        now, expires = self._stamp()
        expr = _Expr()
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
        expr = _Expr()
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
        items: list[dict[str, Any]] = []
        while len(items) <= limit:
            kwargs["Limit"] = limit + 1 - len(items)
            out = self._db.query(**kwargs)
            items.extend(summary_from_item(i) for i in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        if len(items) > limit:
            page = items[:limit]
            return SessionListPage(page, (page[-1]["createdAt"], page[-1]["sessionId"]))
        return SessionListPage(items)

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
        expr = _Expr()
        update = expr.update({**session_sets, "lastSeq": seq, "updatedAt": now, TTL_ATTRIBUTE: expires})
        condition = f"{expr.n('attempt')} = {expr.v(attempt)}"
        if check_cancel:
            cr = expr.n("cancelRequested")
            condition += f" AND (attribute_not_exists({cr}) OR {cr} = {expr.v(False)})"
        request = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _serialize(item),
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

    def events(self, session_id: str, *, after_attempt: int = 0, after_seq: int = 0, limit: int = 100) -> EventPage:
        """Events strictly after ``(after_attempt, after_seq)``, in order, at most ``limit``."""
        low = event_sk(after_attempt, after_seq + 1)
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": {
                ":pk": {"S": session_pk(session_id)},
                ":low": {"S": low},
                ":high": {"S": _LAST_EVENT_SK},
            },
            "ConsistentRead": True,
        }
        while len(items) <= limit:
            kwargs["Limit"] = limit + 1 - len(items)
            out = self._db.query(**kwargs)
            items.extend(event_from_item(i) for i in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        if len(items) > limit:
            page = items[:limit]
            return EventPage(page, page[-1]["attempt"], page[-1]["seq"])
        return EventPage(items)


def summary_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A session item (or its index projection) as the GraphQL ``SessionSummary``."""
    data = _plain(_deserialize(item))
    summary = {name: data.get(name) for name in SUMMARY_FIELDS}
    summary["attempt"] = int(summary["attempt"] or 0)
    summary["visibility"] = summary["visibility"] or Visibility.PRIVATE.value
    return summary


def event_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored event as the GraphQL ``TokenEvent`` (absent optional fields are null)."""
    data = _plain(_deserialize(item))
    return {name: data.get(name) for name in EVENT_FIELDS}
