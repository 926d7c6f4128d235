"""Per-owner quotas against moto's DynamoDB: atomic at start, freed when a session settles."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tokencast.config import Limits, Quotas
from tokencast.core.errors import QuotaRefused
from tokencast.core.quotas import QuotaLedger
from tokencast.core.start import StartService


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 10, 0, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(core_aws, clock):
    def make(**quotas) -> QuotaLedger:
        settings = {"max_active_sessions": None, "max_starts_per_minute": None, "max_tokens_per_day": None}
        return QuotaLedger(core_aws.ddb, core_aws.settings.table_name, Quotas(**{**settings, **quotas}), clock=clock)

    return make


def refused(call) -> QuotaRefused:
    with pytest.raises(QuotaRefused) as caught:
        call()
    return caught.value


def test_active_sessions_are_capped_and_a_settled_session_frees_its_slot(ledger):
    quota = ledger(max_active_sessions=2)
    quota.acquire("alice", "s1")
    quota.acquire("alice", "s2")
    error = refused(lambda: quota.acquire("alice", "s3"))
    assert error.error_type == "Quota"
    assert error.message == ("startStream: at most 2 active sessions per caller; wait for one to end or cancel it")
    assert error.error_info()["quota"] == "maxActiveSessions" and error.error_info()["limit"] == 2
    quota.acquire("bob", "s9")  # per owner
    quota.settle("alice", "s1", tokens=10)
    quota.acquire("alice", "s3")
    quota.settle("alice", "s1")  # idempotent


def test_a_slot_whose_session_never_settles_is_reclaimed_after_its_ttl(ledger, clock):
    quota = ledger(max_active_sessions=1, active_session_ttl_s=60)
    quota.acquire("alice", "lost")
    refused(lambda: quota.acquire("alice", "next"))
    clock.now += timedelta(seconds=61)
    quota.acquire("alice", "next")


def test_starts_per_minute_reset_with_the_minute(ledger, clock):
    quota = ledger(max_starts_per_minute=2)
    quota.acquire("alice", "a")
    quota.acquire("alice", "b")
    error = refused(lambda: quota.acquire("alice", "c"))
    assert error.error_info() == {"quota": "maxStartsPerMinute", "limit": 2, "retryAfterSeconds": 55}
    clock.now += timedelta(seconds=55)
    quota.acquire("alice", "c")


def test_tokens_per_day_are_counted_at_settle_and_checked_at_start(ledger, clock):
    quota = ledger(max_tokens_per_day=100)
    quota.acquire("alice", "a")
    quota.settle("alice", "a", tokens=60)
    quota.acquire("alice", "b")
    quota.settle("alice", "b", tokens=60)  # 120: the answer in flight may overshoot
    assert refused(lambda: quota.acquire("alice", "c")).error_info()["quota"] == "maxTokensPerDay"
    clock.now += timedelta(days=1)
    quota.acquire("alice", "c")  # a new UTC day


def test_concurrent_starts_never_both_take_the_last_slot(ledger):
    quota = ledger(max_active_sessions=3)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def start(i: int) -> None:
        barrier.wait()
        try:
            quota.acquire("alice", f"s{i}")
            outcomes.append("ok")
        except QuotaRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5


def test_all_quotas_off_writes_nothing(core_aws, ledger):
    quota = ledger()
    quota.acquire("alice", "s1")
    quota.settle("alice", "s1", tokens=5)
    assert core_aws.table_items() == []


def test_over_quota_start_stores_and_enqueues_nothing(core_aws, ledger):
    service = StartService(
        store=core_aws.store,
        sqs=core_aws.sqs,
        jobs_queue_url=core_aws.settings.jobs_queue_url,
        limits=Limits(),
        quotas=ledger(max_active_sessions=1),
    )
    sid = "0b7e4c3a-5f2d-4e61-9c1a-7d8e9f0a1b2c"
    first = service.start({"input": {"prompt": "one", "sessionId": sid}}, {"sub": "alice"})
    # A repeat of the owner's own client-chosen id is the same start: returned, not refused.
    assert service.start({"input": {"prompt": "one", "sessionId": sid}}, {"sub": "alice"}) == first
    error = refused(lambda: service.start({"prompt": "two"}, {"sub": "alice"}))
    assert error.to_graphql()["errorType"] == "Quota"
    sessions = [i for i in core_aws.table_items() if i["pk"]["S"].startswith("SESSION#")]
    assert [s["pk"]["S"] for s in sessions] == [f"SESSION#{sid}"]
    assert core_aws.count(core_aws.settings.jobs_queue_url) == 1
