"""The DynamoDB layer against moto: keys, idempotent create, attempts, fencing, paging."""

from __future__ import annotations

import pytest

from tokencast.core.errors import CancelRequested, Fenced
from tokencast.core.models import EVENT_FIELDS, SUMMARY_FIELDS
from tokencast.core.store import SessionStore
from tokencast.core.table import OWNER_INDEX, OWNER_INDEX_PROJECTION, event_sk, session_pk, table_definition
from tokencast.events import SessionStatus


def event(session_id: str, attempt: int, seq: int, token: str = "", type: str = "TOKEN") -> dict:
    return {
        "sessionId": session_id,
        "attempt": attempt,
        "seq": seq,
        "type": type,
        "token": token,
        "isComplete": False,
        "timestamp": "2026-01-01T00:00:00.000Z",
        "owner": "alice",
        "visibility": "PRIVATE",
    }


def test_keys_and_items_follow_the_contract(core_aws):
    store = core_aws.store
    record, created = store.create(session_id="s1", owner="alice", visibility="PRIVATE", model_id="m")
    assert created and record.status == SessionStatus.QUEUED and record.attempt == 0
    begin = store.begin_attempt("s1")
    store.append(event("s1", 1, 1, "", "STARTED"), {"text": ""})
    items = {i["sk"]["S"]: i for i in core_aws.table_items()}
    assert set(items) == {"SESSION", event_sk(1, 1)} and event_sk(1, 1) == "EVENT#000001#000000001"
    session, stored = items["SESSION"], items[event_sk(1, 1)]
    assert session["pk"]["S"] == session_pk("s1") == "SESSION#s1"
    assert int(session["expiresAt"]["N"]) > 0 and int(stored["expiresAt"]["N"]) > 0
    assert {
        "sessionId",
        "status",
        "message",
        "attempt",
        "lastSeq",
        "text",
        "modelId",
        "visibility",
        "owner",
        "createdAt",
        "updatedAt",
        "cancelRequested",
    } <= set(session)
    assert set(EVENT_FIELDS) - {"stopReason", "usage", "error"} <= set(stored)
    assert begin.kind == "run" and begin.session.attempt == 1 and begin.session.status == SessionStatus.STREAMING


def test_create_is_idempotent_per_id(core_aws):
    store = core_aws.store
    first, created = store.create(session_id="s1", owner="alice", visibility="PRIVATE", model_id="m")
    again, created_again = store.create(session_id="s1", owner="bob", visibility="SHARED", model_id="m")
    assert created and not created_again and again.owner == "alice" and again.created_at == first.created_at


def test_each_begin_takes_a_new_attempt_and_final_sessions_are_skipped(core_aws):
    store = core_aws.store
    store.create(session_id="s1", owner="a", visibility="PRIVATE", model_id="m")
    assert [store.begin_attempt("s1").session.attempt for _ in range(3)] == [1, 2, 3]
    store.append(event("s1", 3, 1, type="COMPLETED"), {"status": "COMPLETED"})
    assert store.begin_attempt("s1").kind == "skip"
    assert store.begin_attempt("s1", force=True).session.attempt == 4
    assert store.begin_attempt("missing").kind == "missing"


def test_a_superseded_attempt_is_fenced_and_a_cancel_is_detected_on_write(core_aws):
    store = core_aws.store
    store.create(session_id="s1", owner="a", visibility="PRIVATE", model_id="m")
    store.begin_attempt("s1")
    store.append(event("s1", 1, 1, type="STARTED"), {"text": ""})
    store.begin_attempt("s1")  # another worker takes over
    with pytest.raises(Fenced):
        store.append(event("s1", 1, 2, "zombie"), {"text": "zombie"})
    store.append(event("s1", 2, 1, type="RESTARTED"), {"text": ""})
    assert store.request_cancel("s1").cancel_requested
    with pytest.raises(CancelRequested):
        store.append(event("s1", 2, 2, "late"), {"text": "late"})
    store.append(
        event("s1", 2, 2, type="CANCELLED"), {"status": "CANCELLED", "cancelRequested": False}, check_cancel=False
    )
    session = store.get("s1")
    assert (session.status, session.attempt, session.last_seq, session.cancel_requested) == (
        SessionStatus.CANCELLED,
        2,
        2,
        False,
    )
    assert [(e["attempt"], e["seq"]) for e in store.events("s1").items] == [(1, 1), (2, 1), (2, 2)]


def test_a_retried_write_that_had_succeeded_is_not_an_error(core_aws):
    store = core_aws.store
    store.create(session_id="s1", owner="a", visibility="PRIVATE", model_id="m")
    store.begin_attempt("s1")
    store.append(event("s1", 1, 1, "x"), {"text": "x"})
    store.append(event("s1", 1, 1, "x"), {"text": "x"})  # as if the SDK retried after a lost response
    assert len(store.events("s1").items) == 1


