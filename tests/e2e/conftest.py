"""Options of the end-to-end suite."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tokencast soak")
    group.addoption("--soak-sessions", type=int, default=8,
                    help="concurrent sessions in the soak test (default 8; the full soak is 50)")
    group.addoption("--soak-seed", type=int, default=20261121,
                    help="seed of the soak test's fault plan (default fixed, so a failure can be replayed)")


@pytest.fixture
def soak_sessions(request: pytest.FixtureRequest) -> int:
    return request.config.getoption("--soak-sessions")


@pytest.fixture
def soak_seed(request: pytest.FixtureRequest) -> int:
    return request.config.getoption("--soak-seed")
