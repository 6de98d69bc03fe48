"""
Service assembly: one configuration in, one L{LogdService} out, and a
reload's new configuration applied to it.

Sinks start before listeners and stop after them.  C{MultiService} starts
its children in order but stops them all at once, so L{LogdService} stops
its listeners first, waits until they have drained, and only then stops the
sinks, which flush and close.

A reload (SIGHUP) is L{LogdService.reload}: see L{logd.reload} for what it
keeps and what it replaces.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from logd.admin.notify import Notifier
from logd.config import Config, ListenerConfig, SinkConfig
from logd.errors import StartupError
from logd.files import RunAs
from logd.inputs.listeners import DatagramListenerService, StreamListenerService
from logd.inputs.partials import PartialBudget
from logd.inputs.protocols import ListenerFactory
from logd.outputs.formats import makeFormatter
from logd.outputs.sinks import BufferedSink, FileSink, StdoutSink
from logd.routing import ListenerStats, Router


class Assembly:
    """
    What turns configuration into services, kept for the daemon's life so
    that a reload builds its new parts the same way (and shares the
    formatters and the partial-line budget).
    """

    def __init__(self, reactor: Any, stdoutFD: int = 1, runAs: RunAs | None = None) -> None:
        self.reactor = reactor
        self.stdoutFD = stdoutFD
        self.runAs = runAs
        self.formatters: dict[Any, Any] = {}
        self.partials: PartialBudget | None = None

    def sink(self, config: SinkConfig) -> BufferedSink:
        key = (config.format, config.template)
        if key not in self.formatters:
            self.formatters[key] = makeFormatter(config.format, config.template)
        formatter = self.formatters[key]
        if config.type == "file":
            return FileSink(config, formatter, self.reactor, self.runAs)
        return StdoutSink(config, formatter, self.reactor, self.stdoutFD)

    def router(self, config: ListenerConfig, sinks: dict[str, BufferedSink], sinkConfigs: dict[str, SinkConfig], stats: ListenerStats) -> Router:
        return Router(
            [sinks[name] for name in config.sinks],
            stats,
            canPause=config.kind == "stream",
            filters=[sinkConfigs[name].filter for name in config.sinks],
            dropWhenFull=[sinks[name] for name in config.sinks if sinkConfigs[name].whenFull == "drop"],
        )

    def listener(self, config: ListenerConfig, sinks: dict[str, BufferedSink], sinkConfigs: dict[str, SinkConfig]) -> Service:
        assert self.partials is not None
        router = self.router(config, sinks, sinkConfigs, ListenerStats())
        factory = ListenerFactory(config, router, self.reactor, self.partials)
        serviceClass = StreamListenerService if config.kind == "stream" else DatagramListenerService
        return serviceClass(config, factory, self.reactor, self.runAs)


class LogdService(MultiService):
    """
    All of logd: the sinks, then the listeners, then the admin endpoint,
    plus the SIGHUP handler that reopens the files and reloads the
    configuration (twistd installs none, and the default action of SIGHUP
    would kill the process).

    @ivar phase: C{starting}, C{running}, C{reloading} or C{draining}: what
        C{/ready} and systemd are told.
    """

    log = Logger()

    def __init__(
        self,
        sinks: list[BufferedSink],
        listeners: list[Service],
        reactor: Any,
        config: Config | None = None,
        assembly: Assembly | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        super().__init__()
        self.sinks = sinks
        self.listeners = listeners
        self.reactor = reactor
        self.config = config
        self.assembly = assembly or Assembly(reactor)
        self.notifier = notifier or Notifier({})
        self.reportTo: int | None = None
        """
        A descriptor for the terminal twistd was started from (see
        L{logd.tap}): a daemonized twistd has pointed standard error at
        /dev/null by the time a port turns out to be in use.
        """
        self.phase = "starting"
        self.started: float | None = None
        self.reloads = {"success": 0, "failure": 0}
        self.lastReloadSuccess: float | None = None
        self.admin: Any = None
        self.daemonLog: Any = None
        """logd's own log under C{twistd -n} (a L{logd.admin.daemonlog.DaemonLog}), if it writes one."""
        self._statsLoop: LoopingCall | None = None
        self._previousHUP: Any = None
        self._reloading = False
        for child in [*sinks, *listeners]:
            child.setServiceParent(self)
        if config is not None and config.admin is not None:
            self.setAdmin(config.admin.endpoint)

    def setAdmin(self, endpoint: str | None) -> None:
        from logd.admin.web import AdminService

        self.admin = AdminService(endpoint, self, self.reactor) if endpoint else None
        if self.admin is not None:
            self.admin.setServiceParent(self)

    def privilegedStartService(self) -> None:
        self._reporting(super().privilegedStartService)

    def startService(self) -> None:
        self._reporting(super().startService)
        self._previousHUP = signal.signal(signal.SIGHUP, self._onHUP)
        self.started = self.lastReloadSuccess = time.time()
        self.phase = "running"
        self.log.info("logd started: {n} listeners, {m} sinks", n=len(self.listeners), m=len(self.sinks))
        self._closeReport()
        self._startStatsLoop()
        self.notifier.ready(self.status())
        self.notifier.startWatchdog(self.reactor, self.status)

    def status(self) -> str:
        """The one line systemd shows for the unit (C{STATUS=})."""
        rates = getattr(self.admin, "rates", None)
        received = sum(listener.factory.router.stats.records for listener in self.listeners)
        line = f"{len(self.listeners)} listeners, {len(self.sinks)} sinks, {received} records"
        if rates is not None:
            perSecond = rates.total("listeners", "1m")
            line += f", {perSecond:.0f} records/s over 1 min"
        return line

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

    # SIGHUP: reopen, then reload

    def _onHUP(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self.hangUp)

    def hangUp(self) -> Deferred | None:
        """
        What SIGHUP does: reopen every file (logrotate's postrotate needs
        nothing more) and look at the TLS files, then reload the
        configuration if there is a file to reload from.
        """
        self.reopen()
        if self.config is None or self.phase == "draining":
            return None
        return self.reload()

    def reopen(self) -> None:
        self.log.info("SIGHUP: reopening file sinks")
        for sink in self.sinks:
            sink.reopen()
        for listener in self.listeners:
            if listener.factory.tls is not None:
                listener.factory.tls.reload()

    def reload(self) -> Deferred:
        """
        Read the configuration file again and apply the difference (see
        L{logd.reload.Reload}); a file with problems, or a new listener that
        cannot bind, changes nothing.  Fires when what was replaced has
        drained and closed.
        """
        from logd.reload import Reload

        if self._reloading:
            self.log.warn("reload: one is still in progress; this SIGHUP only reopened the files")
            return Deferred.fromCoroutine(_nothing())
        self._reloading = True
        self.phase = "reloading"
        self.notifier.reloading()

        def done(result: object) -> object:
            self._reloading = False
            if self.phase == "reloading":
                self.phase = "running"
            self.notifier.ready(self.status())
            return result

        return Deferred.fromCoroutine(Reload(self).run()).addBoth(done)

    def reloaded(self, ok: bool) -> None:
        self.reloads["success" if ok else "failure"] += 1
        if ok:
            self.lastReloadSuccess = time.time()

    # periodic counts

    def _startStatsLoop(self) -> None:
        if self._statsLoop is not None and self._statsLoop.running:
            self._statsLoop.stop()
        self._statsLoop = None
        interval = self.config.statsInterval if self.config is not None else None
        if interval:
            self._statsLoop = LoopingCall(self.logCounts)
            self._statsLoop.clock = self.reactor
            self._statsLoop.start(interval, now=False)

    def logCounts(self) -> None:
        for sink in self.sinks:
            self.log.info(
                "sink {name!r}: {written} bytes written, {records} records written, {buffered} bytes buffered, "
                "{errors} write errors{failing}",
                name=sink.sinkName,
                written=sink.bytesWritten,
                records=sum(sink.recordsWritten.values()),
                buffered=sink.buffered,
                errors=sink.writeErrors,
                failing=f", failing: {sink.failure}" if sink.failure else "",
            )
        for listener in self.listeners:
            _logListener(listener, self.log)

    # stopping

    def stopService(self) -> Deferred:
        Service.stopService(self)
        self.phase = "draining"
        self.notifier.stopping()
        self.notifier.stopWatchdog()
        if self._statsLoop is not None and self._statsLoop.running:
            self._statsLoop.stop()
        listenersStopped = gatherResults(
            [Deferred.fromCoroutine(_stop(listener)) for listener in self.listeners], consumeErrors=True
        )

        async def stopAdmin(_: object) -> None:
            # Last of the inputs: C{/ready} says "draining" while they drain.
            if self.admin is not None:
                await _stop(self.admin)

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
                _logListener(listener, self.log)
            self.notifier.close()

        listenersStopped.addBoth(lambda result: Deferred.fromCoroutine(stopAdmin(result)))
        return listenersStopped.addBoth(stopSinks)


