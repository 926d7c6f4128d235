"""moto server (:mod:`tokencast.local.moto_server`) in a process of its own.

Every stored event is a DynamoDB transaction and every poll an SQS request; moto handles them
in Python. In the stack's process that work competes for one GIL with the emulator, the
local model and the worker threads, and adds its jitter to every token's delay. In its own
process it runs on its own interpreter; the stack talks to it over HTTP exactly as before.

The child prints its port on the first line of stdout once it listens, and exits when its
stdin closes -- so it never outlives the stack, even when the stack is killed.

    python -m tokencast.local.moto_process --host 127.0.0.1 --port 0 --region us-east-1
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from typing import IO

#: how the parent hands the stack's API key to the child (the meter's control path checks it)
API_KEY_VARIABLE = "TOKENCAST_LOCAL_METER_API_KEY"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to `tokencast up`, which closes our stdin

    from tokencast.local.moto_server import MotoServer

    server = MotoServer(args.host, args.port, region=args.region, api_key=os.environ.get(API_KEY_VARIABLE))
    sys.stdout.write(f"{server.port}\n")
    sys.stdout.flush()

    def exit_with_parent() -> None:
        sys.stdin.read()  # EOF: the stack closed the pipe or died
        server.stop()

    threading.Thread(target=exit_with_parent, daemon=True).start()
    _keep_full_collections_short(args.region)
    server.serve_forever()


def _keep_full_collections_short(region: str) -> None:
    """Keep moto's long-lived objects out of full garbage collections.

    moto builds the DynamoDB and SQS backends (and their service models, tens of thousands of
    objects) on the first request, and every stored item stays for the whole run. A full
    collection walks every tracked object while each request waits: with the table of a
    benchmark run that was 50-150 ms, growing with the table. So the backends are built and
    frozen now, and whatever survives a full collection is frozen after it: the next one walks
    only what arrived since. Frozen objects are still freed by reference counting when deleted;
    only reference cycles among them would stay, and moto's items make none.
    """
    import gc

    from moto.backends import get_backend
    from moto.core.models import DEFAULT_ACCOUNT_ID

    for service in ("dynamodb", "sqs"):
        get_backend(service)[DEFAULT_ACCOUNT_ID][region]  # created on first access
    gc.collect()
    gc.freeze()

    def freeze_survivors(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    gc.callbacks.append(freeze_survivors)


class MotoProcess:
    """The parent's handle: :meth:`start` returns the endpoint URL, :meth:`stop` ends the child."""

    def __init__(self, host: str, port: int, region: str, *, api_key: str | None = None) -> None:
        self._env = {**os.environ, **({API_KEY_VARIABLE: api_key} if api_key else {})}
        self._argv = [
            sys.executable,
            "-m",
            "tokencast.local.moto_process",
            "--host",
            host,
            "--port",
            str(port),
            "--region",
            region,
        ]
        self._host = host
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 60.0) -> str:
        self._process = subprocess.Popen(
            self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, close_fds=True, env=self._env
        )
        port = _first_line(self._process.stdout, timeout_s)
        if not port.strip().isdigit():
            self.stop()
            raise RuntimeError("moto server did not start")
        return f"http://{self._host}:{int(port)}"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stdout:
            process.stdout.close()


def _first_line(stream: IO[str] | None, timeout_s: float) -> str:
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stream.readline() if stream else ""), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return line[0] if line else ""


if __name__ == "__main__":
    main()
