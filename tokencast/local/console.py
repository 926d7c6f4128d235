"""The web console's server side on ``tokencast up``: the page, its config, and two local-only APIs.

The console itself is a static single-page app (``clients/console``, built into its
``dist/`` by ``make setup``); it talks to the GraphQL API like any other frontend. What it
needs from the local stack, and only there:

``GET /``, ``GET /s/{sessionId}``, ``GET /dlq``
    the page (one ``index.html``; the app routes on the path), never cached.
``GET /console/{file}``
    the built assets (``dist/console/``: the layout of a static copy served from a web root).
``GET /console/config.json``
    where the API is and how to sign in: ``{"mode": "local", "graphqlUrl", "realtimeUrl",
    "region", "apiKey"}``, the API on the page's own origin (HTTP, or TLS). The page is served from the same origin as the API, so handing it
    the API key is handing it to whoever can already read ``tokencast up``'s output; a page on
    another origin cannot read this response (no CORS headers), and a Host header that does
    not name this server (DNS rebinding) is refused. A static copy of the console
    pointed at a deployed stack gets a ``config.json`` without a key (see docs/console.md).
``POST /_local/auth/token``  ``{"user": "alice"}``
    a JWT from the local issuer for that user: the browser's ``tokencast token --user``.
``GET /_local/dlq``, ``POST /_local/dlq/replay``  ``{"sessionIds": [...] | null, "dryRun", "force"}``
    the dead-letter queue, through :class:`tokencast.core.dlq.DeadLetterQueue` -- the very
    operations ``tokencast dlq list`` and ``tokencast dlq replay`` run.

Every ``/_local/*`` endpoint is for the local stack only and, per the stack's contract, needs
the API key in ``x-api-key`` and refuses foreign origins (enforced for all of ``/_local`` by
the stack's middleware); the console sends the key it was configured with.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tokencast.core.dlq import DeadLetterQueue
from tokencast.local.jwt_issuer import LocalJwtIssuer

#: Where ``npm run build -w clients/console`` writes the page (gitignored; ``make setup`` builds it).
CONSOLE_DIST = Path(__file__).resolve().parent.parent.parent / "clients" / "console" / "dist"
#: The console's routes (the app tells them apart on the client side).
PAGE_ROUTES = ("/", "/s/{sessionId}", "/dlq")

_USER = re.compile(r"[A-Za-z0-9._@+-]{1,64}")
_NOT_BUILT = (
    "The tokencast console is not built. Run `make setup` (or `npm run build -w clients/console`) "
    "in the repository, then reload.\n"
)
_CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".html": "text/html",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


@dataclass(frozen=True)
class ConsoleConfig:
    """What the page needs to reach the local API (served as ``/console/config.json``)."""

    region: str
    api_key: str

    def to_json(self, scheme: str, host: str) -> dict[str, Any]:
        """The API on the origin the page was loaded from (HTTP or TLS: one app serves both).

        Same origin on purpose: an HTTPS page may not call an HTTP API (mixed content), and
        over TLS the console streams through Amplify, which always dials ``wss://``.
        """
        return {
            "mode": "local",
            "graphqlUrl": f"{scheme}://{host}/graphql",
            "realtimeUrl": f"{'wss' if scheme == 'https' else 'ws'}://{host}/graphql/realtime",
            "region": self.region,
            "apiKey": self.api_key,
        }


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})


def _error(status: int, error_type: str, message: str) -> web.Response:
    """The one shape every ``/_local`` error has (the stack's guard answers the same)."""
    return web.json_response({"errorType": error_type, "message": message}, status=status)


def _invalid(field: str, rule: str) -> web.Response:
    return _error(400, "InvalidInput", f"{field}: {rule}")


def _host_name(host: str) -> str:
    if host.startswith("["):  # [::1]:4000
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Console:
    """Adds the console's routes to the local stack's aiohttp application."""

    def __init__(
        self,
        config: ConsoleConfig,
        *,
        issuer: LocalJwtIssuer,
        dead_letter_queue: Callable[[], DeadLetterQueue],
        dist: Path = CONSOLE_DIST,
        bind_host: str = "127.0.0.1",
    ) -> None:
        self.config = config
        self.issuer = issuer
        self.dist = dist
        self._dlq = dead_letter_queue
        #: Host names config.json answers to (None: any, when the stack listens on every address)
        self._hosts = None if bind_host in _ANY_ADDRESS else _LOOPBACK_HOSTS | {bind_host}

    def add_routes(self, app: web.Application) -> None:
        for path in PAGE_ROUTES:
            app.router.add_get(path, self._page)
        app.router.add_get("/console/config.json", self._config)
        app.router.add_get("/console/{file:.+}", self._asset)
        app.router.add_post("/_local/auth/token", self._token)
        app.router.add_get("/_local/dlq", self._dlq_list)
        app.router.add_post("/_local/dlq/replay", self._dlq_replay)

    # -- the page --------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        index = self.dist / "index.html"
        if not index.is_file():
            return web.Response(status=503, text=_NOT_BUILT, content_type="text/plain")
        return web.FileResponse(index, headers={"Cache-Control": "no-cache", "Content-Type": "text/html"})

    async def _config(self, request: web.Request) -> web.Response:
        # The key must not reach a page that merely resolves its own name to this machine
        # (DNS rebinding): answer only to the names this server is reached by.
        if self._hosts is not None and _host_name(request.host) not in self._hosts:
            return _error(403, "Forbidden", "the Host header does not name this server")
        return web.json_response(
            self.config.to_json(request.scheme, request.host), headers={"Cache-Control": "no-store"}
        )

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        root = (self.dist / "console").resolve()
        path = (root / request.match_info["file"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise web.HTTPNotFound()
        content_type = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        return web.FileResponse(path, headers={"Cache-Control": "no-cache", "Content-Type": content_type})

    # -- local sign-in -----------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        if body is None:
            return _invalid("body", "must be a JSON object")
        user = body.get("user")
        if not isinstance(user, str) or not _USER.fullmatch(user):
            return _invalid("user", "must be 1 to 64 letters, digits or . _ @ + -")
        return web.json_response(
            {"user": user, "sub": self.issuer.subject_for(user), "token": self.issuer.mint(user)},
            headers={"Cache-Control": "no-store"},
        )

    # -- the dead-letter queue --------------------------------------------------------------------

    async def _dlq_list(self, request: web.Request) -> web.Response:
        jobs = await asyncio.to_thread(lambda: self._dlq().list_jobs())
        return web.json_response({"jobs": [job.to_dict() for job in jobs]})

    async def _dlq_replay(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        if body is None:
            return _invalid("body", "must be a JSON object")
        session_ids = body.get("sessionIds")
        if session_ids is not None and (
            not isinstance(session_ids, list) or not all(isinstance(s, str) and s for s in session_ids)
        ):
            return _invalid("sessionIds", "must be a list of session ids, or null for every job")
        flags = {name: body.get(name, False) for name in ("dryRun", "force")}
        for name, value in flags.items():
            if not isinstance(value, bool):
                return _invalid(name, "must be true or false")
        results = await asyncio.to_thread(
            lambda: self._dlq().replay(session_ids, dry_run=flags["dryRun"], force=flags["force"])
        )
        return web.json_response(
            {
                "results": [
                    {"messageId": r.message_id, "sessionId": r.session_id, "action": r.action, "reason": r.reason}
                    for r in results
                ]
            }
        )


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.read() or b"{}")
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None
