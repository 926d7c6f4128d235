"""Where the API lives: the GraphQL URL, the real-time URL derived from it, the auth host.

AppSync serves GraphQL at ``https://X.appsync-api.R.amazonaws.com/graphql`` and the
real-time protocol at ``wss://X.appsync-realtime-api.R.amazonaws.com/graphql``; a custom
domain serves it at ``wss://<domain>/graphql/realtime``. The local stack answers the
protocol on its GraphQL path too, so ``http://host:port/graphql`` maps to
``ws://host:port/graphql``. gql does not do this mapping for ``http://`` URLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

_APPSYNC_HOST = re.compile(r"^(?P<api>[a-z0-9]+)\.appsync-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?P<cn>\.cn)?$")


@dataclass(frozen=True)
class Endpoints:
    graphql_url: str
    realtime_url: str
    #: the API host that requests are authorized (and SigV4-signed) for
    host: str

    @classmethod
    def from_url(cls, graphql_url: str, realtime_url: str | None = None) -> Endpoints:
        parts = urlsplit(graphql_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"graphql_url must be an http(s) URL, not {graphql_url!r}")
        if realtime_url is not None and urlsplit(realtime_url).scheme not in ("ws", "wss"):
            raise ValueError(f"realtime_url must be a ws(s) URL, not {realtime_url!r}")
        return cls(
            graphql_url=graphql_url, realtime_url=realtime_url or realtime_url_for(graphql_url), host=parts.netloc
        )


def realtime_url_for(graphql_url: str) -> str:
    """The real-time endpoint that goes with ``graphql_url`` (see the module docstring)."""
    parts = urlsplit(graphql_url)
    path = parts.path or "/graphql"
    match = _APPSYNC_HOST.match(parts.hostname or "")
    if match:
        host = parts.netloc.replace(".appsync-api.", ".appsync-realtime-api.", 1)
        return urlunsplit(("wss", host, path, "", ""))
    if parts.scheme == "https":  # an AppSync custom domain
        return urlunsplit(("wss", parts.netloc, path.rstrip("/") + "/realtime", "", ""))
    return urlunsplit(("ws", parts.netloc, path, "", ""))


def region_of(graphql_url: str) -> str | None:
    """The region in an AppSync host name, if it is one."""
    match = _APPSYNC_HOST.match(urlsplit(graphql_url).hostname or "")
    return match.group("region") if match else None
