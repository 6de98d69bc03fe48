"""
Routing: from a listener's batches to its sinks, and backpressure back.

Each listener has one L{Router}.  The router hands every batch to each of
the listener's sinks, through the sink's filter if it has one, and watches
them: while any of them is over its buffer limit, the router pauses every
connection of the listener (TCP and Unix stream transports are push
producers), so a flood is held in the clients' and the kernel's buffers
rather than in logd's memory.  A sink configured C{when_full: drop} never
pauses anything: what it cannot take is dropped and counted, so a dead
destination (a stdout reader gone, a full disk) cannot hold back the
listener's other sinks.  Datagram sockets cannot be paused; what a full sink
must refuse from them is counted too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from zope.interface import Interface

from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger

from logd.filters import Filter
from logd.records import Batch


class ISink(Interface):
    """
    Where routed batches go.  A sink formats, buffers and writes them.
    """

    def write(batch: Batch) -> None:
        """
        Accept a batch.  Never raises: a failing sink keeps the data
        buffered and retries.
        """

    def isFull() -> bool:
        """
        Whether the sink's buffer is over its limit.
        """

    def addPressureObserver(observer: "IPressureObserver") -> None:
        """
        Tell C{observer} when the buffer goes over its limit and when it has
        drained again.
        """

    def removePressureObserver(observer: "IPressureObserver") -> None:
        """Stop telling C{observer} (a router a reload replaced)."""


class IPressureObserver(Interface):
    def sinkFull(sink: ISink) -> None:
        """The sink's buffer went over its limit."""

    def sinkDrained(sink: ISink) -> None:
        """The sink's buffer is back under its limit."""


log = Logger()


@dataclass
class ListenerStats:
    """
    What one listener received and what it could not deliver, by reason.
    """

    bytesReceived: int = 0
    """Bytes of connections that have ended, and of every datagram (open connections keep their own count)."""
    records: int = 0
    """Records framed and routed: what reaches the router (a rate limit's drops are not in it)."""
    accepted: int = 0
    """Stream connections accepted and not refused."""
    splitLines: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    """Records handed to each sink, by sink name, after its filter."""
    filtered: dict[str, int] = field(default_factory=dict)
    """Records a sink's filter did not select, by sink name."""
    sinkFull: dict[str, int] = field(default_factory=dict)
    """Records dropped because a sink was full, by sink name."""
    sinkError: dict[str, int] = field(default_factory=dict)
    """Records a sink raised on (it logs the first time), so the others still got them, by sink name."""
    skippedBytes: int = 0
    """Bytes of octet-counted syslog frames beyond max_line, skipped."""
    badLengthPrefixes: int = 0
    """Syslog frames whose octet count was malformed (framed by LF/NUL instead)."""
    cutEarly: int = 0
    """Unfinished lines recorded before their end, to keep the total held under max_partial_bytes."""
    droppedRateLimit: int = 0
    """Records dropped because their sender was over its rate limit (when_over: drop, and datagrams)."""
    refused: dict[str, int] = field(default_factory=dict)
    """Connections (or datagrams) refused at the edge, by reason (see L{logd.inputs.limits})."""
    closedIdle: int = 0
    """Connections closed for sending nothing for idle_timeout."""

    @property
    def droppedSinkFull(self) -> int:
        return sum(self.sinkFull.values())

    @property
    def droppedSinkError(self) -> int:
        return sum(self.sinkError.values())


def _sinkName(sink: ISink) -> str:
    return getattr(sink, "sinkName", None) or repr(sink)


