"""The emulator's auth layer: real SigV4 verification, the local JWT issuer, API keys.

IAM requests are signed by the two clients this project uses, not by our own code: gql's
``AppSyncIAMAuthentication`` (botocore ``SigV4Auth``; HTTP, WebSocket connect and start)
and ``requests_aws4auth.AWS4Auth`` (the worker's publisher). Headers are passed as the
server would receive them, so a ``Host`` header is added where the HTTP client would add it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from botocore.credentials import Credentials
from gql.transport.appsync_auth import AppSyncIAMAuthentication
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from requests_aws4auth import AWS4Auth

from tests.appsync_identity import COGNITO_IDENTITY_KEYS, IAM_IDENTITY_KEYS
from tokencast.access import principal_of
from tokencast.local.appsync.auth import (
    DIRECTIVE_MODES,
    AuthConfig,
    Authenticator,
    AuthMode,
    AuthRejected,
    Caller,
    modes_from_directives,
)
from tokencast.local.jwt_issuer import (
    InvalidTokenError,
    LocalJwtIssuer,
    MalformedTokenError,
    TokenExpiredError,
)

SIGNING_KEY = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
HOST = "127.0.0.1:4000"
URL = f"http://{HOST}/graphql"
AKID = "AKIDLOCALTEST"
SECRET = "local-secret-key"
API_KEY = "da2-localdevkey"
BODY = json.dumps({"query": 'mutation { publishToken(sessionId: "s") { seq } }', "variables": {}}).encode()
TAMPERED = BODY.replace(b"publishToken", b"cancelStream")
assert TAMPERED != BODY


class Clock:
    """A settable clock; starts at the real time so botocore-signed requests are current."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def issuer() -> LocalJwtIssuer:
    return LocalJwtIssuer(SIGNING_KEY)


@pytest.fixture
def config(issuer: LocalJwtIssuer) -> AuthConfig:
    return AuthConfig(
        api_keys=frozenset({API_KEY}),
        iam_credentials={AKID: SECRET, "AKIDWORKER": "worker-secret"},
        iam_principals={"AKIDWORKER": "arn:aws:iam::123456789012:role/tokencast-worker"},
        jwt=issuer,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(config: AuthConfig, clock: Clock) -> Authenticator:
    return Authenticator(config, clock=clock)


def gql_signer(secret: str = SECRET, token: str | None = None, access_key: str = AKID) -> AppSyncIAMAuthentication:
    return AppSyncIAMAuthentication(
        host=HOST, region_name="us-east-1", credentials=Credentials(access_key, secret, token)
    )


def aws4auth_request(
    body: bytes = BODY, *, secret: str = SECRET, token: str | None = None, amz_date: str | None = None, **kw
) -> dict[str, str]:
    """Headers as the emulator receives a requests-aws4auth signed POST (Host added by http.client)."""
    headers = {"Content-Type": "application/json"}
    if amz_date:
        headers["x-amz-date"] = amz_date
    signer = AWS4Auth(AKID, secret, "us-east-1", "appsync", session_token=token, **kw)
    prepared = requests.Request("POST", URL, data=body, headers=headers, auth=signer).prepare()
    assert prepared.body == body
    return {**prepared.headers, "Host": HOST}


def expect_error(excinfo: pytest.ExceptionInfo[AuthRejected], error_type: str, status: int, message: str = "") -> None:
    err = excinfo.value
    assert (err.error_type, err.status) == (error_type, status)
    assert message in err.message
    for secret in (SECRET, API_KEY, "worker-secret"):
        assert secret not in str(err)


# ---------------------------------------------------------------- mode selection, API key


def test_no_credentials_is_401(auth: Authenticator) -> None:
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers={"content-type": "application/json"}, body=BODY)
    expect_error(excinfo, "UnauthorizedException", 401, "Valid authorization header not provided.")
    assert excinfo.value.to_error() == {
        "errorType": "UnauthorizedException",
        "message": "Valid authorization header not provided.",
    }


