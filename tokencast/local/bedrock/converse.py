"""The Converse and ConverseStream handlers: validate, take faults, pace, frame the answer.

State (configuration, fault rules, stats) lives in :class:`~tokencast.local.bedrock.server.LocalBedrock`;
these handlers read and record it through its methods.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

from tokencast.local import bounded_json
from tokencast.local.bedrock import text
from tokencast.local.bedrock.errors import ERROR_TYPE_SUFFIX, STREAM_TO_HTTP_ERROR, BedrockError, fault_message
from tokencast.local.bedrock.eventstream import encode_event, encode_exception
from tokencast.local.bedrock.faults import Armed, FaultRule, prompt_fingerprint
from tokencast.local.bedrock.stats import Emits, RequestRecord
from tokencast.local.bedrock.validation import ConverseRequest, validate

if TYPE_CHECKING:
    from tokencast.local.bedrock.server import LocalBedrock


_POLL_S = 0.02  # how often waits look for a vanished client or a shutdown


class ConverseHandlers:
    """``POST /model/{modelId}/converse-stream`` and ``/converse`` for one :class:`LocalBedrock`."""

    def __init__(self, model: LocalBedrock) -> None:
        self.model = model

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/model/{modelId}/converse-stream", self.handle_converse_stream),
            web.post("/model/{modelId}/converse", self.handle_converse),
        ]

    async def handle_converse_stream(self, request: web.Request) -> web.StreamResponse:
        """ConverseStream: validate, apply faults, then stream one event-stream frame per event."""
        received = time.monotonic()
        config = self.model.config
        record = self.model.record_request("ConverseStream", _model_id(request))
        try:
            req, armed = await self._admit(request, record)
        except BedrockError as exc:
            return self._error_response(record, exc)

        generation = text.generate(req.messages, req.system, req.seed, req.max_tokens)
        fail_after, stall, slow = armed.get("fail_after"), armed.get("stall"), armed.get("slow")
        per_token_s = 1.0 / config.tokens_per_second + (slow.rule.delay_s if slow else 0.0)
        self.model.count("streams")
        emits = Emits(received) if config.record_emits else None
        if emits is not None:
            self.model.keep_emits(record.prompt_fingerprint, emits)

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
                self.model.count("tokens_generated")
                try:
                    await response.write(
                        encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": token}})
                    )
                    if emits is not None:
                        emits.tokens.append((time.monotonic(), token))
                except ConnectionResetError:
                    record.tokens_after_disconnect += 1
                    self.model.count("tokens_after_disconnect")
                    self._interrupted(request, record)
                    return response
                record.tokens_sent += 1
            output_tokens = len(generation.tokens)
            # Recorded before the last frames go out, so stats are settled when the client sees the end.
            self.model.finish(record, "completed", stop_reason=generation.stop_reason)
            self.model.count("completed")
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
            self.model.finish(record, "aborted")  # no-op unless something unexpected escaped
        return response

    async def handle_converse(self, request: web.Request) -> web.Response:
        """Converse: the same answer as ConverseStream, in one JSON body after the same pacing."""
        received = time.monotonic()
        config = self.model.config
        record = self.model.record_request("Converse", _model_id(request))
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
                raise BedrockError(STREAM_TO_HTTP_ERROR[rule.exception], rule.message or fault_message(rule.exception))
            if not await self._wait_until(request, received + config.first_token_delay_s + (n - 1) * per_token_s):
                self._interrupted(request, record)
                raise web.HTTPServiceUnavailable()
        except BedrockError as exc:
            return self._error_response(record, exc)
        self.model.count("tokens_generated", n)
        record.tokens_sent = n
        self.model.finish(record, "completed", stop_reason=generation.stop_reason)
        self.model.count("completed")
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

    async def _admit(self, request: web.Request, record: RequestRecord) -> tuple[ConverseRequest, dict[str, Armed]]:
        """Validate the request like Bedrock, then take the fault rules that apply to it."""
        if not self.model.serves(record.model_id):
            raise BedrockError(
                "ResourceNotFoundException",
                "The requested model was not found. Check the model identifier and try again.",
            )
        try:
            body = bounded_json.loads(await request.read())
        except ValueError:  # bad JSON, bad UTF-8, or nested too deeply
            raise BedrockError(
                "ValidationException", "Malformed input request, please reformat your input and try again."
            ) from None
        req = validate(record.model_id, body, self.model.config.seed)
        prompt = text.last_user_text(req.messages)
        record.prompt_fingerprint = prompt_fingerprint(prompt)
        armed = self.model.take_faults(prompt)
        record.faults = [a.id for a in armed.values()]
        if "error" in armed:
            rule = armed["error"].rule
            code, _ = rule.http_error()
            raise BedrockError(code, rule.message or fault_message(code))
        return req, armed

    def _error_response(self, record: RequestRecord, exc: BedrockError) -> web.Response:
        self.model.finish(record, "fault" if record.faults else "rejected", error=exc.code)
        if not record.faults:
            self.model.count("rejected")
        return web.json_response(
            {"message": exc.message},
            status=exc.status,
            headers={"x-amzn-ErrorType": exc.code + ERROR_TYPE_SUFFIX, "x-amzn-RequestId": record.request_id},
        )

    async def _fail_stream(self, response: web.StreamResponse, record: RequestRecord, rule: FaultRule) -> None:
        body: dict[str, Any] = {"message": rule.message or fault_message(rule.exception)}
        if rule.exception == "modelStreamErrorException":
            body.update(originalStatusCode=500, originalMessage="local model fault")
        self.model.finish(record, "fault", error=rule.exception)
        await response.write(encode_exception(rule.exception, body))
        await response.write_eof()

    async def _stall(self, request: web.Request, record: RequestRecord) -> None:
        """Send nothing until the client leaves or the server shuts down."""
        record.outcome = "stalled"
        # aiohttp signals no event when a client disconnects: its transport state is polled.
        while not _gone(request) and not self.model.closing.is_set():  # noqa: ASYNC110
            await asyncio.sleep(_POLL_S)
        self._interrupted(request, record)

    async def _wait_until(self, request: web.Request, due: float) -> bool:
        """Sleep until ``due`` (monotonic); False as soon as the client is gone or shutdown begins."""
        while True:
            if _gone(request) or self.model.closing.is_set():
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
                self.model.count("disconnects")
            self.model.finish(record, "disconnected")
        else:
            self.model.finish(record, "shutdown")
            if request.transport is not None:
                request.transport.abort()


def _model_id(request: web.Request) -> str:
    """The model id from the path; an ARN names its model after the last slash."""
    model_id = unquote(request.match_info["modelId"])
    return model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
