"""
Protocols: what a listener does with the bytes it reads.

C{raw} records every chunk (or datagram) as it came; C{line} cuts the stream
into lines.  Both hand whole batches to the listener's router.  A custom
protocol is any Twisted protocol class; it records messages with
C{self.factory.emit(messages, peer)}.
"""

from __future__ import annotations

from typing import Any, Sequence

from zope.interface import implementer

from twisted.internet.interfaces import IAddress, IHandshakeListener, IReactorTime
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure

from logd.config import DEFAULT_MAX_PARTIAL_BYTES, ListenerConfig
from logd.fields import SyslogFields
from logd.inputs.framing import LineSplitter, TelnetFilter, splitDatagram
from logd.inputs.limits import NOT_ALLOWED, AllowList, ConnectionGate, RateLimiter, Refusals
from logd.inputs.partials import PartialBudget
from logd.records import Batch, formatPeer
from logd.routing import Router
from logd.inputs.syslogframing import SyslogFramer, datagram_frame


SMALL_READ = 64 * 1024
LARGE_READ = 256 * 1024
PEER_CACHE = 4096


class ListenerFactory(Factory):
    """
    Builds one listener's protocols, is what custom protocols call to record
    messages, and keeps track of open connections so that a stop can drain
    them.

    @ivar connections: the open connections, each with a C{transport} and a
        C{bytesReceived} count, which a stop watches to tell a quiet
        connection from a busy one.
    """

    noisy = False

    def __init__(
        self, config: ListenerConfig, router: Router, clock: IReactorTime, partials: PartialBudget | None = None
    ) -> None:
        """
        @param partials: the bound on unfinished lines that every listener
            of the daemon shares.
        """
        self.clock = clock
        self.partials = partials if partials is not None else PartialBudget(DEFAULT_MAX_PARTIAL_BYTES)
        self.tls = None
        self.connections: set[Any] = set()
        self._configure(config, router)

    def _configure(self, config: ListenerConfig, router: Router) -> None:
        """What a new listener and a reloaded one take from their settings alike."""
        self.config, self.name, self.router = config, config.name, router
        self.refusals = Refusals(config.name, router.stats)
        self.gate = ConnectionGate(config.limits, self.refusals) if config.limits else None
        rate = config.limits.rateLimit
        self.rate = RateLimiter(rate, router, self.clock, self.refusals) if rate is not None else None
        if config.tls is None:
            self.tls = None
        elif self.tls is None:
            from logd.inputs.tls import ServerTLS

            self.tls = ServerTLS(config.tls, config.name)
        else:
            # The same object: the port's TLS wrapping holds it.
            self.tls.reconfigure(config.tls, config.name)
        self.protocol = config.protocolClass if config.protocolClass is not None else STREAM_PROTOCOLS[config.protocol]

    def reconfigure(self, config: ListenerConfig, router: Router) -> None:
        """
        Take a reload's settings for the same endpoint, keeping the port and
        every open connection.  The open connections move to C{router} (the
        new sinks) and to the new limits (counted against them, never
        closed by them); the protocol, C{max_line}, banner and TLS settings
        reach only the connections that follow.
        """
        old = self.router
        if self.rate is not None:
            self.rate.releaseAll()
        wasPaused = old.paused
        for connection in self.connections:
            old.removeProducer(connection.transport)
        self._configure(config, router)
        for connection in self.connections:
            router.addProducer(connection.transport)
            if wasPaused and not router.paused:
                connection.transport.resumeProducing()
            if self.gate is not None:
                self.gate.adopt(connection.gateHost)
            if self.rate is not None:
                self.rate.register(connection, connection.gateHost)

    def logPrefix(self) -> str:
        """What Twisted's port calls this listener in its own log lines ("... starting on 5140")."""
        return f"listener {self.name!r}"

    def buildProtocol(self, addr: IAddress) -> Protocol | None:
        """
        A protocol for a connection just accepted, or none (Twisted then
        closes it at once, unread) for one the listener's limits refuse.
        """
        host = getattr(addr, "host", None)
        if self.gate is not None and not self.gate.admit(host, formatPeer(addr)):
            return None
        protocol = Factory.buildProtocol(self, addr)
        if not isinstance(protocol, StreamProtocol):
            protocol = _Tracked(self, protocol)
        protocol.gateHost = host
        return protocol

    def emit(
        self,
        messages: Sequence[bytes],
        peer: IAddress | tuple | str | None = None,
        fields: Sequence[dict] | None = None,
    ) -> None:
        """
        Record C{messages} (a sequence of bytes, one per record) as received
        now from C{peer}: the public API for custom protocols.

        @param peer: the transport's C{getPeer()}, or a datagram's C{addr}.
            Only IP addresses name a peer; anything else (a Unix socket's
            path, which a client chooses freely) is written C{-}.
        @param fields: if given, a dict of named fields per message (see
            L{logd.fields}) for templates, filters and JSON.
        """
        if not messages:
            return
        host = getattr(peer, "host", None) if not isinstance(peer, tuple) else peer[0]
        messages, fields = self.limitRate(host, messages, fields)
        if messages:
            self.record(messages, formatPeer(peer), fields)

    def limitRate(
        self, host: str | None, messages: Sequence[bytes], fields: Sequence[dict] | None
    ) -> tuple[Sequence[bytes], Sequence[dict] | None]:
        """
        What of C{messages} a sender's rate limit lets through now: all of
        them when it pauses senders instead (it is told what was taken).
        """
        rate = self.rate
        if rate is None:
            return messages, fields
        if rate.pauses:
            rate.took(host, len(messages))
            return messages, fields
        allowed = rate.admit(host, len(messages))
        if allowed == len(messages):
            return messages, fields
        return messages[:allowed], _first(fields, allowed)

    def record(
        self, messages: Sequence[bytes], peer: str, fields: Sequence[dict] | None = None, tlsPeer: str | None = None
    ) -> None:
        """
        Route C{messages} from an already formatted C{peer}: the built-in
        protocols' way in, which formats each peer once, not per read.
        """
        self.router.route(Batch(self.clock.seconds(), self.name, peer, messages, fields, tlsPeer))

    def listeningFactory(self) -> Factory:
        """What the endpoint listens with: this factory, or this one behind TLS."""
        if self.tls is None:
            return self
        from logd.inputs.tls import TLSListenerFactory

        return TLSListenerFactory(self.tls, False, self)

    def liveCounts(self) -> dict[str, int]:
        """
        The counters that open connections keep to themselves until they
        end (bytes read, the syslog framer's tallies), added to the
        listener's: read when the figures are asked for, so the hot path
        counts nothing extra.
        """
        stats = self.router.stats
        counts = {
            "bytesReceived": stats.bytesReceived,
            "splitLines": stats.splitLines,
            "skippedBytes": stats.skippedBytes,
            "badLengthPrefixes": stats.badLengthPrefixes,
        }
        for connection in self.connections:
            counts["bytesReceived"] += connection.bytesReceived
            framer = getattr(connection, "framer", None)
            if isinstance(framer, LineSplitter):
                counts["splitLines"] += framer.splitLines
            elif isinstance(framer, SyslogFramer):
                counts["splitLines"] += framer.split_frames
                counts["skippedBytes"] += framer.skipped_bytes
                counts["badLengthPrefixes"] += framer.bad_length_prefixes
        return counts

    # Connection tracking, named as policies.WrappingFactory names it.

    def registerProtocol(self, connection: Any) -> None:
        self.connections.add(connection)
        self.router.stats.accepted += 1
        self.router.addProducer(connection.transport)
        if self.rate is not None:
            self.rate.register(connection, connection.gateHost)
        if self.tls is not None:
            connection.handshakeDeadline = self.clock.callLater(
                self.config.tls.handshakeTimeout, self._handshakeTimedOut, connection
            )

    # TLS: the handshake's outcome, for every protocol (the built-in ones
    # and the custom ones wrapped in _Tracked).

    def handshakeCompleted(self, connection: Any) -> None:
        """
        The client is who its certificate says (OpenSSL has checked it
        against C{ca}); is it a permitted peer?  Its identity is written
        with each of its records as C{tls_peer}.
        """
        from logd.inputs.tls import NOT_PERMITTED, peerIdentity

        connection.handshakeDone = True
        _cancelDeadline(connection)
        certificate = connection.transport.getPeerCertificate()
        if certificate is None:
            return
        identity, permitted = peerIdentity(certificate, self.config.tls.permittedPeers)
        if not permitted:
            connection.refused = True
            self.refusals.refuse(NOT_PERMITTED, f"{connection.peer} ({identity})")
            connection.transport.abortConnection()
            return
        connection.tlsPeer = identity

    def _handshakeTimedOut(self, connection: Any) -> None:
        from logd.inputs.tls import HANDSHAKE_TIMEOUT

        connection.refused = True
        self.refusals.refuse(HANDSHAKE_TIMEOUT, connection.peer)
        connection.transport.abortConnection()

    def _tlsEnded(self, connection: Any) -> None:
        _cancelDeadline(connection)
        if connection.handshakeDone or connection.refused:
            return
        from logd.inputs.tls import classifyFailure

        reason, detail = classifyFailure(connection.lostReason, connection.transport)
        self.refusals.refuse(reason, f"{connection.peer}: {detail}")

    def unregisterProtocol(self, connection: Any) -> None:
        """
        A connection has ended: its bytes count now, whether a built-in
        protocol or a custom one (wrapped in L{_Tracked}) read them.
        """
        self.connections.discard(connection)
        self.router.removeProducer(connection.transport)
        self.router.stats.bytesReceived += connection.bytesReceived
        if self.gate is not None:
            self.gate.release(connection.gateHost)
        if self.rate is not None:
            self.rate.unregister(connection, connection.gateHost)
        if self.tls is not None:
            self._tlsEnded(connection)


