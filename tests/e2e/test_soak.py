"""Soak: many concurrent sessions, three subscribers each, random faults from a seeded plan.

Every session must end exactly as its fault says -- COMPLETED with the model's text,
FAILED with its job in the DLQ, or CANCELLED with the text streamed before the cancel -- and
every subscriber must agree, while the emulator drops and reorders deliveries for all of
them. Small by default so the suite stays fast; ``pytest tests/e2e/test_soak.py
--soak-sessions 50`` runs the full 50 × 3 (``--soak-seed`` changes the plan).
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from tests.e2e.fault_helpers import OPTIONS, delivery_faults, emulator_stats, model_requests, screen, store
from tests.e2e.stack_clients import aws_clients
from tokencast.client import ApiKeyAuth, TokencastClient
from tokencast.core.dlq import DeadLetterQueue
from tokencast.local.bedrock.text import expected_text, generate_tokens

# The soak bounds itself (budget_s below); the timeout only has to stay out of its way.
pytestmark = [pytest.mark.e2e, pytest.mark.soak, pytest.mark.timeout(900)]

#: 150 streams that poll every second while their jobs wait in the queue would load the one
#: process serving the emulator, moto and the model more than the soak itself does.
SOAK_OPTIONS = replace(OPTIONS, stream=replace(OPTIONS.stream, idle_poll_s=3.0))

KINDS = ("ok", "throttle", "fail_after", "permanent", "cancel", "crash")
WEIGHTS = (40, 15, 15, 10, 10, 10)


@dataclass
class Plan:
    index: int
    kind: str
    prompt: str
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    fault: dict[str, Any] | None = None
    #: the attempt that ends the session
    attempt: int = 1
    #: cancel / crash: act once the first subscriber shows exactly this text
    partial: str | None = None

    @property
    def status(self) -> str:
        return {"permanent": "FAILED", "cancel": "CANCELLED"}.get(self.kind, "COMPLETED")

    @property
    def text(self) -> str:
        if self.kind == "permanent":
            return ""
        if self.kind == "cancel":
            assert self.partial is not None
            return self.partial
        return expected_text(self.prompt)


def make_plan(n: int, seed: int) -> list[Plan]:
    """Every kind at least once (when n allows), the rest drawn by weight; all from ``seed``."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    rng.shuffle(kinds)
    kinds = kinds[:n] + rng.choices(KINDS, weights=WEIGHTS, k=max(0, n - len(KINDS)))
    plans = []
    run = uuid.uuid4().hex[:8]
    for index, kind in enumerate(kinds):
        prompt = f"[tokens={rng.randint(60, 300)}] Soak {run} session {index} ({kind})"
        plan = Plan(index, kind, prompt)
        if kind == "throttle":
            times = rng.randint(1, 2)
            plan.fault = rng.choice([{"kind": "throttle"}, {"kind": "server_error", "status": 503}]) | {"times": times}
            plan.attempt = 1 + times
        elif kind == "fail_after":
            plan.fault = {"kind": "fail_after", "after": rng.randint(3, 50)}
            plan.attempt = 2
        elif kind == "permanent":
            plan.fault = {"kind": "http_error", "error": rng.choice(["AccessDeniedException", "ValidationException"])}
        elif kind in ("cancel", "crash"):
            # The first attempt stalls after a few tokens, so the cancel or the kill certainly
            # lands mid-stream; a crashed job's second attempt runs free.
            after = rng.randint(3, 20)
            plan.fault = {"kind": "stall", "after": after}
            plan.partial = "".join(generate_tokens(prompt)[:after])
            plan.attempt = 2 if kind == "crash" else 1
        plans.append(plan)
    return plans


async def collect(stream) -> list:
    return [delta async for delta in stream]