def test_api_key_header_any_case(auth: Authenticator) -> None:
    for name in ("x-api-key", "X-Api-Key", "X-API-KEY"):
        assert auth.authenticate(path="/graphql", headers={name: API_KEY}, body=BODY) == Caller(AuthMode.API_KEY, None)


@pytest.mark.parametrize("key", ["da2-wrong", "", API_KEY + "x", API_KEY[:-1]])
def test_unknown_api_key_is_401(auth: Authenticator, key: str) -> None:
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers={"x-api-key": key}, body=BODY)
    expect_error(excinfo, "UnauthorizedException", 401, "You are not authorized to make this call.")


def test_disabled_mode_is_refused(config: AuthConfig, issuer: LocalJwtIssuer) -> None:
    only_jwt = AuthConfig(
        api_keys=config.api_keys,
        iam_credentials=config.iam_credentials,
        iam_principals={},
        jwt=issuer,
        enabled_modes=frozenset({AuthMode.AMAZON_COGNITO_USER_POOLS}),
    )
    strict = Authenticator(only_jwt)
    with pytest.raises(AuthRejected) as excinfo:
        strict.authenticate(path="/graphql", headers={"x-api-key": API_KEY}, body=BODY)
    expect_error(excinfo, "UnauthorizedException", 401)
    data = BODY.decode()
    with pytest.raises(AuthRejected):
        strict.authenticate(path="/graphql", headers=gql_signer().get_headers(data), body=BODY)
    assert strict.authenticate(path="/graphql", headers={"authorization": issuer.mint("u")}, body=b"").mode == (
        AuthMode.AMAZON_COGNITO_USER_POOLS
    )


# ---------------------------------------------------------------- JWT (Cognito stand-in)


def test_jwt_raw_and_bearer_give_cognito_identity(auth: Authenticator, issuer: LocalJwtIssuer) -> None:
    token = issuer.mint("alice", groups=["admins"], email="alice@example.com")
    for value in (token, f"Bearer {token}"):
        caller = auth.authenticate(path="/graphql", headers={"Authorization": value}, body=BODY, source_ip="10.0.0.7")
        assert caller.mode is AuthMode.AMAZON_COGNITO_USER_POOLS
        identity = caller.identity
        assert identity is not None and set(identity) == COGNITO_IDENTITY_KEYS
        assert identity["sub"] == issuer.subject_for("alice")
        assert identity["username"] == "alice"
        assert identity["issuer"] == issuer.issuer
        assert identity["sourceIp"] == ["10.0.0.7"]
        assert identity["defaultAuthStrategy"] == "ALLOW"
        assert identity["groups"] == ["admins"]
        assert identity["claims"]["email"] == "alice@example.com"
        assert principal_of(identity) == identity["sub"]


def test_jwt_without_groups_reports_none(auth: Authenticator, issuer: LocalJwtIssuer) -> None:
    caller = auth.authenticate(path="/graphql", headers={"authorization": issuer.mint("bob")}, body=b"")
    assert caller.identity is not None and caller.identity["groups"] is None


def test_jwt_expiry_uses_injected_clock(auth: Authenticator, issuer: LocalJwtIssuer, clock: Clock) -> None:
    token = issuer.mint("alice", ttl=timedelta(minutes=10), now=clock.now)
    clock.now += timedelta(minutes=9)
    auth.authenticate(path="/graphql", headers={"authorization": token}, body=b"")
    clock.now += timedelta(minutes=1)
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers={"authorization": token}, body=b"")
    expect_error(excinfo, "UnauthorizedException", 401, "Token has expired.")


@pytest.mark.parametrize("value", ["not-a-jwt", "a.b.c", "Bearer", "x.y"])
def test_unparseable_jwt(auth: Authenticator, value: str) -> None:
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers={"authorization": value}, body=b"")
    expect_error(excinfo, "UnauthorizedException", 401, "Unable to parse JWT token.")


