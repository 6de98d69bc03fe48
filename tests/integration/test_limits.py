"""
The edge of a listener: allow-lists, connection limits (in all and per
address) and idle timeouts, on real loopback sockets.  Loopback has a whole
/8: a client bound to 127.0.0.2 is another sender than one on 127.0.0.1.
"""

from __future__ import annotations

import resource
import socket
import time
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import LoopingCall

from logd.inputs.limits import NOT_ALLOWED, TOO_MANY, TOO_MANY_FROM_PEER
from tests.integration.helpers import Harness, StreamClient, boundAddress, getReactor, messages, readRecords, waitFor


def listener(logd: Harness, kind: str = "tcp", **limits: Any) -> dict[str, Any]:
    endpoint = logd.endpoint(kind)
    if kind == "tcp":
        endpoint = "tcp:0:interface=127.0.0.1:backlog=1024"
    return {"name": "edge", "endpoint": endpoint, "protocol": "line", "sinks": ["out"], **limits}


async def connectFrom(service: Any, source: str) -> StreamClient:
    address = boundAddress(service)
    endpoint = TCP4ClientEndpoint(getReactor(), address.host, address.port, bindAddress=(source, 0))
    return await connectProtocol(endpoint, StreamClient())


def stats(service: Any) -> Any:
    return service.listeners[0].factory.router.stats


@pytest.fixture
def manyFiles() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest_twisted.ensureDeferred
async def test_allowListForStreams(logd: Harness, logEvents: list) -> None:
    """
    A sender outside allow is closed as it is accepted, before a byte is
    read: nothing of it is recorded, and the refusal is counted and logged
    with its address.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [listener(logd, allow=["127.0.0.0/31", "::1"])])
    outsider = await connectFrom(service, "127.0.0.2")
    outsider.send(b"let me in\n")
    await outsider.closed
    insider = await connectFrom(service, "127.0.0.1")
    insider.send(b"hello\n")
    await insider.close()
    await logd.stop(service)
    assert messages(readRecords(out)) == [b"hello"]
    assert stats(service).refused == {NOT_ALLOWED: 1}
    assert stats(service).bytesReceived == len(b"hello\n"), "logd read bytes from a refused sender"
    from twisted.logger import formatEvent

    assert any("refused 127.0.0.2:" in formatEvent(e) and NOT_ALLOWED in formatEvent(e) for e in logEvents)


@pytest_twisted.ensureDeferred
async def test_allowListForDatagrams(logd: Harness) -> None:
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [listener(logd, "udp", allow="127.0.0.1")])
    address = boundAddress(service)
    for source, text in (("127.0.0.2", b"outside"), ("127.0.0.1", b"inside")):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source, 0))
            sock.sendto(text, (address.host, address.port))
    await waitFor(lambda: readRecords(out), "the allowed datagram")
    await logd.stop(service)
    assert messages(readRecords(out)) == [b"inside"]
    assert stats(service).refused == {NOT_ALLOWED: 1}


@pytest.mark.parametrize("protocol", ["tests.integration.customprotocols:ReversedWords", "line"])
@pytest_twisted.ensureDeferred
async def test_perPeerLimitLeavesExactlyThatMany(logd: Harness, manyFiles: None, logEvents: list, protocol: str) -> None:
    """
    1,000 connections from one address with max_connections_per_peer: 10:
    exactly 10 stay open, the other 990 are closed at once and counted
    (logged once); another address is not held back by the first one's.
    """
    out = logd.tmp / "out.log"
    spec = listener(logd, max_connections_per_peer=10)
    spec["protocol"] = protocol
    service = logd.start({"out": logd.fileSink()}, [spec])
    factory = service.listeners[0].factory
    clients = await gatherResults([Deferred.fromCoroutine(connectFrom(service, "127.0.0.1")) for _ in range(1000)])
    started = time.monotonic()
    await waitFor(lambda: sum(c.reason is not None for c in clients) == 990, "990 connections closed", timeout=10)
    closedWithin = time.monotonic() - started
    assert len(factory.connections) == 10
    assert stats(service).refused == {TOO_MANY_FROM_PEER: 990}
    other = await connectFrom(service, "127.0.0.2")
    other.send(b"from another address\n")
    await other.close()
    open_ = [c for c in clients if c.reason is None]
    for client in open_:
        client.transport.loseConnection()
    await gatherResults([c.closed for c in open_])
    await waitFor(lambda: not factory.connections, "the ten to close")
    assert factory.gate.open == 0 and factory.gate._perPeer == {}
    await logd.stop(service)
    from twisted.logger import formatEvent

    assert sum("refused 127.0.0.1:" in formatEvent(e) for e in logEvents) == 1, "not logged once a minute at most"
    if protocol == "line":
        assert messages(readRecords(out)) == [b"from another address"]
    assert closedWithin < 5


@pytest_twisted.ensureDeferred
async def test_maxConnectionsInAll(logd: Harness) -> None:
    service = logd.start({"out": logd.fileSink()}, [listener(logd, max_connections=3)])
    factory = service.listeners[0].factory
    first = [await connectFrom(service, f"127.0.0.{n}") for n in (1, 2, 3)]
    await waitFor(lambda: len(factory.connections) == 3, "three connections")
    fourth = await connectFrom(service, "127.0.0.4")
    await fourth.closed
    await first[0].close()
    await waitFor(lambda: len(factory.connections) == 2, "a slot to free up")
    again = await connectFrom(service, "127.0.0.4")
    await waitFor(lambda: len(factory.connections) == 3, "the new connection")
    assert again.reason is None
    assert stats(service).refused == {TOO_MANY: 1}
    await logd.stop(service)


@pytest_twisted.ensureDeferred
async def test_idleConnectionIsClosedWithItsPartialLine(logd: Harness) -> None:
    """
    idle_timeout: a connection that sends nothing for that long is closed
    (its unfinished line recorded, as at any close); one that keeps sending
    stays open.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [listener(logd, idle_timeout="300ms")])
    quiet = await connectFrom(service, "127.0.0.1")
    quiet.send(b"said once, no newline")
    busy = await connectFrom(service, "127.0.0.2")
    sending = LoopingCall(busy.send, b"tick\n")
    sending.clock = getReactor()
    sending.start(0.05)
    started = time.monotonic()
    await quiet.closed
    idleFor = time.monotonic() - started
    assert busy.reason is None, "a connection that kept sending was closed"
    sending.stop()
    await busy.closed
    await logd.stop(service)
    records = messages(readRecords(out))
    assert records[0] == b"said once, no newline" or b"said once, no newline" in records
    assert records.count(b"tick") >= 2
    assert stats(service).closedIdle == 2
    assert 0.3 <= idleFor < 3


