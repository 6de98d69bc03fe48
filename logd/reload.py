"""
Reloading the configuration (SIGHUP) with nothing lost.

A reload reads the file again.  If it has any problem, each is logged as
C{logd check} prints it and nothing changes.  Otherwise it is applied in
three steps:

  1. I{prepare}: open the sinks that are new or changed and bind the
     listeners (and admin endpoint) that are new.  If any of that fails,
     what was opened or bound is closed again and nothing changes.
  2. I{switch}, in one reactor turn: every listener that stays gets a new
     router to the new set of sinks, keeping its port, its connections and
     its counters; a changed sink's old self is flushed and closed before
     its new self takes a record; new listeners start.
  3. I{retire}: removed listeners stop as at SIGTERM (drained, partial lines
     recorded) into the sinks of the new configuration where those exist,
     and then the sinks no longer configured flush and close.

Listeners are matched by what they listen on (the endpoint, or a Unix
socket's path), so renaming one keeps its port; sinks by name.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IServiceCollection, Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from logd.config import ConfigError, ListenerConfig, SinkConfig, load
from logd.errors import StartupError
from logd.outputs.sinks import BufferedSink

log = Logger()


def address(config: ListenerConfig) -> tuple:
    """What identifies a listener's socket across reloads."""
    if config.unixPath:
        return ("unix", config.kind, config.unixPath)
    return (config.kind, config.endpoint)