def test_jwt_from_another_secret_or_pool(auth: Authenticator) -> None:
    for other in (
        LocalJwtIssuer.generate(),
        LocalJwtIssuer(SIGNING_KEY, issuer="https://cognito-idp.local/other-pool"),
        LocalJwtIssuer(SIGNING_KEY, audience="other-client"),
    ):
        with pytest.raises(AuthRejected) as excinfo:
            auth.authenticate(path="/graphql", headers={"authorization": other.mint("alice")}, body=b"")
        expect_error(excinfo, "UnauthorizedException", 401, "Valid authorization header not provided.")


def test_issuer_roundtrip_claims(issuer: LocalJwtIssuer) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    token = issuer.mint(
        "carol", groups=("a", "b"), ttl=timedelta(hours=1), extra_claims={"custom:tier": "gold"}, now=now
    )
    claims = issuer.verify(token, now=now + timedelta(minutes=59))
    assert claims["cognito:username"] == "carol"
    assert claims["cognito:groups"] == ["a", "b"]
    assert claims["iss"] == "https://cognito-idp.local/tokencast-local"
    assert claims["aud"] == "tokencast-local-client"
    assert claims["token_use"] == "id"
    assert claims["iat"] == claims["auth_time"] == int(now.timestamp())
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["custom:tier"] == "gold"
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["typ"] == "JWT" and header["kid"] == issuer.kid
    assert issuer.jwks() == {"keys": [SIGNING_KEY.as_dict(private=False)]} and "d" not in issuer.jwks()["keys"][0]
    assert "cognito:groups" not in issuer.verify(issuer.mint("dave"))


def test_sub_is_stable_per_issuer_and_user(issuer: LocalJwtIssuer) -> None:
    first = issuer.verify(issuer.mint("erin"))["sub"]
    assert issuer.verify(issuer.mint("erin"))["sub"] == first == LocalJwtIssuer.generate().subject_for("erin")
    assert issuer.subject_for("frank") != first
    assert LocalJwtIssuer(SIGNING_KEY, issuer="https://elsewhere").subject_for("erin") != first


def test_verify_rejects_tampering_alg_none_and_expiry(issuer: LocalJwtIssuer) -> None:
    token = issuer.mint("alice")
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["cognito:username"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidTokenError):
        issuer.verify(f"{head}.{forged}.{sig}")
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    with pytest.raises(MalformedTokenError):
        issuer.verify(f"{none_head}.{payload}.")
    with pytest.raises(InvalidTokenError):
        issuer.verify(f"{head}.{payload}.not*base64")
    hs256 = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(b"a-shared-secret-of-32-bytes-long"))
    with pytest.raises(MalformedTokenError):
        issuer.verify(hs256)
    with pytest.raises(TokenExpiredError):
        issuer.verify(token, now=datetime.now(UTC) + timedelta(hours=13))
    with pytest.raises(ValueError):
        issuer.mint("alice", ttl=timedelta(0))


def test_from_env_shares_one_key_file_and_never_shows_it(tmp_path) -> None:
    env = {"TOKENCAST_LOCAL_JWT_KEY_FILE": str(tmp_path / "state" / "key.json")}
    up, cli = LocalJwtIssuer.from_env(env), LocalJwtIssuer.from_env(env)  # `tokencast up`, `tokencast token`
    assert up.verify(cli.mint("u"))["cognito:username"] == "u" and up.kid == cli.kid
    assert (tmp_path / "state" / "key.json").stat().st_mode & 0o077 == 0  # private to its owner
    other = LocalJwtIssuer.from_env({"TOKENCAST_LOCAL_JWT_KEY_FILE": str(tmp_path / "other.json")})
    with pytest.raises(InvalidTokenError):
        up.verify(other.mint("u"))
    private = json.loads((tmp_path / "state" / "key.json").read_text())["d"]
    assert private not in repr(up)


