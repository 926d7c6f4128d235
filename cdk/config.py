"""Deployment settings, read once from CDK context into typed, validated props.

Every knob has a documented default, and where the runtime already defines that knob
(``tokencast.config.Limits`` / ``Settings`` / ``ApiLimits`` / ``Quotas``) its default and its
bounds are taken from there rather than repeated, so ``cdk deploy`` and ``tokencast up`` agree
unless someone asks them not to.

Context comes from ``cdk.json``, ``cdk.context.json`` or ``-c key=value`` on the command line.
Command-line values always arrive as strings, so every key accepts both the JSON type and its
string spelling (``-c maxConcurrency=20``, ``-c enableApiKey=true``, ``-c allowedModels=a,b``,
``-c 'limits={"maxTokens": 2048}'``). :class:`TokencastConfig` is a pydantic model whose
aliases are the context keys; a bad value raises :class:`ConfigError` naming the key and the rule.

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
| ``enableIntrospection`` | ``ApiLimits.introspection`` (``false``)        | AppSync introspection queries                        |
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
from copy import copy
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from tokencast.config import WORKER_CONCURRENCY, ApiLimits, Limits, Quotas, Settings

#: Claude Haiku 4.5 through the US cross-region inference profile: cheap, fast, streams well.
#: Outside the US use the ``eu.``/``apac.``/``global.`` profile id (see docs/cloud.md).
DEFAULT_ALLOWED_MODELS: tuple[str, ...] = ("us.anthropic.claude-haiku-4-5-20251001-v1:0",)

#: Context keys are the camelCase spelling of the field names (``flush_window_ms`` is
#: ``flushWindowMs``); Python callers may use either. Strings are trimmed.
_CONTEXT = ConfigDict(
    alias_generator=to_camel, validate_by_name=True, extra="forbid", frozen=True, str_strip_whitespace=True
)


class ConfigError(ValueError):
    """A context value is malformed; the message names the context key and the rule."""


#: text pydantic would read as a whole number though it is written as a fraction ("2.0", "2e0")
_FRACTION = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)")


class _ContextModel(BaseModel):
    """Context keys in camelCase, unknown keys refused, and whole numbers meant as such."""

    model_config = _CONTEXT

    @field_validator("*", mode="before")
    @classmethod
    def _whole_numbers_only(cls, value: Any, info: ValidationInfo) -> Any:
        """pydantic's lax mode reads ``true`` as 1 and ``2.0`` or ``"2.0"`` as 2: in a deployment's
        settings those are typos, so a key that takes a whole number refuses them."""
        annotation = cls.model_fields[info.field_name or ""].annotation
        if int not in (annotation, *get_args(annotation)):
            return value
        if isinstance(value, bool | float) or (isinstance(value, str) and _FRACTION.fullmatch(value.strip())):
            raise ValueError("expected a whole number")
        return value


def _runtime(model: type[BaseModel], name: str) -> Any:
    """The runtime's own field (default, bounds, description) for a key that sets it as is."""
    return copy(model.model_fields[name])


def _default(model: type[BaseModel], name: str) -> Any:
    """The runtime's default for a key whose deployment bounds are stricter than the runtime's."""
    return model.model_fields[name].default


def _overrides(name: str, model: type[BaseModel], *, without: frozenset[str] = frozenset()) -> type[BaseModel]:
    """A context object overriding some of ``model``'s fields: camelCase keys, the runtime's
    bounds, unknown keys refused. Only the keys given are applied (``exclude_unset``)."""
    fields: dict[str, Any] = {
        field: (info.annotation, _runtime(model, field))
        for field, info in model.model_fields.items()
        if field not in without
    }
    return create_model(name, __base__=_ContextModel, **fields)


if TYPE_CHECKING:
    # mypy cannot see fields made by create_model; to it these are context models whose fields
    # are only ever read through model_dump (which is all the code below does with them).
    class LimitOverrides(_ContextModel): ...

    class QuotaOverrides(_ContextModel): ...

else:
    #: The models have their own keys (``allowedModels``, ``defaultModel``): IAM is scoped to them.
    LimitOverrides = _overrides("LimitOverrides", Limits, without=frozenset({"allowed_models", "default_model"}))
    QuotaOverrides = _overrides("QuotaOverrides", Quotas)


def _json_object(raw: Any) -> Any:
    """An object, or its JSON text (``-c 'limits={"maxTokens": 2048}'`` arrives as text)."""
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
    if not isinstance(value, Mapping | BaseModel):
        raise ValueError("expected a JSON object")
    return value


def _names(raw: Any) -> Any:
    """``-c allowedModels=a,b`` or a JSON list, as text or as a list; blank entries dropped."""
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip().startswith("[") else raw.split(",")
    if isinstance(raw, list | tuple):
        return [item for item in raw if not isinstance(item, str) or item.strip()]
    return raw


