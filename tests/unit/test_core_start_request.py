"""startStream validation: one error naming each bad field and its rule."""

from __future__ import annotations

import pytest

from tokencast.config import Limits
from tokencast.core.errors import InvalidInput
from tokencast.core.jobs import Job, MalformedJob, parse_job, replay_body
from tokencast.core.start_request import parse_session_id, parse_start

LIMITS = Limits(
    max_prompt_chars=20,
    max_messages=3,
    max_message_chars=10,
    max_tokens=100,
    allowed_models=["m1", "m2"],
    default_model="m1",
)
SID = "6f1c1b1e-8e4f-4c0e-9a57-2f1d2b0c9a11"


def error_of(arguments: dict) -> str:
    with pytest.raises(InvalidInput) as info:
        parse_start(arguments, LIMITS)
    return str(info.value)


def test_plain_prompt_uses_defaults():
    request = parse_start({"prompt": "hello"}, LIMITS)
    assert [(m.role, m.text) for m in request.messages] == [("user", "hello")]
    assert (request.model_id, request.max_tokens, request.visibility.value, request.session_id) == (
        "m1",
        100,
        "PRIVATE",
        None,
    )


def test_input_with_conversation_appends_prompt_as_last_user_turn():
    request = parse_start(
        {
            "input": {
                "sessionId": SID,
                "messages": [{"role": "user", "text": "hi"}, {"role": "assistant", "text": "yo"}],
                "prompt": "and?",
                "system": "be brief",
                "modelId": "m2",
                "maxTokens": 7,
                "temperature": 0.2,
                "visibility": "SHARED",
            }
        },
        LIMITS,
    )
    assert [m.role for m in request.messages] == ["user", "assistant", "user"]
    assert (request.session_id, request.model_id, request.max_tokens, request.temperature, request.system) == (
        SID,
        "m2",
        7,
        0.2,
        "be brief",
    )


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "prompt: a prompt or input.messages is required"),
        ({"prompt": ""}, "prompt: must not be empty"),
        ({"prompt": "x" * 21}, "prompt: must be at most 20 characters"),
        ({"input": {"prompt": "ok", "maxTokens": 0}}, "input.maxTokens: must be between 1 and 100"),
        ({"input": {"prompt": "ok", "maxTokens": 101}}, "input.maxTokens: must be between 1 and 100"),
        ({"input": {"prompt": "ok", "maxTokens": "5"}}, "input.maxTokens: must be an integer"),
        ({"input": {"prompt": "ok", "temperature": 1.5}}, "input.temperature: must be between 0 and 1"),
        ({"input": {"prompt": "ok", "temperature": True}}, "input.temperature: must be a number"),
        ({"input": {"prompt": "ok", "modelId": "evil"}}, "input.modelId: must be one of m1, m2"),
        ({"input": {"prompt": "ok", "sessionId": "not-a-uuid"}}, "input.sessionId: must be a UUID"),
        ({"input": {"prompt": "ok", "sessionId": SID + "\n"}}, "input.sessionId: must be a UUID"),
        ({"input": {"prompt": "ok", "sessionId": "\n" + SID}}, "input.sessionId: must be a UUID"),
        ({"input": {"prompt": "ok", "sessionId": "{" + SID + "}"}}, "input.sessionId: must be a UUID"),
        ({"input": {"prompt": "ok", "sessionId": SID.replace("-", "")}}, "input.sessionId: must be a UUID"),
        ({"input": {"prompt": "ok", "sessionId": "urn:uuid:" + SID}}, "input.sessionId: must be a UUID"),
        ({"prompt": "a\ud800b"}, "prompt: must be valid Unicode text (no lone surrogates)"),
        ({"input": {"prompt": "\udfff"}}, "input.prompt: must be valid Unicode text (no lone surrogates)"),
        ({"input": {"prompt": "ok", "system": "be \udc80"}}, "input.system: must be valid Unicode text"),
        (
            {"input": {"messages": [{"role": "user", "text": "hi\ud83d"}]}},
            "input.messages[0].text: must be valid Unicode text (no lone surrogates)",
        ),
        ({"input": {"prompt": "ok", "modelId": "m1\ud800"}}, "input.modelId: must be valid Unicode text"),
        ({"input": {"prompt": "ok", "sessionId": SID[:-1] + "\ud800"}}, "input.sessionId: must be valid Unicode"),
        ({"input": {"prompt": "ok", "visibility": "PUBLIC"}}, "input.visibility: must be one of PRIVATE, SHARED"),
        ({"input": {"prompt": "ok", "colour": "red"}}, "input.colour: is not a known field"),
        ({"input": {"messages": [{"role": "user", "text": "a"}] * 4}}, "input.messages: must have at most 3 messages"),
        (
            {"input": {"messages": [{"role": "user", "text": "a" * 11}]}},
            "input.messages[0].text: must be at most 10 characters",
        ),
        (
            {"input": {"messages": [{"role": "robot", "text": "a"}]}},
            "input.messages[0].role: must be one of user, assistant",
        ),
        ({"input": {"messages": [{"role": "user"}]}}, "input.messages[0].text: is required"),
        (
            {"input": {"messages": [{"role": "user", "text": "a"}, {"role": "assistant", "text": "b"}]}},
            "input.messages[1].role: the conversation must end with a user turn",
        ),
        (
            {"input": {"messages": [{"role": "user", "text": "a"}], "prompt": "b"}},
            "input.prompt: cannot follow a user turn",
        ),
        (
            {"input": {"messages": [{"role": "assistant", "text": "a"}, {"role": "user", "text": "b"}]}},
            "input.messages[0].role: the conversation must start with a user turn",
        ),
        ({"prompt": "a", "input": {"prompt": "b"}}, "input.prompt: give either prompt or input.prompt, not both"),
    ],
)
def test_each_rule_names_its_field(arguments, expected):
    assert expected in error_of(arguments)


