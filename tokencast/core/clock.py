"""Time in the one format the contract uses: ISO-8601 UTC, milliseconds, ``Z`` suffix.

AppSync's ``AWSDateTime`` accepts it, the emulator's ``util.time.nowISO8601()`` twin
produces it, and sorting the strings sorts the instants.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: Anything that says what time it is; tests pass a fixed or stepping clock.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
