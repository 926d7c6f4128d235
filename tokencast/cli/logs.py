"""Short log lines for ``tokencast up``: the handlers' Lambda-style JSON, made readable.

The handlers log with Powertools as they do in Lambda: one JSON object per line on stdout,
~450 characters each with the function's context, and a whole stack trace inside one line
when something raises. On a terminal that is noise. :func:`compact_stdout_until_exit` routes this
process's file descriptor 1 (so the worker's execution-environment processes, which inherit
it, are included) through a thread that rewrites each JSON log line as::

    06:12:13 INFO  start: session started sessionId=26c7e24b-… status=QUEUED

and passes every other line through unchanged. ``tokencast up --log-format json`` keeps the
JSON as is (for piping to a log tool).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

#: Powertools' own keys: context every line repeats, left out of the short form
_CONTEXT_KEYS = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
        "sampling_rate",
        "exception",
        "exception_name",
        "stack_trace",
    }
)
MAX_LINE = 240
#: written to the pipe last, so the pump knows it has seen everything
_END = "\x00tokencast-log-compactor-end\n"


def compact_line(line: str) -> str:
    """The short form of one Powertools JSON log line; any other line unchanged."""
    stripped = line.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return line
    try:
        record: Any = json.loads(stripped)
    except ValueError:
        return line
    if not isinstance(record, dict) or "level" not in record or "message" not in record:
        return line
    timestamp = str(record.get("timestamp", ""))
    clock = timestamp[11:19] if len(timestamp) >= 19 else timestamp
    service = str(record.get("service", "")).removeprefix("tokencast-")
    extras = " ".join(f"{k}={_short(v)}" for k, v in record.items() if k not in _CONTEXT_KEYS)
    text = f"{clock} {record['level']!s:<5} {service}: {record['message']}"
    if extras:
        text += " " + extras
    if record.get("exception_name") or record.get("exception"):
        last = str(record.get("exception") or "").strip().splitlines()[-1:] or [""]
        text += f" [{record.get('exception_name') or 'error'}: {last[0]}]".replace(": ]", "]")
    if len(text) > MAX_LINE:
        text = text[: MAX_LINE - 1] + "…"
    return text + "\n"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 60 else text[:59] + "…"


def compact_stdout_until_exit() -> None:
    """From now until the process exits, lines written to fd 1 (by anyone in this process or
    its children) are compacted with :func:`compact_line`.

    It lasts until exit, not until the stack stops, because a handler still finishing when
    the stack stops logs its error last (the 10 KB line ``up`` used to end with); at exit,
    after Python has joined the worker threads, the pipe is closed and drained.
    """
    sys.stdout.flush()
    real = os.dup(1)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.close(write_end)

    def pump() -> None:
        with (
            os.fdopen(read_end, "r", encoding="utf-8", errors="replace") as lines,
            os.fdopen(real, "w", encoding="utf-8", closefd=False) as out,
        ):
            for line in lines:
                if line == _END:
                    return
                try:
                    out.write(compact_line(line))
                    out.flush()
                except BrokenPipeError:
                    return

    thread = threading.Thread(target=pump, name="tokencast-log-compactor", daemon=True)
    thread.start()

    def drain() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        # Not EOF: helper processes (multiprocessing's resource tracker) keep the pipe open
        # until this process is gone. Everything written before the marker is written out.
        with contextlib.suppress(OSError):
            os.write(1, _END.encode())
        os.dup2(real, 1)
        thread.join(timeout=5)

    _drains.append(drain)
    atexit.register(finish_compacting)


_drains: list[Callable[[], None]] = []


def finish_compacting() -> None:
    """Write what is still in the pipe and give fd 1 back (at exit, or before ``os._exit``)."""
    while _drains:
        _drains.pop()()
