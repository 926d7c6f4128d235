"""AppSync's subscription filtering: argument equality and enhanced subscription filters.

Two rules decide whether a mutation's result reaches a subscriber, both evaluated against
the fields the *mutation* selected:

* every argument the subscriber passed must equal the result field of the same name
  (a field the mutation did not select never matches);
* the filter a subscription resolver set with ``extensions.setSubscriptionFilter`` must
  match: groups are ORed, the filters inside a group ANDed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_MISSING = object()


def _lookup(payload: Mapping[str, Any], dotted: str) -> Any:
    value: Any = payload
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(actual: Any, expected: Any) -> bool:
        try:
            return actual is not None and op(actual, expected)
        except TypeError:
            return False

    return compare


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, (str, list, tuple)):
        return expected in actual
    return False


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, e: a == e,
    "ne": lambda a, e: a != e,
    "le": _ordered(lambda a, e: a <= e),
    "lt": _ordered(lambda a, e: a < e),
    "ge": _ordered(lambda a, e: a >= e),
    "gt": _ordered(lambda a, e: a > e),
    "contains": _contains,
    "notContains": lambda a, e: not _contains(a, e),
    "beginsWith": lambda a, e: isinstance(a, str) and a.startswith(e),
    "in": lambda a, e: a in (e or ()),
    "notIn": lambda a, e: a not in (e or ()),
    "between": _ordered(lambda a, e: e[0] <= a <= e[1]),
    "containsAny": lambda a, e: isinstance(a, (list, tuple)) and any(x in a for x in e),
}


class FilterError(ValueError):
    """A filter a resolver produced is not one AppSync would accept."""


def validate_filter(spec: Mapping[str, Any]) -> None:
    groups = spec.get("filterGroup")
    if not isinstance(groups, list) or not groups:
        raise FilterError("filterGroup must be a non-empty list")
    for group in groups:
        for item in group.get("filters", ()):
            if item.get("operator") not in OPERATORS:
                raise FilterError(f"unsupported filter operator {item.get('operator')!r}")
            if not isinstance(item.get("fieldName"), str):
                raise FilterError("every filter needs a fieldName")


def matches_filter(spec: Mapping[str, Any] | None, payload: Mapping[str, Any]) -> bool:
    """True when any group has all its filters true for ``payload``."""
    if not spec:
        return True
    return any(all(_matches(item, payload) for item in group.get("filters", ())) for group in spec["filterGroup"])


def _matches(item: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    actual = _lookup(payload, item["fieldName"])
    if actual is _MISSING:
        return False
    return OPERATORS[item["operator"]](actual, item.get("value"))


def matches_arguments(arguments: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Every non-null subscription argument equals the result field of the same name."""
    for name, expected in arguments.items():
        if expected is None:
            continue
        if payload.get(name, _MISSING) != expected:
            return False
    return True
