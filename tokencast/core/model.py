"""Bedrock ConverseStream as "an iterator of text deltas that another thread can close".

The Converse API is the same for every model, so there is no per-model parsing: text comes
from ``contentBlockDelta.delta.text``, the stop reason from ``messageStop``, token counts
from ``metadata.usage``. Errors inside the stream surface as botocore ``EventStreamError``
(a ``ClientError``) and are classified by :func:`tokencast.core.errors.classify`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Protocol

from tokencast.core.jobs import Job
from tokencast.core.models import USAGE_FIELDS


class ModelStream(Protocol):
    """One running generation. ``stop_reason``/``usage`` are set once the stream has ended."""

    stop_reason: str | None
    usage: dict[str, int] | None

    def __iter__(self) -> Iterator[str]: ...

    def close(self) -> None:
        """Stop generating; safe to call from another thread, more than once."""


class ModelAdapter(Protocol):
    def stream(self, job: Job) -> ModelStream: ...


def converse_request(job: Job) -> dict[str, Any]:
    """The ``converse_stream`` keyword arguments for a job."""
    inference: dict[str, Any] = {"maxTokens": job.max_tokens}
    if job.temperature is not None:
        inference["temperature"] = job.temperature
    request: dict[str, Any] = {
        "modelId": job.model_id,
        "messages": [{"role": m.role, "content": [{"text": m.text}]} for m in job.messages],
        "inferenceConfig": inference,
    }
    if job.system:
        request["system"] = [{"text": job.system}]
    return request


class BedrockStream:
    """Wraps the botocore ``EventStream`` of one ConverseStream response."""

    def __init__(self, response: Any):
        self._events = response["stream"]
        self._closed = threading.Event()
        self.stop_reason: str | None = None
        self.usage: dict[str, int] | None = None

    def __iter__(self) -> Iterator[str]:
        try:
            for event in self._events:
                if "contentBlockDelta" in event:
                    text = event["contentBlockDelta"].get("delta", {}).get("text")
                    if text:
                        yield text
                elif "messageStop" in event:
                    self.stop_reason = event["messageStop"].get("stopReason")
                elif "metadata" in event:
                    usage = event["metadata"].get("usage") or {}
                    self.usage = {k: int(usage[k]) for k in USAGE_FIELDS if usage.get(k) is not None} or None
        except Exception:
            if self._closed.is_set():
                return  # we closed it ourselves (cancel, fencing): not a model failure
            raise

    def close(self) -> None:
        """Shut the socket down first: a bare close does not wake a thread blocked reading it."""
        if self._closed.is_set():
            return
        self._closed.set()
        raw = getattr(self._events, "_raw_stream", None)
        try:
            if raw is not None and hasattr(raw, "shutdown"):
                raw.shutdown()
        except Exception:  # already released or closed: nothing to interrupt
            pass
        with contextlib.suppress(Exception):
            self._events.close()


class BedrockModel:
    """The model adapter for boto3's ``bedrock-runtime`` client (cloud or local endpoint)."""

    def __init__(self, client: Any):
        self._client = client

    def stream(self, job: Job) -> BedrockStream:
        return BedrockStream(self._client.converse_stream(**converse_request(job)))
