"""The client SDK's exceptions: one type per thing a caller may want to handle.

Everything derives from :class:`TokencastError` (the package-wide base). GraphQL errors are
mapped by AppSync's ``errorType``; transport failures that survived the retries become
:class:`ConnectionLost`.

::

    TokencastError
    ├── ClientClosed          the client is not open (use ``async with``)
    ├── ConnectionLost        the API or the real-time endpoint could not be reached / kept
    ├── RequestError          AppSync answered with errors (``error_type``, ``message``, ``errors``)
    │   ├── AuthError         Unauthorized: bad key, token or signature, or not allowed
    │   ├── InvalidRequest    the request broke a rule (validation, bad input)
    │   ├── SessionNotFound   no such session (or not yours to read)
    │   ├── Forbidden         you may read the session but not do this (cancel by a non-owner)
    │   └── Conflict          the sessionId already names a session of a different request
    └── StreamFailed          the session ended FAILED; carries the session error and result
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tokencast.core.errors import TokencastError

if TYPE_CHECKING:
    from tokencast.client.types import StreamResult

__all__ = [
    "AuthError",
    "ClientClosed",
    "Conflict",
    "ConnectionLost",
    "Forbidden",
    "InvalidRequest",
    "RequestError",
    "SessionNotFound",
    "StreamFailed",
    "TokencastError",
    "error_from_graphql",
    "is_transient",
]


class ClientClosed(TokencastError):
    """The client (or stream) is closed, or was never opened with ``async with``."""


class ConnectionLost(TokencastError):
    """The API or the real-time endpoint could not be reached, or a dropped connection
    could not be restored within the retry budget. ``__cause__`` is the last failure."""


class RequestError(TokencastError):
    """AppSync refused a request. ``error_type`` is AppSync's ``errorType`` of the first error."""

    def __init__(
        self, message: str, *, error_type: str | None = None, errors: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.errors = list(errors)


class AuthError(RequestError):
    """Unauthorized: missing or bad API key / token / signature, or the caller may not do this."""


class InvalidRequest(RequestError):
    """The request broke a rule; the message names the field and the rule."""


class SessionNotFound(RequestError):
    """No such session -- also what a caller who may not read a private session is told."""

    def __init__(self, session_id: str, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message or f"session {session_id} not found", **kwargs)
        self.session_id = session_id


class Forbidden(RequestError):
    """The caller may see the session but not do this to it."""


class Conflict(RequestError):
    """The request clashes with an existing session: its ``sessionId`` was used for a
    different request. Retrying cannot help; use a new session id."""


class StreamFailed(TokencastError):
    """The session ended FAILED. ``error`` is the session's reason; ``result`` the whole result."""

    def __init__(self, result: StreamResult) -> None:
        super().__init__(f"session {result.session_id} failed: {result.error or 'no reason given'}")
        self.result = result
        self.session_id = result.session_id
        self.error = result.error


_AUTH = {
    "Unauthorized",
    "UnauthorizedException",
    "UnrecognizedClientException",
    "AccessDeniedException",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "IncompleteSignatureException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
}
#: worth retrying: AppSync's rate limits and its own transient failures
_TRANSIENT = {
    "LimitExceededError",
    "LimitExceededException",
    "ThrottlingException",
    "TooManyRequestsException",
    "InternalFailure",
    "InternalFailureException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
}
_INVALID = {
    "ValidationError",
    "BadRequestException",
    "MalformedHttpRequestException",
    "InvalidInput",
    "MalformedMessage",
    "PayloadTooLargeException",
}
_NOT_FOUND = {"NotFound", "NotFoundException", "SessionNotFound"}
_FORBIDDEN = {"Forbidden", "ForbiddenException"}
_CONFLICT = {"Conflict", "ConflictException"}


def _flatten(errors: Sequence[Any]) -> list[Mapping[str, Any]]:
    """AppSync real-time errors arrive as ``[{"errors": [...]}]`` through gql; HTTP ones flat."""
    flat: list[Mapping[str, Any]] = []
    for item in errors or ():
        if isinstance(item, Mapping) and isinstance(item.get("errors"), list):
            flat.extend(e for e in item["errors"] if isinstance(e, Mapping))
        elif isinstance(item, Mapping):
            flat.append(item)
        else:
            flat.append({"message": str(item)})
    return flat


#: Resolver errors of direct Lambda resolvers reach clients as ``Lambda:Unhandled`` with the
#: exception's message, which by contract names the field and the rule (``<field>: <rule>``,
#: several joined by ``; ``). These rules recover the kind from that message.
_FIELD_RULE = re.compile(r"^[A-Za-z_][\w.\[\]]*: \S")
_NOT_FOUND_RULE = re.compile(r"^sessionId: not found\b")
_FORBIDDEN_RULE = re.compile(r"^\w+: only the owner may\b")
_CONFLICT_RULE = re.compile(r"^input\.sessionId: already used by a different request\b")
#: "startStream: the job could not be queued ..." is a server-side failure, not bad input
_OPERATION_PREFIXES = ("startStream:", "cancelStream:", "getSession:", "getEvents:")


def _kind_from_message(message: str) -> type[RequestError]:
    if _NOT_FOUND_RULE.match(message):
        return SessionNotFound
    if _FORBIDDEN_RULE.match(message):
        return Forbidden
    if _CONFLICT_RULE.match(message):
        return Conflict
    if message.startswith(_OPERATION_PREFIXES):
        return RequestError
    if _FIELD_RULE.match(message):
        return InvalidRequest
    return RequestError


def is_transient(error: BaseException) -> bool:
    """Whether retrying the same request may succeed."""
    if isinstance(error, ConnectionLost):
        return True
    return type(error) is RequestError and error.error_type in _TRANSIENT


def error_from_graphql(errors: Sequence[Any], *, session_id: str | None = None) -> RequestError:
    """The exact exception for an AppSync ``errors`` list (HTTP or real-time).

    By ``errorType`` first (AppSync's own: ``Unauthorized``, ``ValidationError`` ...); for
    resolver errors without a telling type (``Lambda:Unhandled``), by the message's
    ``<field>: <rule>`` form.
    """
    flat = _flatten(errors)
    first = flat[0] if flat else {}
    error_type = first.get("errorType")
    message = str(first.get("message") or error_type or "request failed")
    kwargs: dict[str, Any] = {"error_type": error_type, "errors": flat}
    kind: type[RequestError]
    if error_type in _AUTH:
        kind = AuthError
    elif error_type in _INVALID:
        kind = InvalidRequest
    elif error_type in _NOT_FOUND:
        kind = SessionNotFound
    elif error_type in _FORBIDDEN:
        kind = Forbidden
    elif error_type in _CONFLICT:
        kind = Conflict
    else:
        kind = _kind_from_message(message)
    if kind is SessionNotFound:
        return SessionNotFound(session_id or "?", message, **kwargs)
    return kind(message, **kwargs)
