"""The DynamoDB table's layout and the expression/serialisation helpers its store uses.

Layout (shared with ``cdk/`` and the local stack, which create the table from these names)::

    pk = SESSION  # <sessionId>   sk = SESSION                     the session record
    pk = SESSION  # <sessionId>   sk = EVENT#<attempt:06d>#<seq:09d> one TokenEvent

    index byOwner: owner (HASH), createdAt (RANGE)   session items only (events have no createdAt)

Sort keys order events by ``(attempt, seq)``, so ``getEvents`` is one Query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from tokencast.core.models import SUMMARY_FIELDS

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expiresAt"
SESSION_PREFIX = "SESSION#"
SESSION_SK = "SESSION"
EVENT_PREFIX = "EVENT#"

#: The global secondary index ``listSessions`` reads: one owner's sessions by creation time.
#: Event items carry ``owner`` but no ``createdAt``, so the index holds session items only.
OWNER_INDEX = "byOwner"
OWNER_INDEX_PK = "owner"
OWNER_INDEX_SK = "createdAt"
#: Non-key attributes the index projects: the ``SessionSummary`` fields (what a session list
#: shows), none of which a TOKEN event changes (text, lastSeq, updatedAt and the TTL are left
#: out), so streaming an answer never writes to the index. Keys are always projected.
OWNER_INDEX_PROJECTION = tuple(f for f in SUMMARY_FIELDS if f not in (OWNER_INDEX_PK, OWNER_INDEX_SK))

LAST_EVENT_SK = f"{EVENT_PREFIX}999999#999999999"


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


@dataclass
class Expr:
    """Builds expression attribute names/values so no reserved word ever bites."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def n(self, attribute: str) -> str:
        key = f"#{attribute}"
        self.names[key] = attribute
        return key

    def v(self, value: Any) -> str:
        key = f":v{len(self.values)}"
        self.values[key] = _SERIALIZER.serialize(value)
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


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def serialize(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZER.serialize(v) for k, v in data.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; everything we store is an int."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
