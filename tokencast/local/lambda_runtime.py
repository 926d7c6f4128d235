"""Run a Lambda handler on this machine the way the Lambda runtime would.

The emulator's Lambda data sources and the SQS poller both invoke handlers by their
``module.function`` path (the same string the CDK app deploys), with a context object that
carries what Powertools reads. Two isolation modes:

* ``thread`` (default): handlers run on worker threads of this process. Cheap, and enough
  for resolvers and for most of the pipeline.
* ``process``: each invocation runs in an *execution environment*, a spawned Python process
  that serves one invocation at a time and stays warm for the next, as Lambda's do. The
  environment inherits the function's environment variables (those of this process when the
  function was created) and imports the handler on its first invocation (a cold start). An
  environment that dies -- killed, out of memory, ``os._exit`` -- fails its invocation with
  ``Runtime.ExitError`` and is replaced; one that runs past ``timeout_s`` is killed and fails
  with ``Sandbox.Timedout``. Nothing it was doing survives: its threads (a visibility
  heartbeat, a publisher) stop with it, which is what crash tests need to be real.

Test knobs (process mode): :meth:`LocalFunction.signal` sends a signal to the environments
running matching events (``SIGKILL`` a worker mid-stream, ``SIGSTOP``/``SIGCONT`` to make a
zombie), and :meth:`LocalFunction.wait_until` waits, from any thread, for a condition on the
function's state (e.g. that an environment finished its invocation).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import multiprocessing
import os
import signal as signals
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

ACCOUNT_ID = "000000000000"

Isolation = Literal["thread", "process"]


#: how long shutting a function down lets running invocations end before it takes away what
#: they share (sockets, ``os.environ``); a job cut off after this is redelivered, as in Lambda
DRAIN_GRACE_S = 3.0


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that libraries rely on."""

    function_name: str
    timeout_s: float
    region: str = "us-east-1"
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LambdaInvocationError(Exception):
    """A handler raised (or its environment died): carries Lambda's ``errorType``/``errorMessage``."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.error_message = message


def _load_handler(path: str, *, init: bool = False) -> Callable[[Any, Any], Any]:
    """Import the handler; with ``init``, also run the module's ``init()`` if it has one.

    ``init()`` is a handler module's cold-start work (clients built, connections opened) that
    it keeps out of import so that importing stays free of side effects; the local runtime
    runs it when an environment starts, as Lambda runs module code in its init phase.
    """
    module_name, _, attribute = path.rpartition(".")
    module = importlib.import_module(module_name)
    if init and callable(getattr(module, "init", None)):
        module.init()
    handler: Callable[[Any, Any], Any] = getattr(module, attribute)
    return handler


# --------------------------------------------------------------------------- process mode


def _environment_main(
    conn: Any, name: str, handler_path: str, timeout_s: float, region: str, environ: Mapping[str, str]
) -> None:
    """The body of one execution environment: receive an event, run the handler, answer."""
    os.environ.clear()
    os.environ.update(environ)
    signals.signal(signals.SIGINT, signals.SIG_IGN)  # Ctrl-C belongs to the parent (`tokencast up`)
    handler: Callable[[Any, Any], Any] | None = None
    try:  # the init phase: at environment start, before the first event arrives
        handler = _load_handler(handler_path, init=True)
    except Exception:  # reported by the first invocation, which imports again
        handler = None
    while True:
        try:
            event = conn.recv()
        except (EOFError, OSError):
            return
        if event is None:  # shutdown
            return
        try:
            if handler is None:
                handler = _load_handler(handler_path)
            result = handler(event, LambdaContext(function_name=name, timeout_s=timeout_s, region=region))
            reply: tuple[Any, ...] = ("ok", result)
        except Exception as error:  # the runtime reports any exception as the invocation's error
            reply = ("error", type(error).__name__, str(error))
        try:
            conn.send(reply)
        except (TypeError, ValueError, AttributeError) as error:  # an unpicklable result
            conn.send(("error", "Runtime.MarshalError", f"Unable to marshal response: {error}"))


@dataclass(frozen=True)
class EnvironmentInfo:
    """What the runtime knows about one execution environment (process mode)."""

    pid: int
    #: the event of the invocation it is running, or None when idle
    event: Any
    invocations: int


class _Environment:
    def __init__(self, context: Any, function: LocalFunction) -> None:
        parent, child = context.Pipe()
        self.process = context.Process(
            target=_environment_main,
            args=(child, function.name, function.handler_path, function.timeout_s, function.region, function.environ),
            name=f"lambda-{function.name}",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.conn = parent
        self.event: Any = None
        self.invocations = 0
        self.generation = function.generation

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def exit_description(self) -> str:
        self.process.join(timeout=2.0)
        code = self.process.exitcode
        if code is None:
            return "Runtime exited without answering"
        if code < 0:
            try:
                name = signals.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"Runtime exited with error: signal: {name.removeprefix('SIG').lower()}"
        return f"Runtime exited with error: exit status {code}"

    def destroy(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=2.0)
        self.conn.close()


class LocalFunction:
    """One deployed function: a handler path, a name, a timeout and a concurrency limit."""

    def __init__(
        self,
        name: str,
        handler: str,
        *,
        timeout_s: float = 30.0,
        concurrency: int = 8,
        region: str = "us-east-1",
        isolation: Isolation = "thread",
        environ: Mapping[str, str] | None = None,
    ):
        if isolation not in ("thread", "process"):
            raise ValueError(f"isolation must be 'thread' or 'process', not {isolation!r}")
        self.name = name
        self.handler_path = handler
        self.timeout_s = timeout_s
        self.region = region
        self.isolation: Isolation = isolation
        #: the environment variables execution environments get (process mode)
        self.environ = dict(os.environ if environ is None else environ)
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"lambda-{name}")
        self._handler: Callable[[Any, Any], Any] | None = None
        self._state = threading.Condition()
        self._idle: list[_Environment] = []
        self._busy: set[_Environment] = set()
        self._closed = False
        #: invocations started and not yet ended, in either isolation mode
        self._in_flight = 0
        self._spawn_context = multiprocessing.get_context("spawn")
        #: invocations that ended because their environment died or timed out
        self.crashes = 0
        self.cold_starts = 0
        #: bumped by update_environment; environments of an older generation are not reused
        self.generation = 0

    # -- invoking ------------------------------------------------------------------------

    def _load(self) -> Callable[[Any, Any], Any]:
        # Imported on first use, like a cold start, so environment set by the stack applies.
        if self._handler is None:
            self._handler = _load_handler(self.handler_path)
        return self._handler

    def prewarm(self) -> None:
        """Run a cold start now, not in the first invocation: Lambda's init phase at ``up``.

        Thread mode imports the handler and runs its module's ``init()``; process mode starts
        one execution environment, which does the same as it starts.
        """
        if self.isolation == "thread":
            with self._state:
                if self._handler is not None:
                    return
            handler = _load_handler(self.handler_path, init=True)
            with self._state:
                self._handler = self._handler or handler
            # What the init phase built (clients, botocore's models) lives as long as the
            # function: keep it out of full garbage collections (see LocalStack's start).
            gc.freeze()
            return
        environment = _Environment(self._spawn_context, self)
        with self._state:
            self.cold_starts += 1
            self._idle.append(environment)

    def update_environment(self, changes: Mapping[str, str]) -> None:
        """Lambda's UpdateFunctionConfiguration: invocations from now on start in fresh environments.

        Process mode drops the idle environments (busy ones finish with the old settings); thread
        mode sets the variables on this process and re-imports the handler module, so whatever
        it built at its cold start (clients, a cached worker) is built again.
        """
        with self._state:
            self.environ.update(changes)
            self.generation += 1
            idle, self._idle = self._idle, []
            reload = self._handler is not None
            self._handler = None
        for environment in idle:
            environment.destroy()
        if self.isolation == "thread":
            os.environ.update(changes)
            module_name = self.handler_path.rpartition(".")[0]
            if reload and module_name in sys.modules:
                importlib.reload(sys.modules[module_name])
                self.prewarm()

    def invoke_sync(self, event: Any) -> Any:
        with self._state:
            if self._closed:
                raise LambdaInvocationError("Runtime.Closed", f"function {self.name} is shut down")
            self._in_flight += 1
        try:
            if self.isolation == "process":
                return self._invoke_in_environment(event)
            return self._invoke_in_thread(event)
        finally:
            with self._state:
                self._in_flight -= 1
                self._state.notify_all()

    def _invoke_in_thread(self, event: Any) -> Any:
        context = LambdaContext(function_name=self.name, timeout_s=self.timeout_s, region=self.region)
        try:
            return self._load()(event, context)
        except Exception as error:  # the runtime reports any exception as the invocation's error
            raise LambdaInvocationError(type(error).__name__, str(error)) from error

    async def invoke(self, event: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.invoke_sync, event)

    def _acquire(self, event: Any) -> _Environment:
        with self._state:
            environment = self._idle.pop() if self._idle else None
        if environment is None or not environment.process.is_alive():
            if environment is not None:
                environment.destroy()
            environment = _Environment(self._spawn_context, self)
            self.cold_starts += 1
        with self._state:
            environment.event = event
            environment.invocations += 1
            self._busy.add(environment)
            self._state.notify_all()
        return environment

    def _release(self, environment: _Environment, *, healthy: bool) -> None:
        with self._state:
            self._busy.discard(environment)
            environment.event = None
            keep = healthy and not self._closed and environment.generation == self.generation
            if keep:
                self._idle.append(environment)
            else:
                self.crashes += 0 if self._closed or healthy else 1
            self._state.notify_all()
        if not keep:
            environment.destroy()

    def _invoke_in_environment(self, event: Any) -> Any:
        environment = self._acquire(event)
        healthy = False
        try:
            try:
                environment.conn.send(event)
                if not environment.conn.poll(self.timeout_s):
                    environment.process.kill()
                    raise LambdaInvocationError(
                        "Sandbox.Timedout", f"Task timed out after {self.timeout_s:.2f} seconds"
                    )
                reply = environment.conn.recv()
            except (EOFError, OSError) as error:
                raise LambdaInvocationError("Runtime.ExitError", environment.exit_description()) from error
            healthy = True
        finally:
            self._release(environment, healthy=healthy)
        if reply[0] == "ok":
            return reply[1]
        raise LambdaInvocationError(reply[1], reply[2])

    # -- observing and steering (process mode) --------------------------------------------

    def environments(self) -> list[EnvironmentInfo]:
        """Every live execution environment, busy ones with the event they are running."""
        with self._state:
            every = list(self._busy) + list(self._idle)
            return [EnvironmentInfo(e.pid, e.event, e.invocations) for e in every]

    def running(self, where: Callable[[Any], bool] | None = None) -> list[int]:
        """Pids of environments running an event for which ``where(event)`` holds."""
        with self._state:
            return [e.pid for e in self._busy if e.event is not None and (where is None or where(e.event))]

    def signal(self, where: Callable[[Any], bool], signum: int = signals.SIGKILL) -> list[int]:
        """Send ``signum`` to the environments running a matching event; returns their pids.

        ``SIGKILL`` is a crash (the invocation fails with ``Runtime.ExitError``); ``SIGSTOP``
        freezes an environment mid-invocation and ``SIGCONT`` lets it go on -- a zombie.
        """
        if self.isolation != "process":
            raise RuntimeError("only process isolation has execution environments to signal")
        pids = self.running(where)
        for pid in pids:
            os.kill(pid, signum)
        return pids

    def wait_until(self, predicate: Callable[[LocalFunction], bool], timeout: float) -> bool:
        """Block (on any thread) until ``predicate(function)`` holds after an invocation starts or ends."""
        with self._state:
            return self._state.wait_for(lambda: predicate(self), timeout)

    async def drain_and_close(self, grace_s: float = DRAIN_GRACE_S) -> None:
        """Refuse new invocations, let running ones end (up to ``grace_s``), then :meth:`close`.

        A thread-mode invocation cannot be killed, and it shares this process's
        ``os.environ`` and event loop: the stack must not undo either under it (its last
        publish needs the loop; its metrics flush reads the environment). So the wait runs
        on a thread, leaving the loop free to serve that last publish.
        """
        with self._state:
            self._closed = True
        await asyncio.to_thread(self._wait_idle, grace_s)
        self.close()

    def _wait_idle(self, timeout: float) -> bool:
        with self._state:
            return self._state.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self) -> None:
        with self._state:
            self._closed = True
            environments = list(self._idle) + list(self._busy)
            self._idle.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
        for environment in environments:
            environment.destroy()
