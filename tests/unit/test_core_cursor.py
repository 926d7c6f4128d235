"""listSessions' nextToken: round trip, and every malformed or tampered token is InvalidInput."""

from __future__ import annotations

import base64
import json

import pytest

from tokencast.core.cursor import decode_cursor, encode_cursor
from tokencast.core.errors import InvalidInput


def b64(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_round_trip_is_opaque_url_safe_text():
    token = encode_cursor("2026-03-01T10:00:01.000Z", "3f0c2d2e-6a41-4b8e-a4a9-6a5f8f0f4b1e")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(token) == ("2026-03-01T10:00:01.000Z", "3f0c2d2e-6a41-4b8e-a4a9-6a5f8f0f4b1e")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64 at all!",
        "x" * 2000,
        b64(["a", "list"]),
        b64({"v": 1, "c": "2026-03-01T10:00:01.000Z"}),  # a field missing
        b64({"v": 2, "c": "2026-03-01T10:00:01.000Z", "s": "s1"}),  # another version
        b64({"v": 1, "c": "yesterday", "s": "s1"}),  # not a time
        b64({"v": 1, "c": "2026-03-01T10:00:01.000Z", "s": ""}),
        b64({"v": 1, "c": "2026-03-01T10:00:01.000Z", "s": 7}),
        b64({"v": 1, "c": "2026-03-01T10:00:01.000Z", "s": "s1", "owner": "bob"}),  # an extra field
    ],
)
def test_a_token_listsessions_did_not_make_is_invalid_input(token):
    with pytest.raises(InvalidInput, match="^nextToken: must be a nextToken returned by listSessions$"):
        decode_cursor(token)