async def run_session(plan: Plan, stack, clients) -> dict[str, Any]:
    first_client, second_client, third_client = clients
    first = await first_client.stream(plan.prompt, session_id=plan.session_id)  # subscribes first
    second = await second_client.watch(plan.session_id)
    watchers = [asyncio.create_task(collect(second))]
    third = None
    deltas: list = []
    acted = False
    async for delta in first:
        deltas.append(delta)
        if third is None:  # the third subscriber joins once the answer is under way
            third = await third_client.watch(plan.session_id)
            watchers.append(asyncio.create_task(collect(third)))
        if plan.partial is not None and not acted and first.attempt == 1 and first.text == plan.partial:
            acted = True
            if plan.kind == "cancel":
                await first_client.cancel(plan.session_id)
            else:
                killed = stack.stack.poller.signal_session(plan.session_id, signal.SIGKILL)
                assert len(killed) == 1, f"session {plan.index}: one environment to kill"
    if third is None:  # it ended before any text: join after the end
        third = await third_client.watch(plan.session_id)
        watchers.append(asyncio.create_task(collect(third)))
    other_deltas = await asyncio.gather(*watchers)
    results = await asyncio.gather(first.result(), second.result(), third.result())
    session = await first_client.get_session(plan.session_id)
    return {
        "plan": plan,
        "results": results,
        "screens": [screen(d) for d in [deltas, *other_deltas]],
        "session": session,
        "acted": acted,
    }


def sdk(stack) -> TokencastClient:
    return TokencastClient(stack.endpoints.graphql_url, auth=ApiKeyAuth(stack.endpoints.api_key), options=SOAK_OPTIONS)


async def test_soak(local_stack, soak_sessions, soak_seed):
    n = soak_sessions
    plans = make_plan(n, soak_seed)
    for plan in plans:
        if plan.fault:
            local_stack.stack.model.add_fault({**plan.fault, "match": plan.prompt})
    # Generous on purpose: one process serves the emulator, moto and the model, and moto's
    # request dispatch is serialised, so 50 sessions take ~40 s here on 2 idle CPUs.
    budget_s = 30 + 1.5 * n
    crashes = local_stack.stack.poller.crashed_invocations
    before = await emulator_stats(local_stack)
    await delivery_faults(local_stack, drop_rate=0.05, reorder_rate=0.05, seed=soak_seed)
    started = time.monotonic()
    try:
        async with sdk(local_stack) as a, sdk(local_stack) as b, sdk(local_stack) as c:
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(run_session(plan, local_stack, (a, b, c)) for plan in plans)), budget_s
            )
        stats = await emulator_stats(local_stack)
    finally:
        await delivery_faults(local_stack)
    elapsed = time.monotonic() - started
    assert stats["droppedByFaults"] > before["droppedByFaults"], "deliveries really were lost"
    assert local_stack.stack.poller.crashed_invocations - crashes == sum(p.kind == "crash" for p in plans)

    for outcome in outcomes:
        plan, session = outcome["plan"], outcome["session"]
        where = f"session {plan.index} ({plan.kind}, {plan.fault})"
        assert [(r.status, r.attempt) for r in outcome["results"]] == [(plan.status, plan.attempt)] * 3, where
        assert [r.text for r in outcome["results"]] == [plan.text] * 3, where
        assert outcome["screens"] == [plan.text] * 3, where
        assert (session.status, session.attempt, session.text) == (plan.status, plan.attempt, plan.text), where
        assert outcome["acted"] == (plan.partial is not None), where
        if plan.kind == "permanent":
            assert session.error and session.error.endswith("job moved to the dead-letter queue"), where
        if plan.kind in ("cancel", "crash"):
            # The stalled stream was abandoned by the cancel (or the dead worker) at once.
            stalled = model_requests(local_stack, plan.prompt)[0]
            assert stalled["outcome"] == "disconnected" and stalled["tokens_after_disconnect"] <= 1, where

    # The DLQ holds exactly the permanently failed sessions' jobs, each with its reason.
    sqs, _ = aws_clients(local_stack.endpoints)
    queues = local_stack.endpoints.queues
    dlq = DeadLetterQueue(sqs, queues.dlq_url, queues.jobs_url, store(local_stack))
    ours = {p.session_id: p for p in plans}
    dead = [job for job in dlq.list_jobs() if job.session_id in ours]
    assert sorted(job.session_id for job in dead) == sorted(p.session_id for p in plans if p.kind == "permanent")
    for job in dead:
        assert job.reason.endswith("job moved to the dead-letter queue") and job.attempts == 1
        assert job.error_type == ours[job.session_id].fault["error"]
    assert dlq.purge(list(ours)) == len(dead)

    kinds = Counter(p.kind for p in plans)
    print(f"soak: {n} sessions × 3 subscribers in {elapsed:.1f}s (budget {budget_s:.0f}s); {dict(kinds)}")
