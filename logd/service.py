"""
Service assembly: one configuration in, one L{LogdService} out.

Sinks start before listeners and stop after them.  C{MultiService} starts
its children in order but stops them all at once, so L{LogdService} stops
its listeners first, waits until they have drained, and only then stops the
sinks, which flush and close.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, gatherResults
from twisted.logger import Logger

from logd.config import Config, SinkConfig
from logd.errors import StartupError
from logd.files import RunAs
from logd.outputs.formats import makeFormatter
from logd.inputs.partials import PartialBudget
from logd.inputs.listeners import DatagramListenerService, StreamListenerService
from logd.inputs.protocols import ListenerFactory
from logd.routing import ListenerStats, Router
from logd.outputs.sinks import BufferedSink, FileSink, StdoutSink


class LogdService(MultiService):
    """
    All of logd: the sinks, then the listeners, plus the SIGHUP handler that
    reopens the files (twistd installs none, and the default action of
    SIGHUP would kill the process).
    """

    log = Logger()

    def __init__(self, sinks: list[BufferedSink], listeners: list[Service], reactor: Any) -> None:
        super().__init__()
        self.sinks = sinks
        self.listeners = listeners
        self.reactor = reactor
        self.reportTo: int | None = None
        """
        A descriptor for the terminal twistd was started from (see
        L{logd.tap}): a daemonized twistd has pointed standard error at
        /dev/null by the time a port turns out to be in use.
        """
        self._previousHUP: Any = None
        for child in [*sinks, *listeners]:
            child.setServiceParent(self)

    def privilegedStartService(self) -> None:
        self._reporting(super().privilegedStartService)

    def startService(self) -> None:
        self._reporting(super().startService)
        self._previousHUP = signal.signal(signal.SIGHUP, self._onHUP)
        self.log.info("logd started: {n} listeners, {m} sinks", n=len(self.listeners), m=len(self.sinks))
        self._closeReport()

    def _reporting(self, start: Any) -> None:
        try:
            start()
        except StartupError as e:
            self._reportStartupError(e)
            raise

    def _reportStartupError(self, error: StartupError) -> None:
        """
        One whole line, as text, in twistd's log (its C{--logfile}, or
        stdout with C{-n}) and on the terminal that started twistd: twistd
        itself passes its waiting parent only the first 100 bytes, as a
        bytes repr.
        """
        self.log.critical("logd: {error}", error=str(error))
        if self.reportTo is not None:
            try:
                os.write(self.reportTo, f"logd: {error}\n".encode("utf-8", "backslashreplace"))
            except OSError:
                pass
        self._closeReport()

    def _closeReport(self) -> None:
        if self.reportTo is not None:
            fd, self.reportTo = self.reportTo, None
            os.close(fd)

    def _onHUP(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self.reopen)

    def reopen(self) -> None:
        self.log.info("SIGHUP: reopening file sinks")
        for sink in self.sinks:
            sink.reopen()
        for listener in self.listeners:
            if listener.factory.tls is not None:
                listener.factory.tls.reload()

    def stopService(self) -> Deferred:
        Service.stopService(self)
        listenersStopped = gatherResults(
            [Deferred.fromCoroutine(_stop(listener)) for listener in self.listeners], consumeErrors=True
        )

        def stopSinks(_: object) -> None:
            for sink in self.sinks:
                sink.stopService()
            # Only now: until the sinks have flushed, a SIGHUP (logrotate
            # during a stop) must reopen files, not kill the process.
            if self._previousHUP is not None:
                signal.signal(signal.SIGHUP, self._previousHUP)
                self._previousHUP = None
            for sink in self.sinks:
                self.log.info(
                    "sink {name!r}: {written} bytes written, {lost} records not written, "
                    "{mended} files found ending inside a record (given an LF)",
                    name=sink.sinkName,
                    written=sink.bytesWritten,
                    lost=sink.recordsLost,
                    mended=sink.recordsMended,
                )
            for listener in self.listeners:
                stats = listener.factory.router.stats
                self.log.info(
                    "listener {name!r}: {received} bytes received, {split} long lines split, "
                    "{dropped} records dropped because a sink was full, "
                    "{failed} records a sink could not take, "
                    "{rate} records dropped over a sender's rate limit, "
                    "{skipped} bytes of oversized octet-counted frames skipped, "
                    "{bad} malformed octet counts, "
                    "{cut} unfinished lines recorded early (max_partial_bytes), "
                    "{idle} connections closed idle, refused: {refused}",
                    name=listener.config.name,
                    received=stats.bytesReceived,
                    split=stats.splitLines,
                    dropped=stats.droppedSinkFull,
                    failed=stats.droppedSinkError,
                    rate=stats.droppedRateLimit,
                    skipped=stats.skippedBytes,
                    bad=stats.badLengthPrefixes,
                    cut=stats.cutEarly,
                    idle=stats.closedIdle,
                    refused=", ".join(f"{n} {reason}" for reason, n in sorted(stats.refused.items())) or "none",
                )

        return listenersStopped.addBoth(stopSinks)


async def _stop(service: Service) -> None:
    """
    Stop one listener; a failure is logged, not allowed to keep the others
    (or the sinks) from stopping.
    """
    try:
        result = service.stopService()
        if isinstance(result, Deferred):
            await result
    except Exception:
        LogdService.log.failure("{listener} failed to stop cleanly", listener=service.name)


def makeSink(
    config: SinkConfig, reactor: Any, formatters: dict[Any, Any], stdoutFD: int, runAs: RunAs | None = None
) -> BufferedSink:
    key = (config.format, config.template)
    if key not in formatters:
        formatters[key] = makeFormatter(config.format, config.template)
    formatter = formatters[key]
    if config.type == "file":
        return FileSink(config, formatter, reactor, runAs)
    return StdoutSink(config, formatter, reactor, stdoutFD)


def buildService(config: Config, reactor: Any, stdoutFD: int = 1, runAs: RunAs | None = None) -> LogdService:
    """
    Wire a checked configuration into services; nothing is bound or opened
    until the service starts.

    @param runAs: the user and group twistd will switch to after binding
        (its C{-u}/C{-g}), to whom the files, directories and sockets logd
        creates are given.
    """
    formatters: dict[str, Any] = {}
    partials = PartialBudget(config.maxPartialBytes)
    sinks = {
        name: makeSink(sinkConfig, reactor, formatters, stdoutFD, runAs) for name, sinkConfig in config.sinks.items()
    }
    listeners: list[Service] = []
    for listenerConfig in config.listeners:
        stream = listenerConfig.kind == "stream"
        router = Router(
            [sinks[name] for name in listenerConfig.sinks],
            ListenerStats(),
            canPause=stream,
            filters=[config.sinks[name].filter for name in listenerConfig.sinks],
            dropWhenFull=[sinks[name] for name in listenerConfig.sinks if config.sinks[name].whenFull == "drop"],
        )
        factory = ListenerFactory(listenerConfig, router, reactor, partials)
        serviceClass = StreamListenerService if stream else DatagramListenerService
        listeners.append(serviceClass(listenerConfig, factory, reactor, runAs))
    return LogdService(list(sinks.values()), listeners, reactor)
