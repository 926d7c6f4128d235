"""The APPSYNC_JS deployed to AppSync behaves exactly like the emulator's Python builtins.

graphql/resolvers/*.js run under Node against a shim of ``@aws-appsync/utils``
(tests/infra/node_shim, resolved by an ESM loader hook: nothing is installed from npm) and
are compared with tokencast.local.appsync.builtins for the same inputs: owner, another
signed-in user, an IAM caller and an API-key caller, on PRIVATE and SHARED sessions.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from itertools import product
from pathlib import Path

import pytest

from tokencast.access import can_read
from tokencast.local.appsync.builtins import ResolverContext, publish_passthrough, session_access_filter
from tokencast.resolvers import GRAPHQL_DIR, ResolverMap

SHIM = Path(__file__).parent / "node_shim"
ROOT = GRAPHQL_DIR.parent
DECLARATION = ResolverMap.load()
PUBLISH_JS = ROOT / DECLARATION.resolvers["Mutation.publishToken"].code
SUBSCRIBE_JS = ROOT / DECLARATION.resolvers["Subscription.onTokenReceived"].code

FIXED_NOW = datetime(2026, 11, 21, 13, 25, 7, 123000, tzinfo=UTC)

# AppSync `identity` objects as the resolvers receive them.
OWNER = {
    "sub": "0a1b2c3d-user-a",
    "username": "alice",
    "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123XYZ",
    "claims": {"sub": "0a1b2c3d-user-a", "token_use": "access"},
    "sourceIp": ["203.0.113.7"],
    "defaultAuthStrategy": "ALLOW",
    "groups": None,
}
OTHER_USER = {**OWNER, "sub": "9f8e7d6c-user-b", "username": "bob", "claims": {"sub": "9f8e7d6c-user-b"}}
IAM_CALLER = {
    "accountId": "123456789012",
    "userArn": "arn:aws:sts::123456789012:assumed-role/ops/carol",
    "username": "AROAEXAMPLEID:carol",
    "sourceIp": ["198.51.100.2"],
    "cognitoIdentityPoolId": None,
    "cognitoIdentityId": None,
}
API_KEY_CALLER = None
IDENTITIES = {
    "owner": OWNER,
    "other-user": OTHER_USER,
    "iam": IAM_CALLER,
    "api-key": API_KEY_CALLER,
    "empty-identity": {},
    "username-only": {"username": "legacy-user"},
}


def run_node(cases: list[dict]) -> list[dict]:
    node = shutil.which("node")
    assert node, "node is required (jsii needs it too)"
    proc = subprocess.run(
        [node, "--import", str(SHIM / "register.mjs"), str(SHIM / "run.mjs")],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def subscription_runs():
    cases = [
        {"file": str(SUBSCRIBE_JS), "args": {"sessionId": sid}, "identity": identity}
        for identity, sid in product(IDENTITIES.values(), ("s-1", "s-2"))
    ]
    return {
        (name, sid): out for (name, sid), out in zip(product(IDENTITIES, ("s-1", "s-2")), run_node(cases), strict=True)
    }


@pytest.mark.parametrize("who", list(IDENTITIES))
@pytest.mark.parametrize("session_id", ["s-1", "s-2"])
def test_subscription_filter_json_equals_the_emulator_filter(subscription_runs, who, session_id):
    out = subscription_runs[(who, session_id)]
    assert out["error"] is None
    assert out["result"] is None
    expected = session_access_filter(ResolverContext(arguments={"sessionId": session_id}, identity=IDENTITIES[who]))
    assert out["subscriptionFilter"] == expected


def _matches(filter_json: dict, event: dict) -> bool:
    """AppSync's enhanced-filter semantics for the operators used: groups ORed, filters ANDed."""
    assert set(filter_json) == {"filterGroup"}
    for group in filter_json["filterGroup"]:
        if all(f["operator"] == "eq" and event.get(f["fieldName"]) == f["value"] for f in group["filters"]):
            return True
    return False


OWNERS = {"owner": OWNER["sub"], "iam": IAM_CALLER["userArn"], "api-key": "anonymous"}


