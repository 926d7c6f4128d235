"""Encoder for the AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

Part of the local stand-in for Amazon Bedrock: ConverseStream answers with a sequence of
these frames, and botocore only decodes a streaming body framed this way. Only the encoder
lives here; tests decode with botocore's own ``botocore.eventstream.EventStreamBuffer`` so
the framing is checked against the real client rather than against itself.

Frame layout (all integers big-endian)::

    prelude   total length (u32) | headers length (u32) | CRC32 of the previous 8 bytes (u32)
    headers   name length (u8) | name | type 7 = string (u8) | value length (u16) | value
    payload   bytes
    trailer   CRC32 of everything before it (u32)
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

#: Limits botocore enforces when decoding; exceeding them would make the client fail.
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 16 * 1024 * 1024

_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")
_STRING_TYPE = 7


def _encode_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
    if len(raw_name) > 255 or len(raw_value) > 0x7FFF:
        raise ValueError(f"event-stream header {name!r} is too long")
    return bytes([len(raw_name)]) + raw_name + bytes([_STRING_TYPE]) + struct.pack(">H", len(raw_value)) + raw_value


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One complete frame with string headers, ready to write to the wire."""
    raw_headers = b"".join(_encode_header(name, value) for name, value in headers.items())
    if len(raw_headers) > MAX_HEADERS_LENGTH or len(payload) > MAX_PAYLOAD_LENGTH:
        raise ValueError("event-stream message exceeds botocore's limits")
    prelude = _PRELUDE.pack(_PRELUDE.size + _CRC.size + len(raw_headers) + len(payload) + _CRC.size, len(raw_headers))
    message = prelude + _CRC.pack(zlib.crc32(prelude)) + raw_headers + payload
    return message + _CRC.pack(zlib.crc32(message))


def encode_event(event_type: str, body: Mapping[str, Any]) -> bytes:
    """A modelled event (``:message-type event``) such as ``contentBlockDelta``, JSON payload."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(body, separators=(",", ":")).encode("utf-8"))


def encode_exception(exception_type: str, body: Mapping[str, Any]) -> bytes:
    """A modelled in-stream error (``:message-type exception``); botocore raises ``EventStreamError``."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, json.dumps(body, separators=(",", ":")).encode("utf-8"))
