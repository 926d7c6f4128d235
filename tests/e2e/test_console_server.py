"""What `tokencast up` serves for the web console: the page, its config, local sign-in and the DLQ.

Plain HTTP against the shared local stack; the browser itself is driven in test_console_browser.py.
"""

from __future__ import annotations

import asyncio

import pytest
import requests

from tests.e2e.fault_helpers import marked, sdk
from tests.e2e.stack_clients import new_session_id
from tokencast.local.console import CONSOLE_DIST
from tokencast.local.jwt_issuer import LocalJwtIssuer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def base_url(local_stack) -> str:
    return local_stack.endpoints.console_url.rstrip("/")


def local_headers(local_stack) -> dict[str, str]:
    return {"x-api-key": local_stack.endpoints.api_key}


def test_config_tells_the_page_where_the_api_is(local_stack):
    endpoints = local_stack.endpoints
    response = requests.get(f"{base_url(local_stack)}/console/config.json", timeout=5)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in response.headers  # no other origin may read the key
    assert response.json() == {
        "mode": "local",
        "graphqlUrl": endpoints.graphql_url,
        "realtimeUrl": endpoints.realtime_url,
        "region": endpoints.region,
        "apiKey": endpoints.api_key,
    }
    rebound = requests.get(
        f"{base_url(local_stack)}/console/config.json", headers={"Host": "attacker.example:80"}, timeout=5
    )
    assert rebound.status_code == 403 and endpoints.api_key not in rebound.text


@pytest.mark.skipif(not (CONSOLE_DIST / "index.html").is_file(), reason="console not built (make setup builds it)")
@pytest.mark.parametrize("path", ["/", "/s/3f0c2d2e-6a41-4b8e-a4a9-6a5f8f0f4b1e", "/dlq"])
def test_every_console_path_serves_the_page_and_its_assets(local_stack, path):
    page = requests.get(base_url(local_stack) + path, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<div id="root">' in page.text and "/console/console.js" in page.text
    assert "http://" not in page.text.replace("http://www.w3.org", "")  # nothing loads from elsewhere
    script = requests.get(f"{base_url(local_stack)}/console/console.js", timeout=5)
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert requests.get(f"{base_url(local_stack)}/console/../../pyproject.toml", timeout=5).status_code == 404


def test_local_sign_in_mints_the_issuers_token_for_a_user_name(local_stack):
    url = f"{base_url(local_stack)}/_local/auth/token"
    minted = requests.post(url, json={"user": "alice"}, headers=local_headers(local_stack), timeout=5)
    assert minted.status_code == 200
    body = minted.json()
    issuer = LocalJwtIssuer.from_env()
    claims = issuer.verify(body["token"])
    assert (
        (body["user"], body["sub"])
        == ("alice", issuer.subject_for("alice"))
        == (claims["cognito:username"], claims["sub"])
    )
    for bad in ({"user": ""}, {"user": "a b"}, {"user": "x" * 65}, {"name": "alice"}, ["alice"]):
        refused = requests.post(url, json=bad, headers=local_headers(local_stack), timeout=5)
        error = refused.json()
        assert (refused.status_code, error["errorType"]) == (400, "InvalidInput")
        assert error["message"].split(":")[0] in ("user", "body")


async def test_dlq_lists_failed_jobs_with_reasons_and_replays_them(local_stack):
    base, headers = base_url(local_stack), local_headers(local_stack)
    prompt, session_id = marked("[tokens=20] console replay"), new_session_id()
    local_stack.stack.model.add_fault({"kind": "http_error", "match": prompt, "error": "AccessDeniedException"})
    async with sdk(local_stack) as client:
        stream = await client.stream(prompt, session_id=session_id, follow=True)
        failed = await stream.result()
        assert failed.status == "FAILED"

        listed = await asyncio.to_thread(requests.get, f"{base}/_local/dlq", headers=headers, timeout=10)
        [job] = [j for j in listed.json()["jobs"] if j["session_id"] == session_id]
        assert job["reason"].startswith("access to the model denied")
        assert job["error_type"] == "AccessDeniedException" and "body" not in job

        dry = await asyncio.to_thread(
            requests.post,
            f"{base}/_local/dlq/replay",
            json={"sessionIds": [session_id], "dryRun": True},
            headers=headers,
            timeout=10,
        )
        assert [(r["sessionId"], r["action"]) for r in dry.json()["results"]] == [(session_id, "would-replay")]
        replayed = await asyncio.to_thread(
            requests.post, f"{base}/_local/dlq/replay", json={"sessionIds": [session_id]}, headers=headers, timeout=10
        )
        assert [(r["sessionId"], r["action"]) for r in replayed.json()["results"]] == [(session_id, "replayed")]
        result = await stream.result(after_attempt=failed.attempt)
        assert result.status == "COMPLETED"

    bad = await asyncio.to_thread(
        requests.post, f"{base}/_local/dlq/replay", json={"sessionIds": "all"}, headers=headers, timeout=5
    )
    assert (bad.status_code, bad.json()["message"]) == (
        400,
        "sessionIds: must be a list of session ids, or null for every job",
    )
