"""A ``LocalStack.start()`` that fails midway undoes itself: no moto (child process or
thread) left running, ``os.environ`` as it was, every socket closed, no threads left over.

The failure is real: the TLS port, the last one the stack binds (after moto is up, the
environment set and the HTTP server listening), is held by the test.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from tokencast.local import moto_process
from tokencast.local.ports import PortInUse
from tokencast.local.stack import BackgroundStack, StackConfig

pytestmark = pytest.mark.e2e


@pytest.fixture
def held_port() -> Iterator[int]:
    """A listening socket on an ephemeral port, held for the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def can_listen_on(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize("moto_isolation", ["process", "thread"])
def test_a_failed_start_leaves_nothing_behind(
    moto_isolation: Literal["process", "thread"],
    held_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    children: list[subprocess.Popen[Any]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
        child = real_popen(*args, **kwargs)
        children.append(child)
        return child

    monkeypatch.setattr(moto_process.subprocess, "Popen", recording_popen)
    main_port, moto_port = free_port(), free_port()
    environ_before = dict(os.environ)
    threads_before = set(threading.enumerate())
    stack = BackgroundStack(
        StackConfig(
            port=main_port,
            moto_port=moto_port,
            tls_port=held_port,
            tls_dir=tmp_path / "tls",
            prefix="tokencast-lifecycle",
            moto_isolation=moto_isolation,
            log_level="WARNING",
        )
    )

    with pytest.raises(PortInUse) as refused:
        stack.start()

    assert (refused.value.role, refused.value.port) == ("tls", held_port)
    assert dict(os.environ) == environ_before
    assert can_listen_on(main_port), "the main socket is still open"
    assert can_listen_on(moto_port), "moto server still listens"
    if moto_isolation == "process":
        assert len(children) == 1, "moto's child process was never started: the failure came too early"
        assert children[0].poll() is not None, "moto's child process is still running"
    leftover = {t for t in set(threading.enumerate()) - threads_before if t.is_alive()}
    assert not leftover, f"threads left running: {sorted(t.name for t in leftover)}"
    stack.stop()  # after a failed start: nothing to do, and no error


def test_a_running_stack_keeps_its_start_up_objects_out_of_full_collections(tmp_path: Path) -> None:
    """What start-up built is frozen while the stack runs (a full collection over it stalled
    every stream for 200+ ms) and handed back to the collector when the stack stops."""
    gc.unfreeze()
    stack = BackgroundStack(StackConfig(port=0, tls_port=None, prefix="tokencast-gc", log_level="WARNING"))
    stack.start()
    try:
        assert gc.get_freeze_count() > 100_000, "botocore's models, the schema and the handlers"
    finally:
        stack.stop()
    assert gc.get_freeze_count() == 0


def test_a_second_stack_in_the_same_process_streams_through_its_own_resources() -> None:
    """Thread-mode handlers share their modules across stacks: each cold start must build its
    clients for its own stack, not reuse the previous stack's (whose moto is gone)."""
    from tokencast.client import ApiKeyAuth, TokencastClient

    first = BackgroundStack(StackConfig(port=0, tls_port=None, prefix="tokencast-first", log_level="WARNING"))
    first.start()
    first.stop()
    second = BackgroundStack(StackConfig(port=0, tls_port=None, prefix="tokencast-second", log_level="WARNING"))
    endpoints = second.start()
    try:

        async def one_answer() -> str:
            auth = ApiKeyAuth(endpoints.api_key)
            async with TokencastClient(endpoints.graphql_url, auth=auth) as client:
                return (await (await client.stream("two stacks [tokens=5]")).result()).text

        assert asyncio.run(one_answer())
    finally:
        second.stop()
