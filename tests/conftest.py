"""Session-wide fixtures: the real local stack, started once and shared by e2e tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/e2e: pytest reads options only from the root conftest at startup,
    # so `pytest --soak-sessions 50` works from the repository root.
    group = parser.getgroup("tokencast soak")
    group.addoption(
        "--soak-sessions",
        type=int,
        default=8,
        help="concurrent sessions in the soak test (default 8; the full soak is 50)",
    )
    group.addoption(
        "--soak-seed",
        type=int,
        default=20261121,
        help="seed of the soak test's fault plan (default fixed, so a failure can be replayed)",
    )


@pytest.fixture
def soak_sessions(request: pytest.FixtureRequest) -> int:
    return request.config.getoption("--soak-sessions")


@pytest.fixture
def soak_seed(request: pytest.FixtureRequest) -> int:
    return request.config.getoption("--soak-seed")


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory):
    """The whole pipeline (emulator, moto, local model, SQS poller) on ephemeral ports.

    Fast model pacing keeps the suite quick; tests that need other pacing or faults use the
    model's fault rules, which match on a marker in the prompt so tests do not interfere.
    """
    from tokencast.config import Quotas, Settings
    from tokencast.local.bedrock.config import LocalBedrockConfig
    from tokencast.local.stack import BackgroundStack, StackConfig

    stack = BackgroundStack(
        StackConfig(
            port=0,
            moto_port=0,
            tls_port=0,  # HTTPS/WSS too, as `tokencast up` serves it (Amplify v6 dials wss:// only)
            tls_dir=tmp_path_factory.mktemp("tls"),
            prefix="tokencast-test",
            keep_alive_interval_s=5.0,
            # Execution environments are processes, so crash tests can kill one mid-stream.
            worker_isolation="process",
            log_level="WARNING",
            model_config=LocalBedrockConfig(first_token_delay_s=0.01, tokens_per_second=1000.0),
            settings={
                **Settings(
                    retry_base_delay_ms=20,
                    retry_max_delay_ms=200,
                    flush_window_ms=20,
                    # A dead worker's job comes back within 5 s; the heartbeat renews a live one's
                    # every 1.7 s, so a worker starved of CPU for over 3 s on a loaded machine is
                    # still not mistaken for a dead one (3 s was, once, in a full run).
                    visibility_timeout_s=5,
                ).to_env(exclude_unset=True),
                # The suite starts many sessions as few callers; quotas get their own stack
                # (tests/e2e/test_quotas.py).
                **Quotas(max_active_sessions=None, max_starts_per_minute=None).to_env(exclude_unset=True),
            },
        )
    )
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def js_client() -> Path:
    """clients/js built with tsc (incremental), for Node tests that import @tokencast/client.

    Skips with a reason where Node or node_modules is missing; `make test` installs both, so
    CI always runs these tests.
    """
    if shutil.which("node") is None or not (ROOT / "node_modules" / "typescript").is_dir():
        pytest.skip("Node and node_modules are needed: run `make setup`")
    done = subprocess.run(
        ["npm", "run", "build", "--workspace", "clients/js", "--silent"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return ROOT / "clients" / "js"
