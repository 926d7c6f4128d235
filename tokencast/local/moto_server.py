"""moto server as the local stack runs it: moto's WSGI app, metered, served by waitress.

moto ships werkzeug's development server, which closes the connection after every response
(werkzeug disables HTTP/1.1 keep-alive in it on purpose) and starts a thread per connection.
Every DynamoDB and SQS call of the stack then paid for a new TCP connection and a new server
thread: a ``GetItem`` took 5.5-6.6 ms on an idle machine. waitress keeps connections alive and
serves them from a fixed pool of threads: the same ``GetItem`` takes 2.6 ms (``bench/pipeline.py``
and the README's levers table have the end-to-end numbers).

The same server runs on a thread of the stack (``moto_isolation="thread"``) or in a process of
its own (:mod:`tokencast.local.moto_process`).
"""

from __future__ import annotations

import errno
import logging
import threading
from typing import Any

from tokencast.local.moto_meter import MotoMeter
from tokencast.local.ports import PortInUse

#: Server threads. Each SQS long poll holds one for up to its wait time (the stack's pollers
#: and any CLI or test that long-polls), so there are many more threads than cores.
SERVER_THREADS = 64


def moto_app(region: str, api_key: str | None) -> MotoMeter:
    """moto's WSGI app with the stack's changes installed, behind the DynamoDB meter."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from tokencast.local import moto_atomic, moto_speedups

    moto_speedups.install()  # each stored event is a transaction: keep it O(1) in table size
    moto_atomic.install()  # conditional writes atomic, as DynamoDB's are (fencing, quotas)
    return MotoMeter(
        DomainDispatcherApplication(create_backend_app), account=DEFAULT_ACCOUNT_ID, region=region, api_key=api_key
    )


class MotoServer:
    """Binds at construction (so a busy port fails at once), then :meth:`serve_forever` until :meth:`stop`."""

    def __init__(self, host: str, port: int, *, region: str, api_key: str | None = None) -> None:
        from waitress.server import create_server

        # waitress logs a line whenever its task queue backs up; a benchmark does that on purpose.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        try:
            self._server: Any = create_server(
                moto_app(region, api_key),
                host=host,
                port=port,
                threads=SERVER_THREADS,
                connection_limit=1000,  # every client thread of the stack may keep a connection
                asyncore_use_poll=True,  # select() stops at 1,024 descriptors
                ident="moto",
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(port, "moto") from None
            raise
        self.host: str = host
        self.port: int = int(self._server.effective_port)
        self._stopped = threading.Event()
        self._serving = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve on this thread until :meth:`stop` (from any thread)."""
        if self._stopped.is_set():
            return
        self._serving.set()
        self._server.run()

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="moto", daemon=True)
        thread.start()
        return thread

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the listening socket and every connection, then wait for the server threads.

        The closing runs on the serving thread (waitress's trigger), where its socket map may be
        changed; the loop ends once the map is empty. An SQS long poll in progress finishes
        first (at most its wait time), within ``timeout_s``.
        """
        if self._stopped.is_set():
            return
        self._stopped.set()
        server = self._server

        def close_everything() -> None:
            for channel in list(server._map.values()):
                channel.close()

        if self._serving.is_set():
            server.trigger.pull_trigger(close_everything)
        else:
            close_everything()
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout_s)
