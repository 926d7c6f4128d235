"""Exponential backoff with jitter, as a value: ``Backoff().delay(n)`` for the n-th retry."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


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
