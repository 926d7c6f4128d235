"""tokencast's client SDK: stream a session's answer exactly, whatever the network does.

::

    from tokencast.client import ApiKeyAuth, TokencastClient

    async with TokencastClient("http://127.0.0.1:4000/graphql", auth=ApiKeyAuth("key")) as client:
        stream = await client.stream("Why is the sky blue?")
        async for delta in stream:
            ...
        result = await stream.result()

Built on gql: ``AIOHTTPTransport`` for queries and mutations, ``AppSyncWebsocketsTransport``
for ``onTokenReceived``. Pieces: :mod:`~tokencast.client.auth` (modes),
:mod:`~tokencast.client.assembler` (the pure reassembly state machine),
:mod:`~tokencast.client.stream` (the handle and its driver), :mod:`~tokencast.client.api`
and :mod:`~tokencast.client.realtime` (the two transports), :mod:`~tokencast.client.errors`.
The GraphQL types it hands out (``TokenEvent``, ``Session``, ``SessionSummary``, ``Usage``)
are the models of :mod:`tokencast.core.models`; ``usage.output_tokens`` and so on.
"""

from tokencast.client.assembler import StreamAssembler
from tokencast.client.auth import ApiKeyAuth, Auth, IamAuth, JwtAuth
from tokencast.client.backoff import Backoff
from tokencast.client.client import ClientOptions, TokencastClient
from tokencast.client.endpoints import Endpoints, realtime_url_for
from tokencast.client.errors import (
    AuthError,
    ClientClosed,
    Conflict,
    ConnectionLost,
    Forbidden,
    InvalidRequest,
    QuotaExceeded,
    RequestError,
    SessionNotFound,
    StreamFailed,
    TokencastError,
)
from tokencast.client.stream import StreamOptions, TokenStream
from tokencast.client.types import Delta, EventPage, SessionPage, StreamResult

# The GraphQL object types are the core's wire models: one class per type, one name each.
from tokencast.core.models import Session, SessionSummary, TokenEvent, Usage

__all__ = [
    "ApiKeyAuth",
    "Auth",
    "AuthError",
    "Backoff",
    "ClientClosed",
    "ClientOptions",
    "Conflict",
    "ConnectionLost",
    "Delta",
    "Endpoints",
    "EventPage",
    "Forbidden",
    "IamAuth",
    "InvalidRequest",
    "JwtAuth",
    "QuotaExceeded",
    "RequestError",
    "Session",
    "SessionNotFound",
    "SessionPage",
    "SessionSummary",
    "StreamAssembler",
    "StreamFailed",
    "StreamOptions",
    "StreamResult",
    "TokenEvent",
    "TokenStream",
    "TokencastClient",
    "TokencastError",
    "Usage",
    "realtime_url_for",
]
