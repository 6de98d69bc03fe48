#!/usr/bin/env python3
"""
The ceiling for a Twisted logger, not a peer: a bare C{Protocol} whose
C{dataReceived} appends each chunk it reads, unparsed (no lines, no time,
no peer, no escaping), to a buffered file flushed once the reactor has
handled what it read (C{callLater(0)}).  What it costs per line is the
reactor and the file writes alone, which no logger that looks at its lines
can beat.  Twisted's defaults otherwise (epoll reactor, 64 KiB reads).

The one concession to correctness: a chunk is written up to its last LF
and the rest waits for the connection's next chunk (one C{rfind} per
chunk, no copy), so that lines from several connections do not interleave
mid-line in the file.

    python bench/bare_logger.py --port 5140 --out out.log
"""

from __future__ import annotations

import argparse

from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol


class ChunkFile:
    def __init__(self, path: str) -> None:
        self.file = open(path, "ab")
        self.flushCall = None

    def write(self, chunk: bytes | memoryview) -> None:
        self.file.write(chunk)
        if self.flushCall is None:
            self.flushCall = reactor.callLater(0, self.flush)

    def flush(self) -> None:
        self.flushCall = None
        self.file.flush()


class BareLogger(Protocol):
    partial = b""

    def dataReceived(self, data: bytes) -> None:
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            self.partial += data
            return
        out = self.factory.out
        if self.partial:
            out.write(self.partial)
            self.partial = b""
        out.write(memoryview(data)[:cut] if cut < len(data) else data)
        if cut < len(data):
            self.partial = data[cut:]

    def connectionLost(self, reason: object = None) -> None:
        if self.partial:
            self.factory.out.write(self.partial)
            self.partial = b""


class BareLoggerFactory(Factory):
    protocol = BareLogger
    noisy = False

    def __init__(self, out: ChunkFile) -> None:
        self.out = out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    out = ChunkFile(args.out)
    reactor.listenTCP(args.port, BareLoggerFactory(out), interface="127.0.0.1")
    reactor.addSystemEventTrigger("before", "shutdown", out.flush)
    reactor.run()


if __name__ == "__main__":
    main()
