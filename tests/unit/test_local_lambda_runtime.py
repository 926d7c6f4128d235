"""The local Lambda runtime's process isolation: warm environments, errors, crashes, timeouts."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from tokencast.local.lambda_runtime import LambdaInvocationError, LocalFunction

HERE = __name__
INIT_CALLS: list[int] = []


def init():
    """Cold-start work: the runtime calls it once per environment, before the first invocation."""
    INIT_CALLS.append(os.getpid())


def handler(event, context):
    """The handler the environments run (imported there by its path)."""
    action = event.get("action")
    if action == "raise":
        raise ValueError("bad event")
    if action == "exit":
        os._exit(3)
    if action == "block":
        signal.pause()  # until killed
    return {
        "pid": os.getpid(),
        "env": os.environ.get("RUNTIME_TEST_VALUE"),
        "arn": context.invoked_function_arn,
        "remaining_ok": context.get_remaining_time_in_millis() > 0,
        "inits": len(INIT_CALLS),
    }


@pytest.fixture
def function():
    f = LocalFunction(
        "unit",
        f"{HERE}.handler",
        timeout_s=20,
        concurrency=2,
        isolation="process",
        environ={**os.environ, "RUNTIME_TEST_VALUE": "from-the-function"},
    )
    yield f
    f.close()


def test_environments_are_processes_reused_warm_with_the_functions_environment(function):
    first = function.invoke_sync({})
    second = function.invoke_sync({})
    assert first["pid"] != os.getpid() and first["pid"] == second["pid"]
    assert first["env"] == "from-the-function" and first["remaining_ok"]
    assert first["arn"].endswith(":function:unit")
    assert function.cold_starts == 1 and function.crashes == 0


def test_a_handler_error_is_the_invocations_error_and_keeps_the_environment(function):
    with pytest.raises(LambdaInvocationError) as raised:
        function.invoke_sync({"action": "raise"})
    assert (raised.value.error_type, raised.value.error_message) == ("ValueError", "bad event")
    assert function.invoke_sync({})["pid"] and function.cold_starts == 1


def test_an_environment_that_exits_fails_its_invocation_and_is_replaced(function):
    before = function.invoke_sync({})["pid"]
    with pytest.raises(LambdaInvocationError) as raised:
        function.invoke_sync({"action": "exit"})
    assert raised.value.error_type == "Runtime.ExitError" and "exit status 3" in raised.value.error_message
    assert function.invoke_sync({})["pid"] != before
    assert function.crashes == 1 and function.cold_starts == 2


def test_signal_kills_the_environment_running_a_matching_event(function):
    errors: list[LambdaInvocationError] = []

    def invoke() -> None:
        try:
            function.invoke_sync({"action": "block", "tag": "victim"})
        except LambdaInvocationError as error:
            errors.append(error)

    thread = threading.Thread(target=invoke)
    thread.start()
    assert function.wait_until(lambda f: f.running(lambda e: e.get("tag") == "victim"), 20)
    assert function.signal(lambda e: e.get("tag") == "someone else") == []
    [pid] = function.signal(lambda e: e.get("tag") == "victim", signal.SIGKILL)
    thread.join(20)
    assert [e.error_type for e in errors] == ["Runtime.ExitError"]
    assert "signal: kill" in errors[0].error_message
    assert function.running() == [] and pid not in [e.pid for e in function.environments()]


def test_an_invocation_past_its_timeout_is_killed():
    f = LocalFunction("slow", f"{HERE}.handler", timeout_s=0.5, concurrency=1, isolation="process")
    try:
        with pytest.raises(LambdaInvocationError) as raised:
            f.invoke_sync({"action": "block"})
        assert raised.value.error_type == "Sandbox.Timedout"
        assert f.environments() == []
    finally:
        f.close()


def test_thread_isolation_has_nothing_to_signal():
    f = LocalFunction("threads", f"{HERE}.handler")
    try:
        assert f.invoke_sync({})["pid"] == os.getpid()
        with pytest.raises(RuntimeError):
            f.signal(lambda e: True)
    finally:
        f.close()


def test_prewarm_runs_the_cold_start_before_the_first_invocation(function):
    function.prewarm()
    assert function.cold_starts == 1
    answer = function.invoke_sync({})
    assert function.cold_starts == 1 and answer["inits"] == 1  # init() ran once, at environment start


def test_an_environment_update_applies_to_fresh_environments_only(function):
    before = function.invoke_sync({})
    function.update_environment({"RUNTIME_TEST_VALUE": "updated"})
    after = function.invoke_sync({})
    assert before["env"] == "from-the-function" and after["env"] == "updated"
    assert after["pid"] != before["pid"] and function.cold_starts == 2 and function.crashes == 0


GATE = threading.Event()
ENTERED = threading.Event()


def gated_handler(event, context):
    """Holds its invocation open until the test opens the gate."""
    ENTERED.set()
    assert GATE.wait(10), "the test never opened the gate"
    return "done"


async def gated_invocation() -> tuple[LocalFunction, asyncio.Future]:
    """A thread-mode function with one invocation running, held open until ``GATE`` is set."""
    GATE.clear()
    ENTERED.clear()
    function = LocalFunction("unit", f"{HERE}.gated_handler", isolation="thread", concurrency=1)
    running = asyncio.ensure_future(function.invoke({}))
    assert await asyncio.to_thread(ENTERED.wait, 10)
    return function, running


async def test_drain_and_close_lets_a_running_thread_invocation_end_first():
    """Stopping the stack must not pull os.environ or the loop from under a running handler."""
    function, running = await gated_invocation()
    closing = asyncio.ensure_future(function.drain_and_close(grace_s=10))
    await asyncio.sleep(0)  # one turn of the loop: the task starts, and closes the function first
    with pytest.raises(LambdaInvocationError, match="shut down"):
        function.invoke_sync({})  # refused at once: the function is closing
    done, _ = await asyncio.wait({closing}, timeout=0.2)
    assert not done, "closed while an invocation was still running"
    GATE.set()
    assert await asyncio.wait_for(running, 10) == "done"
    await asyncio.wait_for(closing, 10)


async def test_drain_and_close_gives_up_after_its_grace():
    function, running = await gated_invocation()
    await asyncio.wait_for(function.drain_and_close(grace_s=0.05), 5)
    assert not running.done()
    GATE.set()
    assert await asyncio.wait_for(running, 10) == "done"
