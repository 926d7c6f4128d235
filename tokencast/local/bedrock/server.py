"""A local stand-in for Amazon Bedrock's Converse and ConverseStream APIs, served by aiohttp.

The processing handler talks to Bedrock with the stock boto3 ``bedrock-runtime`` client. To
run it unchanged on one machine, ``tokencast up`` mounts :class:`LocalBedrock` on the same
aiohttp application as the AppSync emulator and points the SDK at it with
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``. It is not a general Bedrock emulator: it serves only the
two operations the project uses, answers with the deterministic prose of
:mod:`tokencast.local.bedrock.text`, and does not check SigV4 signatures.

What it keeps faithful, because the handler's behaviour depends on it:

* ``POST /model/{modelId}/converse-stream`` answers 200 with a *chunked*
  ``application/vnd.amazon.eventstream`` body and writes one frame per event as it is
  produced (a fixed-length body would make botocore buffer the whole stream). Events are
  Bedrock's: ``messageStart``, ``contentBlockDelta`` per token, ``contentBlockStop``,
  ``messageStop`` and ``metadata``.
* Errors use the rest-json shape botocore maps to modelled exceptions: a status code, an
  ``x-amzn-ErrorType`` header and a ``{"message": ...}`` body; in-stream failures are
  ``:message-type exception`` frames that botocore raises as ``EventStreamError`` while the
  caller iterates.
* Pacing (time to first token, tokens per second), and detection of a client that went
  away, so cancellation can be proven to stop generation.

Tests steer failures with fault rules (:class:`FaultRule`), set at construction, through
the Python API or over HTTP (``/_local/model/faults``); each rule can be limited to prompts
containing a marker so concurrent tests do not consume each other's faults. Prompt text is
never logged nor reported: stats identify a prompt only by :func:`prompt_fingerprint`.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tokencast.config import LOCAL_MODEL_ID
from tokencast.local import DEFAULT_API_KEY, bounded_json
from tokencast.local.admin import guard_admin_routes, refuse
from tokencast.local.background import BackgroundLoop
from tokencast.local.bedrock import text
from tokencast.local.bedrock.eventstream import encode_event, encode_exception

log = logging.getLogger(__name__)

#: Modelled Bedrock errors this endpoint can answer with, and their HTTP status codes.
HTTP_ERRORS: dict[str, int] = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}

#: In-stream exceptions of ConverseStream (event names of the ``ConverseStreamOutput`` union),
#: and the HTTP error the non-streaming Converse answers with instead.
StreamException = Literal[
    "modelStreamErrorException",
    "internalServerException",
    "throttlingException",
    "serviceUnavailableException",
    "validationException",
]
_STREAM_TO_HTTP_ERROR: dict[str, str] = {
    "modelStreamErrorException": "ModelErrorException",
    "internalServerException": "InternalServerException",
    "throttlingException": "ThrottlingException",
    "serviceUnavailableException": "ServiceUnavailableException",
    "validationException": "ValidationException",
}

_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_POLL_S = 0.02  # how often waits look for a vanished client or a shutdown


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


_PRE_STREAM_KINDS = frozenset({"throttle", "server_error", "http_error"})


class LocalBedrockConfig(BaseModel):
    """How the local model behaves; faults listed here are armed when it is constructed."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    model_ids: list[str] = Field(default_factory=lambda: [LOCAL_MODEL_ID], description="ids answered; others get 404")
    accept_any_model: bool = False
    first_token_delay_s: float = Field(0.05, ge=0, description="time from request to the first token")
    tokens_per_second: float = Field(150.0, gt=0)
    seed: int = Field(0, description="default seed; a request may override it with additionalModelRequestFields.seed")
    faults: list[FaultRule] = Field(default_factory=list)
    recent_requests: int = Field(1000, ge=0, description="how many per-request records stats keep")
    record_emits: bool = Field(
        False, description="keep when each token was written, per prompt fingerprint (benchmarks read emits())"
    )


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


@dataclass
class _Armed:
    id: int
    rule: FaultRule
    remaining: int | None


