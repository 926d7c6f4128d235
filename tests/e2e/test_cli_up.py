"""`tokencast up` itself, as a person runs it: busy ports, missing Bedrock credentials, a stack
that goes away mid-stream, and `--model openai` streaming from an OpenAI-compatible server
(a small fake one, started here on an ephemeral port)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from tests.e2e.test_cli import (
    COMMAND_S,
    TOKENCAST,
    StreamProcess,
    UpProcess,
    clean_env,
    model_fault,
    said_cancelled,
    tokencast,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def run_up(tmp_path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TOKENCAST, "up", *args],
        env=env or clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=COMMAND_S,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def assert_fails_at_once_with(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    message, hint = result.stderr.splitlines()[-2:]
    assert message.startswith("tokencast up: ") and hint.startswith("  hint: ")
    for fragment in fragments:
        assert fragment in result.stderr


def test_up_on_a_busy_port_fails_at_once_naming_it(tmp_path, busy_port):
    result = run_up(tmp_path, "--port", str(busy_port))
    assert_fails_at_once_with(result, f"port {busy_port} (GraphQL and the model) is in use", "--port")
    assert not (tmp_path / "local.json").exists()


def test_up_on_a_busy_moto_port_fails_at_once_naming_it(tmp_path, busy_port):
    result = run_up(tmp_path, "--port", "0", "--moto-port", str(busy_port))
    assert_fails_at_once_with(result, f"port {busy_port} (moto: SQS and DynamoDB) is in use", "--moto-port")


def test_up_with_bedrock_and_no_credentials_points_at_bedrock(tmp_path):
    env = clean_env(tmp_path)
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    result = run_up(tmp_path, "--port", "0", "--model", "bedrock", "--model-id", "some.model", env=env)
    assert_fails_at_once_with(result, "--model bedrock needs AWS credentials for Bedrock", "aws configure")
    assert "table" not in result.stderr.lower()


def test_a_stack_going_away_mid_stream_shows_reconnecting(tmp_path):
    up = UpProcess(tmp_path)
    try:
        state = up.wait_ready()
        model_fault(state, {"kind": "slow", "delay_s": 0.05})
        stream = StreamProcess(up, "[tokens=2000] a long answer")
        stream.session_id()
        stream.wait_for_text()
    finally:
        assert up.stop() == 0
    deadline = time.monotonic() + COMMAND_S
    while not any("reconnecting" in line for line in stream.stderr):
        assert time.monotonic() < deadline, "".join(stream.stderr)
        time.sleep(0.05)
    assert stream.interrupt() == 130
    assert "Traceback" not in "".join(stream.stderr)


# --- --model openai ---------------------------------------------------------------------------


@dataclass
class FakeOpenAI:
    """An OpenAI-compatible chat-completions server that streams a fixed answer, word by word."""

    answer: tuple[str, ...] = ("Hello", " from", " a", " real", " model", ".")
    requests: list[dict] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        prompt = body["messages"][-1]["content"]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(data: object) -> None:
            await response.write(f"data: {json.dumps(data)}\n\n".encode())

        if "endless" in prompt:  # until the client goes away
            try:
                while True:
                    await send({"choices": [{"index": 0, "delta": {"content": " and"}, "finish_reason": None}]})
                    await asyncio.sleep(0.02)
                    if request.transport is None or request.transport.is_closing():
                        raise ConnectionResetError
            except (ConnectionResetError, ConnectionError):
                self.disconnected.set()
                return response
        words = self.answer[: body.get("max_tokens") or len(self.answer)]
        await send({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        for word in words:
            await send({"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]})
        finish = "length" if len(words) < len(self.answer) else "stop"
        await send({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        usage = {"prompt_tokens": 7, "completion_tokens": len(words), "total_tokens": 7 + len(words)}
        await send({"choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        return response


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.chat)
    runner = web.AppRunner(app)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner.addresses[0][1]

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    fake.url = f"http://127.0.0.1:{port}/v1"
    yield fake
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


class OpenAIUp(UpProcess):
    def __init__(self, state_dir, base_url: str) -> None:
        self.extra = ["--model", "openai", "--openai-base-url", base_url, "--model-id", "fake-llm"]
        super().__init__(state_dir)

    def command(self) -> list[str]:
        return [TOKENCAST, "up", "--port", "0", *self.extra]


def test_model_openai_streams_real_answers_through_the_unchanged_handlers(tmp_path, fake_openai):
    up = OpenAIUp(tmp_path, fake_openai.url)
    try:
        up.wait_ready()
        assert any("(OpenAI-compatible)" in line for line in up.output)

        streamed = tokencast(up, "stream", "Say hello", "--system", "Be brief.", "--temperature", "0.2")
        assert streamed.returncode == 0, streamed.stderr
        assert streamed.stdout == "Hello from a real model.\n\n[COMPLETED, 6 tokens]\n"
        sent = fake_openai.requests[-1]
        assert sent["model"] == "fake-llm" and sent["stream"] is True and sent["temperature"] == 0.2
        assert sent["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ]

        cut = tokencast(up, "stream", "Say hello", "--max-tokens", "3")
        assert cut.stdout == (
            "Hello from a\n\n[COMPLETED, 3 tokens; cut off by the token limit: raise --max-tokens for more]\n"
        )

        endless = StreamProcess(up, "an endless answer")
        session_id = endless.session_id()
        endless.wait_for_text()
        assert endless.interrupt() == 130
        assert said_cancelled("".join(endless.stderr), session_id)
        assert fake_openai.disconnected.wait(COMMAND_S), "cancelling closed the request to the model server"
    finally:
        assert up.stop() == 0


def test_demo_streams_one_answer_and_prints_nothing_but_the_answer(tmp_path):
    """The README's first command: an answer, its final line, and no stray log or metrics output
    (stopping the stack once printed the worker's last metrics flush as a raw JSON line)."""
    done = subprocess.run(
        [TOKENCAST, "demo", "say something short"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=COMMAND_S,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("local stack on http://127.0.0.1:")
    assert lines[-1].startswith("[COMPLETED, ")
    assert not [line for line in done.stdout.splitlines() + done.stderr.splitlines() if line.lstrip().startswith("{")]
    assert "Traceback" not in done.stderr
