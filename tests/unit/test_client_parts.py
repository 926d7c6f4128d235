"""The client SDK's small parts: endpoints, auth modes, error mapping, backoff, wire types."""

from __future__ import annotations

import random

import pytest
from botocore.credentials import Credentials
from gql.transport.appsync_auth import (
    AppSyncApiKeyAuthentication,
    AppSyncIAMAuthentication,
    AppSyncJWTAuthentication,
)

from tokencast.client import (
    ApiKeyAuth,
    AuthError,
    Backoff,
    Conflict,
    ConnectionLost,
    Endpoints,
    EventPage,
    Forbidden,
    IamAuth,
    InvalidRequest,
    JwtAuth,
    QuotaExceeded,
    RequestError,
    Session,
    SessionNotFound,
    StreamFailed,
    StreamResult,
    TokencastClient,
    TokencastError,
    TokenEvent,
    Usage,
    realtime_url_for,
)
from tokencast.client.errors import error_from_graphql, is_transient
from tokencast.core.errors import TokencastError as CoreTokencastError
from tokencast.events import EventType, SessionStatus

# -- endpoints -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("graphql_url", "realtime_url"),
    [
        (
            "https://abcdefghij.appsync-api.eu-west-1.amazonaws.com/graphql",
            "wss://abcdefghij.appsync-realtime-api.eu-west-1.amazonaws.com/graphql",
        ),
        (
            "https://abcdefghij.appsync-api.cn-north-1.amazonaws.com.cn/graphql",
            "wss://abcdefghij.appsync-realtime-api.cn-north-1.amazonaws.com.cn/graphql",
        ),
        ("http://127.0.0.1:4000/graphql", "ws://127.0.0.1:4000/graphql"),
        ("http://localhost:8080/graphql", "ws://localhost:8080/graphql"),
        ("https://api.example.com/graphql", "wss://api.example.com/graphql/realtime"),
    ],
)
def test_realtime_url_is_derived_from_the_graphql_url(graphql_url, realtime_url):
    assert realtime_url_for(graphql_url) == realtime_url


def test_endpoints_keep_an_explicit_realtime_url_and_the_api_host():
    endpoints = Endpoints.from_url("http://127.0.0.1:4000/graphql", "ws://127.0.0.1:4000/graphql/realtime")
    assert endpoints.realtime_url == "ws://127.0.0.1:4000/graphql/realtime"
    assert endpoints.host == "127.0.0.1:4000"
    assert (
        Endpoints.from_url("https://x.appsync-api.us-east-1.amazonaws.com/graphql").host
        == "x.appsync-api.us-east-1.amazonaws.com"
    )


@pytest.mark.parametrize(
    ("graphql_url", "realtime_url"),
    [
        ("ws://127.0.0.1:4000/graphql", None),
        ("127.0.0.1:4000/graphql", None),
        ("http://127.0.0.1:4000/graphql", "http://127.0.0.1:4000/graphql"),
    ],
)
def test_endpoints_refuse_wrong_schemes(graphql_url, realtime_url):
    with pytest.raises(ValueError):
        Endpoints.from_url(graphql_url, realtime_url)


def test_client_wants_an_auth_mode():
    with pytest.raises(TypeError):
        TokencastClient("http://127.0.0.1:4000/graphql", auth="key")  # type: ignore[arg-type]


# -- auth ------------------------------------------------------------------------------------


def test_api_key_auth():
    auth = ApiKeyAuth("da2-key").authentication("127.0.0.1:4000")
    assert isinstance(auth, AppSyncApiKeyAuthentication)
    assert auth.get_headers() == {"host": "127.0.0.1:4000", "x-api-key": "da2-key"}
    assert auth.get_auth_url("ws://127.0.0.1:4000/graphql").startswith("ws://127.0.0.1:4000/graphql?header=")
    assert "da2-key" not in repr(ApiKeyAuth("da2-key"))
    with pytest.raises(ValueError):
        ApiKeyAuth("")


