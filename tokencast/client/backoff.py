"""Exponential backoff with jitter, as a value: ``Backoff().delay(n)`` for the n-th retry.

Retry *loops* are tenacity's (:func:`retrying`); this is the wait policy they use, kept as a
value so a stream's resubscribe schedule and a request's retry schedule are one kind of thing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt


@dataclass
class Backoff:
    """``delay(n)`` is uniform in ``[c * (1 - jitter), c]`` with ``c = min(max_s, base_s * factor**n)``.

    ``jitter=1`` is "full jitter"; the default 0.5 keeps a floor so a retry storm after a
    shared connection drops spreads out without anyone retrying at once.
    """

    base_s: float = 0.2
    factor: float = 2.0
    max_s: float = 5.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.max_s < 0 or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(f"invalid backoff {self!r}")

    def ceiling(self, retry: int) -> float:
        return min(self.max_s, self.base_s * self.factor ** max(retry, 0))

    def delay(self, retry: int) -> float:
        ceiling = self.ceiling(retry)
        return ceiling * (1 - self.jitter) + self.rng.random() * ceiling * self.jitter

    def __call__(self, retry_state: RetryCallState) -> float:
        """tenacity's wait protocol: the delay before retry number ``attempt_number``."""
        return self.delay(retry_state.attempt_number - 1)


def retrying(
    *,
    attempts: int,
    backoff: Backoff,
    retry_on: Callable[[BaseException], bool],
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """``async for attempt in retrying(...): with attempt: ...`` — at most ``attempts`` tries,
    waiting ``backoff`` between them, retrying only what ``retry_on`` accepts; the last
    failure is re-raised as itself."""
    return AsyncRetrying(
        stop=stop_after_attempt(max(attempts, 1)),
        wait=backoff,
        retry=retry_if_exception(retry_on),
        before_sleep=before_sleep,
        reraise=True,
    )
