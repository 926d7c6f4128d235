"""JSON from clients, parsed with a nesting limit.

``json.loads`` recurses once per level and raises ``RecursionError`` (not ``ValueError``)
somewhere near a thousand levels; GraphQL variable coercion recurses over whatever it was
given as well. Every JSON the emulator reads from a client -- the HTTP body, the real-time
``header``/``payload`` query parameters and ``header-`` subprotocol, each real-time frame and
its ``payload.data`` -- goes through :func:`loads`, so too-deep input is one more kind of
malformed input (a ``ValueError``) with its own message, never a crash or a traceback.
"""

from __future__ import annotations

import json
from typing import Any

#: Far deeper than any GraphQL request needs (the schema's deepest input is 3 levels).
MAX_JSON_DEPTH = 64


class JsonTooDeep(ValueError):
    """The document nests objects/arrays deeper than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON is nested deeper than {limit} levels")
        self.limit = limit


def loads(data: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that raises ``ValueError`` for every bad input, :class:`JsonTooDeep` included."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise JsonTooDeep(max_depth) from None
    if depth_exceeds(value, max_depth):
        raise JsonTooDeep(max_depth)
    return value


def depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests containers more than ``limit`` levels (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
