"""
Service assembly: one configuration in, one L{LogdService} out.

Sinks start before listeners and stop after them.  C{MultiService} starts
its children in order but stops them all at once, so L{LogdService} stops
its listeners first, waits until they have drained, and only then stops the
sinks, which flush and close.
"""

from __future__ import annotations

import signal
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, gatherResults
from twisted.logger import Logger

from logd.config import Config, SinkConfig
from logd.formats import makeFormatter
from logd.listeners import DatagramListenerService, StreamListenerService
from logd.protocols import ListenerFactory
from logd.routing import ListenerStats, Router
from logd.sinks import BufferedSink, FileSink, StdoutSink


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
        self._previousHUP: Any = None
        for child in [*sinks, *listeners]:
            child.setServiceParent(self)

    def startService(self) -> None:
        super().startService()
        self._previousHUP = signal.signal(signal.SIGHUP, self._onHUP)
        self.log.info("logd started: {n} listeners, {m} sinks", n=len(self.listeners), m=len(self.sinks))

    def _onHUP(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self.reopen)

    def reopen(self) -> None:
        self.log.info("SIGHUP: reopening file sinks")
        for sink in self.sinks:
            sink.reopen()

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
            for listener in self.listeners:
                stats = listener.factory.router.stats
                self.log.info(
                    "listener {name!r}: {received} bytes received, {split} long lines split, "
                    "{dropped} records dropped because a sink was full, "
                    "{failed} records a sink could not take, "
                    "{skipped} bytes of oversized octet-counted frames skipped, "
                    "{bad} malformed octet counts",
                    name=listener.config.name,
                    received=stats.bytesReceived,
                    split=stats.splitLines,
                    dropped=stats.droppedSinkFull,
                    failed=stats.droppedSinkError,
                    skipped=stats.skippedBytes,
                    bad=stats.badLengthPrefixes,
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


def makeSink(config: SinkConfig, reactor: Any, formatters: dict[Any, Any], stdoutFD: int) -> BufferedSink:
    key = (config.format, config.template)
    if key not in formatters:
        formatters[key] = makeFormatter(config.format, config.template)
    formatter = formatters[key]
    if config.type == "file":
        return FileSink(config, formatter, reactor)
    return StdoutSink(config, formatter, reactor, stdoutFD)


def buildService(config: Config, reactor: Any, stdoutFD: int = 1) -> LogdService:
    """
    Wire a checked configuration into services; nothing is bound or opened
    until the service starts.
    """
    formatters: dict[str, Any] = {}
    sinks = {name: makeSink(sinkConfig, reactor, formatters, stdoutFD) for name, sinkConfig in config.sinks.items()}
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
        factory = ListenerFactory(listenerConfig, router, reactor)
        serviceClass = StreamListenerService if stream else DatagramListenerService
        listeners.append(serviceClass(listenerConfig, factory, reactor))
    return LogdService(list(sinks.values()), listeners, reactor)
