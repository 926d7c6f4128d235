"""What a browser and Amplify see of the local stack's HTTP answers: CORS as AppSync answers
it, ``x-amzn-RequestId`` / ``x-amzn-ErrorType``, the same API over HTTPS with the local CA,
and tokens for an auth mode the API does not have refused as AppSync refuses them."""

from __future__ import annotations

import json
import ssl
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from tokencast.local.jwt_issuer import LocalJwtIssuer

pytestmark = pytest.mark.timeout(60)

ORIGIN = "http://127.0.0.1:5173"  # a frontend dev server: another origin
QUERY = {"query": 'query { getSession(sessionId: "00000000-0000-4000-8000-000000000000") { sessionId } }'}


@pytest.fixture
def endpoints(local_stack):
    return local_stack.endpoints


async def test_preflight_is_answered_for_any_origin_and_the_headers_asked(endpoints):
    asked = "content-type,x-api-key,x-amz-user-agent"
    async with (
        aiohttp.ClientSession() as http,
        http.options(
            endpoints.graphql_url,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": asked,
            },
        ) as response,
    ):
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Headers"] == asked
        uuid.UUID(response.headers["x-amzn-RequestId"])


async def test_answers_carry_cors_and_a_request_id_and_errors_their_type(endpoints):
    async with aiohttp.ClientSession() as http:
        async with http.post(
            endpoints.graphql_url, json=QUERY, headers={"Origin": ORIGIN, "x-api-key": endpoints.api_key}
        ) as ok:
            assert ok.status == 200
            assert ok.headers["Access-Control-Allow-Origin"] == "*"
            exposed = {h.strip().lower() for h in ok.headers["Access-Control-Expose-Headers"].split(",")}
            assert {"x-amzn-requestid", "x-amzn-errortype"} <= exposed
            uuid.UUID(ok.headers["x-amzn-RequestId"])
            assert "x-amzn-ErrorType" not in ok.headers
        async with http.post(endpoints.graphql_url, json=QUERY, headers={"Origin": ORIGIN}) as refused:
            assert refused.status == 401
            assert refused.headers["x-amzn-ErrorType"] == "UnauthorizedException"
            assert refused.headers["Access-Control-Allow-Origin"] == "*"
            body = await refused.json()
            assert body["errors"][0]["errorType"] == "UnauthorizedException"
        async with http.post(
            endpoints.graphql_url, data=b"not json", headers={"Origin": ORIGIN, "x-api-key": endpoints.api_key}
        ) as malformed:
            assert malformed.status == 400
            assert malformed.headers["x-amzn-ErrorType"] == "MalformedHttpRequestException"


async def test_local_control_routes_answer_no_cors(endpoints):
    base = endpoints.graphql_url.removesuffix("/graphql")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/_local/appsync/stats", headers={"Origin": ORIGIN}) as stats:
            assert "Access-Control-Allow-Origin" not in stats.headers
        async with http.options(
            f"{base}/_local/appsync/faults",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        ) as preflight:
            assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_https_serves_the_same_api_with_a_certificate_from_the_local_ca(endpoints):
    assert endpoints.https_graphql_url and endpoints.ca_cert and endpoints.ca_cert.is_file()
    trusted = ssl.create_default_context(cafile=str(endpoints.ca_cert))
    async with aiohttp.ClientSession() as http:
        async with http.post(
            endpoints.https_graphql_url, json=QUERY, headers={"x-api-key": endpoints.api_key}, ssl=trusted
        ) as response:
            assert response.status == 200
            assert json.loads(await response.text()) == {"data": {"getSession": None}}
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await http.post(endpoints.https_graphql_url, json=QUERY, ssl=ssl.create_default_context())


#: tokens the API has no mode for, made when the test runs (the local issuer's key file is
#: the stack's, found through TOKENCAST_STATE_DIR)
FOREIGN_TOKENS = {
    "jwt-of-another-issuer": lambda: LocalJwtIssuer.generate("https://cognito-idp.example/other-pool").mint("mallory"),
    "lambda-authorizer-token": lambda: "custom-lambda-authorizer-token",
    "expired-jwt": lambda: LocalJwtIssuer.from_env().mint("alice", now=datetime.now(UTC) - timedelta(days=2)),
}


@pytest.mark.parametrize("kind", sorted(FOREIGN_TOKENS))
async def test_tokens_for_auth_the_api_does_not_have_are_refused(endpoints, kind):
    async with (
        aiohttp.ClientSession() as http,
        http.post(endpoints.graphql_url, json=QUERY, headers={"Authorization": FOREIGN_TOKENS[kind]()}) as response,
    ):
        assert response.status == 401
        assert response.headers["x-amzn-ErrorType"] == "UnauthorizedException"
        assert (await response.json())["errors"][0]["errorType"] == "UnauthorizedException"
