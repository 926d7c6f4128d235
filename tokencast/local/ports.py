"""Binding the local stack's ports, and the error that names a busy one."""

from __future__ import annotations

import errno
import socket


class PortInUse(Exception):
    """A port the stack needs is taken. ``role`` says which: ``main``, ``moto`` or ``tls``."""

    def __init__(self, port: int, role: str) -> None:
        super().__init__(f"port {port} is in use")
        self.port, self.role = port, role


def bind(host: str, port: int, role: str) -> socket.socket:
    """A socket bound (not yet listening) to ``host:port``; :class:`PortInUse` if it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port, role) from None
        raise
    return sock
