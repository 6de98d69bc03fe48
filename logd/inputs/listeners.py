"""
Listeners: the services that own the listening sockets.

Binding happens in C{privilegedStartService}, before twistd drops
privileges and before the reactor runs, so a port in use is a one-line
start-up error rather than a traceback at run time.

Stopping is where nothing may be lost.  A stream listener first accepts
whatever connections are still queued in the kernel, stops listening, then
keeps reading every open connection until its client closes it or it has
been quiet for C{IDLE_SECONDS} (C{DRAIN_SECONDS} at most in all); partial
lines are recorded as the connections close.  A datagram listener reads its
socket until it is empty.  The service's stop Deferred fires only then, so
the sinks, which stop after the listeners, see every byte.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import time
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger, globalLogPublisher
from twisted.python.failure import Failure

from twisted.internet import unix

from logd.config import ListenerConfig
from logd.errors import StartupError
from logd.files import RunAs, setOwner, directoryMode, makeDirectories
from logd.inputs.inherited import adoptDatagram, inheritedSocket
from logd.inputs.limits import AcceptLog, IdleReaper
from logd.inputs.protocols import ListenerFactory, buildDatagramProtocol

IDLE_SECONDS = 0.5
DRAIN_SECONDS = 5.0
POLL_SECONDS = 0.05
DRAIN_DATAGRAMS = 1_000_000
DRAIN_DATAGRAM_SECONDS = 2.0
MAX_DATAGRAM = 65535
"""Twisted's default of 8192 silently truncates larger datagrams."""


