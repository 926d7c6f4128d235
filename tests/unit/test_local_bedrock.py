"""The local Bedrock stand-in, driven by the real boto3 ``bedrock-runtime`` client.

The point of the local model is that the processing handler's boto3 code runs unchanged, so
every behavioural test here goes through boto3 over HTTP against a server on an ephemeral
port, and asserts what a boto3 user sees: parsed events, modelled exceptions and their codes.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests
import urllib3
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError

from tokencast.config import LOCAL_MODEL_ID
from tokencast.local.bedrock import (
    FaultRule,
    LocalBedrock,
    LocalBedrockConfig,
    ThreadedServer,
    count_input_tokens,
    expected_text,
    generate,
    generate_tokens,
    prompt_fingerprint,
)
from tokencast.local.bedrock.eventstream import encode_event, encode_exception, encode_message
from tokencast.local.bedrock.text import MAX_OUTPUT_TOKENS

FAST = {"first_token_delay_s": 0.0, "tokens_per_second": 5000.0}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(LocalBedrock(LocalBedrockConfig(**FAST))) as srv:
        yield srv


@pytest.fixture
def model(server: ThreadedServer) -> Iterator[LocalBedrock]:
    """The shared model, reset to fast pacing with no faults for every test."""
    server.model.configure(**FAST, seed=0, accept_any_model=False)
    server.model.clear_faults()
    server.model.reset_stats()
    yield server.model
    server.model.clear_faults()


def make_client(url: str, **config: Any) -> Any:
    # Retries off: boto3 would otherwise retry 429/5xx itself and consume the fault rules.
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


@pytest.fixture(scope="module")
def client(server: ThreadedServer) -> Any:
    return make_client(server.url)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def unique(label: str) -> str:
    """A prompt no other test uses, so marker-scoped faults and stats records are ours alone."""
    return f"{label} {uuid.uuid4().hex}"


def stream_events(client: Any, prompt: str, **kwargs: Any) -> list[dict[str, Any]]:
    response = client.converse_stream(modelId=kwargs.pop("modelId", LOCAL_MODEL_ID), messages=user(prompt), **kwargs)
    return list(response["stream"])


def deltas(events: list[dict[str, Any]]) -> list[str]:
    return [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]


def wait_for(condition: Callable[[], Any], timeout: float = 3.0) -> Any:
    """Poll a condition on server state (which changes on the server's own thread)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.005)


def record_for(model: LocalBedrock, prompt: str) -> dict[str, Any] | None:
    fingerprint = prompt_fingerprint(prompt)
    return next((r for r in reversed(model.stats()["recent"]) if r["prompt_fingerprint"] == fingerprint), None)


# --------------------------------------------------------------------------- framing


def test_frames_decode_with_botocores_own_parser() -> None:
    frames = encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " héllo"}})
    frames += encode_exception("throttlingException", {"message": "slow down"})
    frames += encode_message({":event-type": "x"}, b"")
    buffer = EventStreamBuffer()
    for i in range(0, len(frames), 7):  # arbitrary chunking, as a socket delivers it
        buffer.add_data(frames[i : i + 7])
    first, second, third = list(buffer)
    assert first.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(first.payload) == {"contentBlockIndex": 0, "delta": {"text": " héllo"}}
    assert second.headers[":message-type"] == "exception"
    assert second.headers[":exception-type"] == "throttlingException"
    assert third.payload == b""


# --------------------------------------------------------------------------- text


def test_text_is_deterministic_and_depends_on_prompt_system_and_seed() -> None:
    base = generate_tokens("Tell me about rivers", seed=0)
    assert base == generate_tokens(user("Tell me about rivers"), system=[], seed=0)
    assert base != generate_tokens("Tell me about bridges", seed=0)
    assert base != generate_tokens("Tell me about rivers", seed=1)
    assert base != generate_tokens("Tell me about rivers", system="Be brief.", seed=0)
    assert "".join(base) == expected_text("Tell me about rivers")


def test_text_looks_like_prose() -> None:
    tokens = generate_tokens("Write an essay [tokens=400]")
    assert len(tokens) >= 400
    assert tokens[0][0].isupper() and not tokens[0].startswith(" ")
    assert "\n\n" in tokens
    assert tokens[-1] in {".", "?", "!"}
    words = [t for t in tokens if t.startswith(" ")]
    assert len(words) > 0.7 * len(tokens)
    assert all(t.strip() == t[1:] for t in words)  # one leading space, one word


