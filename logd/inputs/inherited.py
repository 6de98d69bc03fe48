"""
Sockets passed by systemd (C{ListenStream=}, C{ListenDatagram=} in a
socket unit).

Twisted's C{systemd:} endpoint adopts inherited stream sockets only.  For
datagram sockets logd finds the descriptor the same way Twisted does, by
index or C{FileDescriptorName}, through Twisted's own parser (which is also
the only reader of C{LISTEN_FDS}: Twisted removes it from the environment
as it reads it), and adopts it as a UDP or Unix datagram port.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet import unix
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.python import log

from logd.errors import StartupError

_FAMILIES = {"INET": socket.AF_INET, "INET6": socket.AF_INET6, "UNIX": socket.AF_UNIX}


def inheritedSocket(name: str, endpoint: str, reactor: Any) -> socket.socket:
    """
    A duplicate of the inherited socket an endpoint such as
    C{systemd:domain=INET6:name=syslog-udp:type=datagram} names, checked to
    be the kind of socket (stream or datagram, domain) the configuration
    says it is: a socket unit and a configuration that disagree are a
    one-line start-up error, not a traceback or a port that reads nothing.
    A datagram socket is made non-blocking (systemd passes blocking
    sockets; one blocking read would stop the reactor).

    @raise StartupError: systemd passed no such socket, or another kind.
    """
    parts = endpoint.split(":")
    args = dict(part.partition("=")[::2] for part in parts[1:])
    datagram = args.get("type") == "datagram"
    streamForm = ":".join(part for part in parts if part != "type=datagram")
    which = f"named {args['name']!r}" if "name" in args else f"at index {args.get('index')}"
    directive = "ListenDatagram=" if datagram else "ListenStream="
    try:
        fileno = serverFromString(reactor, streamForm).fileno
    except (IndexError, KeyError):
        raise StartupError(
            f"listener {name!r}: systemd passed no socket {which} "
            f"(is the service started by its .socket unit, with {directive} and FileDescriptorName=?)"
        ) from None
    try:
        sock = socket.socket(fileno=os.dup(fileno))
    except OSError as e:
        raise StartupError(f"listener {name!r}: the socket systemd passed {which} is unusable: {e.strerror}") from None
    wantedType = socket.SOCK_DGRAM if datagram else socket.SOCK_STREAM
    if sock.type != wantedType or sock.family != _FAMILIES[args["domain"]]:
        passed = f"{'a datagram' if sock.type == socket.SOCK_DGRAM else 'a stream'} socket ({sock.family.name})"
        sock.close()
        raise StartupError(
            f"listener {name!r}: systemd passed {passed} {which}, but {endpoint} wants "
            f"a {'datagram' if datagram else 'stream'} socket of domain {args['domain']} ({directive})"
        )
    if datagram:
        sock.setblocking(False)
    return sock


def adoptDatagram(reactor: Any, sock: socket.socket, protocol: Any, maxPacketSize: int) -> Any:
    """
    Listen on an inherited datagram socket.  Twisted adopts UDP sockets;
    a Unix datagram one it cannot, so L{AdoptedUnixDatagramPort} does.
    The port works on its own duplicate; C{sock} is closed here, while
    systemd's descriptor stays open, so a reload can adopt it again.
    """
    try:
        if sock.family == socket.AF_UNIX:
            port = AdoptedUnixDatagramPort(sock.dup(), protocol, maxPacketSize=maxPacketSize, reactor=reactor)
            port.startListening()
            return port
        return reactor.adoptDatagramPort(sock.fileno(), sock.family, protocol, maxPacketSize=maxPacketSize)
    finally:
        sock.close()


class AdoptedUnixDatagramPort(unix.DatagramPort):
    """
    Twisted's Unix datagram port on a socket somebody else bound.  Its
    socket file belongs to whoever bound it (systemd): the port never
    creates, chmods or removes it.
    """

    def __init__(self, sock: socket.socket, proto: Any, maxPacketSize: int, reactor: Any) -> None:
        super().__init__(sock.getsockname(), proto, maxPacketSize=maxPacketSize, reactor=reactor)
        self._adopted: socket.socket | None = sock

    def _bindSocket(self) -> None:
        if self._adopted is None:
            raise CannotListenError(None, self.port, OSError("the adopted socket was closed"))
        log.msg(f"{self.protocol.logPrefix()} starting on inherited {self.port!r}")
        self.connected = 1
        self.socket, self._adopted = self._adopted, None
        self.fileno = self.socket.fileno
