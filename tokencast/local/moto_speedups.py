"""moto hot spots the local stack hits on every stored event and every request.

**Routing.** moto server lists its own package directory (``os.listdir`` + ``isdir`` over
~150 folders) on every request to find the service; the list cannot change while the
process runs, so it is computed once (GetItem 4.7 → 3.6 ms here).

**Expressions.** Each distinct condition and update expression is parsed once
(:func:`cache_parsed_expressions`): a stored event's transaction 3.9 → 2.2-2.9 ms in moto.

**Transactions.** Keep ``TransactWriteItems`` O(items touched) instead of O(table).

moto 5 snapshots every table a transaction names with ``copy.deepcopy(table)`` so it can
roll back on a failed condition. The worker stores every event with one transaction, so a
long-running ``tokencast up`` (or a soak) slows down as the table grows: about 11 ms per event
with 10 items, 230 ms at 5,000. Real DynamoDB has no such cost, and no option of moto's turns
it off, hence this patch.

While a transaction runs, a table's deep copy becomes a *rollback snapshot*: the map of
partitions is copied, untouched partitions are shared with the live table, and of the
partitions the transaction names only the map and the items it names are copied, because only
those can change. (Copying whole partitions made each stored event cost O(events already in
its session): 7 million objects after a few hundred answers, and full garbage collections of
up to a second that stalled every stream.) Everything else about moto's transaction (checks,
errors, rollback by swapping the table back) is unchanged, and outside transactions
``deepcopy(table)`` behaves as before.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any

_TOUCHED: ContextVar[dict[str, set[Any]] | None] = ContextVar("tokencast_moto_touched", default=None)
_INSTALLED = False


def install() -> None:
    """Patch moto's routing and DynamoDB backend in this process (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    import moto.backends
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        touched: dict[str, set[tuple[Any, Any]]] = {}
        for entry in transact_items:
            for operation in entry.values():
                table = self.tables.get(operation.get("TableName"))
                if table is None:
                    continue
                key = operation.get("Key") or operation.get("Item") or {}
                hash_value = key.get(table.hash_key_attr)
                range_value = key.get(table.range_key_attr) if table.range_key_attr else None
                if hash_value is not None:
                    touched.setdefault(table.name, set()).add(
                        (DynamoType(hash_value), DynamoType(range_value) if range_value is not None else None)
                    )
        token = _TOUCHED.set(touched)
        try:
            return original(self, transact_items)
        finally:
            _TOUCHED.reset(token)

    def table_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        touched = _TOUCHED.get()
        if touched is None:
            clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
            return clone
        clone.__dict__.update(self.__dict__)
        # The outer map is copied without rehashing (DynamoType hashes are slow). What the
        # transaction cannot touch is shared with the live table; a touched partition's map is
        # copied (a Put or Delete changes it) and only the touched items in it are deep-copied
        # (an Update changes them in place) -- not the whole partition, which for a session is
        # every event it has stored.
        items = copy.copy(self.items)
        copied: set[Any] = set()
        for hash_value, range_value in touched.get(self.name, set()):
            if hash_value not in items:
                continue
            if range_value is None:
                items[hash_value] = copy.deepcopy(items[hash_value], memo)
                continue
            if hash_value not in copied:
                items[hash_value] = copy.copy(items[hash_value])
                copied.add(hash_value)
            partition = items[hash_value]
            if range_value in partition:
                partition[range_value] = copy.deepcopy(partition[range_value], memo)
        clone.items = items
        return clone

    stop_tracking_instances("dynamodb", "sqs")
    cache_parsed_expressions()
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    # Monkey-patching moto is the point of this module (pinned to the minor version tested).
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Table.__deepcopy__ = table_deepcopy  # type: ignore[attr-defined]
    _INSTALLED = True


class _Untracked(list[Any]):
    """A model's ``instances_tracked`` that keeps nothing."""

    def append(self, _instance: Any) -> None:
        pass


def stop_tracking_instances(*services: str) -> None:
    """moto appends every model instance it ever creates to its class's ``instances_tracked``
    (for its model browser, ``/moto-api/data.json``), so every item stored, every transaction
    snapshot and every SQS message stayed in memory for the server's life -- and in every full
    garbage collection. Nothing of ours reads those lists."""
    import importlib

    from moto.core.model_instances import model_data

    for service in services:
        importlib.import_module(f"moto.{service}.models")
        for model in model_data[service].values():
            setattr(model, "instances_tracked", _Untracked())  # noqa: B010 -- moto's class attribute, untyped


#: distinct expressions kept parsed; the stack writes a few dozen shapes
_EXPRESSION_CACHE_SIZE = 1024
_VALUE_PLACEHOLDER = re.compile(r":[A-Za-z0-9_]+")


def cache_parsed_expressions() -> None:
    """Parse each condition and update expression once, not on every request.

    moto parses a transaction's expressions several times per request (the Update's condition
    three times, its update expression twice) with a pure-Python lexer: about a quarter of each
    stored event's time in moto. The parsed forms are only read afterwards (moto's validator
    deep-copies the update AST before filling it in), so they can be shared.

    A condition's parse depends on its text, the attribute names and the values it refers to;
    the parser also records which names and values it used (moto's "unused placeholder"
    checks read them), and a cached parse restores that record.
    """
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import expressions

    update_parser: Any = vars(expressions)["UpdateExpressionParser"]  # untyped in moto

    parse_condition = ConditionExpressionParser.parse
    conditions: OrderedDict[str, tuple[Any, list[str], list[str]]] = OrderedDict()
    lock = threading.Lock()

    def cached_condition(self: Any) -> Any:
        expression = self.condition_expression
        if not expression:
            return parse_condition(self)
        values = self.expression_attribute_values or {}
        referenced = {name: values.get(name) for name in _VALUE_PLACEHOLDER.findall(expression)}
        key = json.dumps([expression, self.expression_attribute_names, referenced], sort_keys=True, default=str)
        with lock:
            hit = conditions.get(key)
            if hit is not None:
                conditions.move_to_end(key)
        if hit is None:
            op = parse_condition(self)
            hit = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
            with lock:
                conditions[key] = hit
                if len(conditions) > _EXPRESSION_CACHE_SIZE:
                    conditions.popitem(last=False)
            return op
        op, names_found, values_found = hit
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)
        return op

    parse_update = functools.lru_cache(maxsize=_EXPRESSION_CACHE_SIZE)(update_parser.make)

    ConditionExpressionParser.parse = cached_condition  # type: ignore[method-assign]
    update_parser.make = staticmethod(parse_update)