@dataclass(frozen=True)
class _Request:
    """A validated Converse request."""

    model_id: str
    messages: list[dict[str, Any]]
    system: list[dict[str, Any]]
    max_tokens: int
    seed: int


class _BedrockError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, HTTP_ERRORS[code]


class LocalBedrock:
    """The local model: configuration, fault rules and stats, plus the aiohttp handlers.

    Lifecycle: construct, then :meth:`add_to` an application (or :meth:`build_app`); the
    application's shutdown releases stalled streams (or call :meth:`shutdown`). The Python
    API is thread-safe, so tests may steer a model served by a loop in another thread.
    """

    def __init__(self, config: LocalBedrockConfig | None = None) -> None:
        self._config = config or LocalBedrockConfig()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._rule_ids = itertools.count(1)
        self._rules: list[_Armed] = []
        self._counters: dict[str, int] = {}
        self._recent: deque[RequestRecord] = deque()
        self._active = 0
        self._emits: dict[str, Emits] = {}
        self.reset_stats()
        self.set_faults(self._config.faults)

    # ----------------------------------------------------------------- configuration

    @property
    def config(self) -> LocalBedrockConfig:
        return self._config

    def configure(self, **changes: Any) -> LocalBedrockConfig:
        """Change settings (e.g. ``tokens_per_second``) for requests that start from now on.

        ``faults`` in the config are armed at construction only; use the fault API at runtime.
        """
        with self._lock:
            self._config = LocalBedrockConfig(**{**self._config.model_dump(), **changes})
            return self._config

    def serves(self, model_id: str) -> bool:
        return self._config.accept_any_model or model_id in self._config.model_ids

    # ----------------------------------------------------------------- faults

    def add_fault(self, rule: FaultRule | Mapping[str, Any]) -> int:
        """Arm a rule after those already armed; returns its id (for :meth:`remove_fault`)."""
        rule = rule if isinstance(rule, FaultRule) else FaultRule.model_validate(rule)
        with self._lock:
            armed = _Armed(next(self._rule_ids), rule, rule.times)
            self._rules.append(armed)
            return armed.id

    def set_faults(self, rules: list[FaultRule] | list[Mapping[str, Any]]) -> list[int]:
        """Replace every armed rule with these."""
        self.clear_faults()
        return [self.add_fault(rule) for rule in rules]

    def remove_fault(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [a for a in self._rules if a.id != rule_id]
            return len(self._rules) != before

    def clear_faults(self) -> None:
        with self._lock:
            self._rules = []

    def faults(self) -> list[dict[str, Any]]:
        """Armed rules with their ids and remaining uses (exhausted rules are dropped)."""
        with self._lock:
            return [{"id": a.id, "remaining": a.remaining, **a.rule.model_dump()} for a in self._rules]

    def _take_faults(self, prompt: str) -> dict[str, _Armed]:
        """Consume, atomically, the rules that apply to a request whose last user text is ``prompt``."""
        taken: dict[str, _Armed] = {}
        with self._lock:
            candidates = [a for a in self._rules if a.rule.match is None or a.rule.match in prompt]
            pre = next((a for a in candidates if a.rule.kind in _PRE_STREAM_KINDS), None)
            if pre is not None:
                taken["error"] = pre
            else:
                for a in candidates:
                    taken.setdefault(a.rule.kind, a)
            for a in taken.values():
                if a.remaining is not None:
                    a.remaining -= 1
            self._rules = [a for a in self._rules if a.remaining is None or a.remaining > 0]
            if taken:
                self._counters["faults_injected"] += len(taken)
        return taken

    # ----------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        """Counters and the most recent request records, JSON-ready.

        ``tokens_after_disconnect`` counts tokens produced once the client had gone away; a
        model that stops promptly on cancel keeps it at 0 or 1 per request.
        """
        with self._lock:
            return {
                **self._counters,
                "active_requests": self._active,
                "recent": [asdict(r) for r in self._recent],
            }

    def emits(self, fingerprint: str) -> Emits | None:
        """The emit times of the latest stream for a prompt (``record_emits`` must be on)."""
        with self._lock:
            return self._emits.get(fingerprint)

    def clear_emits(self) -> None:
        with self._lock:
            self._emits.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self._counters = dict.fromkeys(
                (
                    "requests",
                    "rejected",
                    "streams",
                    "completed",
                    "disconnects",
                    "faults_injected",
                    "tokens_generated",
                    "tokens_after_disconnect",
                ),
                0,
            )
            self._recent = deque(r for r in self._recent if r.ended_at is None)

    def _record(self, operation: str, model_id: str) -> RequestRecord:
        record = RequestRecord(uuid.uuid4().hex, operation, model_id, "", time.time())
        with self._lock:
            self._counters["requests"] += 1
            self._active += 1
            self._recent.append(record)
            while len(self._recent) > self._config.recent_requests:
                self._recent.popleft()
        return record

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] += n

    # ----------------------------------------------------------------- aiohttp wiring

    def routes(self) -> list[web.RouteDef]:
        """The model routes and the ``/_local/model/...`` admin routes."""
        return [
            web.post("/model/{modelId}/converse-stream", self.handle_converse_stream),
            web.post("/model/{modelId}/converse", self.handle_converse),
            web.get("/_local/model/faults", self.handle_get_faults),
            web.post("/_local/model/faults", self.handle_post_faults),
            web.delete("/_local/model/faults", self.handle_delete_faults),
            web.get("/_local/model/stats", self.handle_get_stats),
            web.delete("/_local/model/stats", self.handle_delete_stats),
        ]

    def add_to(self, app: web.Application) -> None:
        """Mount on an application shared with other local services; its shutdown releases stalls."""
        app.add_routes(self.routes())
        app.on_shutdown.append(self._on_shutdown)

    def build_app(self, api_key: str = DEFAULT_API_KEY, bind_host: str = "127.0.0.1") -> web.Application:
        """An application serving only the local model; ``/_local/*`` needs ``api_key`` (see tokencast.local.admin)."""
        app = web.Application()
        self.add_to(app)
        guard_admin_routes(app, [api_key], bind_host=bind_host)
        return app

    def shutdown(self) -> None:
        """End stalled and in-flight streams promptly (they are aborted, as a dying server would)."""
        self._closing.set()

    async def _on_shutdown(self, app: web.Application) -> None:
        self.shutdown()

    # ----------------------------------------------------------------- admin handlers

    async def handle_get_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"rules": self.faults()})

    async def handle_post_faults(self, request: web.Request) -> web.Response:
        """Body: ``{"rules": [rule, ...], "replace": false}`` or a single rule object."""
        try:
            body = bounded_json.loads(await request.read())
            if isinstance(body, dict) and "kind" in body:
                body = {"rules": [body]}
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("rules"), list)
                or set(body) - {"rules", "replace"}
            ):
                raise ValueError('expected {"rules": [...], "replace": bool} or one rule')
            rules = [FaultRule.model_validate(r) for r in body["rules"]]
        except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
            return refuse(400, "BadRequestException", str(exc))
        ids = self.set_faults(rules) if body.get("replace") else [self.add_fault(r) for r in rules]
        return web.json_response({"ids": ids, "rules": self.faults()})

    async def handle_delete_faults(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return web.json_response({"rules": []})

    async def handle_get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def handle_delete_stats(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return web.json_response(self.stats())

    # ----------------------------------------------------------------- model handlers

    async def handle_converse_stream(self, request: web.Request) -> web.StreamResponse:
        """ConverseStream: validate, apply faults, then stream one event-stream frame per event."""
        received = time.monotonic()
        config = self._config
        record = self._record("ConverseStream", _model_id(request))
        try:
            req, armed = await self._admit(request, record)
        except _BedrockError as exc:
            return self._error_response(record, exc)

        generation = text.generate(req.messages, req.system, req.seed, req.max_tokens)
        fail_after, stall, slow = armed.get("fail_after"), armed.get("stall"), armed.get("slow")
        per_token_s = 1.0 / config.tokens_per_second + (slow.rule.delay_s if slow else 0.0)
        self._count("streams")
        emits = Emits(received) if config.record_emits else None
        if emits is not None:
            with self._lock:
                self._emits[record.prompt_fingerprint] = emits

        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "application/vnd.amazon.eventstream", "x-amzn-RequestId": record.request_id},
        )
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            await response.write(encode_event("messageStart", {"role": "assistant"}))
            for index, token in enumerate(generation.tokens):
                if fail_after and index == fail_after.rule.after:
                    await self._fail_stream(response, record, fail_after.rule)
                    return response
                if stall and index == stall.rule.after:
                    await self._stall(request, record)
                    return response
                due = received + config.first_token_delay_s + index * per_token_s
                if not await self._wait_until(request, due):
                    self._interrupted(request, record)
                    return response
                self._count("tokens_generated")
                try:
                    await response.write(
                        encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": token}})
                    )
                    if emits is not None:
                        emits.tokens.append((time.monotonic(), token))
                except ConnectionResetError:
                    record.tokens_after_disconnect += 1
                    self._count("tokens_after_disconnect")
                    self._interrupted(request, record)
                    return response
                record.tokens_sent += 1
            output_tokens = len(generation.tokens)
            # Recorded before the last frames go out, so stats are settled when the client sees the end.
            self._finish(record, "completed", stop_reason=generation.stop_reason)
            self._count("completed")
            await response.write(encode_event("contentBlockStop", {"contentBlockIndex": 0}))
            await response.write(encode_event("messageStop", {"stopReason": generation.stop_reason}))
            await response.write(
                encode_event(
                    "metadata",
                    {
                        "usage": {
                            "inputTokens": generation.input_tokens,
                            "outputTokens": output_tokens,
                            "totalTokens": generation.input_tokens + output_tokens,
                        },
                        "metrics": {"latencyMs": int((time.monotonic() - received) * 1000)},
                    },
                )
            )
            await response.write_eof()
        except ConnectionResetError:
            self._interrupted(request, record)
        except asyncio.CancelledError:  # the application may cancel handlers of lost connections
            self._interrupted(request, record)
            raise
        finally:
            self._finish(record, "aborted")  # no-op unless something unexpected escaped
        return response

    async def handle_converse(self, request: web.Request) -> web.Response:
        """Converse: the same answer as ConverseStream, in one JSON body after the same pacing."""
        received = time.monotonic()
        config = self._config
        record = self._record("Converse", _model_id(request))
        try:
            req, armed = await self._admit(request, record)
            generation = text.generate(req.messages, req.system, req.seed, req.max_tokens)
            n = len(generation.tokens)
            fail_after, stall, slow = armed.get("fail_after"), armed.get("stall"), armed.get("slow")
            per_token_s = 1.0 / config.tokens_per_second + (slow.rule.delay_s if slow else 0.0)
            if stall and stall.rule.after < n:
                await self._stall(request, record)
                raise web.HTTPServiceUnavailable()  # only reached on shutdown or disconnect
            if fail_after and fail_after.rule.after < n:
                rule = fail_after.rule
                raise _BedrockError(
                    _STREAM_TO_HTTP_ERROR[rule.exception], rule.message or _fault_message(rule.exception)
                )
            if not await self._wait_until(request, received + config.first_token_delay_s + (n - 1) * per_token_s):
                self._interrupted(request, record)
                raise web.HTTPServiceUnavailable()
        except _BedrockError as exc:
            return self._error_response(record, exc)
        self._count("tokens_generated", n)
        record.tokens_sent = n
        self._finish(record, "completed", stop_reason=generation.stop_reason)
        self._count("completed")
        return web.json_response(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": generation.text}]}},
                "stopReason": generation.stop_reason,
                "usage": {
                    "inputTokens": generation.input_tokens,
                    "outputTokens": n,
                    "totalTokens": generation.input_tokens + n,
                },
                "metrics": {"latencyMs": int((time.monotonic() - received) * 1000)},
            },
            headers={"x-amzn-RequestId": record.request_id},
        )

    # ----------------------------------------------------------------- helpers

    async def _admit(self, request: web.Request, record: RequestRecord) -> tuple[_Request, dict[str, _Armed]]:
        """Validate the request like Bedrock, then take the fault rules that apply to it."""
        if not self.serves(record.model_id):
            raise _BedrockError(
                "ResourceNotFoundException",
                "The requested model was not found. Check the model identifier and try again.",
            )
        try:
            body = bounded_json.loads(await request.read())
        except ValueError:  # bad JSON, bad UTF-8, or nested too deeply
            raise _BedrockError(
                "ValidationException", "Malformed input request, please reformat your input and try again."
            ) from None
        req = _validate(record.model_id, body, self._config.seed)
        prompt = text.last_user_text(req.messages)
        record.prompt_fingerprint = prompt_fingerprint(prompt)
        armed = self._take_faults(prompt)
        record.faults = [a.id for a in armed.values()]
        if "error" in armed:
            rule = armed["error"].rule
            code, _ = rule.http_error()
            raise _BedrockError(code, rule.message or _fault_message(code))
        return req, armed

    def _error_response(self, record: RequestRecord, exc: _BedrockError) -> web.Response:
        self._finish(record, "fault" if record.faults else "rejected", error=exc.code)
        if not record.faults:
            self._count("rejected")
        return web.json_response(
            {"message": exc.message},
            status=exc.status,
            headers={"x-amzn-ErrorType": exc.code + _ERROR_TYPE_SUFFIX, "x-amzn-RequestId": record.request_id},
        )

    async def _fail_stream(self, response: web.StreamResponse, record: RequestRecord, rule: FaultRule) -> None:
        body: dict[str, Any] = {"message": rule.message or _fault_message(rule.exception)}
        if rule.exception == "modelStreamErrorException":
            body.update(originalStatusCode=500, originalMessage="local model fault")
        self._finish(record, "fault", error=rule.exception)
        await response.write(encode_exception(rule.exception, body))
        await response.write_eof()

    async def _stall(self, request: web.Request, record: RequestRecord) -> None:
        """Send nothing until the client leaves or the server shuts down."""
        record.outcome = "stalled"
        # aiohttp signals no event when a client disconnects: its transport state is polled.
        while not _gone(request) and not self._closing.is_set():  # noqa: ASYNC110
            await asyncio.sleep(_POLL_S)
        self._interrupted(request, record)

    async def _wait_until(self, request: web.Request, due: float) -> bool:
        """Sleep until ``due`` (monotonic); False as soon as the client is gone or shutdown begins."""
        while True:
            if _gone(request) or self._closing.is_set():
                return False
            remaining = due - time.monotonic()
            if remaining <= 0:
                await asyncio.sleep(0)  # let other streams run even when far behind schedule
                return not _gone(request)
            await asyncio.sleep(min(remaining, _POLL_S))

    def _interrupted(self, request: web.Request, record: RequestRecord) -> None:
        """Record why a request stopped early; on shutdown, drop the connection as a dying server would."""
        if _gone(request):
            if record.ended_at is None:
                self._count("disconnects")
            self._finish(record, "disconnected")
        else:
            self._finish(record, "shutdown")
            if request.transport is not None:
                request.transport.abort()

    def _finish(
        self, record: RequestRecord, outcome: str, *, stop_reason: str | None = None, error: str | None = None
    ) -> None:
        """Close a record once; later calls are no-ops. Logs ids and outcome, never text."""
        with self._lock:
            if record.ended_at is not None:
                return
            record.outcome, record.stop_reason, record.error, record.ended_at = outcome, stop_reason, error, time.time()
            self._active -= 1
        log.debug(
            "%s %s model=%s outcome=%s tokens=%d",
            record.operation,
            record.request_id,
            record.model_id,
            outcome,
            record.tokens_sent,
        )


def _model_id(request: web.Request) -> str:
    """The model id from the path; an ARN names its model after the last slash."""
    model_id = unquote(request.match_info["modelId"])
    return model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _fault_message(code: str) -> str:
    return f"{code} injected by the local model's fault rules."


def _validate(model_id: str, body: Any, default_seed: int) -> _Request:
    """Check a Converse body the way Bedrock does; raise ``ValidationException`` naming the field."""

    def invalid(message: str) -> _BedrockError:
        return _BedrockError("ValidationException", message)

    if not isinstance(body, dict):
        raise invalid("Malformed input request, please reformat your input and try again.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message."
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{i}.role must be user or assistant.")
        expected = "user" if i % 2 == 0 else "assistant"
        if message["role"] != expected:
            if i == 0:
                raise invalid(
                    "A conversation must start with a user message. Try again with a conversation that starts with a user message."
                )
            raise invalid(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
            )
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise invalid(
                f"The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )
        for j, block in enumerate(content):
            if not isinstance(block, dict) or "text" not in block:
                kind = next(iter(block), "unknown") if isinstance(block, dict) and block else "unknown"
                raise invalid(
                    f"This model doesn't support the {kind} content block at messages.{i}.content.{j}. Use text only."
                )
            if not isinstance(block["text"], str) or not block["text"].strip():
                raise invalid(
                    f"The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to the text field, and try again."
                )
    if messages[-1]["role"] != "user":
        raise invalid(
            "A conversation must end with a user message. Try again with a conversation that ends with a user message."
        )

    system = body.get("system", [])
    if not isinstance(system, list):
        raise invalid("system must be a list of SystemContentBlock objects.")
    for k, block in enumerate(system):
        if not isinstance(block, dict) or not isinstance(block.get("text"), str) or not block["text"].strip():
            raise invalid(
                f"The text field in the SystemContentBlock object at system.{k} is blank. Add text to the text field, and try again."
            )

    inference = body.get("inferenceConfig", {})
    if not isinstance(inference, dict):
        raise invalid("inferenceConfig must be an object.")
    max_tokens = inference.get("maxTokens", text.DEFAULT_MAX_TOKENS)
    if not _is_int(max_tokens) or max_tokens < 1:
        raise invalid("inferenceConfig.maxTokens must be a positive integer.")
    if max_tokens > text.MAX_OUTPUT_TOKENS:
        raise invalid(
            f"The maximum tokens you requested exceeds the model limit of {text.MAX_OUTPUT_TOKENS}. Try again with a maximum tokens value that is lower than {text.MAX_OUTPUT_TOKENS}."
        )
    for name in ("temperature", "topP"):
        value = inference.get(name)
        if value is not None and (not _is_number(value) or not 0 <= value <= 1):
            raise invalid(f"inferenceConfig.{name} must be a number between 0 and 1.")

    extra = body.get("additionalModelRequestFields", {})
    if not isinstance(extra, dict):
        raise invalid("additionalModelRequestFields must be an object.")
    seed = extra.get("seed", default_seed)
    if not _is_int(seed):
        raise invalid("additionalModelRequestFields.seed must be an integer.")
    return _Request(model_id, messages, system, max_tokens, seed)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class ThreadedServer:
    """Serve a :class:`LocalBedrock` on its own event loop thread (for tests and scripts).

    ``with ThreadedServer(LocalBedrock()) as server: boto3.client(..., endpoint_url=server.url)``.
    The local stack does not need this: it mounts the model on its own application.
    """

    def __init__(
        self, model: LocalBedrock, host: str = "127.0.0.1", port: int = 0, api_key: str = DEFAULT_API_KEY
    ) -> None:
        self.model, self._host, self._port = model, host, port
        #: what ``/_local/*`` requests must send in ``x-api-key``
        self.api_key = api_key
        self._loop: BackgroundLoop | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> ThreadedServer:
        self._loop = BackgroundLoop("local-bedrock")
        try:
            self._loop.run(self._start(), timeout_s=10)
        except BaseException:
            self.stop()
            raise
        return self

    async def _start(self) -> None:
        app = self.model.build_app(self.api_key, bind_host=self._host)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self._host}:{port}"

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            if self._runner is not None:
                loop.run(self._runner.cleanup(), timeout_s=10)
                self._runner = None
        finally:
            loop.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
