"""Route the core's standard-library logs through a handler's Powertools Logger.

Core modules log with ``logging.getLogger(__name__)`` like any library, so they carry no
Lambda assumptions. A handler calls :func:`route_core_logs` once so those records come out
as the same structured JSON, with the Lambda context keys. Only ``tokencast.core`` is
touched: other ``tokencast.*`` loggers (the local stack's) keep their own configuration.
Nothing here ever logs prompts, token text or credentials -- only ids, counts and error types.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger

CORE_LOGGER = "tokencast.core"


def route_core_logs(source: Logger) -> None:
    core = logging.getLogger(CORE_LOGGER)
    core.handlers = list(source.handlers)
    core.setLevel(source.log_level)
    core.propagate = False  # the Lambda runtime's root handler would print every line twice
