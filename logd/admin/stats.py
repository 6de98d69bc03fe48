"""
The figures of a running logd, read from the listeners and sinks when they
are asked for.

Nothing here runs per record: the hot path keeps plain integer counters
per batch (see L{logd.routing.ListenerStats} and L{logd.outputs.sinks}),
and a snapshot adds them up, with what open connections hold, once per
scrape.  The figures balance, for every listener and each of its sinks::

    received  = routed + dropped{rate_limit}
    routed    = delivered[sink] + filtered[sink] + dropped{sink_full}[sink] + dropped{sink_error}[sink]
    delivered[sink] = written + buffered + discarded        (that sink's counts for this listener)

A L{Rates} sampler keeps one reading a second for five minutes, for the
rates over 10 s, 1 min and 5 min.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections import deque
from typing import Any

from twisted.internet.task import LoopingCall

from logd import __version__

WINDOWS = {"10s": 10.0, "1m": 60.0, "5m": 300.0}
SAMPLE_SECONDS = 1.0


def listenerFigures(listener: Any) -> dict[str, Any]:
    """One listener's figures (a L{logd.inputs.listeners} service)."""
    factory = listener.factory
    config = listener.config
    stats = factory.router.stats
    live = factory.liveCounts()
    figures: dict[str, Any] = {
        "endpoint": config.endpoint,
        "protocol": config.protocol,
        "kind": config.kind,
        "sinks": list(config.sinks),
        "connections_open": len(factory.connections),
        "connections_accepted": stats.accepted,
        "connections_paused": factory.router.pausedConnections,
        "connections_closed_idle": stats.closedIdle,
        "refused": dict(stats.refused),
        "bytes_received": live["bytesReceived"],
        "records_received": stats.records + stats.droppedRateLimit,
        "records_routed": stats.records,
        "dropped_rate_limit": stats.droppedRateLimit,
        "delivered": dict(stats.delivered),
        "filtered": dict(stats.filtered),
        "dropped_sink_full": dict(stats.sinkFull),
        "dropped_sink_error": dict(stats.sinkError),
        "lines_split": live["splitLines"],
        "frame_bytes_skipped": live["skippedBytes"],
        "malformed_octet_counts": live["badLengthPrefixes"],
        "lines_cut_early": stats.cutEarly,
    }
    drops = kernelDrops(listener)
    if drops is not None:
        figures["kernel_drops"] = drops
    return figures


def sinkFigures(sink: Any) -> dict[str, Any]:
    """One sink's figures (a L{logd.outputs.sinks.BufferedSink})."""
    config = sink.config
    return {
        "type": config.type,
        "path": config.path,
        "when_full": config.whenFull,
        "bytes_written": sink.bytesWritten,
        "records_written": dict(sink.recordsWritten),
        "records_buffered": sink.recordsBuffered(),
        "records_discarded": dict(sink.recordsDiscarded),
        "buffer_bytes": sink.buffered,
        "buffer_limit_bytes": sink.limit,
        "full": sink.isFull(),
        "failing": sink.failure,
        "write_errors": sink.writeErrors,
        "rotations": sink.rotations,
        "files_mended": sink.recordsMended,
    }


def snapshot(service: Any, rates: "Rates | None" = None) -> dict[str, Any]:
    """Every figure of a L{logd.service.LogdService}, as plain data (the C{/stats} JSON)."""
    now = time.time()
    figures: dict[str, Any] = {
        "version": __version__,
        "pid": os.getpid(),
        "time": now,
        "started": service.started,
        "uptime_seconds": (now - service.started) if service.started else 0.0,
        "phase": service.phase,
        "reloads": dict(service.reloads),
        "last_reload_success": service.lastReloadSuccess,
        "log_lines_dropped": service.daemonLog.linesDropped if service.daemonLog is not None else 0,
        "listeners": {listener.config.name: listenerFigures(listener) for listener in service.listeners},
        "sinks": {sink.sinkName: sinkFigures(sink) for sink in service.sinks},
    }
    if rates is not None:
        rates.annotate(figures)
    return figures


