"""``Query.getSession``/``getStreamStatus``/``getEvents`` and ``Mutation.cancelStream``.

One AppSync direct Lambda resolver for all four: they share the access rule and the table.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import AppSyncResolver
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tokencast.config import Settings
from tokencast.core.aws import client
from tokencast.core.logs import route_core_logs
from tokencast.core.sessions import SessionService
from tokencast.core.store import SessionStore

logger = Logger(service="tokencast-sessions")
metrics = Metrics(namespace="tokencast", service="tokencast-sessions")
route_core_logs(logger)
app = AppSyncResolver()


@cache
def service() -> SessionService:
    settings = Settings.from_env()
    store = SessionStore(client("dynamodb", settings), settings.table_name, ttl_days=settings.session_ttl_days)
    return SessionService(store=store, events_page_limit=settings.events_page_limit)


def _identity() -> Any:
    return app.current_event.raw_event.get("identity")


@app.resolver(type_name="Query", field_name="getSession")
def get_session(sessionId: str) -> dict[str, Any] | None:
    return service().get(sessionId, _identity())


@app.resolver(type_name="Query", field_name="getStreamStatus")
def get_stream_status(sessionId: str) -> dict[str, Any] | None:
    return service().get(sessionId, _identity())


@app.resolver(type_name="Query", field_name="getEvents")
def get_events(sessionId: str, afterAttempt: int | None = None, afterSeq: int | None = None, limit: int | None = None) -> dict[str, Any]:
    return service().events(sessionId, _identity(), after_attempt=afterAttempt, after_seq=afterSeq, limit=limit)


@app.resolver(type_name="Mutation", field_name="cancelStream")
def cancel_stream(sessionId: str) -> dict[str, Any]:
    session = service().cancel(sessionId, _identity())
    logger.info("cancel requested", extra={"sessionId": sessionId, "status": session["status"]})
    metrics.add_metric(name="CancelsRequested", unit=MetricUnit.Count, value=1)
    return session


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return app.resolve(event, context)