@pytest_twisted.ensureDeferred
async def test_rateLimitPausesOnlyTheFloodingSender(logd: Harness) -> None:
    """
    rate_limit with when_over: pause: one sender floods and has its
    connection paused, while fifteen others send 1,000 lines/s each: theirs
    are read within 100 ms of being sent (p99); every flooded line is
    recorded in the end, none dropped.
    """
    out = logd.tmp / "out.log"
    spec = listener(logd, rate_limit={"records": 5000, "per": "1s", "burst": 1000})
    service = logd.start({"out": logd.fileSink()}, [spec])
    factory = service.listeners[0].factory
    flood = await connectFrom(service, "127.0.0.2")
    flooded = [b"flood %05d " % i + b"f" * 80 for i in range(20_000)]
    flood.send(b"\n".join(flooded) + b"\n")
    await waitFor(lambda: any(factory.router.isHeld(c.transport) for c in factory.connections), "the flood to be paused")
    calm = [await connectFrom(service, f"127.0.0.{n}") for n in range(3, 18)]
    ticks = [0]

    def tick() -> None:
        # Every 10 ms, ten lines from each of the fifteen: 1,000 lines/s each.
        ticks[0] += 1
        now = b"%.6f" % time.time()
        for n, client in enumerate(calm):
            client.send(b"".join(b"calm %d %d %s\n" % (n, ticks[0] * 10 + k, now) for k in range(10)))

    sending = LoopingCall(tick)
    sending.clock = getReactor()
    sending.start(0.01)
    await waitFor(lambda: ticks[0] >= 100, "a second of calm lines", timeout=10)
    sending.stop()
    for client in calm:
        await client.close()
    await flood.close()
    expected = len(flooded) + ticks[0] * 10 * len(calm)
    await waitFor(lambda: len(readRecords(out)) >= expected, "every line", timeout=30)
    await logd.stop(service)
    records = readRecords(out)
    assert [r.message for r in records if r.message.startswith(b"flood")] == flooded
    import datetime

    latencies = sorted(
        datetime.datetime.strptime(r.time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
        - float(r.message.split()[3])
        for r in records
        if r.message.startswith(b"calm")
    )
    assert len(latencies) == ticks[0] * 10 * len(calm)
    assert latencies[int(len(latencies) * 0.99) - 1] < 0.1, latencies[-5:]
    assert stats(service).droppedRateLimit == 0


@pytest.mark.parametrize("kind", ["tcp", "udp"])
@pytest_twisted.ensureDeferred
async def test_rateLimitDropsAndCounts(logd: Harness, kind: str) -> None:
    """when_over: drop (and any datagram listener): what is over the bucket is dropped, and counted exactly."""
    out = logd.tmp / "out.log"
    spec = listener(logd, kind, rate_limit={"records": 100, "per": "1s", "burst": 100, "when_over": "drop"})
    service = logd.start({"out": logd.fileSink()}, [spec])
    count = 400
    if kind == "tcp":
        client = await connectFrom(service, "127.0.0.1")
        client.send(b"".join(b"line %d\n" % i for i in range(count)))
        await client.close()
    else:
        address = boundAddress(service)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(count):
                sock.sendto(b"datagram %d" % i, (address.host, address.port))
        await waitFor(lambda: stats(service).bytesReceived >= sum(len(b"datagram %d" % i) for i in range(count)), "every datagram read")
    await logd.stop(service)
    recorded = len(readRecords(out))
    assert 100 <= recorded <= 110
    assert recorded + stats(service).droppedRateLimit == count
