"""What the benchmarks measure, computed one way for all of them: token delays and percentiles.

``bench/pipeline.py`` and ``bench/publish.py`` import these, so "delay p99" means the same
thing in both tables. Times are seconds on one clock (the caller's choice), texts are the
deltas in the order they were emitted or received.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: One timed piece of text: ``(at, text)``.
Timed = tuple[float, str]


def token_delays(emitted: Sequence[Timed], received: Sequence[Timed]) -> list[float]:
    """For each emitted token: when the subscriber had all of its characters, minus its emit time.

    ``received`` is what one subscriber got, in order; its text must be the emitted text (a
    subscriber that lost or garbled text has no delay to speak of).
    """
    received_text = "".join(text for _, text in received)
    assert received_text == "".join(text for _, text in emitted), "subscriber text differs from the model output"
    delays: list[float] = []
    offset = index = covered = 0
    for emitted_at, token in emitted:
        offset += len(token)
        while covered < offset:
            covered += len(received[index][1])
            index += 1
        delays.append(received[index - 1][0] - emitted_at)
    return delays


def pct(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile by nearest rank (a value that occurred); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def ms(value: float) -> str:
    """Seconds as whole milliseconds for a table cell; a dash for NaN (nothing measured)."""
    return "—" if math.isnan(value) else f"{1000 * value:.0f} ms"
