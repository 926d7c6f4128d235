"""Deployment settings, read once from CDK context into typed, validated props.

Every knob has a documented default, and where the runtime already defines that default
(``tokencast.config.Limits`` / ``Settings``) it is taken from there rather than repeated, so
``cdk deploy`` and ``tokencast up`` agree unless someone asks them not to.

Context comes from ``cdk.json``, ``cdk.context.json`` or ``-c key=value`` on the command line.
Command-line values always arrive as strings, so every reader below accepts both the JSON
type and its string spelling (``-c maxConcurrency=20``, ``-c enableApiKey=true``,
``-c allowedModels=a,b``, ``-c 'limits={"maxTokens": 2048}'``).

| context key            | default                                         | what it sets                                        |
|------------------------|-------------------------------------------------|-----------------------------------------------------|
| ``stackName``          | ``Tokencast``                                   | CloudFormation stack name (``tokencast --stack``)   |
| ``allowedModels``      | ``[us.anthropic.claude-haiku-4-5-20251001-v1:0]`` | Bedrock model / inference-profile ids clients may pick; IAM is scoped to exactly these |
| ``defaultModel``       | first of ``allowedModels``                      | model used when ``input.modelId`` is absent         |
| ``limits``             | ``tokencast.config.Limits`` defaults            | prompt/system/messages/maxTokens limits (object)    |
| ``flushWindowMs``      | ``Settings.flush_window_ms`` (50)               | publish coalescing window                           |
| ``maxConcurrency``     | 10                                              | SQS event source maximum concurrency (Bedrock quota guard) |
| ``maxAttempts``        | ``Settings.max_attempts`` (3)                   | processing attempts; the DLQ ``maxReceiveCount`` is derived (``Settings.redrive_max_receive_count``) |
| ``jobVisibilitySeconds`` | ``Settings.visibility_timeout_s`` (30)        | a streaming job's heartbeat-kept visibility: a crashed worker's job is back within it |
| ``quotas``             | ``tokencast.config.Quotas`` defaults            | per-owner quotas (object; ``null`` switches one off) |
| ``queryDepthLimit``    | ``ApiLimits.query_depth_limit`` (16)            | AppSync ``queryDepthLimit`` (1..75)                 |
| ``resolverCountLimit`` | ``ApiLimits.resolver_count_limit`` (100)        | AppSync ``resolverCountLimit`` (1..10000)           |
| ``enableIntrospection`` | ``false``                                      | AppSync introspection queries                        |
| ``retentionDays``      | ``Settings.session_ttl_days`` (7)               | session/event TTL; log retention (rounded up to a CloudWatch value) |
| ``alarmEmail``         | none                                            | e-mail subscribed to the alarm topic                |
| ``enableApiKey``       | ``false``                                       | adds the API_KEY auth mode and one key (dev only)   |
| ``userPoolId``         | none (a new pool is created)                    | use an existing Cognito user pool                   |
| ``logLevel``           | ``INFO``                                        | ``POWERTOOLS_LOG_LEVEL`` of the functions           |
| ``workerTimeoutSeconds`` | ``Settings.worker_timeout_s`` (300)           | process function timeout (queue visibility = this + 60 s) |
| ``removalPolicy``      | ``retain``                                      | ``retain`` or ``destroy`` for the table, user pool and log groups |
| ``bundleDependencies`` | ``true``                                        | ``false`` packages the code without pip-installing wheels (tests) |
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tokencast.config import ApiLimits, Limits, Quotas, Settings

#: Claude Haiku 4.5 through the US cross-region inference profile: cheap, fast, streams well.
#: Outside the US use the ``eu.``/``apac.``/``global.`` profile id (see docs/cloud.md).
DEFAULT_ALLOWED_MODELS: tuple[str, ...] = ("us.anthropic.claude-haiku-4-5-20251001-v1:0",)
DEFAULT_MAX_CONCURRENCY = 10
DEFAULT_STACK_NAME = "Tokencast"

_LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
_REMOVAL_POLICIES = frozenset({"retain", "destroy"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _settings_default(name: str) -> Any:
    return Settings.model_fields[name].default


class ConfigError(ValueError):
    """A context value is malformed; the message names the context key."""


@dataclass(frozen=True)
class TokencastConfig:
    """Typed deployment props. Build with :meth:`from_context`; defaults are the documented ones."""

    stack_name: str = DEFAULT_STACK_NAME
    allowed_models: tuple[str, ...] = DEFAULT_ALLOWED_MODELS
    default_model: str | None = None
    limit_overrides: Mapping[str, Any] = field(default_factory=dict)
    quota_overrides: Mapping[str, Any] = field(default_factory=dict)
    query_depth_limit: int = ApiLimits.model_fields["query_depth_limit"].default
    resolver_count_limit: int = ApiLimits.model_fields["resolver_count_limit"].default
    enable_introspection: bool = False
    job_visibility_seconds: int = _settings_default("visibility_timeout_s")
    flush_window_ms: int = _settings_default("flush_window_ms")
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_attempts: int = _settings_default("max_attempts")
    retention_days: int = _settings_default("session_ttl_days")
    alarm_email: str | None = None
    enable_api_key: bool = False
    user_pool_id: str | None = None
    log_level: str = "INFO"
    worker_timeout_seconds: int = _settings_default("worker_timeout_s")
    removal_policy: str = "retain"
    bundle_dependencies: bool = True

    def __post_init__(self) -> None:
        if not self.allowed_models:
            raise ConfigError("allowedModels: at least one model must be allowed")
        if self.default_model is not None and self.default_model not in self.allowed_models:
            raise ConfigError(f"defaultModel: {self.default_model!r} is not in allowedModels")
        if not 2 <= self.max_concurrency <= 1000:
            raise ConfigError("maxConcurrency: SQS event sources accept 2..1000")
        if not 1 <= self.max_attempts <= 998:
            raise ConfigError("maxAttempts: must be 1..998 (the DLQ maxReceiveCount, 1000 at most, is 2 more)")
        if self.flush_window_ms < 0:
            raise ConfigError("flushWindowMs: must be >= 0")
        if self.retention_days < 1:
            raise ConfigError("retentionDays: must be >= 1")
        if self.alarm_email is not None and not _EMAIL.match(self.alarm_email):
            raise ConfigError(f"alarmEmail: {self.alarm_email!r} is not an e-mail address")
        if self.log_level not in _LOG_LEVELS:
            raise ConfigError(f"logLevel: one of {sorted(_LOG_LEVELS)}")
        if not 30 <= self.worker_timeout_seconds <= 900:
            raise ConfigError("workerTimeoutSeconds: must be 30..900 (Lambda's maximum)")
        if self.removal_policy not in _REMOVAL_POLICIES:
            raise ConfigError(f"removalPolicy: one of {sorted(_REMOVAL_POLICIES)}")
        if self.user_pool_id is not None and not re.match(r"^[\w-]+_[0-9a-zA-Z]+$", self.user_pool_id):
            raise ConfigError(f"userPoolId: {self.user_pool_id!r} is not a Cognito user pool id")
        if not 5 <= self.job_visibility_seconds <= 60:
            raise ConfigError("jobVisibilitySeconds: must be 5..60 (a crashed job must be back within a minute)")
        _ = self.limits, self.quotas, self.api_limits  # validates the overrides now, not at first use

    # -- derived values -------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        """The runtime's Limits with the model allow-list and any overrides applied."""
        try:
            return Limits(
                **{
                    **self.limit_overrides,
                    "allowed_models": list(self.allowed_models),
                    "default_model": self.default_model or self.allowed_models[0],
                }
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise ConfigError(f"limits: {exc}") from exc

    @property
    def quotas(self) -> Quotas:
        try:
            return Quotas(**self.quota_overrides)
        except ValueError as exc:
            raise ConfigError(f"quotas: {exc}") from exc

    @property
    def api_limits(self) -> ApiLimits:
        try:
            return ApiLimits(
                query_depth_limit=self.query_depth_limit,
                resolver_count_limit=self.resolver_count_limit,
                introspection=self.enable_introspection,
            )
        except ValueError as exc:
            raise ConfigError(f"queryDepthLimit/resolverCountLimit: {exc}") from exc

    def settings(self, **where: Any) -> Settings:
        """The runtime Settings for the deployed functions; ``where`` carries resource names/URLs.

        The queue's numbers (``redrive_max_receive_count``, ``queue_visibility_timeout_s``) are
        derived from these by :class:`Settings` itself, as the local stack derives them.
        """
        return Settings(
            flush_window_ms=self.flush_window_ms,
            max_attempts=self.max_attempts,
            session_ttl_days=self.retention_days,
            visibility_timeout_s=self.job_visibility_seconds,
            worker_timeout_s=self.worker_timeout_seconds,
            **where,
        )

    # -- reading context --------------------------------------------------------------------

    @classmethod
    def from_context(cls, get: Callable[[str], Any] | Mapping[str, Any]) -> TokencastConfig:
        """Read every key with ``get(key)`` (e.g. ``app.node.try_get_context``) or from a mapping."""
        lookup = get.get if isinstance(get, Mapping) else get

        def value(key: str) -> Any:
            raw = lookup(key)
            return None if raw is None or raw == "" else raw

        kwargs: dict[str, Any] = {}
        readers: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
            "stackName": ("stack_name", _as_str),
            "allowedModels": ("allowed_models", _as_str_tuple),
            "defaultModel": ("default_model", _as_str),
            "limits": ("limit_overrides", _as_limits),
            "quotas": ("quota_overrides", _as_quotas),
            "queryDepthLimit": ("query_depth_limit", _as_int),
            "resolverCountLimit": ("resolver_count_limit", _as_int),
            "enableIntrospection": ("enable_introspection", _as_bool),
            "jobVisibilitySeconds": ("job_visibility_seconds", _as_int),
            "flushWindowMs": ("flush_window_ms", _as_int),
            "maxConcurrency": ("max_concurrency", _as_int),
            "maxAttempts": ("max_attempts", _as_int),
            "retentionDays": ("retention_days", _as_int),
            "alarmEmail": ("alarm_email", _as_str),
            "enableApiKey": ("enable_api_key", _as_bool),
            "userPoolId": ("user_pool_id", _as_str),
            "logLevel": ("log_level", lambda k, v: _as_str(k, v).upper()),
            "workerTimeoutSeconds": ("worker_timeout_seconds", _as_int),
            "removalPolicy": ("removal_policy", lambda k, v: _as_str(k, v).lower()),
            "bundleDependencies": ("bundle_dependencies", _as_bool),
        }
        for key, (attr, read) in readers.items():
            raw = value(key)
            if raw is not None:
                kwargs[attr] = read(key, raw)
        return cls(**kwargs)


