"""
Sockets handed over by systemd (socket activation: C{LISTEN_FDS},
C{LISTEN_PID}, C{LISTEN_FDNAMES}), for the datagram listeners Twisted has
no endpoint string for.  Stream listeners use Twisted's own C{systemd:}
endpoint; a C{systemd:...:type=datagram} endpoint comes here.

systemd binds the socket, so logd needs no privilege for port 514, and a
restart of logd loses no datagram the kernel queued meanwhile.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet import unix
from twisted.python.systemd import ListenFDs

from logd.errors import StartupError


def inheritedDescriptor(listener: str, domain: str, index: str | None, name: str | None, environ: Any = None) -> int:
    """The descriptor systemd passed for C{index} or C{name}, checked to be a datagram socket of C{domain}."""
    fds = ListenFDs.fromEnvironment(environ=environ)
    try:
        fd = fds.inheritedDescriptors()[int(index)] if index is not None else fds.inheritedNamedDescriptors()[name]
    except (IndexError, KeyError):
        which = f"index {index}" if index is not None else f"name {name!r}"
        passed = ", ".join(f"{n}={d}" for n, d in fds.inheritedNamedDescriptors().items()) or "none"
        raise StartupError(f"listener {listener!r}: systemd passed no socket with {which} (passed: {passed})") from None
    probe = socket.socket(fileno=os.dup(fd))
    try:
        family, kind = probe.family, probe.type
    finally:
        probe.close()
    wanted = getattr(socket, "AF_" + domain)
    if kind != socket.SOCK_DGRAM or family != wanted:
        raise StartupError(
            f"listener {listener!r}: the socket systemd passed ({family.name}, {kind.name}) is not a {domain} datagram socket"
        )
    return fd


def adoptDatagram(reactor: Any, fd: int, domain: str, protocol: Any, maxPacketSize: int) -> Any:
    """Read datagrams from an inherited socket; the descriptor stays systemd's (the port works on a copy)."""
    if domain == "UNIX":
        port = AdoptedUnixDatagramPort(fd, protocol, maxPacketSize=maxPacketSize, reactor=reactor)
        port.startListening()
        return port
    return reactor.adoptDatagramPort(fd, getattr(socket, "AF_" + domain), protocol, maxPacketSize)


class AdoptedUnixDatagramPort(unix.DatagramPort):
    """A Unix datagram port on a socket systemd bound (and will remove): never bound, chmod-ed or unlinked here."""

    def __init__(self, fd: int, protocol: Any, maxPacketSize: int, reactor: Any) -> None:
        self._inherited = fd
        path = socket.socket(fileno=os.dup(fd))
        try:
            address = path.getsockname()
        finally:
            path.close()
        super().__init__(address, protocol, maxPacketSize=maxPacketSize, reactor=reactor)

    def _bindSocket(self) -> None:
        from twisted.python import log

        log.msg(f"{self.protocol.logPrefix()} starting on {self.port!r} (from systemd)")
        skt = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM, fileno=os.dup(self._inherited))
        skt.setblocking(False)
        self.connected = 1
        self.socket = skt
        self.fileno = self.socket.fileno
