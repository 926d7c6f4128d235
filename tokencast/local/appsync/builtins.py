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
    The owner always receives; signed-in callers also receive SHARED sessions' events.
    """
    session_id = ctx.arguments["sessionId"]
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