def test_events_page_strictly_after_a_position(core_aws):
    store = core_aws.store
    store.create(session_id="s1", owner="a", visibility="PRIVATE", model_id="m")
    for attempt in (1, 2):
        store.begin_attempt("s1")
        for seq in range(1, 5):
            store.append(event("s1", attempt, seq, f"{attempt}.{seq}"), {"text": ""})
    page = store.events("s1", limit=3)
    assert [(e["attempt"], e["seq"]) for e in page.items] == [(1, 1), (1, 2), (1, 3)]
    assert (page.next_attempt, page.next_seq) == (1, 3)
    page = store.events("s1", after_attempt=1, after_seq=3, limit=3)
    assert [(e["attempt"], e["seq"]) for e in page.items] == [(1, 4), (2, 1), (2, 2)]
    page = store.events("s1", after_attempt=2, after_seq=2, limit=3)
    assert [(e["attempt"], e["seq"]) for e in page.items] == [(2, 3), (2, 4)]
    assert page.next_attempt is None and page.next_seq is None
    assert page.items[0]["token"] == "2.3" and page.items[0]["usage"] is None


def test_requeue_refuses_completed_unless_forced_and_resets_the_budget(core_aws):
    store = core_aws.store
    store.create(session_id="s1", owner="a", visibility="PRIVATE", model_id="m")
    store.begin_attempt("s1")
    store.append(event("s1", 1, 1, type="COMPLETED"), {"status": "COMPLETED"})
    assert store.requeue("s1") is None
    record = store.requeue("s1", force=True)
    assert (record.status, record.attempt_base, record.cancel_requested) == (SessionStatus.QUEUED, 1, False)
    assert store.requeue("nope", force=True) is None


SID_LIVE = "0b6f5a3e-2c1d-4e8f-9a7b-6c5d4e3f2a10"  # SessionService reads only UUID session ids


def test_a_live_attempt_reads_its_text_from_the_log_and_the_session_item_gets_it_once_at_the_end(core_aws):
    from tokencast.core.attempt import AttemptLog
    from tokencast.core.sessions import SessionService

    store, service = core_aws.store, SessionService(store=core_aws.store)
    store.create(session_id=SID_LIVE, owner="anonymous", visibility="PRIVATE", model_id="m")
    log = AttemptLog(store, store.begin_attempt(SID_LIVE).session)
    log.append("STARTED")
    for word in ("Hello", " streaming", " world"):
        log.append("TOKEN", word)

    assert store.get(SID_LIVE).text == ""  # no per-event rewrite of the whole text
    live = service.get(SID_LIVE, None)
    assert (live["status"], live["text"], live["lastSeq"]) == ("STREAMING", "Hello streaming world", 4)

    log.append("COMPLETED", stop_reason="end_turn")
    assert store.get(SID_LIVE).text == "Hello streaming world" == service.get(SID_LIVE, None)["text"]


def stepping_clock(start="2026-03-01T10:00:00+00:00"):
    """Each call is one second later than the last: creation order is time order."""
    from datetime import datetime, timedelta

    moment = [datetime.fromisoformat(start)]

    def now():
        moment[0] += timedelta(seconds=1)
        return moment[0]

    return now


def test_sessions_of_pages_one_owners_sessions_newest_first(core_aws):
    store = SessionStore(core_aws.ddb, core_aws.settings.table_name, clock=stepping_clock())
    for n in range(5):
        store.create(session_id=f"a{n}", owner="alice", visibility="PRIVATE", model_id="m")
        store.create(session_id=f"b{n}", owner="bob", visibility="SHARED", model_id="m")
    first = store.sessions_of("alice", limit=2)
    assert [s["sessionId"] for s in first.items] == ["a4", "a3"]
    second = store.sessions_of("alice", limit=2, after=first.after)
    third = store.sessions_of("alice", limit=2, after=second.after)
    assert [s["sessionId"] for s in second.items + third.items] == ["a2", "a1", "a0"]
    assert third.after is None  # the last page says so; no empty page follows
    exact = store.sessions_of("alice", limit=5)
    assert len(exact.items) == 5 and exact.after is None
    assert store.sessions_of("carol", limit=5).items == []


def test_session_summaries_are_the_index_projection_without_text(core_aws):
    store = core_aws.store
    store.create(session_id="s1", owner="alice", visibility="SHARED", model_id="m")
    store.begin_attempt("s1")
    store.append(event("s1", 1, 1, "", "STARTED"), {"status": "STREAMING"})
    store.append(event("s1", 1, 2, "hello"), {})
    (summary,) = store.sessions_of("alice", limit=10).items
    assert tuple(summary) == SUMMARY_FIELDS and "text" not in summary
    assert (summary["sessionId"], summary["status"], summary["attempt"], summary["visibility"]) == (
        "s1",
        "STREAMING",
        1,
        "SHARED",
    )


def test_the_owner_index_holds_session_items_only_and_projects_no_per_token_field(core_aws):
    (index,) = table_definition("t")["GlobalSecondaryIndexes"]
    assert index["IndexName"] == OWNER_INDEX
    # A TOKEN event changes only these on the session item: projecting none keeps streams off the index.
    assert not {"text", "lastSeq", "updatedAt", "expiresAt"} & set(OWNER_INDEX_PROJECTION)
    store = core_aws.store
    store.create(session_id="s1", owner="alice", visibility="PRIVATE", model_id="m")
    store.begin_attempt("s1")
    store.append(event("s1", 1, 1, "", "STARTED"), {})
    indexed = core_aws.ddb.scan(TableName=core_aws.settings.table_name, IndexName=OWNER_INDEX)["Items"]
    assert [i["sk"]["S"] for i in indexed] == ["SESSION"]  # events carry owner but no createdAt
