"""
logd's own log under C{twistd -n}, written so that it never blocks the reactor.

In the foreground twistd writes its log to C{sys.stdout} with blocking
writes: a reader that stops reading (a stalled journald, a pipe into a
paused pager, Ctrl-S on a terminal) would stop the whole daemon, whatever
the sinks' C{when_full} says.  L{DaemonLog} takes C{sys.stdout}'s place
before twistd's log starts.  A line goes out at once when the reader has
room, which is the usual case, so nothing is left waiting when the process
exits; while the reader has no room, lines wait (up to L{MAX_PENDING}
bytes) and go out as soon as the reactor says it has; past that, whole
lines are dropped and counted, and one line saying how many goes out first
once the reader is back.
"""

from __future__ import annotations

import time
from typing import Any

from zope.interface import implementer

from twisted.internet.interfaces import IWriteDescriptor
from twisted.logger import formatTime
from twisted.python import threadable

from logd.outputs.writing import NonBlockingOutput, dropFront

MAX_PENDING = 4 * 1024 * 1024
"""The most bytes of logd's own log held while its reader is not reading."""


@implementer(IWriteDescriptor)
class DaemonLog:
    """
    A text file for twistd's log observer (C{write}, C{flush}) that holds,
    rather than blocks, while its reader is behind.

    @ivar linesDropped: lines lost because the reader was too far behind
        (or gone), since start.
    """

    encoding = "utf-8"

    def __init__(self, reactor: Any, fd: int = 1, limit: int = MAX_PENDING) -> None:
        self.reactor = reactor
        self.limit = limit
        self.linesDropped = 0
        self._out = NonBlockingOutput(fd)
        self._pending: list[bytes] = []
        self._pendingBytes = 0
        self._unreported = 0
        self._waiting = False
        self._gone = False

    def write(self, text: str) -> None:
        if not threadable.isInIOThread():
            # Twisted's log calls observers in the thread that logs.
            self.reactor.callFromThread(self.write, text)
            return
        data = text.encode("utf-8", "backslashreplace")
        if self._gone or self._pendingBytes + len(data) > self.limit:
            lines = data.count(b"\n") or 1
            self.linesDropped += lines
            self._unreported += lines
            return
        self._pending.append(data)
        self._pendingBytes += len(data)
        self._send()

    def flush(self) -> None:
        """Every write goes out as far as the reader lets it: nothing is held for a flush."""

    @property
    def pendingBytes(self) -> int:
        return self._pendingBytes

    def _send(self) -> None:
        if self._unreported and not self._gone:
            note = (
                f"{formatTime(time.time())} [logd] {self._unreported} lines of logd's own log were dropped: "
                "its standard output was not being read\n"
            ).encode()
            if self._pendingBytes + len(note) <= self.limit:
                self._pending.append(note)
                self._pendingBytes += len(note)
                self._unreported = 0
        try:
            written = self._out.writeSome(self._pending)
        except OSError:
            # The reader is gone (EPIPE): nothing will reach it again.
            self._gone = True
            self.linesDropped += sum(piece.count(b"\n") for piece in self._pending)
            self._pending, self._pendingBytes = [], 0
            return
        self._pending = dropFront(self._pending, written, self._pendingBytes)
        self._pendingBytes -= written
        if (self._pending or self._unreported) and not self._waiting:
            self._waiting = True
            self.reactor.addWriter(self)

    def close(self) -> None:
        """Stop writing: what is still held is dropped (tests; the daemon keeps its log to the end)."""
        if self._waiting:
            self.reactor.removeWriter(self)
            self._waiting = False
        self._out.close()

    # IWriteDescriptor: the reactor says when the reader has room again.

    def fileno(self) -> int:
        return self._out.fileno()

    def doWrite(self) -> None:
        self._waiting = False
        self.reactor.removeWriter(self)
        self._send()

    def connectionLost(self, reason: object) -> None:
        self._waiting = False

    def logPrefix(self) -> str:
        return "logd's own log"


def install(reactor: Any, twistdOptions: Any) -> DaemonLog | None:
    """
    Put a L{DaemonLog} in C{sys.stdout}'s place when twistd is going to log
    to standard output: in the foreground, without C{--logfile} (or with
    C{--logfile=-}) and without C{--syslog}.  Called from C{makeService},
    which twistd runs before it starts its log.
    """
    import sys

    if twistdOptions is None or not twistdOptions.get("nodaemon") or twistdOptions.get("syslog"):
        return None
    if twistdOptions.get("logfile") not in (None, "", "-"):
        return None
    if not hasattr(sys.stdout, "fileno"):
        return None
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):
        return None
    log = DaemonLog(reactor, fd)
    sys.stdout = log  # type: ignore[assignment]
    return log