def _claimSocketPath(name: str, path: str, kind: int, mode: int, runAs: RunAs | None) -> None:
    """
    Make way for a Unix socket at C{path}: a socket file nobody listens on
    is left over from an earlier run and is removed; a live one is in use.
    Missing directories are created for the user logd runs as, who must be
    able to remove the socket at stop.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        makeDirectories(os.path.dirname(path), directoryMode(mode), runAs)
        return

    if not stat.S_ISSOCK(st.st_mode):
        raise StartupError(f"listener {name!r}: {path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, kind)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
        return
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ECONNREFUSED):
            return
        raise StartupError(f"listener {name!r}: cannot check {path}: {e.strerror}") from None
    finally:
        probe.close()
    raise StartupError(f"listener {name!r}: {path} is in use by another process")


RECEIVE_BUFFER = 8 * 1024 * 1024
"""
What a datagram socket can hold while the reactor is busy elsewhere: a burst
that overflows it is lost in the kernel, where logd cannot even count it.
"""


def _enlargeReceiveBuffer(port: Any) -> None:
    """
    Ask for L{RECEIVE_BUFFER}: with SO_RCVBUFFORCE where privileged, else
    SO_RCVBUF, which the kernel caps at net.core.rmem_max.
    """
    sock = getattr(port, "socket", None)
    if sock is None:
        return
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
            return
        except OSError:
            continue


def _describeFailure(error: BaseException) -> str:
    if isinstance(error, CannotListenError) and error.socketError is not None:
        inner = error.socketError
        return getattr(inner, "strerror", None) or str(inner)
    return getattr(error, "strerror", None) or str(error)


class _ListenerService(Service):
    """
    Twisted's ports log their own start-up line (C{listener 'telnet'
    starting on 5140}), with the real port even for port 0, so the
    service adds none.
    """

    log = Logger()

    def __init__(self, config: ListenerConfig, factory: ListenerFactory, reactor: Any, runAs: RunAs | None = None) -> None:
        self.name = f"listener/{config.name}"
        self.config = config
        self.factory = factory
        self.reactor = reactor
        self.runAs = runAs
        self.port: IListeningPort | None = None

    def privilegedStartService(self) -> None:
        if self.port is not None:
            return  # bound already: a reload binds a new listener before it starts it
        try:
            self.port = self._listen()
            if self.config.unixPath and self.runAs is not None:
                # As if the user logd runs as had created it.
                setOwner(self.config.unixPath, self.runAs.uid, self.runAs.gid)
        except StartupError:
            raise
        except Exception as e:
            raise StartupError(
                f"listener {self.config.name!r}: cannot listen on {self.config.endpoint}: {_describeFailure(e)}"
            ) from None
        Service.privilegedStartService(self)

    def startService(self) -> None:
        if self.running:
            return
        if self.port is None:
            self.privilegedStartService()
        Service.startService(self)

    def _listen(self) -> IListeningPort:
        raise NotImplementedError()

    def reconfigure(self, config: ListenerConfig, router: Any) -> None:
        """
        A reload's new settings for this listener's endpoint: the listening
        socket stays, and so do its connections (see
        L{ListenerFactory.reconfigure}).
        """
        self.config = config
        self.name = f"listener/{config.name}"
        self.factory.reconfigure(config, router)
        if config.unixPath and config.socketMode is not None:
            os.chmod(config.unixPath, config.socketMode)


class StreamListenerService(_ListenerService):
    """
    A listener on any stream endpoint Twisted's C{serverFromString} accepts.
    """

    reaper: IdleReaper | None = None

    def startService(self) -> None:
        if self.running:
            return
        super().startService()
        self._startReaper()

    def _startReaper(self) -> None:
        if self.reaper is not None:
            self.reaper.stop()
            self.reaper = None
        timeout = self.config.limits.idleTimeout
        if timeout is not None:
            self.reaper = IdleReaper(self.factory, timeout, self.reactor)
            self.reaper.start()

    def reconfigure(self, config: ListenerConfig, router: Any) -> None:
        hadTLS = self.factory.tls is not None
        super().reconfigure(config, router)
        if (self.factory.tls is not None) != hadTLS and self.port is not None:
            # TLS switched on or off: what the port hands new connections to.
            listening = self.factory.listeningFactory()
            listening.doStart()
            self.port.factory = listening
        if self.running:
            self._startReaper()

    def _listen(self) -> IListeningPort:
        if self.config.unixPath:
            _claimSocketPath(self.config.name, self.config.unixPath, socket.SOCK_STREAM, self.config.socketMode, self.runAs)
        if self.config.endpoint.startswith("systemd:"):
            inheritedSocket(self.config.name, self.config.endpoint, self.reactor).close()  # the right kind? Twisted adopts it
        endpoint = serverFromString(self.reactor, self.config.endpoint)
        result: list[Any] = []
        endpoint.listen(self.factory.listeningFactory()).addBoth(result.append)
        if not result:
            raise StartupError(f"listener {self.config.name!r}: {self.config.endpoint} did not bind at once")
        if isinstance(result[0], Failure):
            result[0].raiseException()
        port = result[0]
        if isinstance(port, unix.Port):
            port.connectionLost = _UnixPortClosing(port)  # type: ignore[method-assign]
        if isinstance(getattr(port, "_logger", None), Logger):
            # Twisted's accept logs through this class-wide logger (see AcceptLog).
            port._logger = Logger(port._logger.namespace, observer=AcceptLog(globalLogPublisher, self.factory.refusals))
        return port

    def stopService(self) -> Deferred:
        Service.stopService(self)
        if self.reaper is not None:
            self.reaper.stop()
        if self.factory.rate is not None:
            self.factory.rate.releaseAll()
        if self.port is None:
            return succeed(None)
        port, self.port = self.port, None
        self._acceptQueued(port)
        stopped = Deferred.fromCoroutine(self._stop(port))
        return stopped

    def _acceptQueued(self, port: IListeningPort) -> None:
        """
        Connections the kernel has queued but we have not accepted yet would
        be reset when the socket closes: accept them first, so their data is
        read like any other's.
        """
        doRead = getattr(port, "doRead", None)
        if doRead is None:
            return
        for _ in range(100):
            before = len(self.factory.connections)
            doRead()
            if len(self.factory.connections) == before:
                break

    async def _stop(self, port: IListeningPort) -> None:
        await port.stopListening()
        await self._drain()

    async def _drain(self) -> None:
        clock = self.reactor
        deadline = clock.seconds() + DRAIN_SECONDS
        seen: dict[Any, tuple[int, float]] = {}
        while self.factory.connections:
            now = clock.seconds()
            for connection in list(self.factory.connections):
                count = connection.bytesReceived
                last = seen.get(connection)
                if last is None or last[0] != count or self.factory.router.paused:
                    seen[connection] = (count, now)
                elif now - last[1] >= IDLE_SECONDS or now >= deadline:
                    connection.transport.loseConnection()
            if now >= deadline + 1.0:
                for connection in list(self.factory.connections):
                    connection.transport.abortConnection()
            await _later(clock, POLL_SECONDS)


class _UnixPortClosing:
    """
    What a Unix stream port does when it closes, as Twisted does it, except
    that a socket file that cannot be removed (its directory is not ours to
    write after a privilege drop) is a warning, not an unhandled error that
    also keeps the stop from finishing.  The next start replaces the file.
    """

    log = Logger()

    def __init__(self, port: unix.Port) -> None:
        self.port = port

    def __call__(self, reason: Failure) -> None:
        port = self.port
        path = os.fsdecode(port._bindPath)
        try:
            if not path.startswith("\0"):
                os.unlink(path)
            if port.lockFile is not None:
                port.lockFile.unlock()
        except OSError as e:
            self.log.warn(
                "cannot remove the socket {path} (or its lock): {error}; the next start replaces it",
                path=path,
                error=e.strerror,
            )
        unix.tcp.Port.connectionLost(port, reason)


def _later(clock: Any, seconds: float) -> Deferred:
    d: Deferred = Deferred()
    clock.callLater(seconds, d.callback, None)
    return d


class _UnixDatagramPort(unix.DatagramPort):
    """
    Twisted's Unix datagram port, whose start-up line names the listener
    (C{listener 'dgram' starting on '/run/logd/logd.dgram'}) like every
    other port's, not the protocol's class.  The binding is Twisted's own.
    """

    def _bindSocket(self) -> None:
        from twisted.python import log

        log.msg(f"{self.protocol.logPrefix()} starting on {self.port!r}")
        try:
            skt = self.createInternetSocket()
            skt.bind(self.port)
        except OSError as le:
            raise CannotListenError(None, self.port, le)
        os.chmod(self.port, self.mode)
        self.connected = 1
        self.socket = skt
        self.fileno = self.socket.fileno


class DatagramListenerService(_ListenerService):
    """
    A UDP or Unix datagram listener.  Datagram sockets cannot be paused:
    when a sink is full, what it cannot take is counted as dropped.
    """

    def __init__(self, config: ListenerConfig, factory: ListenerFactory, reactor: Any, runAs: RunAs | None = None) -> None:
        super().__init__(config, factory, reactor, runAs)
        self.protocol = buildDatagramProtocol(factory)

    def reconfigure(self, config: ListenerConfig, router: Any) -> None:
        """The socket stays; what this turn has read goes out the old way, the next datagram the new."""
        flush = getattr(self.protocol, "flush", None)
        if flush is not None:
            flush()
        super().reconfigure(config, router)
        self.protocol = buildDatagramProtocol(self.factory)
        if self.port is not None:
            self.port.protocol = self.protocol
            self.protocol.makeConnection(self.port)

    def _listen(self) -> IListeningPort:
        if self.config.address is None:  # systemd:...:type=datagram
            sock = inheritedSocket(self.config.name, self.config.endpoint, self.reactor)
            listening = adoptDatagram(self.reactor, sock, self.protocol, MAX_DATAGRAM)
        elif self.config.kind == "udp":
            port, interface = self.config.address
            listening = self.reactor.listenUDP(port, self.protocol, interface=interface, maxPacketSize=MAX_DATAGRAM)
        else:
            path, mode = self.config.address
            _claimSocketPath(self.config.name, path, socket.SOCK_DGRAM, mode, self.runAs)
            listening = _UnixDatagramPort(path, self.protocol, maxPacketSize=MAX_DATAGRAM, mode=mode, reactor=self.reactor)
            listening.startListening()
        _enlargeReceiveBuffer(listening)
        return listening

    def stopService(self) -> Deferred | None:
        Service.stopService(self)
        if self.port is None:
            return None
        port, self.port = self.port, None
        self._readUntilEmpty(port)
        stopped = port.stopListening()
        if self.config.kind == "unixgram" and self.config.address is not None:
            try:
                os.unlink(self.config.address[0])
            except OSError:
                pass
        return stopped

    def _readUntilEmpty(self, port: Any) -> None:
        """
        Take what is still queued on the socket: the reactor may not get
        another turn at it before the port closes.  Bounded, since a sender
        that never stops would otherwise keep the socket from ever emptying:
        what arrives after the bound is the kernel's to drop at close.
        """
        sock = getattr(port, "socket", None)
        if sock is None:
            return
        flush = getattr(self.protocol, "flush", None)
        deadline = time.monotonic() + DRAIN_DATAGRAM_SECONDS
        for count in range(1, DRAIN_DATAGRAMS + 1):
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM)
            except OSError:  # BlockingIOError: empty at last
                break
            self.protocol.datagramReceived(data, addr if addr else None)
            if count % 1000 == 0:
                if flush is not None:
                    flush()
                if time.monotonic() > deadline:
                    break
        if flush is not None:
            flush()
