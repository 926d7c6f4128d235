"""``Mutation.startStream`` (AppSync direct Lambda resolver).

Dependencies are built once per cold start from ``TOKENCAST_*`` settings and the standard
boto3 clients; the same code runs in the cloud and against the local stack.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.graphql_appsync.router import Router
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from tokencast.config import Limits, Quotas, Settings
from tokencast.core.appsync_routes import caller, resolve
from tokencast.core.aws import client
from tokencast.core.errors import EnqueueFailed, InvalidInput, QuotaRefused
from tokencast.core.logs import route_core_logs
from tokencast.core.quotas import QuotaLedger
from tokencast.core.start import StartService
from tokencast.core.store import SessionStore
from tokencast.metrics import NAMESPACE, drop_disabled_metrics, service_name

SERVICE = service_name("start")
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
route_core_logs(logger)
router = Router()


@cache
def service() -> StartService:
    settings = Settings.from_env()
    (jobs_queue_url,) = settings.required("jobs_queue_url")
    dynamodb = client("dynamodb", settings)
    store = SessionStore(dynamodb, settings.table_name, ttl_days=settings.session_ttl_days)
    return StartService(
        store=store,
        sqs=client("sqs", settings),
        jobs_queue_url=jobs_queue_url,
        limits=Limits.from_env(),
        quotas=QuotaLedger(dynamodb, settings.table_name, Quotas.from_env()),
    )


def init() -> None:
    """Cold-start work, done by the runtime before the first invocation: clients and connections,
    built from this environment's settings (anew when one process hosts a later environment)."""
    service.cache_clear()
    service()


@router.resolver(type_name="Mutation", field_name="startStream")
def start_stream(prompt: str | None = None, input: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        session = service().start({"prompt": prompt, "input": input}, caller())
    except InvalidInput:
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        raise
    except QuotaRefused as refused:
        metrics.add_metric(name="QuotaRefusals", unit=MetricUnit.Count, value=1)
        logger.info("start refused by quota", extra={"quota": (refused.info or {}).get("quota")})
        raise
    except EnqueueFailed:
        metrics.add_metric(name="EnqueueFailures", unit=MetricUnit.Count, value=1)
        raise
    logger.info("session started", extra={"sessionId": session["sessionId"], "status": session["status"]})
    metrics.add_metric(name="SessionsStarted", unit=MetricUnit.Count, value=1)
    return session


@drop_disabled_metrics(metrics)
@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return resolve(router, event, context)
