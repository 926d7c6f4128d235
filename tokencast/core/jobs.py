"""The job message on the SQS jobs queue: versioned JSON, parsed into a typed :class:`Job`.

The start handler writes it, the worker reads it, the DLQ keeps it byte for byte and a
replay sends it back with ``replay``/``force`` added. Bodies are ASCII JSON (every non-ASCII
character escaped as a JSON ``\\u`` escape): SQS refuses characters outside its allowed set (e.g.
U+FFFE) that a prompt may legally contain, and moto would not notice. ``version`` lets a later worker refuse
(dead-letter) a message it does not understand instead of guessing.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from tokencast.core.errors import MalformedJob
from tokencast.events import Visibility

JOB_VERSION: Literal[1] = 1

#: How long the dead-letter queue keeps a failed job for inspection and replay: SQS's maximum
#: (14 days). The deployed DLQ (cdk/queues.py) and the local stack's are created with it.
DLQ_RETENTION_S = 14 * 24 * 3600


class Message(BaseModel):
    """One conversation turn, as Bedrock's Converse API wants it (text only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["user", "assistant"]
    text: str


class Job(BaseModel):
    """Everything the worker needs, so it never has to trust anything but the session record."""

    model_config = ConfigDict(frozen=True, extra="ignore", alias_generator=to_camel, populate_by_name=True)

    version: Literal[1] = JOB_VERSION
    session_id: str = Field(min_length=1)
    owner: str
    model_id: str = Field(min_length=1)
    messages: tuple[Message, ...] = Field(min_length=1)
    system: str | None = None
    max_tokens: int = Field(gt=0)
    temperature: float | None = None
    visibility: Visibility = Visibility.PRIVATE
    enqueued_at: str
    #: Set by ``tokencast dlq replay``; ``force`` also re-runs a COMPLETED session.
    replay: bool = False
    force: bool = False

    def to_body(self) -> str:
        """The SQS message body (camelCase JSON; ``replay``/``force`` only when set)."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=False)
        if not self.replay:
            data.pop("replay")
        if not self.force:
            data.pop("force")
        return json.dumps(data, separators=(",", ":"), ensure_ascii=True)


def parse_job(body: str) -> Job:
    """Parse a queue message, or raise :class:`MalformedJob` naming what is wrong.

    The error carries the ``sessionId`` when one can be read, so the worker can still mark
    that session FAILED; it never carries message text.
    """
    try:
        data: Any = json.loads(body)
    except (TypeError, ValueError):
        raise MalformedJob("job is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedJob("job is not a JSON object")
    session_id = data.get("sessionId") if isinstance(data.get("sessionId"), str) and data.get("sessionId") else None
    version = data.get("version")
    if version != JOB_VERSION:
        raise MalformedJob(
            f"unknown job version {version!r} (this worker reads {JOB_VERSION})", "UnknownJobVersion", session_id
        )
    try:
        return Job.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) or "job" for err in exc.errors()})
        raise MalformedJob(f"job fields invalid: {', '.join(fields)}", "MalformedJob", session_id) from None


def replay_body(body: str, *, force: bool) -> str:
    """The body a DLQ replay sends: the original job with ``replay`` (and ``force``) set."""
    data = json.loads(body)
    data["replay"] = True
    data["force"] = bool(force)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True)
