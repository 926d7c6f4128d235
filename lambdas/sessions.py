"""``Query.getSession``/``getStreamStatus``/``getEvents``/``listSessions`` and ``Mutation.cancelStream``.

One AppSync direct Lambda resolver for all five: they share the access rule and the table.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.graphql_appsync.router import Router
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tokencast.config import Settings
from tokencast.core.appsync_routes import caller, resolve
from tokencast.core.aws import client
from tokencast.core.logs import route_core_logs
from tokencast.core.sessions import SessionService
from tokencast.core.store import SessionStore
from tokencast.metrics import NAMESPACE, drop_disabled_metrics, service_name

SERVICE = service_name("sessions")
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
route_core_logs(logger)
router = Router()


@cache
def service() -> SessionService:
    settings = Settings.from_env()
    store = SessionStore(client("dynamodb", settings), settings.table_name, ttl_days=settings.session_ttl_days)
    return SessionService(
        store=store,
        events_page_limit=settings.events_page_limit,
        sessions_page_limit=settings.sessions_page_limit,
    )


def init() -> None:
    """Cold-start work, done by the runtime before the first invocation: clients and connections,
    built from this environment's settings (anew when one process hosts a later environment)."""
    service.cache_clear()
    service()


@router.resolver(type_name="Query", field_name="getSession")
def get_session(sessionId: str) -> dict[str, Any] | None:
    metrics.add_metric(name="SessionReads", unit=MetricUnit.Count, value=1)
    return service().get(sessionId, caller())


@router.resolver(type_name="Query", field_name="getStreamStatus")
def get_stream_status(sessionId: str) -> dict[str, Any] | None:
    metrics.add_metric(name="SessionReads", unit=MetricUnit.Count, value=1)
    return service().get(sessionId, caller())


@router.resolver(type_name="Query", field_name="getEvents")
def get_events(
    sessionId: str, afterAttempt: int | None = None, afterSeq: int | None = None, limit: int | None = None
) -> dict[str, Any]:
    metrics.add_metric(name="EventPages", unit=MetricUnit.Count, value=1)
    return service().events(sessionId, caller(), after_attempt=afterAttempt, after_seq=afterSeq, limit=limit)


@router.resolver(type_name="Query", field_name="listSessions")
def list_sessions(limit: int | None = None, nextToken: str | None = None) -> dict[str, Any]:
    metrics.add_metric(name="SessionLists", unit=MetricUnit.Count, value=1)
    return service().list(caller(), limit=limit, next_token=nextToken)


@router.resolver(type_name="Mutation", field_name="cancelStream")
def cancel_stream(sessionId: str) -> dict[str, Any]:
    metrics.add_metric(name="CancelsRequested", unit=MetricUnit.Count, value=1)
    session = service().cancel(sessionId, caller())
    logger.info("cancel requested", extra={"sessionId": sessionId, "status": session["status"]})
    return session


@drop_disabled_metrics(metrics)
@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return resolve(router, event, context)
