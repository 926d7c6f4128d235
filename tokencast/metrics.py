"""Where the Lambda handlers' metrics land, named once for the handlers and for cdk/.

Powertools writes them as EMF under :data:`NAMESPACE` with a ``service`` dimension
(:func:`service_name`); cdk/ gives each function the same namespace and service name in its
environment and charts :class:`PipelineMetric` on the dashboard, so a renamed metric cannot
leave an empty chart behind.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

Handler = TypeVar("Handler", bound=Callable[[Any, Any], Any])

NAMESPACE = "tokencast"


def quiet_empty_invocations() -> None:
    """Many invocations count nothing, by design (a sessions query, a start refused as a
    conflict), and Powertools warns about each one: in Lambda, a log line per request. An
    invocation that should have counted something is caught by the tests of its metric."""
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


quiet_empty_invocations()  # every handler imports this module


def service_name(function: str) -> str:
    """The ``service`` of a declared function (``start``, ``sessions``, ``process``)."""
    return f"tokencast-{function}"


class PipelineMetric(StrEnum):
    """What lambdas/process.py emits per settled job and the dashboard charts."""

    #: enqueue to the model's first token
    TIME_TO_FIRST_TOKEN_MS = "TimeToFirstTokenMs"
    TOKENS_PER_SECOND = "TokensPerSecond"
    EVENTS_PER_ANSWER = "EventsPerAnswer"
    RETRIES = "Retries"


def drop_disabled_metrics(metrics: Metrics) -> Callable[[Handler], Handler]:
    """Outermost handler decorator: with metrics disabled, drop what the invocation buffered.

    Powertools' ``log_metrics`` keeps the buffer when ``POWERTOOLS_METRICS_DISABLED`` is set
    (the local stack and the tests set it), and ``add_metric`` prints the whole buffer as EMF
    once a metric holds 100 values -- so every hundredth answer printed a JSON line into
    ``tokencast up``'s terminal, and the buffer grew until then.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(event: Any, context: Any) -> Any:
            try:
                return handler(event, context)
            finally:
                if is_metrics_disabled():
                    metrics.clear_metrics()

        return cast(Handler, run)

    return decorate
