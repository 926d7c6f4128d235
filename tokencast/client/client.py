"""``TokencastClient``: start, watch, cancel and read sessions of a tokencast API.

::

    async with TokencastClient(url, auth=ApiKeyAuth("...")) as client:
        stream = await client.stream("Tell me a story")
        async for delta in stream:
            print("\\n[restart]\\n" if delta.restarted else delta.text, end="")
        result = await stream.result()

The client owns two connections, both opened on first use and closed by ``close()`` (or
leaving ``async with``): a persistent HTTP session for queries and mutations, and the
real-time WebSocket(s) its streams share.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from tokencast.appsync_limits import MAX_SUBSCRIPTIONS_PER_CONNECTION
from tokencast.client.api import GraphQLApi
from tokencast.client.auth import Auth
from tokencast.client.endpoints import Endpoints
from tokencast.client.errors import ClientClosed, SessionNotFound
from tokencast.client.realtime import RealtimeChannel
from tokencast.client.stream import StreamOptions, TokenStream
from tokencast.client.types import EventPage, SessionPage
from tokencast.core.models import Session, SessionSummary

Message = Mapping[str, str] | tuple[str, str]


@dataclass(frozen=True)
class ClientOptions:
    """Timeouts and retry budgets. Stream behaviour is in :class:`StreamOptions`."""

    #: one HTTP request, end to end
    request_timeout_s: float = 10.0
    #: retries of a request after a transport failure (all operations are idempotent)
    request_retries: int = 3
    #: opening the WebSocket, and waiting for connection_ack / start_ack
    connect_timeout_s: float = 10.0
    ack_timeout_s: float = 10.0
    #: None: use the server's connectionTimeoutMs as the keep-alive timeout
    keep_alive_timeout_s: float | None = None
    max_subscriptions_per_connection: int = MAX_SUBSCRIPTIONS_PER_CONNECTION
    stream: StreamOptions = field(default_factory=StreamOptions)


def _messages(messages: Iterable[Message] | None) -> list[dict[str, str]] | None:
    if messages is None:
        return None
    shaped = []
    for message in messages:
        if isinstance(message, Mapping):
            shaped.append({"role": str(message["role"]), "text": str(message["text"])})
        else:
            role, text = message
            shaped.append({"role": str(role), "text": str(text)})
    return shaped


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


class TokencastClient:
    """A tokencast API: ``graphql_url`` (``https://X.appsync-api.R.amazonaws.com/graphql`` or
    the local stack's ``http://127.0.0.1:PORT/graphql``) with one of :class:`ApiKeyAuth`,
    :class:`IamAuth`, :class:`JwtAuth`. ``realtime_url`` defaults to the one that goes with
    ``graphql_url`` (see :mod:`tokencast.client.endpoints`).
    """

    def __init__(
        self, graphql_url: str, *, auth: Auth, realtime_url: str | None = None, options: ClientOptions | None = None
    ) -> None:
        if not isinstance(auth, Auth):
            raise TypeError(f"auth must be ApiKeyAuth, IamAuth or JwtAuth, not {type(auth).__name__}")
        self.endpoints = Endpoints.from_url(graphql_url, realtime_url)
        self.auth = auth
        self.options = options or ClientOptions()
        self._api: GraphQLApi | None = None
        self._channel: RealtimeChannel | None = None
        self._streams: set[TokenStream] = set()

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> TokencastClient:
        """Make the client usable; connections open lazily on first use."""
        if self._api is None:
            options = self.options
            self._api = GraphQLApi(
                self.endpoints, self.auth, timeout_s=options.request_timeout_s, retries=options.request_retries
            )
            self._channel = RealtimeChannel(
                self.endpoints,
                self.auth,
                connect_timeout_s=options.connect_timeout_s,
                ack_timeout_s=options.ack_timeout_s,
                keep_alive_timeout_s=options.keep_alive_timeout_s,
                max_subscriptions=options.max_subscriptions_per_connection,
            )
        return self

    async def close(self) -> None:
        """Close every stream, the WebSocket(s) and the HTTP session."""
        for stream in list(self._streams):
            await stream.close()
        channel, api = self._channel, self._api
        self._channel = self._api = None
        if channel is not None:
            await channel.close()
        if api is not None:
            await api.close()

    async def __aenter__(self) -> TokencastClient:
        return await self.open()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def api(self) -> GraphQLApi:
        if self._api is None:
            raise ClientClosed("the client is not open: use `async with TokencastClient(...) as client`")
        return self._api

    @property
    def channel(self) -> RealtimeChannel:
        if self._channel is None:
            raise ClientClosed("the client is not open: use `async with TokencastClient(...) as client`")
        return self._channel

    # -- streams ---------------------------------------------------------------------------

    def _new_stream(self, session_id: str, *, start_attempt: int = 0, follow: bool = False) -> TokenStream:
        stream = TokenStream(
            session_id,
            api=self.api,
            channel=self.channel,
            options=self.options.stream,
            start_attempt=start_attempt,
            follow=follow,
            on_close=self._streams.discard,
        )
        self._streams.add(stream)
        return stream

    async def stream(
        self,
        prompt: str | None = None,
        *,
        messages: Iterable[Message] | None = None,
        system: str | None = None,
        model_id: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        visibility: Any = None,
        session_id: str | None = None,
        follow: bool = False,
    ) -> TokenStream:
        """Start a session and stream its answer.

        Subscribes first (returns from the subscribe only on ``start_ack``), then calls
        ``startStream`` with the session id (client-chosen: a new UUID unless given), so no
        event can be published before this client listens. ``messages`` are earlier turns,
        as ``{"role": "user"|"assistant", "text": ...}`` or ``(role, text)`` pairs.
        """
        session_id = session_id or str(uuid.uuid4())
        stream = self._new_stream(session_id, follow=follow)
        try:
            await stream._attach()
            session = await self.start(
                prompt,
                messages=messages,
                system=system,
                model_id=model_id,
                max_tokens=max_tokens,
                temperature=temperature,
                visibility=visibility,
                session_id=session_id,
            )
        except BaseException:
            await stream.close()
            raise
        stream._start(session)
        return stream

    async def watch(self, session_id: str, *, follow: bool = False) -> TokenStream:
        """Join a session late (or after it ended): subscribe, then catch up from the log.

        Superseded attempts are skipped: catch-up starts at the session's current attempt.
        ``follow=True`` keeps listening after the terminal event (a FAILED session may be
        replayed from the dead-letter queue as a new attempt); end it with ``close()``.
        """
        session = await self.get_session(session_id)
        # QUEUED (a replayed job) or RETRYING after an attempt ran: that attempt is already
        # superseded by the next one, so its terminal event must not end this stream.
        superseded = session.attempt > 0 and str(session.status) in ("QUEUED", "RETRYING")
        start_attempt = session.attempt + 1 if superseded else session.attempt
        stream = self._new_stream(session_id, start_attempt=start_attempt, follow=follow)
        try:
            await stream._attach()
        except BaseException:
            await stream.close()
            raise
        stream._start(session)
        return stream

    # -- plain operations ------------------------------------------------------------------

    async def start(
        self,
        prompt: str | None = None,
        *,
        messages: Iterable[Message] | None = None,
        system: str | None = None,
        model_id: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        visibility: Any = None,
        session_id: str | None = None,
    ) -> Session:
        """``startStream`` without listening (fire and forget; watch it later)."""
        return await self.api.start_stream(
            session_id=session_id or str(uuid.uuid4()),
            prompt=prompt,
            messages=_messages(messages),
            system=system,
            model_id=model_id,
            max_tokens=max_tokens,
            temperature=temperature,
            visibility=_enum_value(visibility),
        )

    async def cancel(self, session_id: str) -> Session:
        """``cancelStream``: the owner's request to stop; the stream then ends CANCELLED."""
        return await self.api.cancel_stream(session_id)

    async def get_session(self, session_id: str) -> Session:
        """``getSession``; :class:`SessionNotFound` when there is none (or it is not yours)."""
        session = await self.api.get_session(session_id)
        if session is None:
            raise SessionNotFound(session_id)
        return session

    async def get_events(
        self, session_id: str, after_attempt: int = 0, after_seq: int = 0, limit: int | None = None
    ) -> EventPage:
        """One page of the stored events strictly after ``(after_attempt, after_seq)``."""
        return await self.api.get_events(session_id, after_attempt, after_seq, limit)

    async def list_sessions(self, limit: int | None = None, next_token: str | None = None) -> SessionPage:
        """``listSessions``: one page of your own sessions, newest first.

        Pass the page's ``next_token`` to get the next one; it is None on the last page.
        """
        return await self.api.list_sessions(limit, next_token)

    async def sessions(self, *, page_size: int | None = None) -> AsyncIterator[SessionSummary]:
        """Every one of your sessions, newest first, fetching pages as the loop goes."""
        token: str | None = None
        while True:
            page = await self.api.list_sessions(page_size, token)
            for item in page.items:
                yield item
            if page.next_token is None:
                return
            token = page.next_token


__all__ = ["ClientOptions", "TokencastClient"]
