"""lambdas.sessions.handler: reads, pages and cancels with the access rule, against moto."""

from __future__ import annotations

import uuid

import pytest
from test_lambdas_start import ALICE, BOB, Context, appsync_event, unwrap

import lambdas.sessions as sessions
from tokencast.core.errors import CancelForbidden, InvalidInput, NotFound
from tokencast.core.results import Outcome

IAM = {
    "accountId": "000000000000",
    "userArn": "arn:aws:iam::000000000000:user/ops",
    "username": "AIDAEXAMPLE",
    "sourceIp": ["127.0.0.1"],
    "cognitoIdentityPoolId": None,
    "cognitoIdentityId": None,
}


@pytest.fixture
def call(core_aws):
    sessions.service.cache_clear()

    def call(field, identity=ALICE, parent="Query", **arguments):
        return unwrap(
            sessions.handler(
                appsync_event(arguments, identity, field, parent), Context(function_name="tokencast-sessions")
            )
        )

    yield call
    sessions.service.cache_clear()


def test_get_session_and_its_alias_follow_the_access_rule(start_job, call):
    private = start_job("p", {"sub": "alice-sub"})
    shared = start_job("s", {"sub": "alice-sub"}, visibility="SHARED")
    for field in ("getSession", "getStreamStatus"):
        assert call(field, sessionId=private.session_id)["status"] == "QUEUED"
        assert call(field, BOB, sessionId=private.session_id) is None  # existence is not leaked
        assert call(field, BOB, sessionId=shared.session_id)["sessionId"] == shared.session_id
        assert call(field, IAM, sessionId=shared.session_id) is not None
        assert call(field, None, sessionId=shared.session_id) is None  # API key is not signed in
        assert call(field, sessionId=str(uuid.uuid4())) is None
        for bad in ("no-such-session", private.session_id + "\n", "{" + private.session_id + "}"):
            with pytest.raises(InvalidInput, match=r"^sessionId: must be a UUID \(8-4-4-4-12 hex digits\)$"):
                call(field, sessionId=bad)


def test_get_events_pages_in_order(start_job, make_worker, fakes, call):
    job = start_job("p", {"sub": "alice-sub"})
    worker, _, transport, _ = make_worker(fakes.Script(["a", "b", "c"]), flush_window_ms=0)
    assert worker.process(job.body).outcome == Outcome.COMPLETED
    everything = call("getEvents", sessionId=job.session_id)
    assert everything["items"] == transport.events and everything["nextAttempt"] is None
    page = call("getEvents", sessionId=job.session_id, limit=1)
    assert len(page["items"]) == 1 and (page["nextAttempt"], page["nextSeq"]) == (1, 1)
    rest = call("getEvents", sessionId=job.session_id, afterAttempt=1, afterSeq=1)
    assert page["items"] + rest["items"] == everything["items"]
    with pytest.raises(NotFound, match="^sessionId: not found$"):
        call("getEvents", BOB, sessionId=job.session_id)
    with pytest.raises(InvalidInput, match="^limit: must be between 1 and 500$"):
        call("getEvents", sessionId=job.session_id, limit=0)


def test_cancel_is_for_the_owner_and_depends_on_the_status(core_aws, start_job, call):
    private = start_job("p", {"sub": "alice-sub"})
    shared = start_job("s", {"sub": "alice-sub"}, visibility="SHARED")
    with pytest.raises(NotFound, match="^sessionId: not found$"):
        call("cancelStream", BOB, "Mutation", sessionId=private.session_id)
    with pytest.raises(CancelForbidden, match="^sessionId: only the owner may cancel$"):
        call("cancelStream", BOB, "Mutation", sessionId=shared.session_id)

    cancelled = call("cancelStream", parent="Mutation", sessionId=private.session_id)
    assert cancelled["status"] == "CANCELLED"
    assert call("cancelStream", parent="Mutation", sessionId=private.session_id) == cancelled  # settled: unchanged

    core_aws.store.begin_attempt(shared.session_id)  # a worker is streaming it
    flagged = call("cancelStream", parent="Mutation", sessionId=shared.session_id)
    assert (flagged["status"], flagged["message"]) == ("STREAMING", "cancel requested")
    assert core_aws.store.get(shared.session_id).cancel_requested


def test_list_sessions_is_owner_only_newest_first_and_paginated(start_job, call):
    mine = [start_job(f"p{n}", {"sub": "alice-sub"}).session_id for n in range(3)]
    start_job("bob's", {"sub": "bob-sub"}, visibility="SHARED")
    everything = call("listSessions")
    assert {s["sessionId"] for s in everything["items"]} == set(mine) and everything["nextToken"] is None
    created = [s["createdAt"] for s in everything["items"]]
    assert created == sorted(created, reverse=True)

    pages, token = [], None
    while True:
        page = call("listSessions", limit=2, **({"nextToken": token} if token else {}))
        pages.append([s["sessionId"] for s in page["items"]])
        token = page["nextToken"]
        if token is None:
            break
    assert [len(p) for p in pages] == [2, 1]
    assert [s for page in pages for s in page] == [s["sessionId"] for s in everything["items"]]

    assert [s["status"] for s in call("listSessions", BOB)["items"]] == ["QUEUED"]  # bob sees only his own
    assert call("listSessions", None)["items"] == []  # API-key callers own only API-key sessions


def test_list_sessions_refuses_bad_limits_and_tampered_tokens(start_job, call):
    for n in range(2):
        start_job(f"p{n}", {"sub": "alice-sub"})
    with pytest.raises(InvalidInput, match="^limit: must be between 1 and 50$"):
        call("listSessions", limit=0)
    with pytest.raises(InvalidInput, match="^limit: must be between 1 and 50$"):
        call("listSessions", limit=51)
    token = call("listSessions", limit=1)["nextToken"]
    with pytest.raises(InvalidInput, match="^nextToken: must be a nextToken returned by listSessions$"):
        call("listSessions", nextToken=token[:-3] + "AAA")
    # A genuine token used by someone else only moves them within their own (empty) list.
    assert call("listSessions", BOB, nextToken=token)["items"] == []
