"""Run Powertools' AppSync routes with the caller's identity at hand, safely under threads,
and answer in the envelope the APPSYNC_JS resolver in front of every Lambda field reads.

``AppSyncResolver`` keeps the current event on the instance, and the local stack runs
invocations of one function on concurrent threads (as Lambda would in separate
environments). So each invocation gets its own resolver over the module's shared
:class:`Router`, and the identity travels in a context variable the routes read with
:func:`caller`.

The answer is ``{"data": <field value>}`` or, for an :class:`~tokencast.core.errors.ApiError`,
``{"error": {"message", "errorType", "errorInfo"}}``: a direct Lambda resolver's exception
reaches clients as ``Lambda:Unhandled``, so the error travels as data and
graphql/resolvers/invokeLambda.js raises it with ``util.error``. Anything else still raises
(a bug: the function's Errors metric and alarm see it).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools.event_handler import AppSyncResolver
from aws_lambda_powertools.event_handler.graphql_appsync.router import Router

from tokencast.core.errors import ApiError

_CALLER: ContextVar[Mapping[str, Any] | None] = ContextVar("tokencast_caller", default=None)


def caller() -> Mapping[str, Any] | None:
    """AppSync's ``identity`` of the invocation being resolved (None for API-key callers)."""
    return _CALLER.get()


def resolve(router: Router, event: dict[str, Any], context: Any) -> dict[str, Any]:
    app = AppSyncResolver()
    app.include_router(router)
    token = _CALLER.set(event.get("identity"))
    try:
        return {"data": app.resolve(event, context)}
    except ApiError as error:
        return {"error": error.to_graphql()}
    finally:
        _CALLER.reset(token)
