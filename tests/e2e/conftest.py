"""Fixtures of the end-to-end tests; every test here is marked ``e2e``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.emulator_fixtures import EmulatorServer, serve_emulator
from tokencast.local.appsync.emulator import EmulatorConfig
from tokencast.local.appsync.realtime import RealtimeConfig


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    """The emulator alone (fake functions) with fast keep-alives (50 ms)."""
    async with serve_emulator(EmulatorConfig(realtime=RealtimeConfig(keep_alive_interval_s=0.05))) as server:
        yield server