def _upper(raw: Any) -> Any:
    return raw.upper() if isinstance(raw, str) else raw


def _lower(raw: Any) -> Any:
    return raw.lower() if isinstance(raw, str) else raw


class TokencastConfig(_ContextModel):
    """Typed deployment props. Build with :meth:`from_context`; defaults are the documented ones."""

    # In the order of the table above (a test keeps the two alike).
    stack_name: str = "Tokencast"
    allowed_models: Annotated[tuple[str, ...], BeforeValidator(_names)] = Field(
        DEFAULT_ALLOWED_MODELS, min_length=1, description="at least one model must be allowed"
    )
    default_model: str | None = None  # None: the first allowed model
    limit_overrides: Annotated[LimitOverrides, BeforeValidator(_json_object)] = Field(
        default_factory=LimitOverrides, alias="limits"
    )
    flush_window_ms: int = _runtime(Settings, "flush_window_ms")
    max_concurrency: int = Field(WORKER_CONCURRENCY, ge=2, le=1000, description="SQS event sources accept 2..1000")
    max_attempts: int = Field(
        _default(Settings, "max_attempts"),
        ge=1,
        le=998,
        description="the DLQ's maxReceiveCount, 1000 at most, is 2 more",
    )
    job_visibility_seconds: int = Field(
        _default(Settings, "visibility_timeout_s"),
        ge=5,
        le=60,
        description="a crashed worker's job must be back within a minute",
    )
    quota_overrides: Annotated[QuotaOverrides, BeforeValidator(_json_object)] = Field(
        default_factory=QuotaOverrides, alias="quotas"
    )
    query_depth_limit: int = _runtime(ApiLimits, "query_depth_limit")
    resolver_count_limit: int = _runtime(ApiLimits, "resolver_count_limit")
    enable_introspection: bool = _runtime(ApiLimits, "introspection")
    retention_days: int = _runtime(Settings, "session_ttl_days")
    alarm_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="an e-mail address")
    enable_api_key: bool = False
    user_pool_id: str | None = Field(None, pattern=r"^[\w-]+_[0-9a-zA-Z]+$", description="a Cognito user pool id")
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)] = "INFO"
    worker_timeout_seconds: int = _runtime(Settings, "worker_timeout_s")
    removal_policy: Annotated[Literal["retain", "destroy"], BeforeValidator(_lower)] = "retain"
    bundle_dependencies: bool = True

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None

    @field_validator("default_model")
    @classmethod
    def _allowed(cls, model: str | None, info: Any) -> str | None:
        allowed = info.data.get("allowed_models")
        if model is not None and allowed is not None and model not in allowed:
            raise ValueError("must be one of allowedModels")
        return model

    # -- derived values -------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        """The runtime's Limits with the model allow-list and any overrides applied."""
        return Limits(
            **self.limit_overrides.model_dump(exclude_unset=True),
            allowed_models=list(self.allowed_models),
            default_model=self.default_model or self.allowed_models[0],
        )

    @property
    def quotas(self) -> Quotas:
        return Quotas(**self.quota_overrides.model_dump(exclude_unset=True))

    @property
    def api_limits(self) -> ApiLimits:
        return ApiLimits(
            query_depth_limit=self.query_depth_limit,
            resolver_count_limit=self.resolver_count_limit,
            introspection=self.enable_introspection,
        )

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
        """Read every key with ``get(key)`` (e.g. ``app.node.try_get_context``) or from a mapping.

        A key that is absent, ``null`` or empty keeps its default.
        """
        lookup = get.get if isinstance(get, Mapping) else get
        given = {key: lookup(key) for key in context_keys()}
        return cls(**{key: raw for key, raw in given.items() if raw is not None and raw != ""})


def context_keys() -> list[str]:
    """Every context key :class:`TokencastConfig` reads, in declaration order."""
    return [field.alias or name for name, field in TokencastConfig.model_fields.items()]


def _explain(exc: ValidationError) -> str:
    """pydantic's errors as ``contextKey: rule, got value (why)``, one per bad key."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        field = _field(loc[0]) if loc else None
        if error["type"] == "extra_forbidden":
            # An unknown key at the top (a Python caller) or in ``limits``/``quotas``.
            model = field.annotation if field is not None and len(loc) > 1 else TokencastConfig
            rule = f"unknown key (known: {_keys(model)})"
        else:
            why = f" ({field.description})" if field is not None and field.description and len(loc) == 1 else ""
            rule = f"{error['msg'].removeprefix('Value error, ')}, got {error['input']!r}{why}"
        problems.append(f"{'.'.join(loc)}: {rule}")
    return "; ".join(problems)


def _field(key: str) -> FieldInfo | None:
    return next((f for name, f in TokencastConfig.model_fields.items() if key in (name, f.alias)), None)


def _keys(model: Any) -> list[str]:
    return sorted(field.alias or name for name, field in model.model_fields.items())
