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

from logd.config import Limits
from logd.routing import ListenerStats

NOT_ALLOWED = "address not allowed"
TOO_MANY = "too many connections"
TOO_MANY_FROM_PEER = "too many connections from one address"

REFUSAL_LOG_SECONDS = 60.0
"""The least time between two log lines about refusals of one reason, per listener."""

ADDRESS_CACHE = 4096


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
        paused = self.factory.router.paused
        seen, self._seen = self._seen, {}
        for connection in list(self.factory.connections):
            count = connection.bytesReceived
            last = seen.get(connection)
            if last is None or last[0] != count or paused:
                self._seen[connection] = (count, now)
            elif now - last[1] >= self.timeout:
                self.factory.router.stats.closedIdle += 1
                connection.transport.loseConnection()
            else:
                self._seen[connection] = last
