"""Shared pieces of the fault, cancel, DLQ, soak and CLI tests on the real local stack.

Two kinds of observers:

* the client SDK (:func:`sdk`), whose merged view (live + ``getEvents``) must always end
  with the model's exact text;
* :func:`raw_subscription`, a plain gql subscriber that records what AppSync actually
  delivered, in delivery order, so tests can assert on raw delivery (what arrived late, what
  was dropped) -- and wait on it without sleeping.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

import boto3

from tests.e2e.stack_clients import Subscriber, subscribed
from tokencast.client import ApiKeyAuth, ClientOptions, Delta, StreamOptions, TokencastClient
from tokencast.config import Settings
from tokencast.core.store import SessionStore
from tokencast.local.admin_client import AdminClient, AppSyncFaults
from tokencast.local.bedrock.faults import prompt_fingerprint
from tokencast.local.stack import BackgroundStack

#: Patient enough for a loaded 2-CPU machine, quick enough to keep the suite short.
OPTIONS = ClientOptions(stream=StreamOptions(gap_grace_s=0.1, idle_poll_s=1.0, reconnect_base_s=0.05))


#: How late a crashed worker's job may come back and still be the heartbeat's doing: its
#: visibility, one long poll, and scheduling on a loaded 2-core machine (a 2 s slack was tight
#: there). The queue's own visibility (the function timeout + 60 s) is far beyond it.
REDELIVERY_SLACK_S = 10.0


def assert_back_within_the_heartbeats_visibility(seconds: float, settings: Settings, what: str = "") -> None:
    """A crashed worker's job came back after the visibility its heartbeat kept, not the queue's."""
    bound = settings.visibility_timeout_s + REDELIVERY_SLACK_S
    assert bound < settings.queue_visibility_timeout_s, "the bound must tell the two visibilities apart"
    assert seconds <= bound, f"{what} received again after {seconds:.1f} s, more than {bound:.0f} s"


def sdk(stack: BackgroundStack, auth: Any = None) -> TokencastClient:
    endpoints = stack.endpoints
    return TokencastClient(endpoints.graphql_url, auth=auth or ApiKeyAuth(endpoints.api_key), options=OPTIONS)


def marked(text: str) -> str:
    """A prompt of its own: model fault rules match on it, so tests never consume each other's."""
    return f"{text} #{uuid.uuid4().hex[:10]}"


def screen(deltas: Iterable[Delta]) -> str:
    """What a UI following the deltas shows at the end (a restart clears the screen)."""
    shown = ""
    for delta in deltas:
        shown = "" if delta.restarted else shown + delta.text
    return shown


def assert_no_stale_text(deltas: list[Delta]) -> None:
    """After a restart delta of attempt N, no text of an attempt below N is ever handed out."""
    current = 0
    for delta in deltas:
        if delta.restarted:
            assert delta.attempt > current, f"restart to attempt {delta.attempt} after attempt {current}"
            current = delta.attempt
        else:
            assert delta.attempt >= current, f"text of superseded attempt {delta.attempt} after attempt {current}"
            current = max(current, delta.attempt)


def admin(stack: BackgroundStack) -> AdminClient:
    """The stack's /_local endpoints, called with its API key."""
    return AdminClient.for_stack(stack.endpoints.graphql_url, stack.endpoints.api_key)


async def delivery_faults(stack: BackgroundStack, **faults: Any) -> None:
    """The emulator's delivery faults (drop_rate, reorder_rate, match, seed); no args resets."""
    await asyncio.to_thread(admin(stack).set_appsync_faults, AppSyncFaults(**faults) if faults else None)


async def emulator_stats(stack: BackgroundStack) -> dict[str, Any]:
    return await asyncio.to_thread(admin(stack).appsync_stats)


def model_requests(stack: BackgroundStack, prompt: str) -> list[dict[str, Any]]:
    """The local model's records of requests whose last user message is ``prompt``."""
    fingerprint = prompt_fingerprint(prompt)
    return [r for r in stack.stack.model.stats()["recent"] if r["prompt_fingerprint"] == fingerprint]


def store(stack: BackgroundStack) -> SessionStore:
    endpoints = stack.endpoints
    dynamodb = boto3.client(
        "dynamodb",
        region_name=endpoints.region,
        endpoint_url=endpoints.moto_url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    return SessionStore(dynamodb, endpoints.table_name)


def stored_events(stack: BackgroundStack, session_id: str) -> list[dict[str, Any]]:
    """The session's whole event log, read straight from DynamoDB."""
    page = store(stack).events(session_id, limit=100_000)
    return page.items


def key(event: dict[str, Any]) -> tuple[int, int]:
    return (event["attempt"], event["seq"])


def attempt_events(events: Iterable[dict[str, Any]], attempt: int) -> list[dict[str, Any]]:
    return sorted((e for e in events if e["attempt"] == attempt), key=key)


def assert_exact_attempt(events: list[dict[str, Any]], attempt: int, text: str, *, terminal: str = "COMPLETED") -> None:
    """Raw delivery of one attempt: each seq once, 1..N with no gap, terminal last, exact text."""
    delivered = [key(e) for e in events if e["attempt"] == attempt]
    assert len(delivered) == len(set(delivered)), f"duplicate deliveries in attempt {attempt}"
    mine = attempt_events(events, attempt)
    assert [e["seq"] for e in mine] == list(range(1, len(mine) + 1)), f"gap in attempt {attempt}"
    assert mine[0]["type"] in ("STARTED", "RESTARTED")
    assert mine[-1]["type"] == terminal and mine[-1]["isComplete"]
    assert [e["isComplete"] for e in mine].count(True) == 1
    assert "".join(e["token"] or "" for e in mine) == text


#: What AppSync delivered to one plain gql subscription (kept under the name these tests use).
RawSubscriber = Subscriber
raw_subscription = subscribed


def server_connections(stack: BackgroundStack, session_id: str) -> list[Any]:
    """The emulator's real-time connections that hold a subscription to ``session_id``."""

    def collect() -> list[Any]:
        found: list[Any] = []
        stack.stack.emulator.hub.count(lambda s: s.arguments.get("sessionId") == session_id and found.append(s) is None)
        return list({id(s.subscriber): s.subscriber for s in found}.values())

    return stack.call(collect)


def close_server_side(stack: BackgroundStack, connection: Any) -> None:
    """Close one real-time connection from the server's end, as a dropped network would."""
    stack.call(lambda: asyncio.ensure_future(connection.ws.close()))
