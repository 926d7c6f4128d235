"""Limits and settings: one typed place, read from ``TOKENCAST_*`` environment variables.

The CDK app sets the same variables on the Lambda functions from CDK context, and
``tokencast up`` sets them for the local stack, so handlers read configuration one way.
Defaults here are the documented defaults everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_PREFIX = "TOKENCAST_"

#: The local model's id. The local stack allows it; deployments allow real Bedrock ids.
LOCAL_MODEL_ID = "tokencast.local-model-v1"


class _FromEnv(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Build from ``TOKENCAST_<FIELD>`` variables; list fields are comma separated."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is None:
                continue
            values[name] = [p.strip() for p in raw.split(",") if p.strip()] if _is_list(field.annotation) else raw
        values.update(overrides)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce this configuration (for Lambda and local)."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            env[ENV_PREFIX + name.upper()] = ",".join(value) if isinstance(value, list) else str(value)
        return env


def _is_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is list


class Limits(_FromEnv):
    """What a startStream request may ask for. Violations are GraphQL errors naming the field."""

    max_prompt_chars: int = Field(32_000, gt=0)
    max_system_chars: int = Field(8_000, gt=0)
    max_messages: int = Field(50, gt=0)
    max_message_chars: int = Field(32_000, gt=0)
    max_tokens: int = Field(4_096, gt=0, description="upper bound for input.maxTokens")
    default_max_tokens: int = Field(1_024, gt=0)
    allowed_models: list[str] = Field(default_factory=lambda: [LOCAL_MODEL_ID])
    default_model: str = LOCAL_MODEL_ID

    @field_validator("allowed_models")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one model must be allowed")
        return value


class Settings(_FromEnv):
    """Where things are and how the worker behaves."""

    table_name: str = "tokencast-sessions"
    jobs_queue_url: str | None = None
    dead_letter_queue_url: str | None = None
    graphql_url: str | None = None
    region: str = Field(
        default_factory=lambda: os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    )
    flush_window_ms: int = Field(50, ge=0, description="coalescing window between publishes")
    delay_budget_ms: int = Field(
        0,
        ge=0,
        description="if > 0, the coalescing window adapts so a token spends about this long in the worker "
        "(window + store + publish), with as few events as that allows; 0 = the fixed flush window",
    )
    coalesce: bool = Field(
        True, description="merge deltas into few events; false = one event per model delta (a benchmark baseline)"
    )
    max_attempts: int = Field(3, ge=1, description="processing attempts before a job goes to the DLQ")
    retry_base_delay_ms: int = Field(200, ge=0)
    retry_max_delay_ms: int = Field(5_000, ge=0)
    visibility_timeout_s: int = Field(
        60, gt=0, description="SQS visibility while a worker streams; extended by heartbeat"
    )
    session_ttl_days: int = Field(7, gt=0)
    events_page_limit: int = Field(500, gt=0, description="max items getEvents returns in one page")
    sessions_page_limit: int = Field(50, gt=0, description="max items listSessions returns in one page")
    cancel_poll_interval_ms: int = Field(500, gt=0, description="how often an idle worker checks for cancellation")
    publish_timeout_s: float = Field(5.0, gt=0)
