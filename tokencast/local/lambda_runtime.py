"""Run a Lambda handler in this process the way the Lambda runtime would.

The emulator's Lambda data sources and the SQS poller both invoke handlers by their
``module.function`` path (the same string the CDK app deploys), with a context object that
carries what Powertools reads. Handlers are synchronous, so calls run on worker threads and
never block the event loop.
"""

from __future__ import annotations

import asyncio
import importlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

ACCOUNT_ID = "000000000000"


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that libraries rely on."""

    function_name: str
    timeout_s: float
    region: str = "us-east-1"
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LambdaInvocationError(Exception):
    """A handler raised: carries Lambda's ``errorType``/``errorMessage`` pair."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.error_message = message


class LocalFunction:
    """One deployed function: a handler path, a name, a timeout and a concurrency limit."""

    def __init__(self, name: str, handler: str, *, timeout_s: float = 30.0, concurrency: int = 8, region: str = "us-east-1"):
        self.name = name
        self.handler_path = handler
        self.timeout_s = timeout_s
        self.region = region
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"lambda-{name}")
        self._handler: Callable[[Any, Any], Any] | None = None

    def _load(self) -> Callable[[Any, Any], Any]:
        # Imported on first use, like a cold start, so environment set by the stack applies.
        if self._handler is None:
            module_name, _, attribute = self.handler_path.rpartition(".")
            self._handler = getattr(importlib.import_module(module_name), attribute)
        return self._handler

    def invoke_sync(self, event: Any) -> Any:
        context = LambdaContext(function_name=self.name, timeout_s=self.timeout_s, region=self.region)
        try:
            return self._load()(event, context)
        except Exception as error:  # the runtime reports any exception as the invocation's error
            raise LambdaInvocationError(type(error).__name__, str(error)) from error

    async def invoke(self, event: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.invoke_sync, event)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
