"""Per-owner quotas: active sessions, starts per minute, tokens per day -- one ledger item each.

``startStream`` calls :meth:`QuotaLedger.acquire` before it stores anything: the owner's ledger
item (``pk = QUOTA#<owner>``, ``sk = QUOTA``, in the sessions table) is read consistently,
checked, and written back with a condition on its ``version``, so two concurrent starts can
never both take the last slot (the loser re-reads and is refused, or retries on a race).
The worker calls :meth:`QuotaLedger.settle` when a session ends (COMPLETED, FAILED, CANCELLED):
the slot is removed and the answer's tokens are added to the day's count; both are single
updates that also bump ``version``, so an ``acquire`` that read before them must re-read.

A slot whose session never settles (its job was purged, its worker lost) is reclaimed after
``Quotas.active_session_ttl_s``. Tokens are counted when an answer ends and checked at the next
start, so a day's budget can be overshot by the answers in flight when it ran out, never more.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tokencast.config import Quotas
from tokencast.core.clock import Clock, utc_now
from tokencast.core.errors import EnqueueFailed, QuotaRefused
from tokencast.core.table import PK, SK, TTL_ATTRIBUTE

logger = logging.getLogger(__name__)

QUOTA_PREFIX = "QUOTA#"
QUOTA_SK = "QUOTA"
#: The ledger item outlives a day's token count by one day.
_LEDGER_TTL_S = 2 * 86_400
_RACE_RETRIES = 8


def quota_key(owner: str) -> dict[str, Any]:
    return {PK: {"S": f"{QUOTA_PREFIX}{owner}"}, SK: {"S": QUOTA_SK}}


@dataclass(frozen=True)
class _Ledger:
    version: int
    active: dict[str, int]
    minute: int
    starts: int
    day: str
    tokens: int

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> _Ledger:
        if not item:
            return cls(0, {}, 0, 0, "", 0)
        active = {sid: int(v["N"]) for sid, v in item.get("active", {}).get("M", {}).items()}
        return cls(
            version=int(item["version"]["N"]),
            active=active,
            minute=int(item.get("minute", {}).get("N", "0")),
            starts=int(item.get("starts", {}).get("N", "0")),
            day=item.get("day", {}).get("S", ""),
            tokens=int(item.get("tokens", {}).get("N", "0")),
        )


class QuotaLedger:
    def __init__(self, client: Any, table_name: str, quotas: Quotas, *, clock: Clock = utc_now):
        self._db = client
        self._table = table_name
        self._quotas = quotas
        self._clock = clock

    @property
    def enabled(self) -> bool:
        q = self._quotas
        return any(v is not None for v in (q.max_active_sessions, q.max_starts_per_minute, q.max_tokens_per_day))

    # --- start ---------------------------------------------------------------------------

    def acquire(self, owner: str, session_id: str) -> None:
        """Take a slot for ``session_id`` and count the start, or raise :class:`QuotaRefused`."""
        if not self.enabled:
            return
        for _ in range(_RACE_RETRIES):
            out = self._db.get_item(TableName=self._table, Key=quota_key(owner), ConsistentRead=True)
            ledger = _Ledger.from_item(out.get("Item"))
            item = self._next(owner, session_id, ledger)
            condition: dict[str, Any]
            if ledger.version == 0:
                condition = {
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": PK},
                }
            else:
                condition = {
                    "ConditionExpression": "#version = :version",
                    "ExpressionAttributeNames": {"#version": "version"},
                    "ExpressionAttributeValues": {":version": {"N": str(ledger.version)}},
                }
            try:
                self._db.put_item(TableName=self._table, Item=item, **condition)
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
        raise EnqueueFailed("startStream: too many concurrent starts for this caller; try again")

    def _next(self, owner: str, session_id: str, ledger: _Ledger) -> dict[str, Any]:
        """The ledger after this start, or :class:`QuotaRefused` naming the quota."""
        q = self._quotas
        now = self._clock().timestamp()
        minute = int(now // 60)
        day = self._clock().strftime("%Y-%m-%d")
        active = {sid: exp for sid, exp in ledger.active.items() if exp > now}
        starts = ledger.starts if ledger.minute == minute else 0
        tokens = ledger.tokens if ledger.day == day else 0

        if q.max_active_sessions is not None and session_id not in active and len(active) >= q.max_active_sessions:
            raise _refused(  # no retryAfterSeconds: it depends on when one of them ends
                "maxActiveSessions",
                q.max_active_sessions,
                f"at most {q.max_active_sessions} active sessions per caller; wait for one to end or cancel it",
                None,
            )
        if q.max_starts_per_minute is not None and starts >= q.max_starts_per_minute:
            raise _refused(
                "maxStartsPerMinute",
                q.max_starts_per_minute,
                f"at most {q.max_starts_per_minute} starts per minute per caller",
                max(1, math.ceil((minute + 1) * 60 - now)),
            )
        if q.max_tokens_per_day is not None and tokens >= q.max_tokens_per_day:
            raise _refused(
                "maxTokensPerDay",
                q.max_tokens_per_day,
                f"at most {q.max_tokens_per_day} model tokens per day (UTC) per caller",
                max(1, math.ceil(86_400 - now % 86_400)),
            )

        active[session_id] = int(now) + q.active_session_ttl_s
        return {
            **quota_key(owner),
            "version": {"N": str(ledger.version + 1)},
            "active": {"M": {sid: {"N": str(exp)} for sid, exp in active.items()}},
            "minute": {"N": str(minute)},
            "starts": {"N": str(starts + 1)},
            "day": {"S": day},
            "tokens": {"N": str(tokens)},
            TTL_ATTRIBUTE: {"N": str(int(now) + _LEDGER_TTL_S)},
        }

    # --- end -----------------------------------------------------------------------------

    def release(self, owner: str, session_id: str) -> None:
        """Give the slot back (idempotent); for a start whose job could not be queued."""
        self.settle(owner, session_id, tokens=0)

    def settle(self, owner: str, session_id: str, *, tokens: int = 0) -> None:
        """The session ended: free its slot and count its tokens toward the owner's day."""
        if not self.enabled:
            return
        day = self._clock().strftime("%Y-%m-%d")
        names = {"#pk": PK, "#active": "active", "#sid": session_id, "#version": "version", "#day": "day"}
        names["#tokens"] = "tokens"
        same_day = {
            "UpdateExpression": "REMOVE #active.#sid SET #version = #version + :one ADD #tokens :tokens",
            "ConditionExpression": "attribute_exists(#pk) AND #day = :day",
        }
        new_day = {
            "UpdateExpression": "REMOVE #active.#sid SET #version = #version + :one, #day = :day, #tokens = :tokens",
            "ConditionExpression": "attribute_exists(#pk) AND #day <> :day",
        }
        for update in (same_day, new_day):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=quota_key(owner),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":tokens": {"N": str(max(0, tokens))},
                        ":day": {"S": day},
                    },
                    **update,
                )
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
        # No ledger item: nothing was acquired (quotas were off, or the item expired).


def _refused(quota: str, limit: int, rule: str, retry_after_s: int | None) -> QuotaRefused:
    return QuotaRefused(
        f"startStream: {rule}",
        info={"quota": quota, "limit": limit, "retryAfterSeconds": retry_after_s},
    )


def settle_quietly(ledger: QuotaLedger | None, owner: str, session_id: str, *, tokens: int = 0) -> None:
    """Settle, logging instead of raising: a lost release costs a slot until its TTL, not the job."""
    if ledger is None:
        return
    try:
        ledger.settle(owner, session_id, tokens=tokens)
    except Exception as exc:
        logger.warning("quota settle failed", extra={"error": type(exc).__name__})
