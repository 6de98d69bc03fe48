"""
The edge of a listener open to a network: who may send (C{allow}), how many
connections may be open (C{max_connections}, C{max_connections_per_peer})
and how long one may stay quiet (C{idle_timeout}).

What is refused is refused at once and counted, never half-read: a stream
connection over a limit or from an address not allowed is closed as it is
accepted, before any byte is read (the factory builds no protocol for it),
and a datagram from such an address is dropped.  Each refusal is counted per
listener and reason (L{logd.routing.ListenerStats.refused}), and logged with
the peer's address at most once a minute per reason, so that a flood of
refusals cannot become a flood in the log.

None of it costs anything on a listener that sets none of it: the factory
has no gate then, and datagram protocols no filter.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any, Callable

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from logd.config import Limits, RateLimit
from logd.records import formatPeer
from logd.routing import ListenerStats, Router

NOT_ALLOWED = "address not allowed"
TOO_MANY = "too many connections"
TOO_MANY_FROM_PEER = "too many connections from one address"
OUT_OF_FILES = "out of file descriptors"

REFUSAL_LOG_SECONDS = 60.0
"""The least time between two log lines about refusals of one reason, per listener."""

ADDRESS_CACHE = 4096
BUCKETS = 65536
"""Senders whose buckets are kept; past it, the full ones (senders quiet for a while) are forgotten."""


class Refusals:
    """
    Counts refusals by reason, and says so in the log at most once a
    minute per reason (the count is exact; the log is a sample).
    """

    log = Logger()
    monotonic: Callable[[], float] = staticmethod(time.monotonic)  # type: ignore[assignment]

    def __init__(self, listener: str, stats: ListenerStats) -> None:
        self.listener = listener
        self.stats = stats
        self._lastLogged: dict[str, float] = {}

    def warn(self, what: str, peer: str) -> None:
        """A sender over its rate limit: said at most once a minute too (the count is at stop)."""
        now = self.monotonic()
        if now - self._lastLogged.get(what, float("-inf")) >= REFUSAL_LOG_SECONDS:
            self._lastLogged[what] = now
            self.log.warn(
                "listener {listener!r}: {peer} is {what} (said at most once a minute)", listener=self.listener, peer=peer, what=what
            )

    def refuse(self, reason: str, peer: str | None) -> None:
        refused = self.stats.refused
        refused[reason] = refused.get(reason, 0) + 1
        now = self.monotonic()
        if now - self._lastLogged.get(reason, float("-inf")) >= REFUSAL_LOG_SECONDS:
            self._lastLogged[reason] = now
            self.log.warn(
                "listener {listener!r}: refused {peer}: {reason} ({count} so far; said at most once a minute per reason)",
                listener=self.listener,
                peer=peer or "-",
                reason=reason,
                count=refused[reason],
            )


class AllowList:
    """
    Whether a sender's address is in C{allow}.  IPv4 senders reaching an
    IPv6 socket (C{::ffff:10.1.2.3}) are matched as the IPv4 addresses they
    are.  Answers are cached per address: a datagram listener hears from
    the same senders over and over.
    """

    def __init__(self, networks: tuple[Any, ...]) -> None:
        self.networks = networks
        self._cache: dict[str, bool] = {}

    def __call__(self, host: str | None) -> bool:
        if host is None:
            return False
        answer = self._cache.get(host)
        if answer is None:
            answer = self._check(host)
            if len(self._cache) >= ADDRESS_CACHE:
                self._cache.clear()
            self._cache[host] = answer
        return answer

    def _check(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:
            address = mapped
        return any(address in network for network in self.networks)


class ConnectionGate:
    """
    Admits or refuses each stream connection as it is accepted, and keeps
    the counts that the connection limits need.
    """

    def __init__(self, limits: Limits, refusals: Refusals) -> None:
        self.limits = limits
        self.refusals = refusals
        self.allowed = AllowList(limits.allow) if limits.allow is not None else None
        self.open = 0
        self._perPeer: dict[str | None, int] = {}

    def admit(self, host: str | None, peer: str) -> bool:
        limits = self.limits
        if self.allowed is not None and not self.allowed(host):
            self.refusals.refuse(NOT_ALLOWED, peer)
            return False
        if limits.maxConnections is not None and self.open >= limits.maxConnections:
            self.refusals.refuse(TOO_MANY, peer)
            return False
        fromPeer = self._perPeer.get(host, 0)
        if limits.maxConnectionsPerPeer is not None and host is not None and fromPeer >= limits.maxConnectionsPerPeer:
            self.refusals.refuse(TOO_MANY_FROM_PEER, peer)
            return False
        self.open += 1
        self._perPeer[host] = fromPeer + 1
        return True

    def adopt(self, host: str | None) -> None:
        """Count a connection admitted before this gate existed (a reload's new limits): it stays open."""
        self.open += 1
        self._perPeer[host] = self._perPeer.get(host, 0) + 1

    def release(self, host: str | None) -> None:
        self.open -= 1
        left = self._perPeer[host] - 1
        if left:
            self._perPeer[host] = left
        else:
            del self._perPeer[host]


class IdleReaper:
    """
    Closes connections that have sent nothing for C{timeout} seconds, by
    looking at every connection's byte count a few times per timeout (no
    timer per connection, nothing per read).  A connection held paused by
    backpressure is not idle: it is we who are not reading.  Closing is an
    ordinary close: a partial line held is recorded.
    """

    def __init__(self, factory: Any, timeout: float, clock: Any) -> None:
        self.factory = factory
        self.timeout = timeout
        self.clock = clock
        self._seen: dict[Any, tuple[int, float]] = {}
        self._call = LoopingCall(self.sweep)
        self._call.clock = clock

    def start(self) -> None:
        self._call.start(min(self.timeout / 4, 1.0), now=False)

    def stop(self) -> None:
        if self._call.running:
            self._call.stop()

    def sweep(self) -> None:
        now = self.clock.seconds()
        router = self.factory.router
        paused = router.paused
        seen, self._seen = self._seen, {}
        for connection in list(self.factory.connections):
            count = connection.bytesReceived
            last = seen.get(connection)
            if last is None or last[0] != count or paused or router.isHeld(connection.transport):
                self._seen[connection] = (count, now)
            elif now - last[1] >= self.timeout:
                self.factory.router.stats.closedIdle += 1
                connection.transport.loseConnection()
            else:
                self._seen[connection] = last


class RateLimiter:
    """
    C{rate_limit}: a token bucket per sender address, over records.

    With C{when_over: pause}, every record is recorded; a sender that goes
    into debt has all its connections paused (the others carry on: one
    flooding sender must not slow everybody) until the bucket has refilled
    to zero, then resumed.  With C{drop}, and on datagram listeners, the
    records over the bucket are dropped and counted.  A Unix socket's
    senders have no address and are not limited.
    """

    log = Logger()

    def __init__(self, limit: RateLimit, router: Router, clock: Any, refusals: Refusals) -> None:
        self.rate = limit.records / limit.per
        self.burst = float(limit.burst)
        self.pauses = limit.whenOver == "pause"
        self.router = router
        self.clock = clock
        self.refusals = refusals
        self._buckets: dict[str, list[float]] = {}
        self._connections: dict[str, set[Any]] = {}
        self._resume: dict[str, Any] = {}

    def _bucket(self, host: str) -> list[float]:
        now = self.clock.seconds()
        bucket = self._buckets.get(host)
        if bucket is None:
            if len(self._buckets) >= BUCKETS:
                self._forgetFull(now)
            bucket = self._buckets[host] = [self.burst, now]
        else:
            bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        return bucket

    def _forgetFull(self, now: float) -> None:
        self._buckets = {
            host: bucket for host, bucket in self._buckets.items() if bucket[0] + (now - bucket[1]) * self.rate < self.burst
        }

    def admit(self, host: str | None, count: int) -> int:
        """How many of C{count} records may be recorded now (C{drop}); the rest are counted as dropped."""
        if host is None:
            return count
        bucket = self._bucket(host)
        allowed = min(count, int(bucket[0]))
        bucket[0] -= allowed
        if allowed < count:
            self.refusals.stats.droppedRateLimit += count - allowed
            self.refusals.warn("over its rate limit: dropping its records", host)
        return allowed

    def took(self, host: str | None, count: int) -> None:
        """C{count} records were recorded from C{host} (C{pause}): pause its connections if it is in debt now."""
        if host is None:
            return
        bucket = self._bucket(host)
        bucket[0] -= count
        if bucket[0] < 0 and host not in self._resume:
            for connection in self._connections.get(host, ()):
                self.router.holdProducer(connection.transport)
            self._resume[host] = self.clock.callLater(-bucket[0] / self.rate, self._release, host)
            self.refusals.warn("over its rate limit: reading it more slowly", host)

    def _release(self, host: str) -> None:
        bucket = self._bucket(host)
        if bucket[0] < 0:
            self._resume[host] = self.clock.callLater(-bucket[0] / self.rate, self._release, host)
            return
        del self._resume[host]
        for connection in self._connections.get(host, ()):
            self.router.releaseProducer(connection.transport)

    def register(self, connection: Any, host: str | None) -> None:
        if host is None:
            return
        self._connections.setdefault(host, set()).add(connection)
        if host in self._resume:
            self.router.holdProducer(connection.transport)

    def unregister(self, connection: Any, host: str | None) -> None:
        connections = self._connections.get(host)
        if connections is not None:
            connections.discard(connection)
            if not connections:
                del self._connections[host]

    def releaseAll(self) -> None:
        """At stop: everything the kernel holds for paused senders is read, not lost with the close."""
        for host, call in list(self._resume.items()):
            if call.active():
                call.cancel()
            del self._resume[host]
            for connection in self._connections.get(host, ()):
                self.router.releaseProducer(connection.transport)


class AcceptLog:
    """
    What Twisted's accept says at the file-descriptor limit, said once a
    minute: it logs C{EMFILE encountered} and then a line for every
    connection it closes for want of a descriptor, each time it happens.
    The connections closed count as refusals (C{out of file descriptors}),
    logged like every other refusal.
    """

    def __init__(self, observer: Callable[[dict], None], refusals: Refusals) -> None:
        self.observer = observer
        self.refusals = refusals
        self._lastLogged: dict[str, float] = {}

    def __call__(self, event: dict) -> None:
        format = event.get("log_format") or ""
        if "EMFILE" not in format:
            self.observer(event)
            return
        if format.startswith("EMFILE recovery: Closed socket"):
            self.refusals.refuse(OUT_OF_FILES, formatPeer(event.get("address")))
            return
        now = Refusals.monotonic()
        if now - self._lastLogged.get(format, float("-inf")) >= REFUSAL_LOG_SECONDS:
            self._lastLogged[format] = now
            self.observer(event)