def _cancelDeadline(connection: Any) -> None:
    deadline = connection.handshakeDeadline
    if deadline is not None and deadline.active():
        deadline.cancel()


def _first(fields: Sequence[dict] | None, count: int) -> Sequence[dict] | None:
    if fields is None:
        return None
    if isinstance(fields, SyslogFields):
        return fields.subset(range(count))
    return fields[:count]


class _ConnectionState:
    """
    What the listener's edge knows of a connection, built-in or custom: its
    sender's address (for the limits) and what its TLS handshake left
    (nothing, on a plain listener).
    """

    gateHost: str | None = None
    handshakeDeadline: Any = None
    tlsPeer: str | None = None
    handshakeDone = False
    refused = False
    lostReason: Failure | None = None

    def handshakeCompleted(self) -> None:
        self.factory.handshakeCompleted(self)


@implementer(IHandshakeListener)
class StreamProtocol(_ConnectionState, Protocol):
    """
    The base of the built-in stream protocols: peer formatting, the banner,
    connection tracking and batch emission.
    """

    factory: ListenerFactory
    bytesReceived = 0

    def connectionMade(self) -> None:
        self.peer = formatPeer(self.transport.getPeer())
        self.factory.registerProtocol(self)
        if self.factory.config.banner:
            self.transport.write(self.factory.config.banner)

    def dataReceived(self, data: bytes) -> None:
        size = len(data)
        self.bytesReceived += size
        # A busy connection gets bigger reads (fewer trips through Python
        # per line); a quiet one keeps small ones, because a read buffer
        # past malloc's mmap threshold costs an mmap and munmap per read.
        self.transport.bufferSize = LARGE_READ if size >= SMALL_READ else SMALL_READ
        self.chunkReceived(data)

    def chunkReceived(self, data: bytes) -> None:
        raise NotImplementedError()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.lostReason = reason
        try:
            self.finish()
        finally:
            # Even if a subclass's lineReceived raised on the last line: a
            # connection left registered would keep a stop draining for ever.
            self.factory.partials.update(self, 0)
            self.factory.unregisterProtocol(self)

    def releasePartial(self) -> None:
        """
        Record the unfinished message held now, cut early to keep the
        daemon's memory bounded (L{logd.inputs.partials}).
        """
        pieces = self.framer.release()
        self.factory.partials.update(self, self.framer.held)
        if pieces:
            self.factory.router.stats.cutEarly += 1
            self.emitReleased(pieces)

    def emitReleased(self, pieces: list[bytes]) -> None:
        self.emit(pieces)

    def finish(self) -> None:
        """
        Record whatever partial message is held.  Called when the connection
        ends, however it ends.
        """

    def emit(self, messages: Sequence[bytes], fields: Sequence[dict] | None = None) -> None:
        if messages:
            factory = self.factory
            if factory.rate is not None:
                messages, fields = factory.limitRate(self.gateHost, messages, fields)
                if not messages:
                    return
            factory.record(messages, self.peer, fields, self.tlsPeer)


