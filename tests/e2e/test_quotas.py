"""Per-owner quotas on a real local stack: an over-quota start is a typed ``Quota`` error and
stores and queues nothing; a settled session gives its slot back.

The shared test stack runs with quotas off (the suite starts many sessions as one caller), so
this module runs its own `tokencast up` with ``TOKENCAST_MAX_ACTIVE_SESSIONS=1`` -- configured
exactly as a user would, through the environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tokencast.client import ApiKeyAuth, QuotaExceeded, SessionNotFound, TokencastClient
from tokencast.config import Quotas
from tokencast.local.admin_client import AdminClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

TOKENCAST = str(Path(sys.executable).with_name("tokencast"))
QUOTA_ENV = Quotas(max_active_sessions=1, max_starts_per_minute=None).to_env(exclude_unset=True)


@pytest.fixture(scope="module")
def quota_stack(tmp_path_factory) -> Iterator[dict]:
    """`tokencast up` with a one-session quota; yields its saved endpoints."""
    state_dir = tmp_path_factory.mktemp("tokencast-quota-state")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOKENCAST_", "POWERTOOLS_"))}
    env.update(QUOTA_ENV, TOKENCAST_STATE_DIR=str(state_dir), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [TOKENCAST, "up", "--port", "0", "--tokens-per-second", "2000", "--first-token-delay", "0.01"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        while True:
            line = lines.get(timeout=60)
            assert line is not None, "tokencast up exited"
            if "endpoints saved to" in line:
                break
        yield json.loads((state_dir / "local.json").read_text())
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def add_fault(state: dict, rule: dict) -> None:
    AdminClient.for_stack(state["graphql_url"], state["api_key"]).add_model_faults(rule)


def client(state: dict) -> TokencastClient:
    return TokencastClient(state["graphql_url"], auth=ApiKeyAuth(state["api_key"]))


def jobs_for(state: dict, session_id: str) -> int:
    sqs = boto3.client(
        "sqs",
        endpoint_url=state["aws_endpoint_url"],
        region_name=state["region"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    found = 0
    for url in (state["jobs_queue_url"], state["dlq_url"]):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        ):
            found += session_id in message["Body"]
    return found


async def test_over_quota_start_is_a_typed_error_and_nothing_is_stored_or_queued(quota_stack):
    marker = uuid.uuid4().hex[:10]
    busy = f"[tokens=100] Keep talking #{marker}"
    rule = {"kind": "stall", "match": marker, "after": 3}
    await asyncio.to_thread(add_fault, quota_stack, rule)

    async with client(quota_stack) as api:
        stream = await api.stream(busy)  # stalls after 3 tokens: stays active
        async for _ in stream:
            break
        refused_id = str(uuid.uuid4())
        with pytest.raises(QuotaExceeded) as refused:
            await api.start("one too many", session_id=refused_id)
        error = refused.value
        assert error.error_type == "Quota"
        assert error.message == ("startStream: at most 1 active sessions per caller; wait for one to end or cancel it")
        assert error.error_info["quota"] == "maxActiveSessions" and error.error_info["limit"] == 1
        # Nothing stored, nothing queued.
        with pytest.raises(SessionNotFound):
            await api.get_session(refused_id)
        assert jobs_for(quota_stack, refused_id) == 0

        # Cancelling the busy session settles it: the worker frees the slot once CANCELLED is
        # stored, before it is published (a reader of the stored log might be a moment earlier).
        await api.cancel(stream.session_id)
        assert (await stream.result()).status == "CANCELLED"
        again = await start_when_free(api, "now there is room")
        assert (await api.get_session(again)).status in ("QUEUED", "STREAMING", "COMPLETED")


async def start_when_free(api: TokencastClient, prompt: str, timeout_s: float = 20.0) -> str:
    """Start as soon as the quota allows (the slot is freed as the terminal event is stored)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            return (await api.start(prompt)).session_id
        except QuotaExceeded:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)  # polling the API for the freed slot, bounded by the deadline