class Router:
    """
    Fan one listener's batches out to its sinks, and pause the listener's
    connections while any of those sinks is full.

    @ivar canPause: whether the listener's transports can be paused; a
        datagram listener's cannot, so a full sink drops (and counts) what
        it would have buffered.
    """

    def __init__(
        self,
        sinks: Iterable[ISink],
        stats: ListenerStats,
        canPause: bool,
        filters: Iterable[Filter | None] | None = None,
        dropWhenFull: Iterable[ISink] = (),
    ) -> None:
        """
        @param dropWhenFull: the sinks that drop what they cannot take
            rather than pause the listener (C{when_full: drop}).
        """
        self.sinks = tuple(sinks)
        self.filters = tuple(filters) if filters is not None else (None,) * len(self.sinks)
        self._routes = tuple((sink, selector, _sinkName(sink)) for sink, selector in zip(self.sinks, self.filters))
        self.stats = stats
        for name in (route[2] for route in self._routes):
            for tally in (stats.delivered, stats.filtered, stats.sinkFull, stats.sinkError):
                tally.setdefault(name, 0)
        self.canPause = canPause
        self._dropWhenFull = frozenset(dropWhenFull) if canPause else frozenset(self.sinks)
        self._producers: set[IPushProducer] = set()
        self._full: set[ISink] = set()
        """Sinks over their limit that drop what they cannot take."""
        self._holding: set[ISink] = set()
        """Sinks over their limit that hold the connections paused."""
        self._failedSinks: set[ISink] = set()
        self._held: set[IPushProducer] = set()
        """Connections paused for their own sake (a rate limit), whatever the sinks say."""
        for sink in self.sinks:
            sink.addPressureObserver(self)
            if sink.isFull():
                self.sinkFull(sink)

    @property
    def paused(self) -> bool:
        return bool(self._holding) and self.canPause

    def route(self, batch: Batch) -> None:
        """
        Hand C{batch} to every sink, counting per batch (never per record)
        where each of its records went: every record routed is delivered,
        filtered out, or dropped for a reason, for each sink.
        """
        stats = self.stats
        full = self._full
        count = len(batch.messages)
        stats.records += count
        for sink, selector, name in self._routes:
            if selector is None:
                part, taken = batch, count
            else:
                part = selector.select(batch)
                taken = 0 if part is None else len(part.messages)
                if taken != count:
                    stats.filtered[name] += count - taken
                if part is None:
                    continue
            if full and sink in full:
                stats.sinkFull[name] += taken
                continue
            try:
                sink.write(part)
                stats.delivered[name] += taken
            except Exception:
                # A sink that cannot take a batch (a custom protocol's fields
                # it cannot format) must not keep it from the others, nor
                # reach the protocol and cost the connection.
                stats.sinkError[name] += taken
                if sink not in self._failedSinks:
                    self._failedSinks.add(sink)
                    log.failure("{sink} could not take a batch; such records are counted as dropped", sink=sink)

    def detach(self) -> None:
        """This router is done (a reload made another): its sinks stop telling it of their pressure."""
        for sink in self.sinks:
            sink.removePressureObserver(self)

    @property
    def pausedConnections(self) -> int:
        """Connections not being read now: all of them while a sink holds them, else those held for their own sake."""
        return len(self._producers) if self._holding and self.canPause else len(self._held)

    def addProducer(self, producer: IPushProducer) -> None:
        self._producers.add(producer)
        if self._holding:
            producer.pauseProducing()

    def removeProducer(self, producer: IPushProducer) -> None:
        self._producers.discard(producer)
        self._held.discard(producer)

    def holdProducer(self, producer: IPushProducer) -> None:
        """
        Pause one connection for a reason of its own (its sender is over
        its rate limit): a drained sink does not resume it, only
        L{releaseProducer} does.
        """
        if producer not in self._held and producer in self._producers:
            self._held.add(producer)
            if not self._holding:
                producer.pauseProducing()

    def releaseProducer(self, producer: IPushProducer) -> None:
        if producer in self._held:
            self._held.discard(producer)
            if not self._holding:
                producer.resumeProducing()

    def isHeld(self, producer: IPushProducer) -> bool:
        return producer in self._held

    def sinkFull(self, sink: ISink) -> None:
        if sink in self._dropWhenFull:
            self._full.add(sink)
            return
        wasPaused = bool(self._holding)
        self._holding.add(sink)
        if not wasPaused:
            for producer in list(self._producers):
                producer.pauseProducing()

    def sinkDrained(self, sink: ISink) -> None:
        self._full.discard(sink)
        if sink in self._holding:
            self._holding.discard(sink)
            if not self._holding:
                for producer in list(self._producers):
                    if producer not in self._held:
                        producer.resumeProducing()
