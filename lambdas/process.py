"""The SQS jobs-queue consumer: one :class:`~tokencast.core.worker.Worker` run per record.

Records that settle -- completed, cancelled, skipped as duplicates, or dead-lettered with
their reason -- are acknowledged. Only infrastructure failures become batch item failures:
the worker has already made them visible again after a short backoff, and SQS redelivers
them; the worker itself dead-letters a job interrupted ``max_attempts`` times, and the redrive
policy is only the backstop. Records of a batch run one after another; give the event source
a small batch size.

Metrics (namespace ``tokencast``): job outcomes, ``Retries``, ``EventsPerAnswer``,
``TimeToFirstTokenMs``, ``TokensPerSecond`` -- what cdk/dashboard.py charts.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tokencast.config import Limits, Quotas, Settings
from tokencast.core.aws import client
from tokencast.core.dlq import DeadLetterSender
from tokencast.core.logs import route_core_logs
from tokencast.core.model import BedrockModel
from tokencast.core.publisher import AppSyncPublisher, PublishTransport
from tokencast.core.quotas import QuotaLedger
from tokencast.core.results import Outcome
from tokencast.core.store import SessionStore
from tokencast.core.worker import Worker
from tokencast.metrics import NAMESPACE, PipelineMetric, drop_disabled_metrics, service_name

SERVICE = service_name("process")
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
route_core_logs(logger)


def build_worker(
    settings: Settings | None = None,
    limits: Limits | None = None,
    *,
    wrap_transport: Callable[[PublishTransport], PublishTransport] | None = None,
) -> Worker:
    """The worker from configuration alone; ``wrap_transport`` lets a benchmark observe publishes."""
    settings = settings or Settings.from_env()
    # The worker's heartbeat needs the jobs queue too (through settings).
    _, dead_letter_queue_url, graphql_url = settings.required("jobs_queue_url", "dead_letter_queue_url", "graphql_url")
    sqs = client("sqs", settings)
    publisher = AppSyncPublisher(graphql_url, settings.region, timeout_s=settings.publish_timeout_s)
    publisher.warm()  # open the keep-alive connections now, not on the first token
    dynamodb = client("dynamodb", settings)
    store = SessionStore(dynamodb, settings.table_name, ttl_days=settings.session_ttl_days)
    store.warm()
    transport: PublishTransport = publisher if wrap_transport is None else wrap_transport(publisher)
    return Worker(
        store=store,
        model=BedrockModel(client("bedrock-runtime", settings)),
        transport=transport,
        dead_letters=DeadLetterSender(sqs, dead_letter_queue_url),
        settings=settings,
        limits=limits or Limits.from_env(),
        sqs=sqs,
        quotas=QuotaLedger(dynamodb, settings.table_name, Quotas.from_env()),
    )


@cache
def worker() -> Worker:
    """Built once per cold start."""
    return build_worker()


def init() -> None:
    """Cold-start work, done by the runtime before the first invocation: clients and connections,
    built from this environment's settings (anew when one process hosts a later environment)."""
    worker.cache_clear()
    worker()


def record_handler(record: SQSRecord) -> str:
    try:
        result = worker().process(record.body, record.receipt_handle)
    except Exception:
        logger.exception("job will be redelivered", extra={"messageId": record.message_id})
        metrics.add_metric(name="JobsRedelivered", unit=MetricUnit.Count, value=1)
        raise
    logger.info(
        "job settled",
        extra={
            "messageId": record.message_id,
            "sessionId": result.session_id,
            "outcome": result.outcome.value,
            "attempts": result.attempts,
            "events": result.events,
            "publishes": result.publishes,
        },
    )
    metrics.add_metric(name=f"Jobs{result.outcome.value.title().replace('_', '')}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Attempts", unit=MetricUnit.Count, value=result.attempts)
    metrics.add_metric(name="Publishes", unit=MetricUnit.Count, value=result.publishes)
    metrics.add_metric(name="ModelDeltas", unit=MetricUnit.Count, value=result.deltas)
    metrics.add_metric(name=PipelineMetric.RETRIES, unit=MetricUnit.Count, value=max(0, result.attempts - 1))
    if result.outcome is Outcome.COMPLETED:
        metrics.add_metric(name=PipelineMetric.EVENTS_PER_ANSWER, unit=MetricUnit.Count, value=result.events)
    if result.time_to_first_token_ms is not None:
        metrics.add_metric(
            name=PipelineMetric.TIME_TO_FIRST_TOKEN_MS,
            unit=MetricUnit.Milliseconds,
            value=result.time_to_first_token_ms,
        )
    if result.tokens_per_second is not None:
        metrics.add_metric(
            name=PipelineMetric.TOKENS_PER_SECOND, unit=MetricUnit.CountPerSecond, value=result.tokens_per_second
        )
    return result.outcome.value


@drop_disabled_metrics(metrics)
@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A processor per invocation: it holds the batch's results, and the local stack may run
    # invocations on concurrent threads. Every record failing is still a normal response.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
