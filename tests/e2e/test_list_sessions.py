"""listSessions over HTTP on the real local stack, through the Python SDK and the CLI.

Each test signs in as users of its own (fresh names), so sessions other tests start on the
shared stack never show up in these lists.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tokencast.client import InvalidRequest, JwtAuth, TokencastClient
from tokencast.local.jwt_issuer import LocalJwtIssuer

pytestmark = pytest.mark.e2e


def client_for(local_stack, user: str) -> TokencastClient:
    return TokencastClient(local_stack.endpoints.graphql_url, auth=JwtAuth(LocalJwtIssuer.from_env().mint(user)))


async def test_list_sessions_is_owner_only_newest_first_and_paginated(local_stack):
    alice, bob = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    async with client_for(local_stack, alice) as as_alice, client_for(local_stack, bob) as as_bob:
        started = []
        for n in range(5):  # one after the other: each is created after the one before
            started.append((await as_alice.start(f"question {n}", visibility="SHARED" if n % 2 else None)).session_id)
        bobs = (await as_bob.start("bob's own")).session_id

        pages, token = [], None
        while True:
            page = await as_alice.list_sessions(limit=2, next_token=token)
            pages.append(page.items)
            token = page.next_token
            if token is None:
                break
        assert [len(p) for p in pages] == [2, 2, 1]
        listed = [s for page in pages for s in page]
        assert [s.session_id for s in listed] == started[::-1]  # newest first
        assert [s.created_at for s in listed] == sorted((s.created_at for s in listed), reverse=True)
        assert [s.visibility for s in listed] == ["PRIVATE", "SHARED", "PRIVATE", "SHARED", "PRIVATE"]
        assert [s.session_id async for s in as_alice.sessions(page_size=3)] == started[::-1]

        # bob sees his own session only -- not alice's, not even her SHARED ones.
        assert [s.session_id for s in (await as_bob.list_sessions()).items] == [bobs]

        first = await as_alice.list_sessions(limit=1)
        with pytest.raises(InvalidRequest, match="nextToken: must be a nextToken returned by listSessions"):
            await as_alice.list_sessions(next_token=first.next_token + "x")
        with pytest.raises(InvalidRequest, match="limit: must be between 1 and 50"):
            await as_alice.list_sessions(limit=500)
        # alice's token in bob's hands positions bob in his own list: nothing of alice's leaks.
        assert all(s.session_id == bobs for s in (await as_bob.list_sessions(next_token=first.next_token)).items)


def test_tokencast_sessions_lists_the_signed_in_users_sessions(local_stack, capsys):
    from tokencast.cli.main import main

    # --user mints with the key the stack verifies (this process's); --url names the stack.
    target = ["--url", local_stack.endpoints.graphql_url, "--user", f"carol-{uuid.uuid4().hex[:8]}"]
    assert main(["stream", *target, "--json", "listed by the CLI [tokens=5]"]) == 0
    streamed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    session_id = streamed[-1]["result"]["session_id"]

    assert main(["sessions", *target, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["session_id"], r["status"]) for r in rows] == [(session_id, "COMPLETED")]

    assert main(["sessions", *target]) == 0
    table = capsys.readouterr().out
    assert session_id in table and "COMPLETED" in table