class RawProtocol(StreamProtocol):
    """
    Every chunk read is one record: concatenating a connection's unescaped
    messages gives back its byte stream exactly.
    """

    def chunkReceived(self, data: bytes) -> None:
        self.emit((data,))


class LineProtocol(StreamProtocol):
    """
    LF-delimited lines, with telnet commands removed.

    The fast path parses a whole chunk into a batch of lines.  A subclass
    may still override L{lineReceived}, as with Twisted's C{LineReceiver};
    its lines are then passed to it one call each instead.
    """

    def connectionMade(self) -> None:
        self._telnet = TelnetFilter()
        self.framer = LineSplitter(self.factory.config.maxLine)
        self._perLine = type(self).lineReceived is not LineProtocol.lineReceived
        super().connectionMade()

    def chunkReceived(self, data: bytes) -> None:
        lines = self.framer.feed(self._telnet.feed(data))
        if lines:
            self.linesReceived(lines)
        self.factory.partials.update(self, self.framer.held)

    def emitReleased(self, pieces: list[bytes]) -> None:
        self.linesReceived(pieces)

    def finish(self) -> None:
        lines = [*self.framer.feed(self._telnet.finish()), *self.framer.finish()]
        if lines:
            self.linesReceived(lines)
        self.factory.router.stats.splitLines += self.framer.splitLines
        self.framer.splitLines = 0

    def linesReceived(self, lines: list[bytes]) -> None:
        if self._perLine:
            for line in lines:
                self.lineReceived(line)
        else:
            self.emit(lines)

    def lineReceived(self, line: bytes) -> None:
        """
        Override to handle lines one at a time; the default records them
        in batches without calling this.
        """
        self.emit((line,))


