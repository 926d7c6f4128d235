"""Where the Lambda handlers' metrics land, named once for the handlers and for cdk/.

Powertools writes them as EMF under :data:`NAMESPACE` with a ``service`` dimension
(:func:`service_name`); cdk/ gives each function the same namespace and service name in its
environment and charts :class:`PipelineMetric` on the dashboard, so a renamed metric cannot
leave an empty chart behind.
"""

from __future__ import annotations

from enum import StrEnum

NAMESPACE = "tokencast"


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