def test_access_tokens_carry_client_id_instead_of_aud(auth: Authenticator, issuer: LocalJwtIssuer) -> None:
    claims = issuer.verify(issuer.mint("gina", token_use="access"))
    assert claims["client_id"] == issuer.client_id and "aud" not in claims and claims["username"] == "gina"
    caller = auth.authenticate(
        path="/graphql", headers={"authorization": issuer.mint("gina", token_use="access")}, body=b""
    )
    assert caller.identity is not None and caller.identity["username"] == "gina"

    cfg = AuthConfig.from_env({"TOKENCAST_LOCAL_API_KEYS": "k1, k2", "AWS_REGION": "eu-west-1"})
    assert cfg.api_keys == {"k1", "k2"} and dict(cfg.iam_credentials) == {"test": "test"}
    assert cfg.region == "eu-west-1" and cfg.enabled_modes == set(AuthMode)
    # quoted: the random JWT key id in the repr may contain "k1" by chance
    assert "'k1'" not in repr(cfg) and "'k2'" not in repr(cfg) and "test'" not in repr(cfg)


# ---------------------------------------------------------------- IAM: clients that must verify


def test_gql_http_request_verifies(auth: Authenticator) -> None:
    """AIOHTTPTransport calls get_headers(json, {"content-type": "application/json"})."""
    data = BODY.decode()
    headers = gql_signer().get_headers(data, {"content-type": "application/json"})
    caller = auth.authenticate(path="/graphql", headers=headers, body=BODY, source_ip="192.0.2.1")
    assert caller.mode is AuthMode.AWS_IAM
    assert caller.identity == {
        "accountId": "000000000000",
        "cognitoIdentityPoolId": None,
        "cognitoIdentityId": None,
        "sourceIp": ["192.0.2.1"],
        "username": AKID,
        "userArn": f"arn:aws:iam::000000000000:user/{AKID}",
        "cognitoIdentityAuthType": None,
        "cognitoIdentityAuthProvider": None,
    }


def test_gql_websocket_connect_and_start_verify_with_session_token(auth: Authenticator) -> None:
    signer = gql_signer(token="session-token-value")
    connect = signer.get_headers()  # signs https://host/graphql/connect with body "{}"
    assert {k.lower() for k in connect} >= {
        "accept",
        "content-encoding",
        "content-type",
        "host",
        "x-amz-security-token",
    }
    assert auth.authenticate(path="/graphql/connect", headers=connect, body=b"{}").mode is AuthMode.AWS_IAM

    data = json.dumps({"query": 'subscription { onTokenReceived(sessionId: "s") { seq } }'}, separators=(",", ":"))
    start = signer.get_headers(data)  # the start message's payload.extensions.authorization
    assert auth.authenticate(path="/graphql", headers=start, body=data.encode()).mode is AuthMode.AWS_IAM

    # Each signature is bound to its path: the connect header is no good for /graphql.
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=connect, body=b"{}")
    expect_error(excinfo, "InvalidSignatureException", 403, "does not match the signature you provided")


@pytest.mark.parametrize("token", [None, "worker-session-token"])
def test_requests_aws4auth_verifies(auth: Authenticator, token: str | None) -> None:
    headers = aws4auth_request(token=token)
    assert "x-amz-content-sha256" in {k.lower() for k in headers}
    assert auth.authenticate(path="/graphql", headers=headers, body=BODY).mode is AuthMode.AWS_IAM


def test_configured_principal_is_reported(auth: Authenticator) -> None:
    signer = gql_signer(secret="worker-secret", access_key="AKIDWORKER")
    caller = auth.authenticate(path="/graphql", headers=signer.get_headers(BODY.decode()), body=BODY)
    assert caller.identity is not None
    assert caller.identity["userArn"] == "arn:aws:iam::123456789012:role/tokencast-worker"
    assert caller.identity["accountId"] == "123456789012"
    assert caller.identity["username"] == "AKIDWORKER"
    assert set(caller.identity) == IAM_IDENTITY_KEYS


# ---------------------------------------------------------------- IAM: what must not verify


def test_tampered_body_is_refused(auth: Authenticator) -> None:
    headers = gql_signer().get_headers(BODY.decode())
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=headers, body=TAMPERED)
    expect_error(excinfo, "InvalidSignatureException", 403, "does not match the signature you provided")


