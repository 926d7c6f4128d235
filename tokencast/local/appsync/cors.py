"""What a browser sees of AppSync's HTTP answers: CORS and the ``x-amzn-*`` headers.

AppSync answers every origin (``access-control-allow-origin: *``), answers a preflight
``OPTIONS`` for the GraphQL endpoint with the methods and the headers asked for, and lets
scripts read ``x-amzn-RequestId`` and ``x-amzn-ErrorType``. Every response carries a fresh
``x-amzn-RequestId``; a request-level failure (4xx/5xx) also names its type in
``x-amzn-ErrorType``, which is where Amplify JS takes an error's name from (without it an
unauthorized call surfaces as "Unknown error"). GraphQL errors inside a 200 carry no such
header, as on AppSync.

Only the GraphQL paths get this. The local control routes (``/_local/*``) and the model
endpoint answer no CORS, so a web page cannot reach them from another origin.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

GRAPHQL_PATHS = frozenset({"/graphql", "/graphql/realtime"})
EXPOSED_HEADERS = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"
ALLOWED_METHODS = "GET,POST,OPTIONS"
#: what a preflight may be cached for by the browser (AppSync: one day)
MAX_AGE_S = 86400
#: the headers AppSync clients send, allowed when a preflight does not list its own
DEFAULT_ALLOWED_HEADERS = (
    "content-type,x-amz-date,authorization,x-api-key,x-amz-security-token,x-amz-user-agent,x-amz-content-sha256"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error_type(response: web.StreamResponse) -> str | None:
    """The first ``errorType`` of a request-level failure's ``errors`` body."""
    if response.status < 400 or not isinstance(response, web.Response) or response.body is None:
        return None
    try:
        body = json.loads(bytes(response.body))  # type: ignore[arg-type]
        first = body["errors"][0]
        error_type = first.get("errorType") if isinstance(first, dict) else None
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return error_type if isinstance(error_type, str) else None


def _decorate(response: web.StreamResponse, request_id: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    response.headers["x-amzn-RequestId"] = request_id
    error_type = _error_type(response)
    if error_type is not None:
        response.headers["x-amzn-ErrorType"] = error_type


def _preflight(request: web.Request, request_id: str) -> web.Response:
    asked = request.headers.get("Access-Control-Request-Headers")
    response = web.Response(status=200)
    response.headers.update(
        {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": asked or DEFAULT_ALLOWED_HEADERS,
            "Access-Control-Max-Age": str(MAX_AGE_S),
            "x-amzn-RequestId": request_id,
        }
    )
    return response


@web.middleware
async def appsync_http_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path not in GRAPHQL_PATHS:
        return await handler(request)
    request_id = str(uuid.uuid4())
    if request.method == "OPTIONS":
        return _preflight(request, request_id)
    try:
        response = await handler(request)
    except web.HTTPException as error:  # aiohttp's own 4xx (e.g. a method the route lacks)
        _decorate(error, request_id)
        raise
    if not response.prepared:  # a WebSocket upgrade is already on the wire
        _decorate(response, request_id)
    return response