def test_jwt_auth_static_and_refreshing():
    auth = JwtAuth("tok").authentication("h")
    assert isinstance(auth, AppSyncJWTAuthentication)
    assert auth.get_headers() == {"host": "h", "Authorization": "tok"}
    tokens = iter(["one", "two", "three"])
    refreshing = JwtAuth(lambda: next(tokens)).authentication("h")
    assert refreshing.get_headers()["Authorization"] == "two"  # "one" went to the constructor
    assert refreshing.get_headers()["Authorization"] == "three"


def test_iam_auth_signs_for_the_api_host_with_the_given_region():
    credentials = Credentials("AKIDEXAMPLE", "secret")
    auth = IamAuth(credentials, region="eu-central-1").authentication("127.0.0.1:4000")
    assert isinstance(auth, AppSyncIAMAuthentication)
    headers = auth.get_headers('{"query":"{ x }"}', {"content-type": "application/json"})
    assert headers["host"] == "127.0.0.1:4000"
    assert (
        headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        and "/eu-central-1/appsync/aws4_request" in headers["Authorization"]
    )
    assert "X-Amz-Date" in headers


def test_iam_auth_reads_the_region_from_an_appsync_host():
    auth = IamAuth(Credentials("AKIDEXAMPLE", "secret")).authentication("x.appsync-api.ap-south-1.amazonaws.com")
    assert "/ap-south-1/appsync/" in auth.get_headers("{}")["Authorization"]


def test_iam_auth_without_region_or_credentials_is_an_auth_error(monkeypatch, tmp_path):
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(AuthError, match="region"):
        IamAuth(Credentials("a", "b")).authentication("127.0.0.1:4000")
    with pytest.raises(AuthError, match="credentials"):
        IamAuth(region="us-east-1").authentication("127.0.0.1:4000")


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errors", "kind"),
    [
        ([{"errorType": "Unauthorized", "message": "Not Authorized to access getSession on type Query"}], AuthError),
        ([{"errorType": "UnauthorizedException", "message": "You are not authorized to make this call."}], AuthError),
        ([{"errorType": "InvalidSignatureException", "message": "The request signature ..."}], AuthError),
        ([{"errorType": "ValidationError", "message": "Validation error: ..."}], InvalidRequest),
        # The API's own types (invokeLambda.js raises them with util.error); messages are not read.
        ([{"errorType": "InvalidInput", "message": "input.maxTokens: must be between 1 and 4096"}], InvalidRequest),
        ([{"errorType": "NotFound", "message": "sessionId: not found"}], SessionNotFound),
        ([{"errorType": "Forbidden", "message": "sessionId: only the owner may cancel"}], Forbidden),
        ([{"errorType": "Conflict", "message": "input.sessionId: already in use by another caller"}], Conflict),
        ([{"errorType": "Quota", "message": "startStream: at most 5 active sessions per caller"}], QuotaExceeded),
        ([{"errorType": "Unavailable", "message": "startStream: the job could not be queued"}], RequestError),
        ([{"errorType": "Internal", "message": "startStream: the request failed unexpectedly"}], RequestError),
        # Same words, no telling type: not guessed from the message any more.
        ([{"errorType": "Lambda:Unhandled", "message": "sessionId: not found"}], RequestError),
        # AppSync's validation errors carry no errorType (path null, locations).
        ([{"path": None, "locations": [], "message": "Validation error: ..."}], InvalidRequest),
        ([{"errors": [{"errorType": "Unauthorized", "message": "real-time shape"}]}], AuthError),
        ([{"errorType": "NotFound", "message": "gone"}], SessionNotFound),
        ([], RequestError),
    ],
)
def test_graphql_errors_map_to_exact_exceptions(errors, kind):
    error = error_from_graphql(errors, session_id="s-1")
    assert type(error) is kind
    assert isinstance(error, TokencastError) and isinstance(error, CoreTokencastError)
    if errors:
        flat = errors[0].get("errors", errors)
        assert error.error_type == flat[0].get("errorType") and error.message == flat[0]["message"]
    if kind is SessionNotFound:
        assert error.session_id == "s-1"