def test_max_tokens_cuts_the_same_answer() -> None:
    full = generate("Cut me short")
    assert full.stop_reason == "end_turn"
    capped = generate("Cut me short", max_tokens=7)
    assert capped.stop_reason == "max_tokens"
    assert capped.tokens == full.tokens[:7]
    assert generate("Cut me short", max_tokens=full.output_tokens).stop_reason == "end_turn"


def test_input_tokens_are_words_of_the_input() -> None:
    messages = [*user("one two three"), {"role": "assistant", "content": [{"text": "four"}]}, *user("five six")]
    assert count_input_tokens(messages, system=[{"text": "seven eight"}]) == 8
    assert count_input_tokens("x") == 1


# --------------------------------------------------------------------------- streaming through boto3


def test_stream_has_bedrocks_events_and_usage(client: Any, model: LocalBedrock) -> None:
    prompt = unique("Describe the harbor at dawn")
    system = [{"text": "You are concise."}]
    response = client.converse_stream(modelId=LOCAL_MODEL_ID, messages=user(prompt), system=system)
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    assert response["ResponseMetadata"]["HTTPHeaders"]["transfer-encoding"] == "chunked"
    events = list(response["stream"])

    assert [next(iter(e)) for e in events[:1] + events[-3:]] == [
        "messageStart",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[0] == {"messageStart": {"role": "assistant"}}
    assert events[-3] == {"contentBlockStop": {"contentBlockIndex": 0}}
    assert events[-2] == {"messageStop": {"stopReason": "end_turn"}}
    assert all(e["contentBlockDelta"]["contentBlockIndex"] == 0 for e in events[1:-3])
    text = "".join(deltas(events))
    assert text == expected_text(user(prompt), system=system)

    metadata = events[-1]["metadata"]
    n = len(deltas(events))
    inputs = count_input_tokens(user(prompt), system)
    assert metadata["usage"] == {"inputTokens": inputs, "outputTokens": n, "totalTokens": inputs + n}
    assert isinstance(metadata["metrics"]["latencyMs"], int)
    stats = model.stats()
    assert stats["tokens_generated"] == n and stats["completed"] == 1 and stats["active_requests"] == 0


def test_events_arrive_as_they_are_generated(client: Any, model: LocalBedrock) -> None:
    ttft, rate, n = 0.05, 100.0, 30
    model.configure(first_token_delay_s=ttft, tokens_per_second=rate)
    start = time.monotonic()
    arrivals = [
        time.monotonic() - start
        for event in client.converse_stream(
            modelId=LOCAL_MODEL_ID, messages=user(unique("pace")), inferenceConfig={"maxTokens": n}
        )["stream"]
        if "contentBlockDelta" in event
    ]
    assert len(arrivals) == n
    pacing_span = (n - 1) / rate  # 0.29 s between the first and the last token
    assert arrivals[0] >= ttft * 0.9  # the first token waits for the time to first token...
    assert arrivals[-1] - arrivals[0] >= 0.8 * pacing_span  # ...and was received long before the last
    assert arrivals[n // 2] - arrivals[0] >= 0.8 * pacing_span / 2  # tokens trickle in, not in a burst


def test_same_prompt_and_seed_give_the_same_text(client: Any, model: LocalBedrock) -> None:
    prompt = unique("Tell a story")
    first = "".join(deltas(stream_events(client, prompt)))
    assert first == "".join(deltas(stream_events(client, prompt))) == expected_text(prompt)
    assert first != "".join(deltas(stream_events(client, unique("Tell a story"))))
    seeded = stream_events(client, prompt, additionalModelRequestFields={"seed": 7})
    assert "".join(deltas(seeded)) == expected_text(prompt, seed=7) != first
    model.configure(seed=7)
    assert "".join(deltas(stream_events(client, prompt))) == expected_text(prompt, seed=7)


def test_max_tokens_stops_with_max_tokens(client: Any, model: LocalBedrock) -> None:
    prompt = unique("Go on and on")
    events = stream_events(client, prompt, inferenceConfig={"maxTokens": 5, "temperature": 0.2})
    assert deltas(events) == generate_tokens(prompt, max_tokens=5)
    assert events[-2] == {"messageStop": {"stopReason": "max_tokens"}}
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 5


def test_multi_turn_conversation(client: Any, model: LocalBedrock) -> None:
    messages = [*user("Hi"), {"role": "assistant", "content": [{"text": "Hello."}]}, *user(unique("And then?"))]
    events = list(client.converse_stream(modelId=LOCAL_MODEL_ID, messages=messages)["stream"])
    assert "".join(deltas(events)) == expected_text(messages)


def test_converse_returns_the_same_answer_in_one_body(client: Any, model: LocalBedrock) -> None:
    prompt = unique("Non-streaming")
    response = client.converse(modelId=LOCAL_MODEL_ID, messages=user(prompt), inferenceConfig={"maxTokens": 12})
    assert response["output"]["message"] == {
        "role": "assistant",
        "content": [{"text": expected_text(prompt, max_tokens=12)}],
    }
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] == 12


def test_model_ids_arns_and_accept_any(client: Any, model: LocalBedrock) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        stream_events(client, "hi", modelId="anthropic.claude-v9")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{LOCAL_MODEL_ID}"
    assert deltas(stream_events(client, "hi", modelId=arn)) == generate_tokens("hi")
    model.configure(accept_any_model=True)
    assert deltas(stream_events(client, "hi", modelId="anthropic.claude-v9")) == generate_tokens("hi")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"messages": []},
        {"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]},
        {"messages": [*user("a"), *user("b")]},
        {"messages": [*user("a"), {"role": "assistant", "content": [{"text": "b"}]}]},
        {"messages": user("   ")},
        {"messages": [{"role": "user", "content": []}]},
        {"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": b"x"}}}]}]},
        {"messages": user("hi"), "system": [{"text": " "}]},
        {"messages": user("hi"), "inferenceConfig": {"maxTokens": MAX_OUTPUT_TOKENS + 1}},
        {"messages": user("hi"), "inferenceConfig": {"temperature": 1.5}},
        {"messages": user("hi"), "additionalModelRequestFields": {"seed": "seven"}},
    ],
)
@pytest.mark.parametrize("operation", ["converse_stream", "converse"])
def test_bad_requests_raise_validation_exception(
    client: Any, model: LocalBedrock, operation: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(client.exceptions.ValidationException) as raised:
        getattr(client, operation)(modelId=LOCAL_MODEL_ID, **kwargs)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert raised.value.response["Error"]["Message"]
    assert model.stats()["rejected"] == 1 and model.stats()["tokens_generated"] == 0


# --------------------------------------------------------------------------- faults


def test_throttle_applies_to_matching_prompts_only(client: Any, model: LocalBedrock) -> None:
    marker = unique("THROTTLE")
    model.add_fault(FaultRule(kind="throttle", match=marker, times=2))
    assert deltas(stream_events(client, "unrelated prompt"))  # does not consume the rule
    for _ in range(2):
        with pytest.raises(client.exceptions.ThrottlingException) as raised:
            stream_events(client, f"please {marker}")
        assert raised.value.response["Error"]["Code"] == "ThrottlingException"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert deltas(stream_events(client, f"please {marker}")) == generate_tokens(f"please {marker}")
    assert model.faults() == []
    assert model.stats()["faults_injected"] == 2


@pytest.mark.parametrize(
    ("rule", "code", "status"),
    [
        ({"kind": "server_error"}, "InternalServerException", 500),
        ({"kind": "server_error", "status": 503}, "ServiceUnavailableException", 503),
        ({"kind": "http_error", "error": "AccessDeniedException"}, "AccessDeniedException", 403),
        ({"kind": "http_error", "error": "ModelTimeoutException"}, "ModelTimeoutException", 408),
    ],
)
@pytest.mark.parametrize("operation", ["converse_stream", "converse"])
def test_http_error_rules(
    client: Any, model: LocalBedrock, operation: str, rule: dict[str, Any], code: str, status: int
) -> None:
    marker = unique("ERR")
    model.add_fault({**rule, "match": marker})
    with pytest.raises(ClientError) as raised:
        getattr(client, operation)(modelId=LOCAL_MODEL_ID, messages=user(marker))
    assert isinstance(raised.value, getattr(client.exceptions, code))
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.mark.parametrize(
    "exception",
    ["modelStreamErrorException", "internalServerException", "throttlingException", "serviceUnavailableException"],
)
def test_fail_after_raises_event_stream_error_while_iterating(client: Any, model: LocalBedrock, exception: str) -> None:
    marker = unique("FAIL")
    model.add_fault({"kind": "fail_after", "after": 3, "exception": exception, "match": marker, "message": "boom"})
    received: list[dict[str, Any]] = []
    response = client.converse_stream(modelId=LOCAL_MODEL_ID, messages=user(marker))  # the call itself succeeds
    with pytest.raises(EventStreamError) as raised:
        for event in response["stream"]:
            received.append(event)
    assert isinstance(raised.value, ClientError)
    assert raised.value.response["Error"] == {"Code": exception, "Message": "boom"}
    assert deltas(received) == generate_tokens(marker)[:3]
    assert record_for(model, marker)["outcome"] == "fault"


def test_fail_after_on_converse_is_an_http_error(client: Any, model: LocalBedrock) -> None:
    marker = unique("FAIL")
    model.add_fault({"kind": "fail_after", "after": 1, "match": marker})
    with pytest.raises(client.exceptions.ModelErrorException) as raised:
        client.converse(modelId=LOCAL_MODEL_ID, messages=user(marker))
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424


def test_slow_adds_delay_per_token(client: Any, model: LocalBedrock) -> None:
    marker = unique("SLOW")
    model.add_fault({"kind": "slow", "delay_s": 0.02, "match": marker})
    start = time.monotonic()
    events = stream_events(client, marker, inferenceConfig={"maxTokens": 10})
    assert time.monotonic() - start >= 9 * 0.02
    assert deltas(events) == generate_tokens(marker, max_tokens=10)
    start = time.monotonic()
    stream_events(client, marker, inferenceConfig={"maxTokens": 10})  # times=1: the next one is fast again
    assert time.monotonic() - start < 9 * 0.02


def test_stall_keeps_the_connection_open_until_the_client_times_out(
    server: ThreadedServer, model: LocalBedrock
) -> None:
    client = make_client(server.url, read_timeout=0.3)
    marker = unique("STALL")
    model.add_fault({"kind": "stall", "after": 2, "match": marker})
    received: list[dict[str, Any]] = []
    response = client.converse_stream(modelId=LOCAL_MODEL_ID, messages=user(marker))
    # botocore does not wrap timeouts that happen while iterating: urllib3's error surfaces as is.
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        for event in response["stream"]:
            received.append(event)
    response["stream"].close()
    assert deltas(received) == generate_tokens(marker)[:2]
    record = wait_for(lambda: (r := record_for(model, marker)) and r["ended_at"] and r)
    assert record["outcome"] == "disconnected" and record["tokens_sent"] == 2


def test_shutdown_ends_stalled_streams() -> None:
    model = LocalBedrock(LocalBedrockConfig(**FAST, faults=[FaultRule(kind="stall", after=1)]))
    srv = ThreadedServer(model).start()
    response = make_client(srv.url).converse_stream(modelId=LOCAL_MODEL_ID, messages=user("hang"))
    stream = iter(response["stream"])
    assert "messageStart" in next(stream) and "contentBlockDelta" in next(stream)
    outcome: list[BaseException | None] = []

    def drain() -> None:
        try:
            list(stream)
            outcome.append(None)
        except Exception as exc:  # a dropped connection
            outcome.append(exc)

    reader = threading.Thread(target=drain)
    reader.start()
    start = time.monotonic()
    srv.stop()
    reader.join(timeout=5)
    assert time.monotonic() - start < 2
    assert outcome and outcome[0] is not None
    assert model.stats()["recent"][0]["outcome"] == "shutdown"


def test_disconnect_stops_generation(client: Any, model: LocalBedrock) -> None:
    model.configure(tokens_per_second=500.0)  # 3000 tokens would take 6 s
    prompt = unique("Go on forever [tokens=3000]")
    stream = client.converse_stream(modelId=LOCAL_MODEL_ID, messages=user(prompt))["stream"]
    received = [event for event, _ in zip(stream, range(6), strict=False)]  # messageStart and 5 tokens
    assert len(deltas(received)) == 5
    stream.close()  # what a worker does on cancel

    record = wait_for(lambda: (r := record_for(model, prompt)) and r["ended_at"] and r)
    assert record["outcome"] == "disconnected"
    assert record["tokens_after_disconnect"] <= 1
    assert record["tokens_sent"] < 50  # stopped within a few ms, not at 3000
    sent = record["tokens_sent"]
    assert wait_for(lambda: record_for(model, prompt)["tokens_sent"] != sent, timeout=0.1) is False
    stats = model.stats()
    assert stats["disconnects"] == 1 and stats["active_requests"] == 0
    assert stats["tokens_after_disconnect"] <= 1


# --------------------------------------------------------------------------- admin API


def test_faults_set_at_construction() -> None:
    model = LocalBedrock(LocalBedrockConfig(faults=[FaultRule(kind="throttle", match="x", times=None)]))
    assert model.faults() == [
        {"id": 1, "remaining": None, **FaultRule(kind="throttle", match="x", times=None).model_dump()}
    ]


def test_admin_endpoints(server: ThreadedServer, client: Any, model: LocalBedrock) -> None:
    marker = unique("ADMIN")
    http = requests.Session()
    http.headers["x-api-key"] = server.api_key
    url = f"{server.url}/_local/model/faults"
    answer = http.post(url, json={"rules": [{"kind": "throttle", "match": marker, "times": 1}]}, timeout=5)
    assert answer.status_code == 200 and answer.json()["rules"][0]["match"] == marker
    assert http.post(url, json={"kind": "server_error", "match": marker}, timeout=5).status_code == 200
    assert [r["kind"] for r in http.get(url, timeout=5).json()["rules"]] == ["throttle", "server_error"]
    with pytest.raises(client.exceptions.ThrottlingException):
        stream_events(client, marker)
    with pytest.raises(client.exceptions.InternalServerException):
        stream_events(client, marker)
    assert http.get(url, timeout=5).json()["rules"] == []

    assert http.post(url, json={"kind": "explode"}, timeout=5).status_code == 400
    assert http.post(url, json={"rules": [{"kind": "stall", "after": -1}]}, timeout=5).status_code == 400
    assert http.post(url, data=b"{not json", timeout=5).status_code == 400
    http.post(url, json={"rules": [{"kind": "slow", "delay_s": 1}]}, timeout=5)
    http.post(url, json={"rules": [{"kind": "throttle", "match": marker}], "replace": True}, timeout=5)
    assert [r["kind"] for r in model.faults()] == ["throttle"]
    assert http.delete(url, timeout=5).json() == {"rules": []}

    stream_events(client, marker)
    stats = http.get(f"{server.url}/_local/model/stats", timeout=5).json()
    assert stats["requests"] == 3 and stats["faults_injected"] == 2 and stats["completed"] == 1
    assert stats["recent"][-1]["prompt_fingerprint"] == prompt_fingerprint(marker)
    assert marker not in json.dumps(stats)  # prompts are never reported
    assert http.delete(f"{server.url}/_local/model/stats", timeout=5).json()["requests"] == 0


def test_admin_endpoints_need_the_api_key_and_refuse_other_origins(server: ThreadedServer, model: LocalBedrock) -> None:
    url = f"{server.url}/_local/model/faults"
    rule = {"kind": "throttle", "match": unique("ARM")}
    assert requests.post(url, json=rule, timeout=5).status_code == 401
    assert requests.post(url, json=rule, headers={"x-api-key": "guess"}, timeout=5).status_code == 401
    # what a web page can send without a preflight: a text/plain POST from its own origin
    page = {"x-api-key": server.api_key, "Origin": "http://evil.example", "content-type": "text/plain"}
    refused = requests.post(url, data=json.dumps(rule), headers=page, timeout=5)
    assert refused.status_code == 403
    assert not [h for h in refused.headers if h.lower().startswith("access-control-")]
    assert model.faults() == []
    own = {"x-api-key": server.api_key, "Origin": server.url}
    assert requests.post(url, json=rule, headers=own, timeout=5).status_code == 200
    model.clear_faults()
