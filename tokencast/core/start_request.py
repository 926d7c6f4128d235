"""``startStream`` arguments → a validated, normalised :class:`StartRequest`.

Clients send either the sample schema's plain ``prompt`` or the richer ``input``. Pydantic
checks types and the configurable :class:`~tokencast.config.Limits` (passed as validation
context, because limits are deployment configuration, not constants); conversation rules that
span fields are checked after. Every violation becomes ``<field path>: <rule>`` in one
:class:`~tokencast.core.errors.InvalidInput`, so a client fixes all of them in one round trip.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from tokencast.config import Limits
from tokencast.core.errors import InvalidInput
from tokencast.core.jobs import Message
from tokencast.events import Visibility

#: Matched with ``fullmatch``: ``$`` would also accept a trailing newline.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: No session id is longer (ours are UUIDs; :func:`parse_session_id`). Read where the UUID rule
#: cannot be applied: the onTokenReceived resolver (its APPSYNC_JS copy is checked against this
#: by tests/infra/test_resolver_parity.py) and a listSessions cursor's session id.
MAX_SESSION_ID_CHARS = 128
UUID_RULE = "must be a UUID (8-4-4-4-12 hex digits)"
TEXT_RULE = "must be valid Unicode text (no lone surrogates)"


def is_uuid(value: object) -> bool:
    """Exactly a UUID in 8-4-4-4-12 form: no braces, no ``urn:``, nothing before or after."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def is_text(value: str) -> bool:
    """Encodable as UTF-8. JSON's ``\\ud800`` escapes decode to lone surrogates, which no
    store, queue or model accepts; they are refused here so nothing half-written remains."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_session_id(value: object, field: str = "sessionId") -> str:
    """A ``sessionId`` argument of any handler; raises InvalidInput naming ``field`` and the rule."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be a string")
    if not is_uuid(value):
        raise InvalidInput(f"{field}: {UUID_RULE}")
    return value


@dataclass(frozen=True)
class StartRequest:
    """What a valid ``startStream`` asks for; ``messages`` already ends with the prompt."""

    session_id: str | None
    messages: tuple[Message, ...]
    system: str | None
    model_id: str
    max_tokens: int
    temperature: float | None
    visibility: Visibility


def _limits(info: ValidationInfo) -> Limits:
    limits: Limits = (info.context or {})["limits"]
    return limits


def _check_unicode(value: Any) -> Any:
    if isinstance(value, str) and not is_text(value):
        raise PydanticCustomError("unicode", TEXT_RULE)
    return value


def _check_text(value: str, limit: int) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    if len(value) > limit:
        raise PydanticCustomError("too_long", "must be at most {limit} characters", {"limit": limit})
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=False)

    @field_validator("*", mode="before")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        return _check_unicode(value)


class _MessageIn(_Strict):
    role: Literal["user", "assistant"]
    text: StrictStr

    @field_validator("text")
    @classmethod
    def _text(cls, value: str, info: ValidationInfo) -> str:
        return _check_text(value, _limits(info).max_message_chars)