def _dropTrailingLF(frames: list[bytes]) -> list[bytes]:
    """
    rsyslog and syslog-ng end an octet-counted frame with an LF inside the
    count; like them on reception, drop it (and a CR before it).
    """
    trimmed = []
    for frame in frames:
        if frame.endswith(b"\n"):
            frame = frame[:-2] if frame.endswith(b"\r\n") else frame[:-1]
        if frame:
            trimmed.append(frame)
    return trimmed


class SyslogProtocol(StreamProtocol):
    """
    Syslog over a stream: RFC 6587 octet counting and LF- or NUL-terminated
    messages, detected per message.  Fields are parsed only when a sink
    asks for them (L{SyslogFields}).
    """

    def connectionMade(self) -> None:
        self.framer = SyslogFramer(self.factory.config.maxLine)
        super().connectionMade()

    def chunkReceived(self, data: bytes) -> None:
        frames = self._frames(self.framer.feed(data))
        if frames:
            self.emit(frames, SyslogFields(frames, self.peer))
        self.factory.partials.update(self, self.framer.held)

    def emitReleased(self, pieces: list[bytes]) -> None:
        self.emit(pieces, SyslogFields(pieces, self.peer))

    def _frames(self, frames: list[bytes]) -> list[bytes]:
        # Frames ended by LF or NUL never end with an LF: only look at
        # batches that hold octet-counted ones.
        if self.framer.octet_frames:
            self.framer.octet_frames = 0
            return _dropTrailingLF(frames)
        return frames

    def finish(self) -> None:
        frames = self._frames(self.framer.finish())
        if frames:
            self.emit(frames, SyslogFields(frames, self.peer))
        stats = self.factory.router.stats
        stats.splitLines += self.framer.split_frames
        stats.skippedBytes += self.framer.skipped_bytes
        stats.badLengthPrefixes += self.framer.bad_length_prefixes


STREAM_PROTOCOLS: dict[str, type[StreamProtocol]] = {
    "raw": RawProtocol,
    "line": LineProtocol,
    "syslog": SyslogProtocol,
}


@implementer(IHandshakeListener)
class _Tracked(_ConnectionState, ProtocolWrapper):
    """
    Wraps a custom protocol so that a stop can see its traffic and wait for
    it to close, as it does for the built-in ones.  (Its records, emitted
    through the factory, carry no C{tls_peer}: the factory does not know
    which connection they came from.)
    """

    bytesReceived = 0

    def makeConnection(self, transport: Any) -> None:
        self.peer = formatPeer(transport.getPeer())
        ProtocolWrapper.makeConnection(self, transport)

    def dataReceived(self, data: bytes) -> None:
        self.bytesReceived += len(data)
        self.wrappedProtocol.dataReceived(data)

    def connectionLost(self, reason: Failure) -> None:
        self.lostReason = reason
        ProtocolWrapper.connectionLost(self, reason)


