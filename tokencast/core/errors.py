"""Named failures, and the one rule that says which model failures are worth retrying.

Two families live here. Client errors (:class:`InvalidInput`, :class:`NotFound`,
:class:`Forbidden`, :class:`Conflict`, :class:`EnqueueFailed`) are raised by resolvers; AppSync turns them into
GraphQL errors whose message is ours, so each message names the field and the rule.
Job errors (:class:`TransientError`, :class:`PermanentError`) are what the worker decides on:
retry as a new attempt, or fail the session and dead-letter the job. :func:`classify` maps a
model-call exception to one of them; errors from our own infrastructure (DynamoDB, SQS) are
deliberately *not* classified so they reach SQS as a batch item failure and get redelivered.
"""

from __future__ import annotations

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


class InvalidInput(TokencastError):
    """Bad arguments. The message is ``<field path>: <rule>``, several joined by ``; ``."""


class NotFound(TokencastError):
    """No such session -- also what a caller who may not read a private session is told."""


class Forbidden(TokencastError):
    """The caller may see the session but not do this to it (cancel by a non-owner)."""


class Conflict(TokencastError):
    """The request cannot be applied as asked: a client-chosen ``sessionId`` that is not the
    caller's (the message never says whether, or by whom, the id is used), or one the caller
    already used for a different request. Retrying the same call cannot succeed."""

    error_type = "Conflict"


class EnqueueFailed(TokencastError):
    """The job could not be queued; the session was removed again, so nothing is left behind."""


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