def test_body_swap_behind_a_content_sha256_header_is_refused(auth: Authenticator) -> None:
    """requests-aws4auth sends x-amz-content-sha256; botocore alone would trust it."""
    headers = aws4auth_request()
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=headers, body=TAMPERED)
    expect_error(excinfo, "InvalidSignatureException", 403, "x-amz-content-sha256")


def test_content_sha256_header_that_lies_is_refused_even_when_signed(auth: Authenticator) -> None:
    """A client signs a hash (here UNSIGNED-PAYLOAD, then a wrong hash) that is not the body's."""
    for claimed in ("UNSIGNED-PAYLOAD", hashlib.sha256(b"something else").hexdigest()):
        signer = gql_signer()
        headers = signer.get_headers(
            BODY.decode(), {"content-type": "application/json", "X-Amz-Content-SHA256": claimed}
        )
        with pytest.raises(AuthRejected) as excinfo:
            auth.authenticate(path="/graphql", headers=headers, body=BODY)
        expect_error(excinfo, "InvalidSignatureException", 403, "x-amz-content-sha256")


def test_wrong_secret_is_refused(auth: Authenticator) -> None:
    headers = gql_signer(secret="not-the-secret").get_headers(BODY.decode())
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=headers, body=BODY)
    expect_error(excinfo, "InvalidSignatureException", 403, "The request signature we calculated does not match")
    assert headers["Authorization"].rsplit("=", 1)[1] not in str(excinfo.value)


def test_unknown_access_key_is_refused(auth: Authenticator) -> None:
    headers = gql_signer(access_key="AKIDNOBODY").get_headers(BODY.decode())
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=headers, body=BODY)
    expect_error(excinfo, "UnrecognizedClientException", 403, "The security token included in the request is invalid.")


def test_clock_skew_both_ways(auth: Authenticator, clock: Clock) -> None:
    signed_at = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    headers = aws4auth_request(amz_date="20260301T120000Z")
    for offset in (timedelta(minutes=-5), timedelta(0), timedelta(minutes=5)):
        clock.now = signed_at + offset
        auth.authenticate(path="/graphql", headers=headers, body=BODY)

    clock.now = signed_at + timedelta(minutes=5, seconds=1)
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=headers, body=BODY)
    expect_error(
        excinfo,
        "InvalidSignatureException",
        403,
        "Signature expired: 20260301T120000Z is now earlier than 20260301T120001Z (20260301T120501Z - 5 min.)",
    )

    clock.now = signed_at - timedelta(minutes=6)
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=headers, body=BODY)
    expect_error(excinfo, "InvalidSignatureException", 403, "Signature not yet current: 20260301T120000Z")


def test_gql_signature_expires_after_five_minutes(auth: Authenticator, clock: Clock) -> None:
    headers = gql_signer().get_headers(BODY.decode())
    clock.now = datetime.now(UTC) + timedelta(minutes=6)
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=headers, body=BODY)
    expect_error(excinfo, "InvalidSignatureException", 403, "Signature expired")


def test_signed_header_missing_from_request(auth: Authenticator) -> None:
    headers = gql_signer().get_headers(BODY.decode())
    del headers["accept"]
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=headers, body=BODY)
    expect_error(
        excinfo,
        "IncompleteSignatureException",
        403,
        "'accept' is named as a SignedHeader, but it does not exist in the HTTP request.",
    )


def test_changed_signed_header_value_is_refused(auth: Authenticator) -> None:
    headers = gql_signer().get_headers(BODY.decode())
    headers["host"] = "evil.example:4000"
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=headers, body=BODY)
    expect_error(excinfo, "InvalidSignatureException", 403, "does not match")


def test_host_must_be_signed(auth: Authenticator) -> None:
    headers = aws4auth_request(include_hdrs={"content-type", "x-amz-date", "x-amz-content-sha256"})
    assert "host" not in headers["Authorization"]
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=headers, body=BODY)
    expect_error(excinfo, "InvalidSignatureException", 403, "'Host' or ':authority' must be a 'SignedHeader'")