def test_error_info_travels_with_the_exception():
    info = {"quota": "maxActiveSessions", "limit": 5, "retryAfterSeconds": 12}
    error = error_from_graphql([{"errorType": "Quota", "message": "startStream: ...", "errorInfo": info}])
    assert isinstance(error, QuotaExceeded) and error.error_info == info


def test_transient_errors():
    assert is_transient(error_from_graphql([{"errorType": "Unavailable", "message": "try again"}]))
    assert is_transient(ConnectionLost("x"))
    assert is_transient(error_from_graphql([{"errorType": "LimitExceededError", "message": "slow down"}]))
    assert not is_transient(error_from_graphql([{"errorType": "Unauthorized", "message": "no"}]))
    assert not is_transient(error_from_graphql([{"errorType": "Lambda:Unhandled", "message": "boom"}]))


def test_stream_failed_carries_the_session_error():
    result = StreamResult("s-1", SessionStatus.FAILED, "partial", 3, error="model access denied")
    with pytest.raises(StreamFailed) as raised:
        result.raise_for_status()
    assert raised.value.error == "model access denied" and raised.value.result is result
    assert "model access denied" in str(raised.value)
    ok = StreamResult("s-1", SessionStatus.CANCELLED, "", 1)
    assert ok.raise_for_status() is ok


# -- backoff ---------------------------------------------------------------------------------


def test_backoff_grows_exponentially_within_jitter_and_cap():
    backoff = Backoff(base_s=0.1, factor=2, max_s=1.0, jitter=0.5, rng=random.Random(7))
    for retry, ceiling in enumerate([0.1, 0.2, 0.4, 0.8, 1.0, 1.0]):
        delays = [backoff.delay(retry) for _ in range(200)]
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling * 0.3  # actually jittered
    assert Backoff(jitter=0).delay(3) == pytest.approx(1.6)
    with pytest.raises(ValueError):
        Backoff(jitter=2)


# -- wire types ------------------------------------------------------------------------------


def test_token_event_from_a_partial_live_payload():
    event = TokenEvent.from_graphql({"sessionId": "s", "attempt": 2, "seq": 5, "type": "TOKEN", "token": "hi"})
    assert event.key == (2, 5) and event.type is EventType.TOKEN and event.token == "hi"
    assert event.usage is None and not event.is_terminal
    done = TokenEvent.from_graphql(
        {
            "sessionId": "s",
            "attempt": 2,
            "seq": 6,
            "type": "COMPLETED",
            "token": None,
            "isComplete": True,
            "usage": {"outputTokens": 4, "inputTokens": None},
        }
    )
    assert done.is_terminal and done.token == "" and done.usage == Usage(output_tokens=4)
    future = TokenEvent.from_graphql({"sessionId": "s", "attempt": 1, "seq": 2, "type": "HEARTBEAT"})
    assert future.type == "HEARTBEAT" and not future.is_terminal


@pytest.mark.parametrize("payload", [{}, {"sessionId": "s", "attempt": 1, "seq": None, "type": "TOKEN"}, None])
def test_token_event_needs_its_identity(payload):
    with pytest.raises(ValueError):
        TokenEvent.from_graphql(payload)  # type: ignore[arg-type]


def test_session_and_page_from_graphql():
    session = Session.from_graphql(
        {"sessionId": "s", "status": "RETRYING", "attempt": 2, "text": None, "lastSeq": None, "error": "throttled"}
    )
    assert session.status is SessionStatus.RETRYING and session.text == "" and session.last_seq == 0
    assert not session.is_final
    page = EventPage.from_graphql(
        {"items": [{"sessionId": "s", "attempt": 1, "seq": 1, "type": "STARTED"}], "nextAttempt": 1, "nextSeq": 1}
    )
    assert page.next_cursor == (1, 1) and page.items[0].type is EventType.STARTED
    assert EventPage.from_graphql({"items": [], "nextAttempt": None, "nextSeq": None}).next_cursor is None
