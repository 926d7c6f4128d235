"""The APPSYNC_JS deployed to AppSync behaves exactly like the emulator's Python builtins.

graphql/resolvers/*.js run under Node against a shim of ``@aws-appsync/utils``
(tests/infra/node_shim, resolved by an ESM loader hook: nothing is installed from npm) and
are compared with tokencast.local.appsync.builtins for the same inputs: owner, another
signed-in user, IAM callers (an IAM user, two sessions of one assumed role, two users of one
Cognito identity pool's role) and an API-key caller, on PRIVATE and SHARED sessions; and
invokeLambda.js, in front of every Lambda field, against its twin for data, each typed error
and a crashed function.
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

from tokencast.access import can_read, principal_of
from tokencast.core.start_request import MAX_SESSION_ID_CHARS
from tokencast.local.appsync.builtins import (
    ResolverContext,
    UtilError,
    invoke_lambda_request,
    invoke_lambda_response,
    publish_passthrough,
    session_access_filter,
)
from tokencast.resolvers import GRAPHQL_DIR, ResolverMap

SHIM = Path(__file__).parent / "node_shim"
ROOT = GRAPHQL_DIR.parent
DECLARATION = ResolverMap.load()
PUBLISH_JS = ROOT / DECLARATION.resolvers["Mutation.publishToken"].code
SUBSCRIBE_JS = ROOT / DECLARATION.resolvers["Subscription.onTokenReceived"].code
INVOKE_JS = ROOT / DECLARATION.resolvers["Mutation.startStream"].code

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
IAM_CALLER_NEW_SESSION = {
    **IAM_CALLER,
    "userArn": "arn:aws:sts::123456789012:assumed-role/ops/carol-2026-12-02",
    "username": "AROAEXAMPLEID:carol-2026-12-02",
}
IAM_USER = {
    **IAM_CALLER,
    "userArn": "arn:aws:iam::123456789012:user/dave",
    "username": "AIDAEXAMPLEDAVE",
}
POOL = "eu-west-1:0e4c1b0a-1111-2222-3333-444455556666"
IDENTITY_POOL_USER = {
    **IAM_CALLER,
    "userArn": "arn:aws:sts::123456789012:assumed-role/tokencast-users/CognitoIdentityCredentials",
    "username": "AROAPOOLROLE:CognitoIdentityCredentials",
    "cognitoIdentityPoolId": POOL,
    "cognitoIdentityId": "eu-west-1:aaaaaaaa-0000-0000-0000-000000000001",
    "cognitoIdentityAuthType": "authenticated",
}
OTHER_IDENTITY_POOL_USER = {**IDENTITY_POOL_USER, "cognitoIdentityId": "eu-west-1:bbbbbbbb-0000-0000-0000-000000000002"}
API_KEY_CALLER = None
IDENTITIES = {
    "owner": OWNER,
    "other-user": OTHER_USER,
    "iam": IAM_CALLER,
    "iam-new-session": IAM_CALLER_NEW_SESSION,
    "iam-user": IAM_USER,
    "pool-user": IDENTITY_POOL_USER,
    "other-pool-user": OTHER_IDENTITY_POOL_USER,
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


OWNERS = {
    "owner": OWNER["sub"],
    "iam": principal_of(IAM_CALLER),
    "pool-user": principal_of(IDENTITY_POOL_USER),
    "api-key": "anonymous",
}


def test_iam_owners_are_chosen_per_kind_of_caller():
    """An assumed role owns across its sessions; identity-pool users own apart; IAM users by ARN."""
    assert (
        principal_of(IAM_CALLER)
        == principal_of(IAM_CALLER_NEW_SESSION)
        == ("arn:aws:sts::123456789012:assumed-role/ops")
    )
    assert principal_of(IAM_USER) == IAM_USER["userArn"]
    assert principal_of(IDENTITY_POOL_USER) == IDENTITY_POOL_USER["cognitoIdentityId"]
    assert principal_of(IDENTITY_POOL_USER) != principal_of(OTHER_IDENTITY_POOL_USER)


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
    # IAM: a new role session keeps its sessions; one identity-pool user never sees another's.
    private_iam = {**private_a, "owner": principal_of(IAM_CALLER)}
    assert _matches(filters["iam-new-session"], private_iam)
    private_pool = {**private_a, "owner": principal_of(IDENTITY_POOL_USER)}
    assert _matches(filters["pool-user"], private_pool) and not _matches(filters["other-pool-user"], private_pool)


@pytest.mark.parametrize("session_id", ["", "x" * (MAX_SESSION_ID_CHARS + 1)])
def test_a_session_id_no_session_can_have_is_refused_alike(session_id):
    [out] = run_node([{"file": str(SUBSCRIBE_JS), "args": {"sessionId": session_id}, "identity": OWNER}])
    with pytest.raises(UtilError) as twin:
        session_access_filter(ResolverContext(arguments={"sessionId": session_id}, identity=OWNER))
    error = twin.value
    assert out["error"] == {
        "message": error.message,
        "errorType": error.error_type,
        "data": error.data,
        "errorInfo": error.error_info,
    }
    assert out["error"]["errorType"] == "InvalidInput"


def test_the_longest_session_id_is_accepted_alike():
    """The resolver's copy of the limit is the Python one: an id of exactly that length passes."""
    session_id = "x" * MAX_SESSION_ID_CHARS
    [out] = run_node([{"file": str(SUBSCRIBE_JS), "args": {"sessionId": session_id}, "identity": OWNER}])
    twin = session_access_filter(ResolverContext(arguments={"sessionId": session_id}, identity=OWNER))
    assert out["error"] is None
    assert out["subscriptionFilter"] == twin


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


