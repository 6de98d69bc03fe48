#!/usr/bin/env python3
"""
The textbook Twisted logger, as a baseline: a C{LineReceiver} whose
C{lineReceived} writes one formatted line (receive time, peer, message) to
a file.  The file is an ordinary buffered Python file, flushed once the
reactor has handled what it read (C{callLater(0)}), so lines become visible
promptly without a system call per line.  A plain C{DatagramProtocol} does
the same for UDP.

    python bench/textbook_logger.py --port 5140 --udp-port 5142 --out out.log
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol, Factory
from twisted.protocols.basic import LineReceiver


class LogFile:
    def __init__(self, path: str) -> None:
        self.file = open(path, "ab")
        self.flushCall = None

    def write(self, peer: bytes, message: bytes) -> None:
        stamp = datetime.now(timezone.utc).isoformat().encode()
        self.file.write(b"%s %s %s\n" % (stamp, peer, message))
        if self.flushCall is None:
            self.flushCall = reactor.callLater(0, self.flush)

    def flush(self) -> None:
        self.flushCall = None
        self.file.flush()


class LineLogger(LineReceiver):
    delimiter = b"\n"
    MAX_LENGTH = 65536

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self.peer = b"%s:%d" % (peer.host.encode(), peer.port)

    def lineReceived(self, line: bytes) -> None:
        self.factory.log.write(self.peer, line)


class LineLoggerFactory(Factory):
    protocol = LineLogger
    noisy = False

    def __init__(self, log: LogFile) -> None:
        self.log = log


class DatagramLogger(DatagramProtocol):
    noisy = False

    def __init__(self, log: LogFile) -> None:
        self.log = log

    def datagramReceived(self, data: bytes, addr) -> None:
        self.log.write(b"%s:%d" % (addr[0].encode(), addr[1]), data.rstrip(b"\n"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--udp-port", type=int)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    log = LogFile(args.out)
    reactor.listenTCP(args.port, LineLoggerFactory(log), interface="127.0.0.1")
    if args.udp_port:
        reactor.listenUDP(args.udp_port, DatagramLogger(log), interface="127.0.0.1", maxPacketSize=65535)
    reactor.addSystemEventTrigger("before", "shutdown", log.flush)
    reactor.run()


if __name__ == "__main__":
    main()