class Reload:
    def __init__(self, service: Any) -> None:
        self.service = service
        self.opened: list[BufferedSink] = []
        self.bound: list[Service] = []
        self.admin: Any = None
        self.oldAdmin: Any = None

    async def run(self) -> None:
        service = self.service
        path = service.config.path
        try:
            config = load(path)
        except ConfigError as e:
            for problem in e.problems:
                log.error("reload: {problem}", problem=problem)
            log.error(
                "reload of {path} failed: {n} problems; still running the previous configuration",
                path=path,
                n=len(e.problems),
            )
            service.reloaded(False)
            return
        self.config = config
        try:
            self.prepare()
        except StartupError as e:
            self.abandon()
            log.error("reload of {path} failed: {error}; still running the previous configuration", path=path, error=str(e))
            service.reloaded(False)
            return
        summary = self.switch()
        service.reloaded(True)
        log.info("reload of {path}: {summary}", path=path, summary=summary)
        await self.retire()

    # 1. prepare

    def prepare(self) -> None:
        service, config = self.service, self.config
        old = service.config
        self.oldSinks = {sink.sinkName: sink for sink in service.sinks}
        self.sinks: dict[str, BufferedSink] = {}
        for name, sinkConfig in config.sinks.items():
            if name in self.oldSinks and old.sinks.get(name) == sinkConfig:
                self.sinks[name] = self.oldSinks[name]
            else:
                sink = service.assembly.sink(sinkConfig)
                self.opened.append(sink)
                sink.privilegedStartService()
        for sink in self.opened:
            self.sinks[sink.sinkName] = sink
        self.oldListeners = {address(listener.config): listener for listener in service.listeners}
        self.listeners: list[Service] = []
        self.kept: list[tuple[Service, ListenerConfig]] = []
        service.assembly.partials.limit = config.maxPartialBytes
        for listenerConfig in config.listeners:
            existing = self.oldListeners.get(address(listenerConfig))
            if existing is not None:
                self.kept.append((existing, listenerConfig))
                self.listeners.append(existing)
                continue
            listener = service.assembly.listener(listenerConfig, self.sinks, config.sinks)
            self.bound.append(listener)
            listener.privilegedStartService()
            self.listeners.append(listener)
        oldAdmin = old.admin.endpoint if old.admin else None
        newAdmin = config.admin.endpoint if config.admin else None
        if newAdmin != oldAdmin and newAdmin is not None:
            from logd.admin.web import AdminService

            self.admin = AdminService(newAdmin, service, service.reactor)
            self.admin.privilegedStartService()
        self.adminChanged = newAdmin != oldAdmin

    def abandon(self) -> None:
        """Close again what L{prepare} opened and bound: the old configuration runs on untouched."""
        for listener in self.bound:
            port, listener.port = listener.port, None
            if port is not None:
                port.stopListening()
        if self.admin is not None and self.admin.port is not None:
            self.admin.port.stopListening()
        for sink in self.opened:
            sink.stopService()

    # 2. switch

    def switch(self) -> str:
        service, config = self.service, self.config
        keptIds = {id(listener) for listener, _ in self.kept}
        self.removed = [listener for listener in service.listeners if id(listener) not in keptIds]
        # Removed listeners drain into the new sinks of the same name, or
        # into their old ones, which then close after them.
        draining: set[str] = set()
        for listener in self.removed:
            sinkConfigs = {**service.config.sinks, **config.sinks}
            targets = {name: self.sinks.get(name, self.oldSinks.get(name)) for name in listener.config.sinks}
            draining.update(name for name in listener.config.sinks if name not in self.sinks)
            self._reconfigure(listener, listener.config, sinkConfigs, targets, force=True)
            _rename(service, listener, f"{listener.name} (removed)")
        changed = 0
        for listener, listenerConfig in self.kept:
            if self._reconfigure(listener, listenerConfig, config.sinks):
                changed += 1
        newSinkIds = {id(sink) for sink in self.sinks.values()}
        self.retiredSinks = [sink for name, sink in self.oldSinks.items() if id(sink) not in newSinkIds and name in draining]
        for name, sink in self.oldSinks.items():
            if id(sink) not in newSinkIds and name not in draining:
                # No router points at it any more: flush, close, before its
                # successor of the same name writes a byte.
                service.removeService(sink)
        for sink in self.opened:
            sink.setServiceParent(service)
        for listener in self.bound:
            listener.setServiceParent(service)
        if self.adminChanged:
            if service.admin is not None:
                self.oldAdmin = service.admin
                _rename(service, service.admin, "admin (replaced)")
            service.admin = None
            if self.admin is not None:
                service.admin = self.admin
                self.admin.setServiceParent(service)
        service.sinks = list(self.sinks.values())
        service.listeners = list(self.listeners)
        service.config = config
        service._startStatsLoop()
        replaced = len(self.opened) - len([n for n in config.sinks if n not in self.oldSinks])
        return (
            f"{len(self.kept) - changed} listeners unchanged, {changed} changed, {len(self.bound)} added, "
            f"{len(self.removed)} removed; {len(config.sinks) - len(self.opened)} sinks unchanged, "
            f"{replaced} changed, {len(self.opened) - replaced} added, "
            f"{len([n for n in self.oldSinks if n not in config.sinks])} removed"
        )

    def _reconfigure(
        self,
        listener: Any,
        config: ListenerConfig,
        sinkConfigs: dict[str, SinkConfig],
        targets: dict[str, BufferedSink] | None = None,
        force: bool = False,
    ) -> bool:
        """Point a listener that stays (or drains) at its sinks; whether anything of it changed."""
        targets = targets if targets is not None else self.sinks
        router = listener.factory.router
        same = config == listener.config and all(
            targets[name] is sink for name, sink in zip(config.sinks, router.sinks)
        )
        if same and not force:
            return False
        newRouter = self.service.assembly.router(config, targets, sinkConfigs, router.stats)
        router.detach()
        oldName = listener.name
        listener.reconfigure(config, newRouter)
        if listener.name != oldName:
            _rename(self.service, listener, listener.name, oldName)
        return not same

    # 3. retire

    async def retire(self) -> None:
        service = self.service
        for child in [*self.removed, *self.retiredSinks, *([self.oldAdmin] if self.oldAdmin is not None else [])]:
            try:
                stopped = service.removeService(child)
                if isinstance(stopped, Deferred):
                    await stopped
            except Exception:
                log.failure("reload: {child} failed to stop cleanly", child=child.name)


def _rename(parent: IServiceCollection, child: Service, name: str, oldName: str | None = None) -> None:
    """Change a child's name, which C{MultiService} keeps an index of."""
    named = parent.namedServices  # type: ignore[attr-defined]
    named.pop(oldName if oldName is not None else child.name, None)
    child.name = name
    named[name] = child