INFO = {
    "fieldName": "startStream",
    "parentTypeName": "Mutation",
    "variables": {},
    "selectionSetList": ["sessionId", "status"],
    "selectionSetGraphQL": "{ sessionId status }",
}
LAMBDA_CASES = {
    "data": {"lambdaResult": {"data": {"sessionId": "s-1", "status": "QUEUED"}}},
    "null-data": {"lambdaResult": {"data": None}},
    "invalid-input": {
        "lambdaResult": {
            "error": {
                "message": "input.maxTokens: must be between 1 and 4096",
                "errorType": "InvalidInput",
                "errorInfo": {"violations": [{"field": "input.maxTokens", "rule": "must be between 1 and 4096"}]},
            }
        }
    },
    "not-found": {"lambdaResult": {"error": {"message": "sessionId: not found", "errorType": "NotFound"}}},
    "forbidden": {
        "lambdaResult": {"error": {"message": "sessionId: only the owner may cancel", "errorType": "Forbidden"}}
    },
    "conflict": {"lambdaResult": {"error": {"message": "input.sessionId: in use", "errorType": "Conflict"}}},
    "quota": {
        "lambdaResult": {
            "error": {
                "message": "startStream: at most 5 active sessions per caller",
                "errorType": "Quota",
                "errorInfo": {"quota": "maxActiveSessions", "limit": 5, "retryAfterSeconds": 30},
            }
        }
    },
    "crashed": {"lambdaError": {"message": "Task timed out after 10.00 seconds", "type": "Lambda:Unhandled"}},
}


@pytest.fixture(scope="module")
def lambda_runs():
    cases = [
        {
            "file": str(INVOKE_JS),
            "dataSource": "lambda",
            "args": {"prompt": "hi"},
            "identity": OWNER,
            "info": INFO,
            "request": {"headers": {"x-api-key": "k"}},
            **case,
        }
        for case in LAMBDA_CASES.values()
    ]
    return dict(zip(LAMBDA_CASES, run_node(cases), strict=True))


def _twin_ctx(case: dict) -> dict:
    """The ctx the Node runner builds, for the Python twin."""
    ctx = {
        "args": {"prompt": "hi"},
        "identity": OWNER,
        "source": None,
        "request": {"headers": {"x-api-key": "k"}},
        "info": INFO,
        "prev": {},
        "stash": {},
        "result": case.get("lambdaResult"),
    }
    if "lambdaError" in case:
        ctx["error"] = case["lambdaError"]
    return ctx


@pytest.mark.parametrize("name", list(LAMBDA_CASES))
def test_invoke_lambda_equals_the_emulator_twin(lambda_runs, name):
    out, ctx = lambda_runs[name], _twin_ctx(LAMBDA_CASES[name])
    assert out["request"] == invoke_lambda_request(ctx)
    try:
        expected_result, expected_error = invoke_lambda_response(ctx), None
    except UtilError as error:
        expected_result = None
        expected_error = {
            "message": error.message,
            "errorType": error.error_type,
            "data": error.data,
            "errorInfo": error.error_info,
        }
    assert (out["result"], out["error"]) == (expected_result, expected_error)


def test_invoke_lambda_sends_the_direct_resolver_event_and_types_every_error(lambda_runs):
    event = lambda_runs["data"]["request"]
    assert event["operation"] == "Invoke"
    assert set(event["payload"]) == {"arguments", "identity", "source", "request", "info", "prev", "stash"}
    assert event["payload"]["identity"] == OWNER and event["payload"]["info"]["fieldName"] == "startStream"
    assert lambda_runs["data"]["result"] == {"sessionId": "s-1", "status": "QUEUED"}
    types = {name: (run["error"] or {}).get("errorType") for name, run in lambda_runs.items()}
    assert types == {
        "data": None,
        "null-data": None,
        "invalid-input": "InvalidInput",
        "not-found": "NotFound",
        "forbidden": "Forbidden",
        "conflict": "Conflict",
        "quota": "Quota",
        "crashed": "Internal",
    }
    assert lambda_runs["quota"]["error"]["errorInfo"]["quota"] == "maxActiveSessions"
    assert "timed out" not in lambda_runs["crashed"]["error"]["message"]  # no exception text leaks


@pytest.mark.parametrize("path", [PUBLISH_JS, SUBSCRIBE_JS, INVOKE_JS], ids=lambda p: p.name)
def test_resolver_code_stays_inside_appsync_js(path):
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", path.read_text(), flags=re.S)  # ignore comments
    for what, pattern in UNSUPPORTED.items():
        assert not re.search(pattern, code), f"{path.name} uses {what}, which APPSYNC_JS does not support"
    imports = re.findall(r"from\s+'([^']+)'", code)
    assert set(imports) <= {"@aws-appsync/utils"}, imports
    assert re.search(r"export function request\(ctx\)", code) and re.search(r"export function response\(ctx\)", code)