# -- context value readers: JSON types or their command-line string spelling ----------------


def _as_str(key: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"{key}: expected a string, got {raw!r}")
    return raw.strip()


def _as_int(key: str, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ConfigError(f"{key}: expected an integer, got {raw!r}")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected an integer, got {raw!r}") from None


def _as_bool(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"true", "1", "yes"}:
        return True
    if isinstance(raw, str) and raw.strip().lower() in {"false", "0", "no"}:
        return False
    raise ConfigError(f"{key}: expected true or false, got {raw!r}")


def _as_str_tuple(key: str, raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        text = raw.strip()
        items = json.loads(text) if text.startswith("[") else text.split(",")
    else:
        items = raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{key}: expected a list of strings, got {raw!r}")
    return tuple(i.strip() for i in items if i.strip())


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _overrides(key: str, raw: Any, known: set[str], what: str) -> dict[str, Any]:
    """A context object (or its JSON text) of camelCase overrides, checked against ``known``."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{key}: expected a JSON object, got {raw!r}") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key}: expected an object, got {raw!r}")
    out: dict[str, Any] = {}
    for name, val in raw.items():
        snake = _camel_to_snake(name)
        if snake not in known:
            raise ConfigError(f"{key}.{name}: unknown {what}; known: {sorted(known)}")
        out[snake] = val
    return out


def _as_limits(key: str, raw: Any) -> dict[str, Any]:
    known = set(Limits.model_fields) - {"allowed_models", "default_model"}
    return _overrides(key, raw, known, "limit (models have their own keys)")


def _as_quotas(key: str, raw: Any) -> dict[str, Any]:
    return _overrides(key, raw, set(Quotas.model_fields), "quota")
