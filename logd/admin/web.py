"""
The admin endpoint: C{twisted.web} on the reactor, serving

  - C{GET /metrics}: Prometheus text exposition (L{logd.admin.metrics});
  - C{GET /healthz}: 200 while every sink is writing, else 503 with a JSON
    body naming each failing sink and why;
  - C{GET /ready}: 200 while logd runs its configuration, 503 while it is
    starting, reloading or draining;
  - C{GET /stats}: every figure as JSON, with rates over 10 s, 1 min, 5 min.

It is off unless the configuration has C{admin: {endpoint: ...}}.  It binds
with the listeners, before twistd drops privileges, and a port in use is a
start-up error like theirs.
"""

from __future__ import annotations

import json
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from logd.admin.metrics import makeRegistry
from logd.admin.stats import Rates, snapshot, unhealthy
from logd.errors import StartupError


def _json(request: Request, code: int, body: Any) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(body, indent=1, sort_keys=True).encode() + b"\n"


class MetricsPage(Resource):
    isLeaf = True

    def __init__(self, service: Any) -> None:
        super().__init__()
        self.registry = makeRegistry(service)

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
        return generate_latest(self.registry)


class HealthPage(Resource):
    isLeaf = True

    def __init__(self, service: Any) -> None:
        super().__init__()
        self.service = service

    def render_GET(self, request: Request) -> bytes:
        failing = unhealthy(snapshot(self.service))
        if failing:
            return _json(request, 503, {"status": "failing", "failing": failing})
        return _json(request, 200, {"status": "ok"})


class ReadyPage(Resource):
    isLeaf = True

    def __init__(self, service: Any) -> None:
        super().__init__()
        self.service = service

    def render_GET(self, request: Request) -> bytes:
        phase = self.service.phase
        return _json(request, 200 if phase == "running" else 503, {"phase": phase})


class StatsPage(Resource):
    isLeaf = True

    def __init__(self, service: Any, rates: Rates) -> None:
        super().__init__()
        self.service = service
        self.rates = rates

    def render_GET(self, request: Request) -> bytes:
        return _json(request, 200, snapshot(self.service, self.rates))


class _Root(Resource):
    def getChild(self, path: bytes, request: Request) -> Resource:
        if path == b"":
            return self
        return super().getChild(path, request)

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"logd admin: /metrics /healthz /ready /stats\n"


def makeSite(service: Any, rates: Rates) -> Site:
    root = _Root()
    root.putChild(b"metrics", MetricsPage(service))
    root.putChild(b"healthz", HealthPage(service))
    root.putChild(b"ready", ReadyPage(service))
    root.putChild(b"stats", StatsPage(service, rates))
    site = Site(root)
    site.noisy = False
    site.displayTracebacks = False
    return site


class AdminService(Service):
    """The admin endpoint's listening port, and the rate sampler behind C{/stats}."""

    name = "admin"

    def __init__(self, endpoint: str, logd: Any, reactor: Any) -> None:
        self.endpoint = endpoint
        self.logd = logd
        self.reactor = reactor
        self.rates = Rates(logd, reactor)
        self.port: IListeningPort | None = None

    def privilegedStartService(self) -> None:
        result: list[Any] = []
        serverFromString(self.reactor, self.endpoint).listen(makeSite(self.logd, self.rates)).addBoth(result.append)
        if not result or isinstance(result[0], Failure):
            reason = result[0].getErrorMessage() if result else "did not bind at once"
            raise StartupError(f"admin: cannot listen on {self.endpoint}: {reason}")
        self.port = result[0]
        Service.privilegedStartService(self)

    def startService(self) -> None:
        if self.port is None:
            self.privilegedStartService()
        Service.startService(self)
        self.rates.start()

    def stopService(self) -> Deferred:
        Service.stopService(self)
        self.rates.stop()
        if self.port is None:
            return succeed(None)
        port, self.port = self.port, None
        return port.stopListening()
