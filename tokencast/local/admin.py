"""The ``/_local/*`` test endpoints answer only the stack's own callers.

Those endpoints arm faults and read stats in a developer's running stack, so a web page the
developer happens to open must not reach them. The rules, for every ``/_local/*`` request:

* an ``Origin`` header that is not the server's own origin → 403 (a cross-origin
  ``text/plain`` POST needs no preflight, so refusing it here is what stops it);
* no ``x-api-key`` header carrying the stack's API key (the one ``tokencast up`` prints) → 401;
* a ``Host`` that is not the address the stack serves on → 403 (DNS rebinding);
* no CORS header is ever sent on these paths, whatever other middleware adds.

:mod:`tokencast.local.admin_client` is the client side of the same contract.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

ADMIN_PREFIX = "/_local/"
API_KEY_HEADER = "x-api-key"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_admin_path(path: str) -> bool:
    return path.startswith(ADMIN_PREFIX) or path == ADMIN_PREFIX.rstrip("/")


def refuse(status: int, error_type: str, message: str) -> web.Response:
    """The one error shape of ``/_local/*``: ``{"errorType", "message"}``."""
    return web.json_response({"errorType": error_type, "message": message}, status=status)


def _host_name(host: str) -> str:
    if host.startswith("["):  # [::1]:4000
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def guard_admin_routes(app: web.Application, api_keys: Iterable[str], *, bind_host: str = "127.0.0.1") -> None:
    """Protect every ``/_local/*`` route of ``app`` (call before the app starts)."""
    keys = tuple(k for k in api_keys if k)
    if not keys:
        raise ValueError("the /_local endpoints need at least one API key")
    hosts = None if bind_host in _ANY_ADDRESS else _LOOPBACK_HOSTS | {bind_host}

    @web.middleware
    async def admin_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_admin_path(request.path):
            return await handler(request)
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return refuse(403, "Forbidden", "cross-origin requests to /_local endpoints are refused")
        if hosts is not None and _host_name(request.host) not in hosts:
            return refuse(403, "Forbidden", "the Host header does not name this server")
        given = request.headers.get(API_KEY_HEADER, "")
        if not any(hmac.compare_digest(given.encode(errors="surrogatepass"), key.encode()) for key in keys):
            return refuse(
                401, "UnauthorizedException", f"/_local endpoints need the stack's API key in {API_KEY_HEADER}"
            )
        return await handler(request)

    async def no_cors(request: web.Request, response: web.StreamResponse) -> None:
        if is_admin_path(request.path):
            for name in [h for h in response.headers if h.lower().startswith("access-control-")]:
                del response.headers[name]

    app.middlewares.insert(0, admin_guard)  # outermost: nothing else answers for /_local first
    app.on_response_prepare.append(no_cors)
