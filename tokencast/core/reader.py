"""Reading the sessions table: one session, an attempt's text, the event log and owner lists, by page.

The read half of the session store (:class:`tokencast.core.store.SessionStore` adds the
conditional writes on top). Nothing here writes, takes a condition or needs the clock; the
pages read one item more than asked, so a last page says it is the last instead of leading
to an empty one. The table's layout is :mod:`tokencast.core.table`; its items become Python
values through :mod:`tokencast.core.records`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from tokencast.core.records import (
    SessionListPage,
    SessionRecord,
    StoredEventPage,
    event_from_item,
    summary_from_item,
)
from tokencast.core.table import (
    LAST_EVENT_SK,
    OWNER_INDEX,
    OWNER_INDEX_PK,
    OWNER_INDEX_SK,
    PK,
    SESSION_SK,
    SK,
    event_sk,
    session_pk,
)


class SessionReader:
    """Reads of one sessions table through DynamoDB's low-level client."""

    def __init__(self, client: Any, table_name: str):
        self._db = client
        self._table = table_name

    def _key(self, session_id: str) -> dict[str, Any]:
        return {PK: {"S": session_pk(session_id)}, SK: {"S": SESSION_SK}}

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

    def sessions_of(self, owner: str, *, limit: int, after: tuple[str, str] | None = None) -> SessionListPage:
        """``owner``'s sessions, newest first, at most ``limit``, strictly after ``after``.

        One Query on :data:`~tokencast.core.table.OWNER_INDEX` (eventually consistent, as every
        GSI read is: a session created a moment ago may appear on the next call).
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
