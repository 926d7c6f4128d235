"""Ask the model while the worker takes its attempt, so the first token comes sooner.

Taking an attempt (read the session, then a conditional update) costs two DynamoDB round
trips, and the model's first token takes longer still; neither needs the other. So the first
attempt's model request goes out on a helper thread while the attempt is taken. Only the
request goes early: nothing is stored or published before the attempt is the worker's, so
fencing, ordering and stored-before-published are unchanged. When no attempt runs (cancelled
while queued, a duplicate delivery, a job out of attempts) the stream is closed unread: a rare
request, billed for its input and the few tokens produced before the close.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, Future

from tokencast.core.jobs import Job
from tokencast.core.model import ModelAdapter, ModelStream

logger = logging.getLogger(__name__)


class EarlyStream:
    """A model stream requested ahead of its attempt: :meth:`take` it, or :meth:`discard` it."""

    def __init__(self, opening: Future[ModelStream]) -> None:
        self._opening = opening
        self._taken = False

    @classmethod
    def request(cls, model: ModelAdapter, job: Job, executor: Executor) -> EarlyStream:
        return cls(executor.submit(model.stream, job))

    def take(self) -> ModelStream:
        """The stream, once open; raises what opening it raised (the attempt classifies it)."""
        self._taken = True
        return self._opening.result()

    def discard(self) -> None:
        """Close the stream unread, now or once it opens, unless an attempt took it."""
        if not self._taken:
            self._taken = True
            self._opening.add_done_callback(_close_unread)


def _close_unread(opening: Future[ModelStream]) -> None:
    if opening.cancelled() or opening.exception() is not None:
        return
    try:
        opening.result().close()
    except Exception as exc:  # nothing was read from it; closing is a courtesy to the model
        logger.warning("could not close an unused model stream", extra={"error": type(exc).__name__})
