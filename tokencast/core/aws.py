"""The boto3 clients the handlers use, configured once.

Endpoints come from the standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables (the local stack
sets them), so nothing here knows whether it runs locally. The region is passed explicitly
because botocore reads ``AWS_DEFAULT_REGION`` but not ``AWS_REGION``.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from tokencast.config import Settings

_DEFAULT = Config(
    connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}, tcp_keepalive=True
)
#: One retry policy for the model: ours (new attempts, announced by RESTARTED), not the SDK's.
_MODEL = Config(
    connect_timeout=5, read_timeout=120, retries={"mode": "standard", "total_max_attempts": 1}, tcp_keepalive=True
)


def client(service: str, settings: Settings, session: boto3.Session | None = None) -> Any:
    config = _MODEL if service == "bedrock-runtime" else _DEFAULT
    # The service name is a runtime value, so boto3-stubs' per-service overloads cannot apply.
    return (session or boto3.Session()).client(service, region_name=settings.region, config=config)  # type: ignore[call-overload]
