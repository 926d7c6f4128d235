"""``bench/pipeline.py`` at the smallest sizes: the benchmark itself keeps working.

The benchmark drives internals of the local stack (its loop thread, the process function's
environment, the model's emit record); a refactor that breaks it would otherwise go unseen
until someone runs ``make bench``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "pipeline.py"
SMALLEST = [
    *("--rates", "500", "--strategies", "coalesced,per-token", "--answers", "1", "--tokens", "20"),
    *("--subscribers", "1", "--ttft-answers", "1", "--fanout", "1x2", "--fanout-tokens", "10"),
    *("--concurrent", "2", "--concurrent-tokens", "10", "--profiles", "local", "--workers", "2"),
]


def test_the_pipeline_benchmark_runs_and_every_subscriber_gets_the_exact_text(tmp_path):
    done = subprocess.run(
        [sys.executable, str(BENCH), *SMALLEST, "--json", str(tmp_path / "bench.json")],
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = done.stdout
    for heading in ("### local", "### Time to first token", "### Fan-out and concurrency", "### Cost per 1,000"):
        assert heading in report
    exact = re.findall(r"\| (\d+)/(\d+) \|", report)
    assert len(exact) == 4, report  # two strategies, fan-out, concurrency
    assert all(got == of for got, of in exact), report
    assert (tmp_path / "bench.json").stat().st_size > 0
