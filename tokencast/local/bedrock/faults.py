"""Fault rules: the failures tests inject into the local model, and how a request takes them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tokencast.local.bedrock.errors import HTTP_ERRORS, StreamException


def prompt_fingerprint(prompt: str) -> str:
    """How stats name a prompt without revealing it: 16 hex chars of the SHA-256 of its text.

    The text is that of the last user message (for a plain prompt, the prompt itself).
    """
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


class FaultRule(BaseModel):
    """One injected failure, applied to the next ``times`` matching requests.

    Kinds:

    * ``throttle`` — answer 429 ``ThrottlingException`` before streaming;
    * ``server_error`` — answer ``status`` 500 ``InternalServerException`` or 503
      ``ServiceUnavailableException`` before streaming;
    * ``http_error`` — answer the modelled ``error`` named (see :data:`HTTP_ERRORS`), e.g.
      ``AccessDeniedException`` for permanent-failure tests;
    * ``fail_after`` — stream ``after`` tokens, then send the in-stream ``exception`` and end
      (Converse answers the matching HTTP error instead);
    * ``slow`` — add ``delay_s`` before every token;
    * ``stall`` — stream ``after`` tokens, then send nothing more and keep the connection open
      until the client goes away or the server shuts down (for timeout tests).

    ``fail_after`` and ``stall`` do nothing if the answer has ``after`` tokens or fewer.
    ``match``, when set, limits the rule to requests whose last user message contains it.
    ``times`` is how many requests the rule applies to; ``None`` means every matching
    request until the rule is removed. A request takes at most one rule of each kind (the
    oldest with uses left); a request failed before streaming takes no stream rules.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["throttle", "server_error", "http_error", "fail_after", "slow", "stall"]
    match: str | None = None
    times: int | None = Field(1, ge=1)
    status: Literal[500, 503] = 500
    error: str = "ThrottlingException"
    after: int = Field(0, ge=0)
    exception: StreamException = "modelStreamErrorException"
    delay_s: float = Field(0.0, ge=0)
    message: str | None = None

    @model_validator(mode="after")
    def _known_error(self) -> FaultRule:
        if self.kind == "http_error" and self.error not in HTTP_ERRORS:
            raise ValueError(f"error must be one of {sorted(HTTP_ERRORS)}")
        return self

    def http_error(self) -> tuple[str, int]:
        """For the pre-stream kinds: the modelled error name and its status code."""
        if self.kind == "throttle":
            return "ThrottlingException", 429
        if self.kind == "server_error":
            return ("InternalServerException" if self.status == 500 else "ServiceUnavailableException"), self.status
        return self.error, HTTP_ERRORS[self.error]


PRE_STREAM_KINDS = frozenset({"throttle", "server_error", "http_error"})


@dataclass
class Armed:
    id: int
    rule: FaultRule
    remaining: int | None
