"""The TypeScript client's own suite (Node's test runner): the shared assembler vectors and
the stream driver against a fake API. Run from here so `make test` (and CI) always runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path


def test_typescript_client_suite_passes(js_client: Path):
    done = subprocess.run(
        ["node", "--test", "--test-force-exit", "--test-timeout=20000", "test/"],
        cwd=js_client,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "# fail 0" in done.stdout