def _logListener(listener: Any, log: Logger) -> None:
    stats = listener.factory.router.stats
    live = listener.factory.liveCounts()
    log.info(
        "listener {name!r}: {received} bytes received, {records} records, {split} long lines split, "
        "{dropped} records dropped because a sink was full, "
        "{failed} records a sink could not take, "
        "{rate} records dropped over a sender's rate limit, "
        "{skipped} bytes of oversized octet-counted frames skipped, "
        "{bad} malformed octet counts, "
        "{cut} unfinished lines recorded early (max_partial_bytes), "
        "{idle} connections closed idle, refused: {refused}",
        name=listener.config.name,
        received=live["bytesReceived"],
        records=stats.records,
        split=live["splitLines"],
        dropped=stats.droppedSinkFull,
        failed=stats.droppedSinkError,
        rate=stats.droppedRateLimit,
        skipped=live["skippedBytes"],
        bad=live["badLengthPrefixes"],
        cut=stats.cutEarly,
        idle=stats.closedIdle,
        refused=", ".join(f"{n} {reason}" for reason, n in sorted(stats.refused.items())) or "none",
    )


async def _nothing() -> None:
    return None


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


def buildService(
    config: Config, reactor: Any, stdoutFD: int = 1, runAs: RunAs | None = None, notifier: Notifier | None = None
) -> LogdService:
    """
    Wire a checked configuration into services; nothing is bound or opened
    until the service starts.

    @param runAs: the user and group twistd will switch to after binding
        (its C{-u}/C{-g}), to whom the files, directories and sockets logd
        creates are given.
    """
    assembly = Assembly(reactor, stdoutFD, runAs)
    assembly.partials = PartialBudget(config.maxPartialBytes)
    sinks = {name: assembly.sink(sinkConfig) for name, sinkConfig in config.sinks.items()}
    listeners = [assembly.listener(listenerConfig, sinks, config.sinks) for listenerConfig in config.listeners]
    return LogdService(list(sinks.values()), listeners, reactor, config, assembly, notifier)