def test_paired_surrogates_are_ordinary_text():
    """An emoji arrives from JSON as a surrogate pair and is decoded to one code point: fine."""
    assert parse_start({"prompt": "hi \U0001f600"}, LIMITS).messages[-1].text == "hi \U0001f600"


@pytest.mark.parametrize("bad", [None, 5, "", "x", SID + "\n", SID.upper() + " ", "\ud800"])
def test_a_session_id_argument_is_exactly_a_uuid(bad):
    with pytest.raises(InvalidInput, match=r"^sessionId: must be (a string|a UUID \(8-4-4-4-12 hex digits\))$"):
        parse_session_id(bad)
    assert parse_session_id(SID.upper()) == SID.upper()


def test_all_problems_are_reported_at_once():
    message = error_of({"input": {"prompt": "", "maxTokens": 0, "messages": [{"role": "user", "text": ""}]}})
    assert message.split("; ") == [
        "input.prompt: must not be empty",
        "input.messages[0].text: must not be empty",
        "input.maxTokens: must be between 1 and 100",
    ]


def test_job_round_trip_and_replay_flags():
    request = parse_start({"prompt": "hello"}, LIMITS)
    job = Job(
        session_id=SID,
        owner="alice",
        model_id="m1",
        messages=request.messages,
        max_tokens=5,
        enqueued_at="2026-01-01T00:00:00.000Z",
    )
    body = job.to_body()
    assert '"version":1' in body and "replay" not in body
    assert parse_job(body) == job
    replayed = parse_job(replay_body(body, force=True))
    assert replayed.replay and replayed.force and replayed.session_id == SID


@pytest.mark.parametrize(
    ("body", "error_type", "session_id"),
    [
        ("not json", "MalformedJob", None),
        ("[1]", "MalformedJob", None),
        ('{"version": 2, "sessionId": "s1"}', "UnknownJobVersion", "s1"),
        ('{"version": 1, "sessionId": "s2", "owner": "a"}', "MalformedJob", "s2"),
    ],
)
def test_malformed_jobs_say_why_and_keep_the_session_id(body, error_type, session_id):
    with pytest.raises(MalformedJob) as info:
        parse_job(body)
    assert (info.value.error_type, info.value.session_id) == (error_type, session_id)