def unhealthy(figures: dict[str, Any]) -> dict[str, str]:
    """The sinks that are not writing, and why."""
    return {name: sink["failing"] for name, sink in figures["sinks"].items() if sink["failing"]}


def kernelDrops(listener: Any) -> int | None:
    """
    Datagrams the kernel dropped on a UDP listener's socket because its
    receive buffer was full: the C{drops} column of C{/proc/net/udp}, the
    one place the kernel tells.  L{None} where it does not (streams, Unix
    datagrams, no procfs).
    """
    if listener.config.kind != "udp" or listener.port is None:
        return None
    sock = getattr(listener.port, "socket", None)
    if sock is None:
        return None
    try:
        inode = os.fstat(sock.fileno()).st_ino
    except OSError:
        return None
    table = "/proc/net/udp6" if sock.family == socket.AF_INET6 else "/proc/net/udp"
    try:
        with open(table) as f:
            next(f)
            for row in f:
                columns = row.split()
                if len(columns) >= 13 and columns[9] == str(inode):
                    return int(columns[12])
    except (OSError, StopIteration, ValueError):
        return None
    return None


def _totals(figures: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    received = {name: listener["records_received"] for name, listener in figures["listeners"].items()}
    written = {name: sum(sink["records_written"].values()) for name, sink in figures["sinks"].items()}
    return received, written


class Rates:
    """
    Records per second received by each listener and written by each
    sink, over the last 10 s, 1 min and 5 min, from one reading a second.
    A window longer than the daemon's life so far is measured over its
    life so far.
    """

    def __init__(self, service: Any, clock: Any) -> None:
        self.service = service
        self.clock = clock
        self._samples: deque[tuple[float, dict[str, int], dict[str, int]]] = deque(
            maxlen=int(max(WINDOWS.values()) / SAMPLE_SECONDS) + 2
        )
        self._loop = LoopingCall(self.sample)
        self._loop.clock = clock

    def start(self) -> None:
        self._loop.start(SAMPLE_SECONDS, now=True)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def sample(self) -> None:
        self._samples.append((self.clock.seconds(), *_totals(snapshot(self.service))))

    def annotate(self, figures: dict[str, Any]) -> None:
        """Add C{rates} (records/s by window) to every listener and sink of C{figures}."""
        now = self.clock.seconds()
        received, written = _totals(figures)
        for group, current, index in (("listeners", received, 1), ("sinks", written, 2)):
            for name, entry in figures[group].items():
                entry["rates"] = {
                    window: self._rate(now, current.get(name, 0), name, index, seconds)
                    for window, seconds in WINDOWS.items()
                }

    def total(self, group: str, window: str) -> float:
        """Records per second over C{window} for all of a group (C{listeners} received, C{sinks} written)."""
        figures = {"listeners": {}, "sinks": {}}
        received, written = _totals(snapshot(self.service))
        figures["listeners"] = {name: {"records_received": n} for name, n in received.items()}
        figures["sinks"] = {name: {"records_written": {"": n}} for name, n in written.items()}
        self.annotate(figures)
        return sum(entry["rates"][window] for entry in figures[group].values())

    def _rate(self, now: float, current: int, name: str, index: int, seconds: float) -> float:
        then, count = now, current
        for sample in self._samples:
            if sample[0] >= now - seconds - SAMPLE_SECONDS / 2:
                then, count = sample[0], sample[index].get(name, current)
                break
        elapsed = now - then
        return round(max(current - count, 0) / elapsed, 3) if elapsed > 0 else 0.0


def buildInfo() -> dict[str, str]:
    from twisted import version

    return {
        "version": __version__,
        "twisted": version.short(),
        "python": ".".join(map(str, sys.version_info[:3])),
    }

