"""
Backpressure: a sink over its buffer limit pauses its listener's stream
connections (the flood waits in the kernel and the client, not in logd's
memory) until it drains, losing nothing; a datagram listener, which cannot
be paused, counts what a full sink had to refuse.
"""

from __future__ import annotations

import os

import pytest
import pytest_twisted

from tests.integration.helpers import (
    DatagramClient,
    Harness,
    bytesReceived,
    connect,
    countRecords,
    getReactor,
    messages,
    readRecords,
    serverConnections,
    waitFor,
)


def isReading(connection: object) -> bool:
    """
    Whether the reactor is watching the server side of a connection for
    reads (a paused transport is not).
    """
    return connection.transport in getReactor().getReaders()  # type: ignore[attr-defined]


@pytest.mark.parametrize("dest", ["pipe", "socket"])
@pytest_twisted.ensureDeferred
async def test_fullStdoutSinkPausesStreamsUntilDrained(logd: Harness, dest: str) -> None:
    """
    A stdout sink with a 64 KiB buffer writing into a pipe (or a socket, as
    under the journal) nobody reads:
    the listener's connections are paused (new ones too) and logd stops
    reading them; once the pipe is read, every line of every connection
    arrives, in order, exactly once.
    """
    pipe = logd.pipe(dest)
    service = logd.start(
        {"console": {"type": "stdout", "buffer": "64KiB"}},
        [{"name": "flood", "endpoint": logd.endpoint("tcp"), "protocol": "line", "sinks": ["console"]}],
        stdoutFD=pipe.writeFD,
    )
    router = service.listeners[0].factory.router
    count = 50_000
    lines = [b"flood line %06d" % i for i in range(count)]
    client = await connect(service)
    client.send(b"".join(line + b"\n" for line in lines))
    client.transport.loseConnection()

    await waitFor(lambda: router.paused, "the router to pause")
    assert router.paused
    assert all(not isReading(c) for c in serverConnections(service)), "a paused connection is still being read"
    received = bytesReceived(service)
    assert received < sum(len(line) + 1 for line in lines), "logd read everything although its sink was full"

    # A connection that arrives while the sink is full is paused at once.
    late = await connect(service)
    late.send(b"late arrival\n")
    await waitFor(lambda: len(serverConnections(service)) == 2, "logd to accept the late connection")
    assert all(not isReading(c) for c in serverConnections(service))
    assert bytesReceived(service) == received, "logd read from a paused connection"
    await late.close()

    # Now read the pipe: everything flows again.
    await waitFor(lambda: pipe.read().count(b"\n") == count + 1, "every line through the pipe", timeout=10)
    assert not router.paused
    await logd.stop(service)
    records = pipe.records()
    assert len(records) == count + 1
    assert [r.message for r in records if r.peer == client.peer] == lines
    assert [r.message for r in records if r.peer == late.peer] == [b"late arrival"]


@pytest_twisted.ensureDeferred
async def test_failingFileSinkOverLimitPausesStreams(logd: Harness) -> None:
    """
    A file sink that cannot write (its path leads to /dev/full) keeps what
    it is given; past its 64 KiB limit the listener's connections are
    paused.  When the path leads to a real file again, everything arrives
    and reading resumes.
    """
    broken = logd.tmp / "disk.log"
    real = logd.tmp / "real.log"
    broken.symlink_to("/dev/full")
    service = logd.start(
        {"disk": {"type": "file", "path": str(broken), "buffer": "64KiB"}},
        [{"name": "flood", "endpoint": logd.endpoint("tcp"), "protocol": "line", "sinks": ["disk"]}],
    )
    router = service.listeners[0].factory.router
    count = 20_000
    lines = [b"held line %06d" % i for i in range(count)]
    client = await connect(service)
    client.send(b"".join(line + b"\n" for line in lines))
    client.transport.loseConnection()
    await waitFor(lambda: router.paused, "the router to pause")
    assert all(not isReading(c) for c in serverConnections(service)), "a paused connection is still being read"

    real.touch()
    os.symlink(real, logd.tmp / "link.tmp")
    os.replace(logd.tmp / "link.tmp", broken)
    await waitFor(lambda: countRecords(real) == count, "every line in the file", timeout=5)
    assert not router.paused
    await logd.stop(service)
    assert messages(readRecords(real)) == lines


@pytest_twisted.ensureDeferred
async def test_fullSinkDropsAndCountsDatagrams(logd: Harness) -> None:
    """
    A UDP listener feeding a full stdout sink: the sink refuses what would
    go over its limit and the listener counts it in droppedSinkFull; what
    was not dropped all arrives once the pipe is read, and records flow
    again afterwards.
    """
    pipe = logd.pipe()
    service = logd.start(
        {"console": {"type": "stdout", "buffer": "64KiB"}},
        [{"name": "dgrams", "endpoint": logd.endpoint("udp"), "protocol": "raw", "sinks": ["console"]}],
        stdoutFD=pipe.writeFD,
    )
    stats = service.listeners[0].factory.router.stats
    client = DatagramClient(service)
    sent = []
    # Rounds small enough for the kernel's socket buffer, each read by logd
    # before the next: every datagram reaches logd, and the sink fills up.
    for round in range(200):
        for i in range(20):
            sent.append(b"datagram %05d " % len(sent) + b"z" * 1000)
            await client.send(sent[-1])
        await waitFor(lambda: stats.bytesReceived == sum(map(len, sent)), "logd to read the round")
        if stats.droppedSinkFull >= 100:
            break
    assert stats.droppedSinkFull >= 100

    await waitFor(
        lambda: pipe.read().count(b"\n") == len(sent) - stats.droppedSinkFull, "the accepted datagrams", timeout=10
    )
    got = messages(pipe.records())
    assert len(got) + stats.droppedSinkFull == len(sent)
    assert set(got) <= set(sent) and len(set(got)) == len(got)
    assert got == [d for d in sent if d in set(got)], "records out of order"

    # Drained: nothing is dropped any more.
    dropped = stats.droppedSinkFull
    await client.send(b"after the drain")
    await waitFor(lambda: pipe.records()[-1:] and pipe.records()[-1].message == b"after the drain", "a new record")
    assert stats.droppedSinkFull == dropped
    await client.close()
    await logd.stop(service)
