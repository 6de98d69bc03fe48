"""
Nothing is lost on stop: the listeners drain (queued connections accepted,
open ones read until their client closes or they go quiet for 0.5 s, 5 s at
most in all; datagram sockets read until empty) before the sinks flush.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet.task import LoopingCall

from tests.integration.helpers import (
    DatagramClient,
    Harness,
    bytesReceived,
    connect,
    countRecords,
    getReactor,
    messages,
    plainConnect,
    readRecords,
    timed,
    waitFor,
)


def lineListener(logd: Harness, kind: str) -> dict[str, object]:
    return {"name": "drain", "endpoint": logd.endpoint(kind), "protocol": "line", "sinks": ["out"]}


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest_twisted.ensureDeferred
async def test_hundredThousandLinesStopRightAfterLastWrite(logd: Harness, kind: str) -> None:
    """
    A client sends 100,000 lines and closes; logd is stopped the moment the
    client's last write is done, with data still unread in the kernel, and
    every line is in the file afterwards.
    """
    count = 100_000
    lines = [b"line %06d of the flood" % i for i in range(count)]
    data = b"\n".join(lines) + b"\n"
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, kind)])
    client = await connect(service)
    client.send(data)
    client.transport.loseConnection()
    # Fires from the client's last write, before logd gets another read.
    await client.closed
    unread = len(data) - bytesReceived(service)
    stopping = service.stopService()
    assert unread > 0, "the stop came too late to test anything: logd had read everything"
    await stopping
    assert countRecords(out) == count
    assert messages(readRecords(out)) == lines


@pytest_twisted.ensureDeferred
async def test_idleConnectionClosedByDrain(logd: Harness) -> None:
    """
    A client that keeps its connection open and says nothing is closed by
    logd about 0.5 s into the stop, its partial line is recorded, and the
    stop completes well within the 5 s limit.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, "tcp")])
    client = await connect(service)
    client.send(b"said something\nthen an unfinished")
    await waitFor(lambda: readRecords(out), "the first line")
    elapsed = await timed(logd.stop(service))
    assert elapsed < 2.5
    await waitFor(lambda: client.closed.called, "logd to close the idle connection")
    assert messages(readRecords(out)) == [b"said something", b"then an unfinished"]


@pytest_twisted.ensureDeferred
async def test_activeClientReadUntilItCloses(logd: Harness) -> None:
    """
    A client still sending during the stop (every 0.1 s, never idle for
    0.5 s) is read until it closes by itself, past the 0.5 s idle time.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, "tcp")])
    client = await connect(service)
    lines = [b"tick %d" % i for i in range(12)]
    pending = list(lines)

    def tick() -> None:
        client.send(pending.pop(0) + b"\n")
        if not pending:
            ticker.stop()
            client.transport.loseConnection()

    ticker = LoopingCall(tick)
    ticker.clock = getReactor()
    ticker.start(0.1, now=True)
    await waitFor(lambda: readRecords(out), "the first tick")
    await logd.stop(service)
    assert not pending
    assert messages(readRecords(out)) == lines


@pytest_twisted.ensureDeferred
async def test_drainGivesUpAfterFiveSeconds(logd: Harness) -> None:
    """
    A client that never stops sending cannot hold the stop up for more than
    the 5 s drain limit; logd closes it then, and what it sent until then
    is recorded.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, "tcp")])
    client = await connect(service)
    sent = []

    def tick() -> None:
        if client.closed.called:
            return
        sent.append(b"chatter %d" % len(sent))
        client.send(sent[-1] + b"\n")

    ticker = LoopingCall(tick)
    ticker.clock = getReactor()
    ticker.start(0.1, now=True)
    try:
        await waitFor(lambda: readRecords(out), "the first line")
        elapsed = await timed(logd.stop(service))
    finally:
        ticker.stop()
    assert 4.5 <= elapsed <= 6.5
    await waitFor(lambda: client.closed.called, "logd to close the connection")
    recorded = messages(readRecords(out))
    assert len(recorded) >= 20
    assert recorded == sent[: len(recorded)]


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest_twisted.ensureDeferred
async def test_queuedConnectionsAreRead(logd: Harness, kind: str) -> None:
    """
    Connections the kernel completed but logd never accepted before the
    stop are accepted and read: those that closed, and those left open
    (closed by the drain once idle), partial last lines included.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, kind)])
    want = set()
    for i in range(20):
        sock = logd.track(plainConnect(service))
        sock.sendall(b"conn %d first\nconn %d partial" % (i, i))
        want |= {b"conn %d first" % i, b"conn %d partial" % i}
        if i % 2:
            sock.close()
    # No reactor turn yet: logd has accepted none of them.
    assert not service.listeners[0].factory.connections
    await logd.stop(service)
    recorded = messages(readRecords(out))
    assert sorted(recorded) == sorted(want)


@pytest.mark.parametrize("kind", ["udp", "unixgram"])
@pytest_twisted.ensureDeferred
async def test_queuedDatagramsAreRead(logd: Harness, kind: str) -> None:
    """
    Datagrams still queued on the socket when the stop begins are read and
    recorded before the socket closes.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, kind)])
    client = DatagramClient(service)
    # Unix datagram queues can be as short as 10 datagrams.
    datagrams = [b"datagram %d\n%ssecond line %d" % (i, b"\n" * (i % 2), i) for i in range(8)]
    for datagram in datagrams:
        client.sendNow(datagram)
    await logd.stop(service)
    await client.close()
    assert messages(readRecords(out)) == [line for d in datagrams for line in d.split(b"\n") if line]


@pytest_twisted.ensureDeferred
async def test_sighupDuringStopReopensInsteadOfKilling(logd: Harness) -> None:
    """
    logrotate's HUP can land while a stop is draining: until the sinks have
    flushed, logd's handler stays installed (the default action of SIGHUP
    would kill the process and lose what is buffered); it is restored only
    once the stop is done.
    """
    import signal

    before = signal.getsignal(signal.SIGHUP)
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, "tcp")])
    client = await connect(service)
    client.send(b"keeps the drain busy\n")
    await waitFor(lambda: readRecords(logd.tmp / "out.log"), "the line")
    stopping = service.stopService()
    during = signal.getsignal(signal.SIGHUP)
    assert during not in (before, signal.SIG_DFL), "the HUP handler went away before the sinks flushed"
    await stopping
    assert signal.getsignal(signal.SIGHUP) == before
