"""Python twins of the APPSYNC_JS resolvers that run on NONE data sources in the cloud.

graphql/resolvers.json names a ``builtin`` for each NONE resolver; the emulator runs the
function of that name here. tests/infra execute the JS files under Node with a shim of
``@aws-appsync/utils`` and prove they return the same results for the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tokencast.access import ANONYMOUS, is_signed_in, principal_of
from tokencast.core.start_request import MAX_SESSION_ID_CHARS
from tokencast.events import Visibility


@dataclass(frozen=True)
class ResolverContext:
    """The part of AppSync's ``ctx`` that NONE resolvers here read."""

    arguments: Mapping[str, Any]
    identity: Mapping[str, Any] | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def iso_now(ctx: ResolverContext) -> str:
    """``util.time.nowISO8601()``: UTC, millisecond precision, ``Z`` suffix."""
    return ctx.now().astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def publish_passthrough(ctx: ResolverContext) -> dict[str, Any]:
    """``publishToken``: echo the event so AppSync fans it out; stamp a timestamp if absent."""
    event = dict(ctx.arguments)
    if not event.get("timestamp"):
        event["timestamp"] = iso_now(ctx)
    return event


def session_access_filter(ctx: ResolverContext) -> dict[str, Any]:
    """``onTokenReceived``: the enhanced subscription filter enforcing :mod:`tokencast.access`.

    Returns AppSync's filter JSON (what ``util.transform.toSubscriptionFilter`` produces and
    ``extensions.setSubscriptionFilter`` takes): groups are ORed, filters in a group ANDed.
    The owner always receives; signed-in callers also receive SHARED sessions' events. A
    sessionId no session can have is refused with an ``InvalidInput`` error.
    """
    session_id = ctx.arguments["sessionId"]
    if not 0 < len(session_id) <= MAX_SESSION_ID_CHARS:
        rule = f"must be 1 to {MAX_SESSION_ID_CHARS} characters"
        raise UtilError(
            f"sessionId: {rule}", "InvalidInput", None, {"violations": [{"field": "sessionId", "rule": rule}]}
        )
    principal = principal_of(ctx.identity)
    same_session = {"fieldName": "sessionId", "operator": "eq", "value": session_id}
    groups = [{"filters": [same_session, {"fieldName": "owner", "operator": "eq", "value": principal}]}]
    if principal != ANONYMOUS and is_signed_in(ctx.identity):
        groups.append(
            {"filters": [same_session, {"fieldName": "visibility", "operator": "eq", "value": Visibility.SHARED.value}]}
        )
    return {"filterGroup": groups}


BUILTINS: dict[str, Callable[[ResolverContext], Any]] = {
    "publish_passthrough": publish_passthrough,
    "session_access_filter": session_access_filter,
}


# -- resolvers on Lambda data sources: a request and a response handler around the invoke --------


class UtilError(Exception):
    """``util.error(message, errorType, data, errorInfo)``: a typed GraphQL error for the field."""

    def __init__(self, message: str, error_type: str | None, data: Any = None, error_info: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.data = data
        self.error_info = error_info


def invoke_lambda_request(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """``invokeLambda.js`` request: the direct-resolver event, built from AppSync's ``ctx``."""
    return {
        "operation": "Invoke",
        "payload": {
            "arguments": ctx.get("args"),
            "identity": ctx.get("identity"),
            "source": ctx.get("source"),
            "request": ctx.get("request"),
            "info": ctx.get("info"),
            "prev": ctx.get("prev"),
            "stash": ctx.get("stash"),
        },
    }


def invoke_lambda_response(ctx: Mapping[str, Any]) -> Any:
    """``invokeLambda.js`` response: ``{data}`` → the value; ``{error}`` or a crash → :class:`UtilError`."""
    if ctx.get("error"):
        raise UtilError(
            f"{ctx['info']['fieldName']}: the request failed unexpectedly; try again",
            "Internal",
            None,
            {"cause": ctx["error"].get("type")},
        )
    answer = ctx.get("result")
    if answer and answer.get("error"):
        error = answer["error"]
        raise UtilError(error.get("message"), error.get("errorType"), None, error.get("errorInfo"))
    return answer.get("data") if answer else None


@dataclass(frozen=True)
class LambdaTwin:
    request: Callable[[Mapping[str, Any]], dict[str, Any]]
    response: Callable[[Mapping[str, Any]], Any]


#: Twins of the APPSYNC_JS code of resolvers on Lambda data sources, by ``builtin`` name.
LAMBDA_BUILTINS: dict[str, LambdaTwin] = {
    "invoke_lambda": LambdaTwin(invoke_lambda_request, invoke_lambda_response),
}
