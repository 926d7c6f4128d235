"""moto server on a thread of this process (``moto_isolation="thread"``)."""

from __future__ import annotations

import errno
import threading

from tokencast.local.ports import PortInUse


def bound_moto_server_class() -> type:
    from moto.server import ThreadedMotoServer

    class MotoServer(ThreadedMotoServer):
        """moto's threaded server, binding in the caller's thread.

        moto's own ``start`` binds in its thread and waits for a ready event that never
        comes when the port is taken, hanging the caller; this one raises at once.
        """

        def start(self) -> None:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server

            try:
                self._server = make_server(
                    self._ip_address,
                    self._port,
                    DomainDispatcherApplication(create_backend_app),
                    True,
                    request_handler=MotoRequestHandler,
                )
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUse(self._port, "moto") from None
                raise
            except SystemExit:  # werkzeug exits instead of raising on some bind failures
                raise PortInUse(self._port, "moto") from None
            self._server_ready_event.set()
            self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
            self._thread.start()

    return MotoServer