def test_unsigned_headers_do_not_matter(auth: Authenticator) -> None:
    headers = gql_signer().get_headers(BODY.decode())
    headers.update({"User-Agent": "anything", "X-Forwarded-For": "203.0.113.9"})
    assert auth.authenticate(path="/graphql", headers=headers, body=BODY).mode is AuthMode.AWS_IAM


@pytest.mark.parametrize(
    ("authorization", "error_type", "fragment"),
    [
        ("AWS4-HMAC-SHA256", "IncompleteSignatureException", "requires 'Credential' parameter"),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST/20260301/us-east-1/appsync/aws4_request",
            "IncompleteSignatureException",
            "requires 'Signature' parameter",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST/20260301/eu-west-1/appsync/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=00",
            "InvalidSignatureException",
            "valid region",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST/20260301/us-east-1/execute-api/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=00",
            "InvalidSignatureException",
            "correct service: 'appsync'",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST/us-east-1/appsync, SignedHeaders=host, Signature=00",
            "IncompleteSignatureException",
            "Credential should have the form",
        ),
    ],
)
def test_malformed_sigv4_headers(auth: Authenticator, authorization: str, error_type: str, fragment: str) -> None:
    headers = {"Authorization": authorization, "host": HOST, "x-amz-date": "20260301T120000Z"}
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=headers, body=BODY)
    expect_error(excinfo, error_type, 403, fragment)


def test_missing_amz_date_and_scope_date_mismatch(auth: Authenticator, clock: Clock) -> None:
    clock.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    headers = aws4auth_request(amz_date="20260301T120000Z")
    without_date = {k: v for k, v in headers.items() if k.lower() != "x-amz-date"}
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=without_date, body=BODY)
    expect_error(excinfo, "IncompleteSignatureException", 403, "'x-amz-date' is named as a SignedHeader")

    shifted = {**headers, "x-amz-date": "20260302T120000Z"}
    with pytest.raises(AuthRejected) as excinfo:
        auth.authenticate(path="/graphql", headers=shifted, body=BODY)
    expect_error(excinfo, "InvalidSignatureException", 403, "Date in Credential scope does not match")


# ---------------------------------------------------------------- field authorization


def test_directive_modes_match_the_schema_names() -> None:
    assert DIRECTIVE_MODES == {
        "aws_api_key": AuthMode.API_KEY,
        "aws_iam": AuthMode.AWS_IAM,
        "aws_cognito_user_pools": AuthMode.AMAZON_COGNITO_USER_POOLS,
    }
    assert modes_from_directives(["@aws_iam", "aws_subscribe"]) == {AuthMode.AWS_IAM}


def test_authorize_field(auth: Authenticator) -> None:
    cognito = Caller(AuthMode.AMAZON_COGNITO_USER_POOLS, {"sub": "x"})
    api_key = Caller(AuthMode.API_KEY, None)
    iam = Caller(AuthMode.AWS_IAM, {"userArn": "arn"})
    iam_only = frozenset({AuthMode.AWS_IAM})

    auth.authorize_field(iam, iam_only, field_name="publishToken", type_name="Mutation")
    with pytest.raises(AuthRejected) as excinfo:
        auth.authorize_field(cognito, iam_only, field_name="publishToken", type_name="Mutation")
    assert excinfo.value.to_error() == {
        "errorType": "Unauthorized",
        "message": "Not Authorized to access publishToken on type Mutation",
    }
    assert excinfo.value.status == 200

    # No directives: only the API's default mode (Cognito) may pass.
    auth.authorize_field(cognito, frozenset())
    for caller in (api_key, iam):
        with pytest.raises(AuthRejected):
            auth.authorize_field(caller, frozenset(), field_name="getSession", type_name="Query")
    auth.authorize_field(api_key, modes_from_directives(["aws_cognito_user_pools", "aws_iam", "aws_api_key"]))
