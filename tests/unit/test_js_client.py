"""The TypeScript client's own suite (Node's test runner): the shared assembler vectors and
the stream driver against a fake API. Run from here so `make test` (and CI) always runs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_typescript_client_suite_passes():
    if shutil.which("npm") is None or not (ROOT / "node_modules" / "typescript").is_dir():
        pytest.skip("Node and node_modules are needed for the TypeScript client's tests: run `make setup`")
    done = subprocess.run(
        ["npm", "test", "--workspace", "clients/js", "--silent"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "# fail 0" in done.stdout