class RawDatagramProtocol(DatagramProtocol):
    """
    Every datagram is one record.

    Datagrams come one system call each, but the reactor reads many in one
    turn: they are collected per sender and recorded as one batch per
    sender at the end of the turn, so formatting, routing and writing are
    paid per turn, not per datagram.
    """

    noisy = False

    def __init__(self, factory: ListenerFactory) -> None:
        self.factory = factory
        self.stats = factory.router.stats
        allow = factory.config.limits.allow
        self.allowed = AllowList(allow) if allow is not None else None
        self.maxLine = factory.config.maxLine
        self._peers: dict[Any, str] = {}
        self._pending: dict[Any, list[bytes]] = {}
        self._flushCall: Any = None

    def logPrefix(self) -> str:
        return self.factory.logPrefix()

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.stats.bytesReceived += len(data)
        if self.allowed is not None and not self.allowed(addr[0] if addr else None):
            self.factory.refusals.refuse(NOT_ALLOWED, self.peer(addr))
            return
        pending = self._pending.get(addr)
        if pending is None:
            if self._flushCall is None:
                self._flushCall = self.factory.clock.callLater(0, self.flush)
            pending = self._pending[addr] = []
        pending.append(data)

    def flush(self) -> None:
        """
        Record what this turn read, one batch per sender.
        """
        if self._flushCall is not None:
            if self._flushCall.active():
                self._flushCall.cancel()
            self._flushCall = None
        pending, self._pending = self._pending, {}
        rate = self.factory.rate
        for addr, datagrams in pending.items():
            if rate is not None:
                # Datagrams cannot be paused: over the limit they are dropped (counted).
                datagrams = datagrams[: rate.admit(addr[0] if addr else None, len(datagrams))]
                if not datagrams:
                    continue
            self.recordDatagrams(datagrams, self.peer(addr))

    def recordDatagrams(self, datagrams: list[bytes], peer: str) -> None:
        messages = [data for data in datagrams if data] if b"" in datagrams else datagrams
        if messages:
            self.factory.record(messages, peer)

    def peer(self, addr: Any) -> str:
        """
        The formatted peer, cached: a datagram listener hears from the same
        senders over and over.
        """
        text = self._peers.get(addr)
        if text is None:
            if len(self._peers) >= PEER_CACHE:
                self._peers.clear()
            text = self._peers[addr] = formatPeer(addr)
        return text


class LineDatagramProtocol(RawDatagramProtocol):
    """
    A datagram holds one or more lines; the last needs no LF.
    """

    def recordDatagrams(self, datagrams: list[bytes], peer: str) -> None:
        # Each datagram ends a line, so joining them with LFs gives a stream
        # that splits into exactly their lines, in one pass.
        lines, split = splitDatagram(b"\n".join(datagrams), self.maxLine)
        self.stats.splitLines += split
        if lines:
            self.factory.record(lines, peer)


class SyslogDatagramProtocol(RawDatagramProtocol):
    """
    One datagram is one syslog message, trailing LF or NUL trimmed.
    """

    def recordDatagrams(self, datagrams: list[bytes], peer: str) -> None:
        messages = [message for message in map(datagram_frame, datagrams) if message]
        if messages:
            self.factory.record(messages, peer, SyslogFields(messages, peer))


DATAGRAM_PROTOCOLS: dict[str, type[RawDatagramProtocol]] = {
    "raw": RawDatagramProtocol,
    "line": LineDatagramProtocol,
    "syslog": SyslogDatagramProtocol,
}


def buildDatagramProtocol(factory: ListenerFactory) -> DatagramProtocol:
    """
    Datagram sockets have no factory; their protocol is built once, and a
    custom one gets the listener's factory as C{.factory} so that it can
    call C{self.factory.emit} like a stream protocol does.
    """
    config = factory.config
    if config.protocolClass is None:
        return DATAGRAM_PROTOCOLS[config.protocol](factory)
    protocol = config.protocolClass()
    protocol.factory = factory
    _watchDatagrams(protocol, factory)
    return protocol


def _watchDatagrams(protocol: DatagramProtocol, factory: ListenerFactory) -> None:
    """
    A custom datagram protocol's bytes are counted like the built-in ones',
    and it sees only what C{allow} lets through: its own
    C{datagramReceived} is put behind both.
    """
    received = protocol.datagramReceived
    allow = factory.config.limits.allow
    allowed = AllowList(allow) if allow is not None else None
    stats = factory.router.stats

    def datagramReceived(data: bytes, addr: Any) -> None:
        stats.bytesReceived += len(data)
        if allowed is None or allowed(addr[0] if addr else None):
            received(data, addr)
        else:
            factory.refusals.refuse(NOT_ALLOWED, formatPeer(addr))

    protocol.datagramReceived = datagramReceived  # type: ignore[method-assign]
