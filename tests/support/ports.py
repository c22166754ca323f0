"""Free TCP ports on loopback, for the servers a test starts of its own."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """*count* distinct ports that no one listens on now (all held open until all are found)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """A port that no one listens on now."""
    return free_ports(1)[0]
