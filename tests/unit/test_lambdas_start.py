"""lambdas.start.handler as AppSync invokes it (through invokeLambda.js), against moto.

The handler answers ``{"data": ...}`` or ``{"error": {"message", "errorType", "errorInfo"}}``;
:func:`unwrap` turns an error answer back into the exception it stands for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

import lambdas.start as start
from tokencast.config import Settings
from tokencast.core.errors import ApiError, EnqueueFailed, InvalidInput, SessionIdConflict
from tokencast.core.start import SESSION_ID_UNAVAILABLE

ALICE = {
    "sub": "alice-sub",
    "username": "alice",
    "claims": {"sub": "alice-sub"},
    "issuer": "local",
    "sourceIp": ["127.0.0.1"],
    "defaultAuthStrategy": "ALLOW",
    "groups": None,
}
BOB = {**ALICE, "sub": "bob-sub", "username": "bob", "claims": {"sub": "bob-sub"}}
SID = "0b7e4c3a-5f2d-4e61-9c1a-7d8e9f0a1b2c"


def unwrap(answer):
    if "error" in answer:
        raise ApiError.from_graphql(answer["error"])
    return answer["data"]


@dataclass
class Context:
    function_name: str = "tokencast-start"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:tokencast-start"
    aws_request_id: str = "req-1"


def appsync_event(arguments, identity=ALICE, field="startStream", parent="Mutation"):
    return {
        "arguments": arguments,
        "identity": identity,
        "source": None,
        "prev": None,
        "stash": {},
        "request": {"headers": {"content-type": "application/json"}, "domainName": None},
        "info": {
            "fieldName": field,
            "parentTypeName": parent,
            "variables": {},
            "selectionSetList": ["sessionId", "status", "message", "timestamp"],
            "selectionSetGraphQL": "{ sessionId status message timestamp }",
        },
    }


@pytest.fixture(params=["quotas on", "quotas off"])
def invoke_either_way(request, core_aws, monkeypatch):
    """``invoke``, once with the default quotas and once with none: a repeated start is found
    by a lookup first in one case, by the conditional put alone in the other."""
    if request.param == "quotas off":
        for name in ("MAX_ACTIVE_SESSIONS", "MAX_STARTS_PER_MINUTE", "MAX_TOKENS_PER_DAY"):
            monkeypatch.setenv(f"TOKENCAST_{name}", "off")
    return request.getfixturevalue("invoke")


@pytest.fixture
def invoke(core_aws):
    start.service.cache_clear()  # rebuilt from this test's environment
    yield lambda arguments, identity=ALICE: unwrap(start.handler(appsync_event(arguments, identity), Context()))
    start.service.cache_clear()


def test_plain_prompt_stores_a_queued_session_and_enqueues_a_versioned_job(core_aws, invoke):
    session = invoke({"prompt": "Tell me a story"})
    assert session["status"] == "QUEUED" and session["message"] == "queued" and session["attempt"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", session["timestamp"])
    assert session["owner"] == "alice-sub" and session["visibility"] == "PRIVATE"
    [message] = core_aws.receive_jobs()
    job = json.loads(message["Body"])
    assert job == {
        "version": 1,
        "sessionId": session["sessionId"],
        "owner": "alice-sub",
        "modelId": "tokencast.local-model-v1",
        "messages": [{"role": "user", "text": "Tell me a story"}],
        "system": None,
        "maxTokens": 1024,
        "temperature": None,
        "visibility": "PRIVATE",
        "enqueuedAt": job["enqueuedAt"],
    }
    assert core_aws.store.get(session["sessionId"]).status.value == "QUEUED"


def test_bad_input_names_the_field_and_leaves_nothing_behind(core_aws, invoke):
    with pytest.raises(InvalidInput, match=r"^input\.maxTokens: must be between 1 and 4096$"):
        invoke({"input": {"prompt": "hi", "maxTokens": 99999}})
    with pytest.raises(InvalidInput, match=r"input\.messages\[1\]\.text: must not be empty"):
        invoke(
            {"input": {"messages": [{"role": "user", "text": "a"}, {"role": "assistant", "text": ""}], "prompt": "b"}}
        )
    with pytest.raises(InvalidInput, match=r"^input\.sessionId: must be a UUID"):
        invoke({"input": {"sessionId": SID + "\n", "prompt": "hi"}})
    with pytest.raises(InvalidInput, match=r"^input\.system: must be valid Unicode text \(no lone surrogates\)$"):
        invoke({"input": {"prompt": "hi", "system": "\ud800"}})
    assert core_aws.table_items() == [] and core_aws.count(core_aws.settings.jobs_queue_url) == 0


def test_a_client_chosen_session_id_is_idempotent_for_its_owner_only(core_aws, invoke_either_way):
    invoke = invoke_either_way
    first = invoke({"input": {"sessionId": SID, "prompt": "once", "visibility": "SHARED"}})
    again = invoke({"input": {"sessionId": SID, "prompt": "once", "visibility": "SHARED"}})
    assert first["sessionId"] == again["sessionId"] == SID and again["createdAt"] == first["createdAt"]
    assert core_aws.count(core_aws.settings.jobs_queue_url) == 1
    with pytest.raises(SessionIdConflict) as refused:
        invoke({"input": {"sessionId": SID, "prompt": "mine now"}}, BOB)
    assert str(refused.value) == SESSION_ID_UNAVAILABLE  # neither "exists" nor whose
    assert core_aws.count(core_aws.settings.jobs_queue_url) == 1


@pytest.mark.parametrize(
    "different",
    [
        {"prompt": "twice"},
        {"prompt": "once", "maxTokens": 7},
        {"prompt": "once", "temperature": 0.5},
        {"prompt": "once", "system": "be brief"},
        {"prompt": "once", "visibility": "SHARED"},
        {"messages": [{"role": "user", "text": "earlier"}, {"role": "assistant", "text": "yes"}], "prompt": "once"},
    ],
)
def test_reusing_a_session_id_for_a_different_request_is_a_conflict(core_aws, invoke_either_way, different):
    invoke = invoke_either_way
    invoke({"input": {"sessionId": SID, "prompt": "once"}})
    with pytest.raises(SessionIdConflict, match=r"^input\.sessionId: already used by a different request$") as raised:
        invoke({"input": {"sessionId": SID, **different}})
    assert raised.value.error_type == "Conflict"
    assert core_aws.count(core_aws.settings.jobs_queue_url) == 1, "no second job"
    [item] = core_aws.table_items()
    assert "once" not in json.dumps(item["requestFingerprint"]) and len(item["requestFingerprint"]["S"]) == 64


def test_api_key_callers_own_their_sessions_as_anonymous(core_aws, invoke):
    assert invoke({"prompt": "hi"}, None)["owner"] == "anonymous"


def test_an_enqueue_failure_removes_the_session_again(core_aws, invoke, monkeypatch):
    monkeypatch.setenv(Settings.env_name("jobs_queue_url"), core_aws.settings.jobs_queue_url + "-missing")
    start.service.cache_clear()
    with pytest.raises(EnqueueFailed):
        invoke({"input": {"sessionId": SID, "prompt": "hi"}})
    assert core_aws.table_items() == []


def test_job_bodies_are_ascii_json_whatever_the_prompt(core_aws, invoke):
    """SQS refuses characters such as U+FFFE that moto accepts: the body escapes them."""
    prompt = "odd \ufffe and \u00e9 and \U0001f600"
    invoke({"prompt": prompt})
    [message] = core_aws.receive_jobs()
    assert message["Body"].isascii()
    assert json.loads(message["Body"])["messages"][0]["text"] == prompt


def test_disabled_metrics_are_dropped_not_printed_every_hundredth_start(core_aws, invoke, monkeypatch, capsys):
    """With metrics off (the local stack), Powertools kept buffering and printed the buffer as
    an EMF line once a metric reached 100 values: a stray JSON line in `tokencast up`."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    for _ in range(101):
        invoke({"prompt": "count me"})
    assert '"_aws"' not in capsys.readouterr().out
    assert not start.metrics.metric_set


def test_a_start_that_counts_nothing_logs_no_warning(core_aws, invoke, monkeypatch):
    """A refused start adds no metric; Powertools would warn on each one (a log line per request in
    Lambda): the handlers' metrics module silences that one warning, and only that one."""
    import warnings

    from tokencast.metrics import quiet_empty_invocations

    invoke({"input": {"sessionId": SID, "prompt": "first"}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        quiet_empty_invocations()
        with pytest.raises(SessionIdConflict):
            invoke({"input": {"sessionId": SID, "prompt": "a different request"}})
        warnings.warn("another warning still shows", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["another warning still shows"]
