"""Limits and settings: one typed place, read from ``TOKENCAST_*`` environment variables.

The CDK app sets the same variables on the Lambda functions from CDK context, and
``tokencast up`` sets them for the local stack, so handlers read configuration one way.
Defaults here are the documented defaults everywhere. A variable's name is its field's
(``TOKENCAST_<FIELD>``): code writes variables with ``to_env()`` or names one with
``env_name()``, never by spelling it; :class:`Wiring` holds where the resources are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Self, get_origin

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

ENV_PREFIX = "TOKENCAST_"

#: The local model's id. The local stack allows it; deployments allow real Bedrock ids.
LOCAL_MODEL_ID = "tokencast.local-model-v1"

#: Jobs processed at once: the processing function's SQS event source maximum concurrency
#: (CDK context ``maxConcurrency``, a guard for the Bedrock quota), and the local stack's.
WORKER_CONCURRENCY = 10


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class _FromEnv(BaseSettings):
    """``TOKENCAST_<FIELD>`` variables through pydantic-settings; built only by :meth:`from_env`.

    Constructing a subclass directly reads no environment (only the arguments), as a plain
    model does; :meth:`from_env` reads the variables of one mapping (default ``os.environ``).
    List fields are comma separated (``NoDecode``: not JSON); an optional field is ``None``
    when its variable says ``off``, ``none`` or nothing.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Build from ``TOKENCAST_<FIELD>`` variables; ``overrides`` win over them."""
        values = _MappingEnvSource(cls, os.environ if environ is None else environ)()
        return cls(**{**_from_strings(cls, values), **overrides})

    @classmethod
    def env_name(cls, field: str) -> str:
        """The variable that sets ``field``: ``TOKENCAST_<FIELD>``, the one naming rule.

        Code that names a variable asks here instead of spelling it, so a misspelt or
        renamed field fails at once instead of setting a variable nothing reads.
        """
        if field not in cls.model_fields:
            raise KeyError(f"{cls.__name__} has no field {field!r}")
        return ENV_PREFIX + field.upper()

    def to_env(self, *, exclude_unset: bool = False) -> dict[str, str]:
        """The environment variables that reproduce this configuration (for Lambda and local).

        ``exclude_unset``: only the fields given when this was built, e.g.
        ``Settings(flush_window_ms=20).to_env(exclude_unset=True)`` to override one setting
        and leave the others to the environment.
        """
        env = {}
        for name, value in self.model_dump(exclude_unset=exclude_unset).items():
            if value is None:
                # Say "off" where the default is something else, so the reader gets None back.
                if type(self).model_fields[name].default is not None:
                    env[self.env_name(name)] = "off"
                continue
            env[self.env_name(name)] = ",".join(value) if isinstance(value, list) else str(value)
        return env


def _from_strings(cls: type[BaseSettings], values: Mapping[str, Any]) -> dict[str, Any]:
    """Environment strings to field values: ``off`` for optional fields, commas for lists."""
    out: dict[str, Any] = {}
    for name, raw in values.items():
        field = cls.model_fields[name]
        if not isinstance(raw, str):
            out[name] = raw
        elif raw.strip().lower() in _OFF and not field.is_required() and _is_optional(field.annotation):
            out[name] = None
        elif _is_list(field.annotation):
            out[name] = [p.strip() for p in raw.split(",") if p.strip()]
        else:
            out[name] = raw
    return out


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list


#: Spellings of "no value" for an optional setting (``TOKENCAST_MAX_TOKENS_PER_DAY=off``).
_OFF = frozenset({"", "off", "none"})


def _is_optional(annotation: Any) -> bool:
    return type(None) in getattr(annotation, "__args__", ())


class Limits(_FromEnv):
    """What a startStream request may ask for. Violations are GraphQL errors naming the field."""

    max_prompt_chars: int = Field(32_000, gt=0)
    max_system_chars: int = Field(8_000, gt=0)
    max_messages: int = Field(50, gt=0)
    max_message_chars: int = Field(32_000, gt=0)
    max_tokens: int = Field(4_096, gt=0, description="upper bound for input.maxTokens")
    default_max_tokens: int = Field(1_024, gt=0)
    allowed_models: Annotated[list[str], NoDecode] = Field(default_factory=lambda: [LOCAL_MODEL_ID])
    default_model: str = LOCAL_MODEL_ID

    @field_validator("allowed_models")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one model must be allowed")
        return value


class Wiring(_FromEnv):
    """Where the handlers' resources are: the variables the deployment (cdk/construct.py, from
    the resources it creates) and ``tokencast up`` (tokencast/local/stack.py) set, never a user.

    The URLs are ``None`` until wired; a handler asks for the ones it needs with
    :meth:`required`, which fails at cold start naming every variable that is missing.
    """

    table_name: str = "tokencast-sessions"
    jobs_queue_url: str | None = None
    dead_letter_queue_url: str | None = None
    graphql_url: str | None = None
    region: str = Field(
        default_factory=lambda: os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    )

    def required(self, *fields: str) -> list[str]:
        """The values of ``fields``, in order; a ``RuntimeError`` naming the unset variables."""
        names = {field: self.env_name(field) for field in fields}  # a name that is no field raises
        missing = [name for field, name in names.items() if not getattr(self, field)]
        if missing:
            raise RuntimeError("not set: " + ", ".join(missing))
        return [getattr(self, field) for field in fields]


class Settings(Wiring):
    """How the handlers and the worker behave, and (:class:`Wiring`) where things are."""

    flush_window_ms: int = Field(50, ge=0, description="coalescing window between publishes")
    delay_budget_ms: int = Field(
        0,
        ge=0,
        description="if > 0, the coalescing window adapts so a token spends about this long in the worker "
        "(its wait + store + publish), with as few events as that allows; 0 = the fixed flush window",
    )
    coalesce: bool = Field(
        True, description="merge deltas into few events; false = one event per model delta (a benchmark baseline)"
    )
    max_attempts: int = Field(
        3, ge=1, description="processing attempts before the worker fails the session and dead-letters the job"
    )
    retry_base_delay_ms: int = Field(200, ge=0)
    retry_max_delay_ms: int = Field(5_000, ge=0)
    visibility_timeout_s: int = Field(
        30,
        gt=0,
        description="a streaming job's own SQS visibility, renewed by the heartbeat every third of it: "
        "a crashed worker's job is visible again within this many seconds",
    )
    release_visibility_s: int = Field(
        2, ge=0, description="visibility a failed (redelivered) job is given back: the backoff before its retry"
    )
    worker_timeout_s: int = Field(300, ge=30, le=900, description="the process function's timeout (Lambda's max 900)")
    session_ttl_days: int = Field(7, gt=0)
    events_page_limit: int = Field(500, gt=0, description="max items getEvents returns in one page")
    sessions_page_limit: int = Field(50, gt=0, description="max items listSessions returns in one page")
    cancel_poll_interval_ms: int = Field(500, gt=0, description="how often an idle worker checks for cancellation")
    publish_timeout_s: float = Field(5.0, gt=0)

    # -- derived: the queue's numbers, one rule for the cloud and the local stack ---------------

    @property
    def redrive_max_receive_count(self) -> int:
        """The jobs queue's ``maxReceiveCount``: a backstop strictly above the worker's own limit.

        A worker that crashes on every attempt takes attempt ``max_attempts`` on receive
        ``max_attempts``; receive ``max_attempts + 1`` is where the worker itself fails the
        session with a FAILED event and dead-letters the job with its reason. SQS's redrive
        comes one receive later, so it only ever moves jobs the worker could not settle at all
        (e.g. DynamoDB unreachable on every receive).
        """
        return self.max_attempts + 2

    @property
    def queue_visibility_timeout_s(self) -> int:
        """The queue's default visibility: Lambda requires it to be >= the function timeout.

        It only matters until the worker's heartbeat sets the message's own, short visibility
        (:attr:`visibility_timeout_s`) at the start of processing.
        """
        return self.worker_timeout_s + 60


class Quotas(_FromEnv):
    """Per-owner spending limits, enforced atomically by ``startStream`` (errorType ``Quota``).

    ``None`` switches a quota off. Active sessions are those not yet COMPLETED, FAILED or
    CANCELLED; a slot whose session never settles is reclaimed after ``active_session_ttl_s``.
    Tokens per day are counted when a session ends (the model's ``totalTokens``) and checked
    at the next start, so one answer may overshoot the day's budget, never two.
    """

    max_active_sessions: int | None = Field(5, gt=0)
    max_starts_per_minute: int | None = Field(20, gt=0)
    max_tokens_per_day: int | None = Field(None, gt=0)
    active_session_ttl_s: int = Field(3_600, gt=0)


class ApiLimits(_FromEnv):
    """What one GraphQL request may ask of the API: set on the AppSync API by CDK and enforced
    the same way by the emulator. Other request-cost protections should read these too.

    AppSync accepts ``queryDepthLimit`` 1..75 and ``resolverCountLimit`` 1..10000 (0: none).
    """

    query_depth_limit: int = Field(16, ge=1, le=75, description="nesting levels of fields in one operation")
    resolver_count_limit: int = Field(100, ge=1, le=10_000, description="resolver executions in one request")
    introspection: bool = Field(False, description="whether __schema/__type queries are allowed")


class LocalWiring(_FromEnv):
    """What ``tokencast up`` tells its own servers through the environment; never set in the cloud."""

    local_api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="the API keys the AppSync emulator accepts"
    )