@pytest.mark.parametrize("who", list(IDENTITIES))
@pytest.mark.parametrize("session_owner", list(OWNERS))
@pytest.mark.parametrize("visibility", ["PRIVATE", "SHARED"])
def test_deployed_filter_delivers_exactly_what_access_allows(subscription_runs, who, session_owner, visibility):
    """User B never receives A's PRIVATE events; signed-in callers receive SHARED ones; API keys neither."""
    event = {"sessionId": "s-1", "owner": OWNERS[session_owner], "visibility": visibility, "token": "x"}
    delivered = _matches(subscription_runs[(who, "s-1")]["subscriptionFilter"], event)
    assert delivered == can_read(event["owner"], visibility, IDENTITIES[who])
    # ...and never another session's events, whoever owns them.
    assert not _matches(subscription_runs[(who, "s-2")]["subscriptionFilter"], event)


def test_the_acceptance_matrix_spelled_out(subscription_runs):
    filters = {who: subscription_runs[(who, "s-1")]["subscriptionFilter"] for who in IDENTITIES}
    private_a = {"sessionId": "s-1", "owner": OWNER["sub"], "visibility": "PRIVATE"}
    shared_a = {**private_a, "visibility": "SHARED"}
    assert _matches(filters["owner"], private_a) and _matches(filters["owner"], shared_a)
    assert not _matches(filters["other-user"], private_a) and _matches(filters["other-user"], shared_a)
    assert not _matches(filters["iam"], private_a) and _matches(filters["iam"], shared_a)
    assert not _matches(filters["api-key"], private_a) and not _matches(filters["api-key"], shared_a)


EVENT = {
    "sessionId": "s-1",
    "attempt": 2,
    "seq": 7,
    "type": "TOKEN",
    "token": "Hello, wor",
    "isComplete": False,
    "owner": OWNER["sub"],
    "visibility": "PRIVATE",
    "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
}
PUBLISH_CASES = {
    "no-timestamp": EVENT,
    "timestamp-given": {**EVENT, "timestamp": "2026-01-02T03:04:05.678Z"},
    "timestamp-empty": {**EVENT, "timestamp": ""},
    "timestamp-null": {**EVENT, "timestamp": None},
    "terminal": {**EVENT, "type": "COMPLETED", "token": "", "isComplete": True, "stopReason": "end_turn"},
    "failed": {**EVENT, "type": "FAILED", "token": "", "isComplete": True, "error": "ThrottlingException"},
}


def test_publish_passthrough_equals_the_emulator_builtin():
    cases = [
        {"file": str(PUBLISH_JS), "args": args, "identity": IAM_CALLER, "now": int(FIXED_NOW.timestamp() * 1000)}
        for args in PUBLISH_CASES.values()
    ]
    for (name, args), out in zip(PUBLISH_CASES.items(), run_node(cases), strict=True):
        assert out["error"] is None, name
        expected = publish_passthrough(ResolverContext(arguments=args, identity=IAM_CALLER, now=lambda: FIXED_NOW))
        assert out["result"] == expected, name
        assert out["subscriptionFilter"] is None


def test_publish_stamps_appsync_time_format():
    [out] = run_node([{"file": str(PUBLISH_JS), "args": EVENT, "now": int(FIXED_NOW.timestamp() * 1000)}])
    assert out["result"]["timestamp"] == "2026-11-21T13:25:07.123Z"


# APPSYNC_JS is a subset of ECMAScript: these constructs are rejected at deploy time.
UNSUPPORTED = {
    "try/catch": r"\btry\s*\{",
    "throw": r"\bthrow\b",
    "async/await": r"\b(async|await)\b",
    "class": r"\bclass\s+\w",
    "while loop": r"\bwhile\s*\(",
    "generator": r"function\s*\*",
    "new Promise": r"\bPromise\b",
}


@pytest.mark.parametrize("path", [PUBLISH_JS, SUBSCRIBE_JS], ids=lambda p: p.name)
def test_resolver_code_stays_inside_appsync_js(path):
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", path.read_text(), flags=re.S)  # ignore comments
    for what, pattern in UNSUPPORTED.items():
        assert not re.search(pattern, code), f"{path.name} uses {what}, which APPSYNC_JS does not support"
    imports = re.findall(r"from\s+'([^']+)'", code)
    assert set(imports) <= {"@aws-appsync/utils"}, imports
    assert re.search(r"export function request\(ctx\)", code) and re.search(r"export function response\(ctx\)", code)
