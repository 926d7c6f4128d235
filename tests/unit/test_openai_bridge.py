"""The OpenAI-compatible bridge, driven by the stock boto3 bedrock-runtime client (as the
worker does), against small fake chat-completions servers on ephemeral ports."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from aiohttp import web
from botocore.config import Config

from tokencast.local.background import BackgroundLoop
from tokencast.local.bedrock.openai_bridge import OpenAIBridge, OpenAIBridgeConfig, chat_request


class Loop:
    """aiohttp applications served from one background event loop."""

    def __init__(self) -> None:
        self.loop = BackgroundLoop("openai-bridge-test")
        self.runners: list[web.AppRunner] = []

    def serve(self, app: web.Application) -> str:
        async def start() -> str:
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.runners.append(runner)
            return f"http://127.0.0.1:{runner.addresses[0][1]}"

        return self.loop.run(start(), 10)

    def close(self) -> None:
        try:
            for runner in self.runners:
                self.loop.run(runner.cleanup(), 10)
        finally:
            self.loop.close()


@pytest.fixture
def loop() -> Iterator[Loop]:
    served = Loop()
    yield served
    served.close()


def bedrock_via_bridge(loop: Loop, upstream: web.Application, api_key: str | None = None):
    upstream_url = loop.serve(upstream)
    bridge_app = web.Application()
    OpenAIBridge(OpenAIBridgeConfig(base_url=upstream_url + "/v1", api_key=api_key)).add_to(bridge_app)
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=loop.serve(bridge_app),
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def converse(client, text: str = "hi", **inference):
    return client.converse_stream(
        modelId="llama3.2",
        messages=[{"role": "user", "content": [{"text": text}]}],
        inferenceConfig=inference or {"maxTokens": 50},
    )


def sse(*chunks: object) -> bytes:
    return b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"


def test_chunks_become_bedrock_events_with_stop_reason_and_usage(loop):
    seen: list[dict] = []

    async def chat(request: web.Request) -> web.Response:
        seen.append({"body": await request.json(), "auth": request.headers.get("Authorization")})
        body = sse(
            {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]},
            {"choices": [{"delta": {"content": "Hel"}, "finish_reason": None}]},
            {"choices": [{"delta": {"content": "lo"}, "finish_reason": "length"}]},
            {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
        )
        return web.Response(body=body, content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    client = bedrock_via_bridge(loop, app, api_key="sk-local")
    events = list(converse(client, maxTokens=2, temperature=0.5)["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    [stop] = [e["messageStop"] for e in events if "messageStop" in e]
    [meta] = [e["metadata"] for e in events if "metadata" in e]
    assert text == "Hello" and stop["stopReason"] == "max_tokens"
    assert meta["usage"] == {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}
    [request] = seen
    assert request["auth"] == "Bearer sk-local"
    assert request["body"]["max_tokens"] == 2 and request["body"]["temperature"] == 0.5
    assert request["body"]["stream"] is True and request["body"]["model"] == "llama3.2"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, "ResourceNotFoundException"),
        (429, "ThrottlingException"),
        (401, "AccessDeniedException"),
        (400, "ValidationException"),
        (500, "ServiceUnavailableException"),
    ],
)
def test_server_errors_become_the_modelled_bedrock_errors_the_worker_classifies(loop, status, code):
    async def chat(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "model 'llama3.2' not found"}}, status=status)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    client = bedrock_via_bridge(loop, app)
    with pytest.raises(client.exceptions.ClientError) as raised:
        converse(client)
    assert raised.value.response["Error"]["Code"] == code
    assert "not found" in raised.value.response["Error"]["Message"]


def test_an_unreachable_server_is_unavailable(loop):
    bridge_app = web.Application()
    OpenAIBridge(OpenAIBridgeConfig(base_url="http://127.0.0.1:9/v1", connect_timeout_s=2)).add_to(bridge_app)
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=loop.serve(bridge_app),
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(client.exceptions.ServiceUnavailableException):
        converse(client)


def test_the_converse_request_maps_to_chat_completions():
    body = {
        "system": [{"text": "Be brief."}],
        "messages": [
            {"role": "user", "content": [{"text": "a"}]},
            {"role": "assistant", "content": [{"text": "b"}]},
            {"role": "user", "content": [{"text": "c"}, {"text": "d"}]},
        ],
        "inferenceConfig": {"maxTokens": 9, "topP": 0.9},
    }
    assert chat_request("m", body) == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "cd"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 9,
        "top_p": 0.9,
    }
