"""Bedrock's ConverseStream, answered by any OpenAI-compatible server (``tokencast up --model openai``).

A developer with Ollama, llama.cpp's server, vLLM or LM Studio running sees real answers
locally with no AWS account: the processing handler keeps calling ``converse_stream`` with
boto3 exactly as in the cloud; this endpoint translates each call into a streaming
``POST {base_url}/chat/completions`` (``stream: true``, server-sent events) and each chunk
back into Bedrock's event-stream frames.

Translation:

* request: ``system`` blocks → one ``system`` message; ``messages[].content[].text`` joined
  per turn; ``inferenceConfig.maxTokens`` / ``temperature`` / ``topP`` → ``max_tokens`` /
  ``temperature`` / ``top_p``; the model id of the path is the OpenAI ``model``.
* answer: ``choices[0].delta.content`` → ``contentBlockDelta``; ``finish_reason`` →
  ``messageStop.stopReason`` (``length`` → ``max_tokens``, ``content_filter`` →
  ``content_filtered``, else ``end_turn``); ``usage`` (asked for with
  ``stream_options.include_usage``) → ``metadata.usage``.
* errors, so the worker's retry rules apply unchanged: 429 → ``ThrottlingException``;
  401/403 → ``AccessDeniedException``; 404 → ``ResourceNotFoundException``; other 4xx →
  ``ValidationException``; 5xx or an unreachable server → ``ServiceUnavailableException``;
  a failure mid-stream → an in-stream ``modelStreamErrorException``.

A client that goes away (the owner cancelled) closes the upstream request, so the server
stops generating. Prompts and answers are never logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp import web

from tokencast.local.bedrock.eventstream import encode_event, encode_exception

log = logging.getLogger(__name__)

_STOP_REASONS = {"length": "max_tokens", "content_filter": "content_filtered", "tool_calls": "tool_use"}
_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


@dataclass(frozen=True)
class OpenAIBridgeConfig:
    #: the server's API base, e.g. ``http://127.0.0.1:11434/v1`` (``/chat/completions`` is appended)
    base_url: str
    #: sent as ``Authorization: Bearer ...`` when set (most local servers want none)
    api_key: str | None = None
    connect_timeout_s: float = 10.0
    #: longest wait for the next chunk (a model loading into memory can be slow to start)
    read_timeout_s: float = 300.0


class _Refused(Exception):
    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class OpenAIBridge:
    """Mount with :meth:`add_to`; serves ``POST /model/{modelId}/converse-stream``."""

    def __init__(self, config: OpenAIBridgeConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    def add_to(self, app: web.Application) -> None:
        app.add_routes([web.post("/model/{modelId}/converse-stream", self.handle_converse_stream)])
        app.on_cleanup.append(self._close)

    async def _close(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(
                sock_connect=self.config.connect_timeout_s, sock_read=self.config.read_timeout_s
            )
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def handle_converse_stream(self, request: web.Request) -> web.StreamResponse:
        received = time.monotonic()
        model_id = unquote(request.match_info["modelId"])
        try:
            body = await request.json()
            payload = chat_request(model_id, body)
        except (ValueError, TypeError, KeyError) as exc:
            return _error_response("ValidationException", 400, f"Malformed input request: {exc}")
        headers = {"Accept": "text/event-stream"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        url = self.config.base_url.rstrip("/") + "/chat/completions"
        try:
            upstream = await self._http().post(url, json=payload, headers=headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("OpenAI-compatible server unreachable at %s: %s", url, type(exc).__name__)
            return _error_response("ServiceUnavailableException", 503, f"model server unreachable at {url}")
        async with upstream:
            if upstream.status >= 400:
                refused = _refusal(upstream.status, await upstream.text())
                return _error_response(refused.code, refused.status, refused.message)
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/vnd.amazon.eventstream"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(encode_event("messageStart", {"role": "assistant"}))
            stop_reason, usage = "end_turn", None
            try:
                async for chunk in sse_chunks(upstream.content):
                    if _gone(request):
                        return response  # leaving `async with` closes the upstream request
                    for text, finish, chunk_usage in _parts(chunk):
                        if text:
                            await response.write(
                                encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})
                            )
                        if finish:
                            stop_reason = _STOP_REASONS.get(finish, "end_turn")
                        usage = chunk_usage or usage
            except ConnectionResetError:  # our client went away (aiohttp's reset errors are ClientErrors too)
                return response
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("OpenAI-compatible stream failed: %s", type(exc).__name__)
                await response.write(
                    encode_exception(
                        "modelStreamErrorException",
                        {"message": f"model server stream failed ({type(exc).__name__})", "originalStatusCode": 502},
                    )
                )
                await response.write_eof()
                return response
            await response.write(encode_event("contentBlockStop", {"contentBlockIndex": 0}))
            await response.write(encode_event("messageStop", {"stopReason": stop_reason}))
            metadata: dict[str, Any] = {"metrics": {"latencyMs": int((time.monotonic() - received) * 1000)}}
            if usage:
                metadata["usage"] = usage
            await response.write(encode_event("metadata", metadata))
            await response.write_eof()
            return response


def chat_request(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI chat-completions request for a Converse request body."""
    messages: list[dict[str, str]] = []
    system = "\n\n".join(block["text"] for block in body.get("system") or [] if "text" in block)
    if system:
        messages.append({"role": "system", "content": system})
    for message in body["messages"]:
        text = "".join(block["text"] for block in message["content"] if "text" in block)
        messages.append({"role": message["role"], "content": text})
    payload: dict[str, Any] = {
        "model": model_id,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    inference = body.get("inferenceConfig") or {}
    for ours, theirs in (("maxTokens", "max_tokens"), ("temperature", "temperature"), ("topP", "top_p")):
        if inference.get(ours) is not None:
            payload[theirs] = inference[ours]
    return payload


async def sse_chunks(content: aiohttp.StreamReader) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of an SSE body's ``data:`` lines, until ``data: [DONE]`` or the end."""
    async for raw in content:
        line = raw.decode("utf-8").strip()
        if not line.startswith("data:"):
            continue  # blank separators, comments (": ping"), event/id fields
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        if isinstance(chunk, dict):
            if "error" in chunk:
                raise ValueError("error event in stream")
            yield chunk


def _parts(chunk: dict[str, Any]) -> list[tuple[str, str | None, dict[str, int] | None]]:
    usage = _usage(chunk.get("usage"))
    choices = chunk.get("choices") or []
    if not choices:
        return [("", None, usage)]
    choice = choices[0]
    delta = choice.get("delta") or {}
    return [(delta.get("content") or "", choice.get("finish_reason"), usage)]


def _usage(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    prompt, completion = value.get("prompt_tokens"), value.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return {"inputTokens": prompt, "outputTokens": completion, "totalTokens": prompt + completion}


def _refusal(status: int, text: str) -> _Refused:
    try:
        detail = json.loads(text).get("error", {})
        message = detail.get("message") if isinstance(detail, dict) else str(detail)
    except (ValueError, AttributeError):
        message = None
    message = (message or text or f"HTTP {status}")[:200]
    if status == 429:
        return _Refused("ThrottlingException", 429, message)
    if status in (401, 403):
        return _Refused("AccessDeniedException", 403, message)
    if status == 404:
        return _Refused("ResourceNotFoundException", 404, message)
    if status < 500:
        return _Refused("ValidationException", 400, message)
    return _Refused("ServiceUnavailableException", 503, message)


def _error_response(code: str, status: int, message: str) -> web.Response:
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": code + _ERROR_TYPE_SUFFIX}
    )


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