class _StartInput(_Strict):
    session_id: StrictStr | None = None
    prompt: StrictStr | None = None
    messages: list[_MessageIn] | None = None
    system: StrictStr | None = None
    model_id: StrictStr | None = None
    max_tokens: StrictInt | None = None
    temperature: float | None = None
    visibility: Visibility | None = None

    @field_validator("session_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is not None and not is_uuid(value):
            raise PydanticCustomError("uuid", UUID_RULE)
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _check_text(value, _limits(info).max_prompt_chars)

    @field_validator("messages")
    @classmethod
    def _messages(cls, value: list[_MessageIn] | None, info: ValidationInfo) -> list[_MessageIn] | None:
        limit = _limits(info).max_messages
        if value is not None and len(value) > limit:
            raise PydanticCustomError("too_many", "must have at most {limit} messages", {"limit": limit})
        return value

    @field_validator("system")
    @classmethod
    def _system(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None  # an empty system prompt means "none"
        limit = _limits(info).max_system_chars
        if len(value) > limit:
            raise PydanticCustomError("too_long", "must be at most {limit} characters", {"limit": limit})
        return value

    @field_validator("model_id")
    @classmethod
    def _model(cls, value: str | None, info: ValidationInfo) -> str | None:
        allowed = _limits(info).allowed_models
        if value is not None and value not in allowed:
            raise PydanticCustomError("model", "must be one of {allowed}", {"allowed": ", ".join(allowed)})
        return value

    @field_validator("max_tokens")
    @classmethod
    def _max_tokens(cls, value: int | None, info: ValidationInfo) -> int | None:
        limit = _limits(info).max_tokens
        if value is not None and not 1 <= value <= limit:
            raise PydanticCustomError("range", "must be between 1 and {limit}", {"limit": limit})
        return value

    @field_validator("temperature", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise PydanticCustomError("float_type", "must be a number")
        return value

    @field_validator("temperature")
    @classmethod
    def _temperature(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value <= 1:
            raise PydanticCustomError("range", "must be between 0 and 1")
        return value


class _StartArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("prompt", mode="before")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        return _check_unicode(value)

    prompt: StrictStr | None = None
    input: _StartInput | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _check_text(value, _limits(info).max_prompt_chars)


_RULES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
}


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _rule(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind in ("literal_error", "enum"):
        expected = str(error.get("ctx", {}).get("expected", "")).replace("'", "")
        return f"must be one of {expected.replace(' or ', ', ')}"
    return _RULES.get(kind) or str(error["msg"])


def _one_per_field(errors: list[Any]) -> list[tuple[str, str]]:
    """One rule per field path, in the order pydantic found them."""
    seen: dict[str, str] = {}
    for error in errors:
        seen.setdefault(_path(error["loc"]), _rule(error))
    return list(seen.items())


def parse_start(arguments: Mapping[str, Any] | None, limits: Limits) -> StartRequest:
    """Validate ``startStream(prompt, input)`` arguments; raise InvalidInput naming each field."""
    raw = {k: v for k, v in (arguments or {}).items() if v is not None}
    try:
        args = _StartArguments.model_validate(raw, context={"limits": limits})
    except ValidationError as exc:
        rejected = _one_per_field(exc.errors())
        raise InvalidInput("; ".join(f"{path}: {rule}" for path, rule in rejected)) from None

    data = args.input or _StartInput.model_validate({}, context={"limits": limits})
    problems: list[tuple[str, str]] = []
    if args.prompt is not None and data.prompt is not None:
        problems.append(("input.prompt", "give either prompt or input.prompt, not both"))
    prompt = args.prompt if args.prompt is not None else data.prompt
    prompt_path = "prompt" if args.prompt is not None else "input.prompt"
    turns = [Message(role=m.role, text=m.text) for m in data.messages or []]
    if prompt is None and not turns:
        problems.append(("prompt", "a prompt or input.messages is required"))
    if prompt is not None:
        if turns and turns[-1].role == "user":
            problems.append(
                (
                    prompt_path,
                    "cannot follow a user turn: input.messages must end with an assistant turn when a prompt is given",
                )
            )
        turns.append(Message(role="user", text=prompt))
    elif turns and turns[-1].role != "user":
        problems.append((f"input.messages[{len(turns) - 1}].role", "the conversation must end with a user turn"))
    if turns and turns[0].role != "user":
        problems.append(("input.messages[0].role", "the conversation must start with a user turn"))
    given = len(data.messages or [])
    problems.extend(
        (f"input.messages[{i}].role", "turns must alternate between user and assistant")
        for i in range(1, given)
        if turns[i].role == turns[i - 1].role
    )
    if problems:
        raise InvalidInput("; ".join(f"{path}: {rule}" for path, rule in problems))

    return StartRequest(
        session_id=data.session_id,
        messages=tuple(turns),
        system=data.system,
        model_id=data.model_id or limits.default_model,
        max_tokens=data.max_tokens
        if data.max_tokens is not None
        else min(limits.default_max_tokens, limits.max_tokens),
        temperature=data.temperature,
        visibility=data.visibility or Visibility.PRIVATE,
    )
