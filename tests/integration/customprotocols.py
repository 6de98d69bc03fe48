"""
Custom protocols that the integration tests name in their configs as
C{tests.integration.customprotocols:Class}, written the way the README tells
users to: any Twisted protocol that records with C{self.factory.emit}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import DatagramProtocol, Protocol

from logd.inputs.protocols import LineProtocol


class ReversedWords(Protocol):
    """
    A plain Twisted Protocol: each chunk's words, reversed, become one record
    per word; it answers each chunk with the number of words it saw.
    """

    def dataReceived(self, data: bytes) -> None:
        words = data.split()
        self.factory.emit([word[::-1] for word in words], self.transport.getPeer())
        self.transport.write(b"%d\n" % len(words))


class SemicolonProtocol(Protocol):
    """
    The README's example: C{;}-separated records, the unterminated last one
    emitted when the connection ends.
    """

    def connectionMade(self) -> None:
        self.pending = b""

    def dataReceived(self, data: bytes) -> None:
        *records, self.pending = (self.pending + data).split(b";")
        self.factory.emit(records, self.transport.getPeer())

    def connectionLost(self, reason: object) -> None:
        self.factory.emit([self.pending] if self.pending else [], self.transport.getPeer())


class Numbered(LineProtocol):
    """
    Keeps the line protocol's framing but handles each line itself, as a
    LineReceiver subclass would: records are numbered per connection.
    """

    def connectionMade(self) -> None:
        super().connectionMade()
        self.count = 0

    def lineReceived(self, line: bytes) -> None:
        self.count += 1
        self.factory.emit([b"%d: %s" % (self.count, line)], self.transport.getPeer())


class UpperDatagrams(DatagramProtocol):
    """
    A custom datagram protocol: each datagram, upper-cased, is one record.
    """

    factory: Any

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.factory.emit([data.upper()], addr)


class Picky(LineProtocol):
    """
    Takes only lines ending with "!": a piece of a line cut early by the
    partial-line bound makes its lineReceived raise.
    """

    def lineReceived(self, line: bytes) -> None:
        if not line.endswith(b"!"):
            raise ValueError(f"not a whole line: {line[:20]!r}")
        self.emit((line,))
