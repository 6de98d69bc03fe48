"""
The memory that unfinished lines hold, bounded across all connections.

A line protocol holds each connection's unterminated line until its LF
arrives, up to C{max_line} bytes (64 KiB by default).  One connection
holding that much is fine; five thousand of them hold 300 MiB.  So the
total is bounded too (C{max_partial_bytes}, default 64 MiB): when the
connections together hold more, the ones holding the most record what they
hold now, as a record cut early (counted per listener), until the total is
back under three quarters of the bound.  The rest of each such line becomes
the next record when it arrives.  Nothing is lost and no connection is held
back: pausing the connections holding the most would wait for the very
bytes that cannot arrive while they are paused.
"""

from __future__ import annotations

from typing import Any, Protocol as Interface

from twisted.logger import Logger


class PartialHolder(Interface):
    transport: Any

    def releasePartial(self) -> None:
        """Record the unfinished line now, and report the new (smaller) size held."""


class PartialBudget:
    """
    One per daemon, shared by every listener's connections.

    @ivar held: the bytes of unfinished lines held now, in all.
    """

    log = Logger()

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._holders: dict[PartialHolder, int] = {}

    def update(self, holder: PartialHolder, size: int) -> None:
        """
        C{holder} now holds C{size} bytes of unfinished line: called once per
        chunk read, so it is a dictionary update and a comparison.
        """
        previous = self._holders.get(holder, 0)
        if size == previous:
            return
        if size:
            self._holders[holder] = size
        else:
            del self._holders[holder]
        self.held += size - previous
        if self.held > self.limit:
            self._release()

    def _release(self) -> None:
        """
        The largest holders record their unfinished lines first: a few
        large ones bring the total down with few cuts.
        """
        target = self.limit * 3 // 4
        holders = self._holders
        for holder in sorted(holders, key=holders.__getitem__, reverse=True):
            if self.held <= target:
                break
            try:
                holder.releasePartial()
            except Exception:
                # Another connection's code (a custom lineReceived) failed
                # on its piece: that connection goes, not the one whose read
                # happened to pass the bound, and the release goes on.
                self.log.failure("a connection failed to record its unfinished line; closing it")
                self.held -= holders.pop(holder, 0)
                holder.transport.abortConnection()
