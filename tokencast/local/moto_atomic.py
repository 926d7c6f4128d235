"""Make moto's DynamoDB writes atomic, as DynamoDB's are.

moto server answers requests on threads and evaluates a write's ``ConditionExpression`` and
then applies the write without a lock, so two concurrent conditional writes to one item can
both pass their condition. DynamoDB guarantees each single-item write and each transaction is
atomic; the store's fencing and the quota ledger's optimistic lock (a put conditioned on the
item's ``version``) rely on that. This patch serializes moto's DynamoDB write operations with
one lock per process -- the local stack's write rate is far below what that costs.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_INSTALLED = False


def install() -> None:
    """Patch moto's DynamoDB backend in this process (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in _WRITES:
        original = getattr(DynamoDBBackend, name, None)
        if original is None:
            continue

        @functools.wraps(original)
        def atomic(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, atomic)
    _INSTALLED = True
