"""What the local model's stats record per request (ids and outcomes, never text)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RequestRecord:
    """What stats say about one model request (never its text)."""

    request_id: str
    operation: str
    model_id: str
    prompt_fingerprint: str
    started_at: float
    #: active | stalled while running; then completed | rejected | fault | disconnected | shutdown | aborted
    outcome: str = "active"
    stop_reason: str | None = None
    error: str | None = None
    faults: list[int] = field(default_factory=list)
    tokens_sent: int = 0
    tokens_after_disconnect: int = 0
    ended_at: float | None = None


@dataclass
class Emits:
    """When one streamed answer's tokens went out (``time.monotonic``), for benchmarks."""

    received_at: float
    tokens: list[tuple[float, str]] = field(default_factory=list)
