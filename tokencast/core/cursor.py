"""``listSessions``' ``nextToken``: an opaque string to clients, a position in the index to us.

The token is base64url of a small JSON object naming the last session of a page
(``createdAt``, ``sessionId``). The owner is *not* in it: the next page's key is rebuilt
with the caller's own principal, so a token copied from someone else (or edited by hand)
can only move the caller within their own list. Anything that does not decode to exactly
that shape is refused as ``InvalidInput`` naming ``nextToken``, before DynamoDB sees it.
"""

from __future__ import annotations

import base64
import binascii
import json

from tokencast.core.clock import parse_iso
from tokencast.core.errors import InvalidInput
from tokencast.core.start_request import MAX_SESSION_ID_CHARS

_VERSION = 1
_MAX_TOKEN_CHARS = 1024
_INVALID = "nextToken: must be a nextToken returned by listSessions"


def encode_cursor(created_at: str, session_id: str) -> str:
    raw = json.dumps({"v": _VERSION, "c": created_at, "s": session_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[str, str]:
    """``(createdAt, sessionId)`` from a token :func:`encode_cursor` made; InvalidInput otherwise."""
    if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN_CHARS:
        raise InvalidInput(_INVALID)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidInput(_INVALID) from None
    if not isinstance(data, dict) or set(data) != {"v", "c", "s"} or data["v"] != _VERSION:
        raise InvalidInput(_INVALID)
    created_at, session_id = data["c"], data["s"]
    if not isinstance(created_at, str) or not isinstance(session_id, str):
        raise InvalidInput(_INVALID)
    if not 0 < len(session_id) <= MAX_SESSION_ID_CHARS:
        raise InvalidInput(_INVALID)
    try:
        parse_iso(created_at)
    except ValueError:
        raise InvalidInput(_INVALID) from None
    return created_at, session_id
