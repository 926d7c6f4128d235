"""DynamoDB on the local stack, metered: an injected round trip and a write-unit count.

Benchmarks need two things moto does not give: DynamoDB's network round trip (a few ms in
the cloud, ~0 on loopback) and what a workload would cost, in DynamoDB write request units.
:class:`MotoMeter` wraps moto server's WSGI application:

* ``latency_s`` -- every DynamoDB request waits this long before moto answers it (on the
  request's own server thread, so concurrent requests overlap as they would in the cloud);
* counters per operation, and write units computed as DynamoDB bills them: per item
  written, ``ceil(max(size before, size after) / 1 KB)``, doubled inside a transaction. Sizes
  come from moto's own item size (attribute names plus values), read before and after the
  request runs.

It sits in front of moto only on the local stack; handlers cannot tell. Wherever moto runs
(a thread of the stack, or its own process), benchmarks steer and read it over HTTP at
``/_local/dynamodb/meter``: GET → ``{"operations", "writeUnits", "latencyMs"}``; POST
``{"latency_ms": 8}`` sets the injected round trip, ``{"reset": true}`` zeroes the counters;
with the stack's API key in ``x-api-key``, like every ``/_local`` path.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

CONTROL_PATH = "/_local/dynamodb/meter"
_TARGET_PREFIX = "DynamoDB_20120810."
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class MotoMeter:
    """WSGI middleware for moto server; thread-safe; read :meth:`snapshot`, zero with :meth:`reset`."""

    def __init__(self, app: WsgiApp, *, account: str, region: str, api_key: str | None = None) -> None:
        self._app = app
        self._api_key = api_key
        self._account = account
        self._region = region
        self._lock = threading.Lock()
        self.latency_s = 0.0
        self.operations: Counter[str] = Counter()
        self.write_units = 0

    def reset(self) -> None:
        with self._lock:
            self.operations.clear()
            self.write_units = 0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"operations": dict(self.operations), "writeUnits": self.write_units}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == CONTROL_PATH:
            return self._control(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(_TARGET_PREFIX):
            return self._app(environ, start_response)
        operation = target[len(_TARGET_PREFIX) :]
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        if operation not in _WRITES:
            with self._lock:
                self.operations[operation] += 1
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = _Body(raw)
        writes = _written_items(operation, json.loads(raw or b"{}"))
        before = [self._item_size(table, key) for table, key, _ in writes]
        out = list(self._app(environ, start_response))
        units = 0
        for (table, key, transactional), size_before in zip(writes, before, strict=True):
            size = max(size_before, self._item_size(table, key))
            units += max(1, math.ceil(size / 1024)) * (2 if transactional else 1)
        with self._lock:
            self.operations[operation] += 1
            self.write_units += units
        return out

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._api_key is not None and not hmac.compare_digest(
            environ.get("HTTP_X_API_KEY", "").encode(), self._api_key.encode()
        ):
            start_response("401 Unauthorized", [("Content-Type", "application/json"), ("Content-Length", "2")])
            return [b"{}"]
        if environ.get("REQUEST_METHOD") == "POST":
            body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"{}")
            if "latency_ms" in body:
                self.latency_s = float(body["latency_ms"]) / 1000
            if body.get("reset"):
                self.reset()
        payload = json.dumps({**self.snapshot(), "latencyMs": self.latency_s * 1000}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    def _item_size(self, table_name: str, key: Mapping[str, Any]) -> int:
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.dynamo_type import DynamoType

        try:
            table = dynamodb_backends[self._account][self._region].get_table(table_name)
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            item = table.get_item(hash_value, range_value)
        except Exception:  # no such table or key yet: nothing there before the write
            return 0
        return int(item.size()) if item is not None else 0


def _written_items(operation: str, body: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], bool]]:
    """(table, key attributes, transactional) for each item a write request touches."""
    if operation == "TransactWriteItems":
        out = []
        for entry in body.get("TransactItems", []):
            for kind, request in entry.items():
                if kind != "ConditionCheck":
                    out.append((request["TableName"], request.get("Key") or request.get("Item") or {}, True))
        return out
    if operation == "BatchWriteItem":
        return [
            (table, (r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key") or {}, False)
            for table, requests in body.get("RequestItems", {}).items()
            for r in requests
        ]
    return [(body.get("TableName", ""), body.get("Key") or body.get("Item") or {}, False)]


class _Body:
    """The request body, re-readable after the meter read it."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._raw) if size is None or size < 0 else self._pos + size
        chunk = self._raw[self._pos : end]
        self._pos += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)
