"""TCP port helpers: fail fast with a readable error when a port is taken."""

from __future__ import annotations

import errno
import socket

__all__ = ["PortInUseError", "ensure_port_free", "free_port"]

DEFAULT_HINT = "stop the other process or pass --port"


class PortInUseError(RuntimeError):
    """A TCP port we want to listen on cannot be bound."""


def ensure_port_free(host: str, port: int, what: str, *, hint: str = DEFAULT_HINT) -> None:
    """Raise :class:`PortInUseError` if ``host:port`` cannot be bound right now.

    ``what`` names the service for the message, e.g. ``"API"``. Every address
    ``host`` resolves to is checked, since a server may bind all of them.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortInUseError(f"cannot resolve host {host!r} for {what}: {exc}") from exc
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as sock:
            # Servers set SO_REUSEADDR, so a socket lingering in TIME_WAIT would
            # not stop them from binding; it must not fail this check either.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    reason = "is already in use"
                else:
                    reason = f"cannot be bound ({exc.strerror})"
                raise PortInUseError(f"port {port} on {host} ({what}) {reason}; {hint}") from exc


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that the OS reports as currently unused.

    The port is released before returning, so another process could still take
    it; good enough for tests and dev servers started right afterwards.
    """
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as sock:
        sock.bind(sockaddr)
        port: int = sock.getsockname()[1]
        return port
