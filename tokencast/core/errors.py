"""Named failures, and the one rule that says which model failures are worth retrying.

Two families live here. Client errors (:class:`ApiError` and its subclasses) are raised
by resolvers and reach clients as GraphQL errors with a stable ``errorType`` and
``errorInfo``; each message names the field and the rule. Their class names say what the
server refused (:class:`CancelForbidden`, :class:`SessionIdConflict`, :class:`QuotaRefused`) and
differ from the client SDK's exceptions (``tokencast.client.Forbidden``, ``Conflict``,
``QuotaExceeded``), which stand for the ``errorType`` a caller receives: both share
:class:`TokencastError`, so one name must not mean two classes.
Job errors (:class:`TransientError`, :class:`PermanentError`) are what the worker decides on:
retry as a new attempt, or fail the session and dead-letter the job. :func:`classify` maps a
model-call exception to one of them; errors from our own infrastructure (DynamoDB, SQS) are
deliberately *not* classified so they reach SQS as a batch item failure and get redelivered.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)


class TokencastError(Exception):
    """Base of every error this package raises on purpose."""


# --- client-facing ------------------------------------------------------------------------


class ApiError(TokencastError):
    """An error a GraphQL client sees, with a stable ``errorType`` and structured ``errorInfo``.

    Resolver handlers return it as ``{"error": {"message", "errorType", "errorInfo"}}``
    (:meth:`to_graphql`); the APPSYNC_JS resolver in front of every Lambda field
    (graphql/resolvers/invokeLambda.js, and its Python twin in the emulator) raises it with
    ``util.error``, so clients branch on ``errorType`` and never parse messages.
    """

    error_type = "Internal"

    def __init__(self, message: str, *, info: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.info = info

    def error_info(self) -> dict[str, Any] | None:
        return self.info

    def to_graphql(self) -> dict[str, Any]:
        return {"message": self.message, "errorType": self.error_type, "errorInfo": self.error_info()}

    @staticmethod
    def from_graphql(error: dict[str, Any]) -> ApiError:
        """The exception an ``{"message", "errorType", "errorInfo"}`` answer stands for."""
        kinds = {cls.error_type: cls for cls in _API_ERRORS}
        return kinds.get(error.get("errorType") or "", ApiError)(error["message"], info=error.get("errorInfo"))


class InvalidInput(ApiError):
    """Bad arguments. The message is ``<field path>: <rule>``, several joined by ``; ``.

    ``errorInfo.violations`` lists the same as ``[{"field", "rule"}]``.
    """

    error_type = "InvalidInput"

    def error_info(self) -> dict[str, Any] | None:
        if self.info is not None:
            return self.info
        violations = []
        for part in self.message.split("; "):
            field, sep, rule = part.partition(": ")
            violations.append({"field": field, "rule": rule} if sep else {"field": None, "rule": part})
        return {"violations": violations}


class NotFound(ApiError):
    """No such session -- also what a caller who may not read a private session is told."""

    error_type = "NotFound"


class CancelForbidden(ApiError):
    """The caller may see the session but not do this to it (cancel by a non-owner)."""

    error_type = "Forbidden"


class SessionIdConflict(ApiError):
    """The request cannot be applied as asked: a client-chosen ``sessionId`` that is not the
    caller's (the message never says whether, or by whom, the id is used), or one the caller
    already used for a different request. Retrying the same call cannot succeed."""

    error_type = "Conflict"


class QuotaRefused(ApiError):
    """A per-owner quota refuses the start; nothing was stored or queued.

    ``errorInfo``: ``{"quota": <setting>, "limit": n, "retryAfterSeconds": s}`` (``s`` is null
    for active sessions: that depends on when one of them ends).
    """

    error_type = "Quota"


class EnqueueFailed(ApiError):
    """The job could not be queued; the session was removed again, so nothing is left behind."""

    error_type = "Unavailable"


_API_ERRORS: tuple[type[ApiError], ...] = (
    InvalidInput,
    NotFound,
    CancelForbidden,
    SessionIdConflict,
    QuotaRefused,
    EnqueueFailed,
    ApiError,
)


# --- worker-side control flow ---------------------------------------------------------------


class Fenced(TokencastError):
    """This worker's attempt is no longer the session's current one: stop, publish nothing."""


class CancelRequested(TokencastError):
    """The owner asked to cancel: close the model, store and publish CANCELLED."""


class SessionGone(TokencastError):
    """The session record disappeared (TTL, manual delete) while a job was in flight."""


# --- job errors ---------------------------------------------------------------------------------


class JobError(TokencastError):
    """A failure of one processing attempt, with a reason a person can read."""

    transient: bool = False

    def __init__(self, reason: str, error_type: str):
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


class TransientError(JobError):
    """Worth another attempt (throttling, 5xx, timeouts, publish failures)."""

    transient = True


class PermanentError(JobError):
    """Will fail the same way again (validation, access, unknown model, malformed job)."""


class MalformedJob(PermanentError):
    """The queue message is not a job this version understands."""

    def __init__(self, reason: str, error_type: str = "MalformedJob", session_id: str | None = None):
        super().__init__(reason, error_type)
        self.session_id = session_id


class PublishFailed(TransientError):
    """AppSync refused or did not answer ``publishToken``, even after quick retries."""

    def __init__(self, reason: str):
        super().__init__(reason, "PublishFailed")


_THROTTLING = {"throttlingexception", "toomanyrequestsexception", "toomanyrequests", "throttling"}
_UNAVAILABLE = {
    "internalserverexception",
    "serviceunavailableexception",
    "modelstreamerrorexception",
    "modelnotreadyexception",
    "internalfailure",
    "serviceunavailable",
}
_TIMEOUT = {"modeltimeoutexception", "requesttimeout", "requesttimeoutexception"}
_PERMANENT = {
    "validationexception": "model rejected the request",
    "accessdeniedexception": "access to the model denied",
    "resourcenotfoundexception": "model not found",
    "unrecognizedclientexception": "model credentials rejected",
}
_MAX_DETAIL = 200


def classify(exc: BaseException) -> JobError:
    """Map an exception from the model call or its stream to a transient or permanent error.

    Unknown failures of the model call are treated as transient: the attempt budget bounds
    them, and the dead-letter queue keeps the job if they persist.
    """
    if isinstance(exc, JobError):
        return exc
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return TransientError("model timed out", type(exc).__name__)
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ResponseStreamingError)):
        return TransientError("model connection failed", type(exc).__name__)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        key = code.lower()
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if key in _THROTTLING or status == 429:
            return TransientError("model throttled", code)
        if key in _TIMEOUT:
            return TransientError("model timed out", code)
        if key in _UNAVAILABLE or status >= 500:
            return TransientError(f"model unavailable ({code})", code)
        if key in _PERMANENT:
            # Bedrock's messages end with a full stop; ours append "; ..." after the reason.
            detail = str(error.get("Message") or "")[:_MAX_DETAIL].rstrip(". ")
            reason = _PERMANENT[key] + (f": {detail}" if detail else "")
            return PermanentError(reason, code)
        return TransientError(f"model error ({code})", code)
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return TransientError("model connection failed", type(exc).__name__)
    return TransientError(f"model stream failed ({type(exc).__name__})", type(exc).__name__)
