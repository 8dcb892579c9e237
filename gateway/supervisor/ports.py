"""Binding the listeners' ports: the probe bind, the per-port startup lock, ``ListenError``'s one-line message."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys

# What `cors-gateway run` lets a user change, per listener and part of its address.
RUN_SETTINGS = {
    ("public", "port"): "--port or listen.port",
    ("public", "host"): "--host or listen.host",
    ("admin", "port"): "admin.port",
    ("admin", "host"): "admin.host",
}
_LISTENERS = {"public": "", "admin": " (admin listener)", "upstream": " (demo upstream)", "frontend": " (demo page)"}


class ListenError(OSError):
    """A listener could not bind: which one, where, why, and what to change (one line)."""

    def __init__(self, listener: str, host: str, port: int, err: OSError | None = None, reason: str | None = None):
        code = err.errno if err is not None and err.errno is not None else errno.EADDRINUSE
        super().__init__(code, reason or _bind_reason(code))
        self.listener, self.host, self.port = listener, host, port
        # The part of the address to change: a host this machine lacks, else the port.
        self.part = "host" if code in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) else "port"

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def message(self, settings: dict[tuple[str, str], str] = RUN_SETTINGS) -> str:
        """``settings``: (listener, "port" or "host") -> the flag or config key that changes it."""
        what = _LISTENERS.get(self.listener, f" ({self.listener})")
        change = settings.get((self.listener, self.part))
        return f"cannot listen on {self.address}{what}: {self.strerror}" + (f"; change {change}" if change else "")

    def __str__(self) -> str:
        return self.message()


def _bind_reason(code: int) -> str:
    if code == errno.EADDRINUSE:
        return "address already in use (another process holds it)"
    if code == errno.EACCES:
        return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    if code == errno.EADDRNOTAVAIL:
        return "this machine has no such address"
    return os.strerror(code).lower()  # not asyncio's strerror, which repeats the address


def _canonical(host: str) -> str:
    """One name per address: 127.1, 127.0.0.1 and localhost's IPv4 are the same lock."""
    try:
        infos = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        return str(ipaddress.ip_address(infos[0][4][0]))
    except (OSError, ValueError, IndexError):
        return host


def port_lock(host: str, port: int) -> socket.socket | None:
    """Claim host:port for this gateway (Linux); ListenError if another gateway holds it."""
    if not sys.platform.startswith("linux"):  # pragma: no cover - abstract sockets are Linux's
        return None
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(f"\0cors-gateway/{_canonical(host)}:{port}")
    except OSError as err:
        lock.close()
        if err.errno != errno.EADDRINUSE:
            return None  # no lock on this system; the probe bind still guards a serving port
        raise ListenError("public", host, port, err,
                          reason="another cors-gateway is starting or serving on it") from None
    return lock


def reserve_port(host: str, port: int) -> tuple[int, socket.socket, socket.socket | None]:
    """Hold the public port (bound, never listening) so workers can share it with SO_REUSEPORT.

    Returns the port (the kernel's choice when ``port`` is 0), the held
    socket and the lock (None where there is none); the caller closes both.

    Nobody else may already serve the port (another gateway, whose
    workers would also use SO_REUSEPORT, say): sharing it would silently
    split the traffic.  A probe bind without SO_REUSEPORT fails while any
    socket listens on the port.  It sets SO_REUSEADDR, so the connections
    a gateway stopped a moment ago left in TIME_WAIT do not block a
    restart (``docker compose restart``); without it the restart failed
    for about a minute.  SO_REUSEADDR also lets the probe pass another
    gateway's reserved port before its workers listen, so a lock (an
    abstract Unix socket named after host:port, per network namespace
    like the port itself, released by the kernel when the process ends)
    refuses a second gateway in that window too.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ListenError("public", host, port, err) from None
        port = probe.getsockname()[1]
    lock = port_lock(host, port)
    sock = socket.socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if lock is not None:
            lock.close()
        raise ListenError("public", host, port, err) from None
    return port, sock, lock
