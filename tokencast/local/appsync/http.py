"""``POST /graphql``: AppSync's HTTP data plane.

Request-level failures (no body, no JSON object, no query, too large, bad auth) answer with
AppSync's 4xx status codes and an ``errors`` list of ``errorType``/``message``; a query that
parses far enough to be GraphQL answers 200, with ``data`` null and AppSync-shaped ``errors``
when it does not validate (graphql/graphql-over-http#81, where the AppSync team listed these
cases). No input, however malformed, takes the server down.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from tokencast.local import bounded_json
from tokencast.local.appsync.auth import Authenticator, AuthRejected
from tokencast.local.appsync.errors import MALFORMED_REQUEST, PAYLOAD_TOO_LARGE, UNPARSABLE_QUERY, RequestRejected
from tokencast.local.appsync.execution import GraphQLEngine

log = logging.getLogger(__name__)


def _errors(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"errors": [{"errorType": error_type, "message": message}]}, status=status)


async def _read_at_most(request: web.Request, limit: int) -> bytes | None:
    """The body, or None once it exceeds ``limit`` bytes.

    A chunked body has no Content-Length to check up front, and ``request.read()`` would
    enforce the application's ``client_max_size`` instead of the emulator's limit.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def graphql_handler(
    *, engine: GraphQLEngine, authenticator: Authenticator, max_body_bytes: int
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > max_body_bytes:
            return _errors(413, PAYLOAD_TOO_LARGE, f"Request body is larger than {max_body_bytes} bytes")
        body = await _read_at_most(request, max_body_bytes)
        if body is None:
            return _errors(413, PAYLOAD_TOO_LARGE, f"Request body is larger than {max_body_bytes} bytes")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            caller = authenticator.authenticate(
                path=request.path, headers=headers, body=body, source_ip=request.remote or "127.0.0.1"
            )
        except AuthRejected as error:
            return _errors(error.status, error.error_type, str(error))
        if not body.strip():
            return _errors(400, MALFORMED_REQUEST, "Request body is empty.")
        try:
            payload = bounded_json.loads(body)
        except bounded_json.JsonTooDeep as error:
            return _errors(400, MALFORMED_REQUEST, f"{UNPARSABLE_QUERY} The request body {error}.")
        except ValueError:  # includes UnicodeDecodeError
            payload = None
        if not isinstance(payload, dict):
            return _errors(400, MALFORMED_REQUEST, UNPARSABLE_QUERY)
        try:
            operation = await engine.prepare_off_loop(payload)
            response = await engine.execute(operation, caller, headers)
        except RequestRejected as error:
            if error.status >= 400:  # the request never became an operation: no data key
                return web.json_response({"errors": error.as_errors()}, status=error.status)
            return web.json_response({"data": None, "errors": error.as_errors()}, status=error.status)
        return web.json_response(response)

    return handle
