"""The client SDK's exceptions: one type per thing a caller may want to handle.

Everything derives from :class:`TokencastError` (the package-wide base). GraphQL errors are
mapped by their ``errorType`` alone -- AppSync's own (``Unauthorized``, ...) and the API's
(``InvalidInput``, ``NotFound``, ``Forbidden``, ``Conflict``, ``Quota``, ``Unavailable``,
``Internal``, raised by the resolvers with ``util.error``); messages are for people and never
parsed. ``error_info`` carries the error's ``errorInfo`` (violations, quota and limit ...).
Transport failures that survived the retries become :class:`ConnectionLost`.

::

    TokencastError
    ├── ClientClosed          the client is not open (use ``async with``)
    ├── ConnectionLost        the API or the real-time endpoint could not be reached / kept
    ├── RequestError          AppSync answered with errors (``error_type``, ``error_info``, ``message``, ``errors``)
    │   ├── AuthError         Unauthorized: bad key, token or signature, or not allowed
    │   ├── InvalidRequest    the request broke a rule (InvalidInput, validation, API limits)
    │   ├── SessionNotFound   no such session (or not yours to read)
    │   ├── Forbidden         you may read the session but not do this (cancel by a non-owner)
    │   ├── Conflict          the sessionId is not yours, or names a session of a different request
    │   └── QuotaExceeded     a per-caller quota refused the start (``error_info``: quota, limit, retryAfterSeconds)
    └── StreamFailed          the session ended FAILED; carries the session error and result
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tokencast.core import errors as api
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
    "QuotaExceeded",
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
        self,
        message: str,
        *,
        error_type: str | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
        error_info: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.error_info = error_info
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
    """The request clashes with an existing session: its ``sessionId`` is not the caller's, or
    was used for a different request. Retrying cannot help; use a new session id."""


class QuotaExceeded(RequestError):
    """A per-caller quota refused the start; nothing was stored. See ``error_info``
    (``quota``, ``limit``, ``retryAfterSeconds``)."""


class StreamFailed(TokencastError):
    """The session ended FAILED. ``error`` is the session's reason; ``result`` the whole result."""

    def __init__(self, result: StreamResult) -> None:
        super().__init__(f"session {result.session_id} failed: {result.error or 'no reason given'}")
        self.result = result
        self.session_id = result.session_id
        self.error = result.error


#: errorType sets; the API's own types are read from the server classes that raise them
#: (``tokencast.core.errors``), AppSync's and AWS's are spelled out.
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
    api.EnqueueFailed.error_type,  # the API could not queue the job; nothing was stored
}
_INVALID = {
    "ValidationError",
    "BadRequestException",
    "MalformedHttpRequestException",
    api.InvalidInput.error_type,
    "MalformedMessage",
    "PayloadTooLargeException",
}
_NOT_FOUND = {api.NotFound.error_type, "NotFoundException", "SessionNotFound"}
_FORBIDDEN = {api.CancelForbidden.error_type, "ForbiddenException"}
_CONFLICT = {api.SessionIdConflict.error_type, "ConflictException"}
_QUOTA = {api.QuotaRefused.error_type}


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


def is_transient(error: BaseException) -> bool:
    """Whether retrying the same request may succeed."""
    if isinstance(error, ConnectionLost):
        return True
    return type(error) is RequestError and error.error_type in _TRANSIENT


def error_from_graphql(errors: Sequence[Any], *, session_id: str | None = None) -> RequestError:
    """The exact exception for an AppSync ``errors`` list (HTTP or real-time), by ``errorType``.

    An error without an ``errorType`` and without a ``path`` is AppSync's answer to a request
    that failed validation before anything ran (syntax, unknown fields, variables, the API's
    depth and resolver limits): :class:`InvalidRequest`.
    """
    flat = _flatten(errors)
    first = flat[0] if flat else {}
    error_type = first.get("errorType")
    message = str(first.get("message") or error_type or "request failed")
    kwargs: dict[str, Any] = {"error_type": error_type, "errors": flat, "error_info": first.get("errorInfo")}
    kind: type[RequestError]
    if error_type in _AUTH:
        kind = AuthError
    elif error_type in _INVALID or (error_type is None and "locations" in first and not first.get("path")):
        kind = InvalidRequest
    elif error_type in _NOT_FOUND:
        kind = SessionNotFound
    elif error_type in _FORBIDDEN:
        kind = Forbidden
    elif error_type in _CONFLICT:
        kind = Conflict
    elif error_type in _QUOTA:
        kind = QuotaExceeded
    else:
        kind = RequestError
    if kind is SessionNotFound:
        return SessionNotFound(session_id or "?", message, **kwargs)
    return kind(message, **kwargs)
