"""Keep a streaming job's SQS message invisible, and no longer than needed.

The queue's own visibility timeout must cover a whole Lambda run, which would make a crashed
worker's job wait that long to come back. The heartbeat sets the message's visibility to
``visibility_timeout_s`` at once and every third of it, so a job whose worker died reappears
within about that time while a healthy long stream never does.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)


class VisibilityHeartbeat:
    """A daemon thread extending one message's visibility until :meth:`stop`."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        receipt_handle: str,
        *,
        visibility_timeout_s: int,
        interval_s: float | None = None,
    ):
        self._sqs = sqs
        self._queue_url = queue_url
        self._receipt_handle = receipt_handle
        self._timeout = visibility_timeout_s
        self._interval = interval_s if interval_s is not None else max(visibility_timeout_s / 3, 1.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tokencast-heartbeat", daemon=True)
        self.extensions = 0

    def _extend(self) -> None:
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url, ReceiptHandle=self._receipt_handle, VisibilityTimeout=self._timeout
            )
            self.extensions += 1
        except Exception as exc:  # the job goes on; at worst it is redelivered and fenced
            logger.warning("visibility heartbeat failed", extra={"error": type(exc).__name__})

    def _run(self) -> None:
        self._extend()
        while not self._stop.wait(self._interval):
            self._extend()

    def start(self) -> VisibilityHeartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> VisibilityHeartbeat:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
