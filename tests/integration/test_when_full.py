"""
C{when_full: drop} on the real reactor, over real loopback TCP: a stdout
sink whose pipe nobody reads must not hold back the file sink beside it.
The flood goes on at full speed, the file gets every line, and what the
stdout side could not take is counted and, when the pipe is read at the
end, accounts exactly for the lines missing there.

The contrast, C{when_full: pause} (and the default), holds the file sink
back with it.  That a full pause sink pauses its listener's connections
(new ones too) and loses nothing once drained is
test_backpressure.test_fullStdoutSinkPausesStreamsUntilDrained; here the
contrast only shows the same two-sink setup stalling, so that the drop
test's "never paused" is known to be meaningful.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from zope.interface import implementer

from logd.routing import IPressureObserver
from tests.integration.helpers import (
    Harness,
    connect,
    countRecords,
    messages,
    readRecords,
    serverConnections,
    waitFor,
)
from tests.integration.test_backpressure import isReading

COUNT = 100_000
"""Lines in the drop flood: ~10 MB, far past a 64 KiB pipe plus a 64 KiB buffer."""

CONTRAST_COUNT = 30_000
"""Lines in the pause flood: ~3 MB, still far past pipe and buffer, and quick to drain."""


def floodLines(count: int) -> list[bytes]:
    """Distinct, numbered lines of 100 bytes (101 with the LF)."""
    return [b"when_full line %07d " % i + b"x" * 79 for i in range(count)]


@implementer(IPressureObserver)
class PressureLog:
    """A second pressure observer on a sink: when it went full and drained."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def sinkFull(self, sink: Any) -> None:
        self.events.append("full")

    def sinkDrained(self, sink: Any) -> None:
        self.events.append("drained")


def recordPauses(transport: Any) -> list[str]:
    """
    Record every pauseProducing / resumeProducing the router calls on a
    server connection's transport (it holds the very object), still doing
    what they do.
    """
    calls: list[str] = []
    for name in ("pauseProducing", "resumeProducing"):
        real = getattr(transport, name)

        def spy(real: Any = real, name: str = name) -> None:
            calls.append(name)
            real()

        setattr(transport, name, spy)
    return calls


def start(logd: Harness, whenFull: str | None) -> tuple[Any, Any]:
    """
    One TCP line listener with a file sink (default: pause) and a stdout
    sink with a 64 KiB buffer into a pipe nobody reads (yet).
    """
    pipe = logd.pipe()
    console: dict[str, Any] = {"type": "stdout", "buffer": "64KiB"}
    if whenFull is not None:
        console["when_full"] = whenFull
    service = logd.start(
        {"all": logd.fileSink("all"), "console": console},
        [{"name": "flood", "endpoint": logd.endpoint("tcp"), "protocol": "line", "sinks": ["all", "console"]}],
        stdoutFD=pipe.writeFD,
    )
    return service, pipe


async def connectWatched(service: Any) -> tuple[Any, list[str]]:
    """A client whose server side is accepted and spied on before anything is sent."""
    client = await connect(service)
    await waitFor(lambda: len(serverConnections(service)) == 1, "logd to accept the connection")
    (server,) = serverConnections(service)
    return client, recordPauses(server.transport)


def sink(service: Any, name: str) -> Any:
    (found,) = [s for s in service.sinks if s.sinkName == name]
    return found


@pytest_twisted.ensureDeferred
async def test_fullDropSinkNeverHoldsBackTheFileSink(logd: Harness, logEvents: list[dict[str, Any]]) -> None:
    """
    The stdout sink (when_full: drop) fills up and drops; the listener's
    connection is never paused, so the client gets all ~10 MB out and
    closes, and the file sink gets every line, in order, exactly once.
    What the stdout side dropped is droppedSinkFull, and once the pipe is
    read, lines in the pipe + dropped == sent, the piped lines an in-order
    subsequence of those sent.  The sink logs a warning each time it starts
    dropping and an info line each time it has drained.
    """
    service, pipe = start(logd, "drop")
    router = service.listeners[0].factory.router
    console = sink(service, "console")
    pressure = PressureLog()
    console.addPressureObserver(pressure)
    path = logd.tmp / "all.log"
    lines = floodLines(COUNT)
    client, pauses = await connectWatched(service)

    client.send(b"".join(line + b"\n" for line in lines))
    client.transport.loseConnection()
    sawPaused = []

    def everyLineInTheFile() -> bool:
        if router.paused:
            sawPaused.append(True)
        return countRecords(path) == COUNT

    await waitFor(everyLineInTheFile, "every line in the file sink", timeout=10)
    await waitFor(lambda: client.closed.called, "the client to get everything out and close")
    assert pauses == [], "the listener's connection was paused for a drop sink"
    assert sawPaused == []
    # Early batches may push it over and the (then empty) pipe take them: it
    # may fill and drain a few times before the pipe is full for good.
    assert pressure.events[-1:] == ["full"], "the stdout sink is not full: the test proves nothing"
    fills = pressure.events.count("full")
    dropped = router.stats.droppedSinkFull
    assert dropped > 0
    assert router.stats.droppedSinkError == 0
    records = readRecords(path)
    assert messages(records) == lines
    assert {r.peer for r in records} == {client.peer}
    started = [e for e in logEvents if e.get("sink") == "console" and "dropping" in e.get("log_format", "")]
    # However often it filled, the warning is said once a minute at most.
    assert len(started) == 1, "expected one warning when the sink started dropping"
    assert {e["log_level"].name for e in started} == {"warn"}

    # Read the pipe: the sink drains what it buffered, and nothing else comes.
    await waitFor(lambda: pipe.read().count(b"\n") == COUNT - dropped, "the stdout sink's buffered lines")
    await waitFor(lambda: pressure.events[-1] == "drained", "the stdout sink to drain")
    assert pressure.events.count("full") == pressure.events.count("drained") == fills
    # No "drained" line: it could be the last word on a sink that filled again.
    assert not [e for e in logEvents if e.get("sink") == "console" and "drained" in e.get("log_format", "")]
    await logd.stop(service)
    assert router.stats.droppedSinkFull == dropped
    piped = messages(pipe.records())
    assert len(piped) + dropped == COUNT
    assert piped, "nothing reached the pipe"
    numbers = [int(m.split()[2]) for m in piped]
    assert numbers == sorted(set(numbers)), "piped lines duplicated or out of order"
    assert piped == [lines[n] for n in numbers]
    assert pauses == []


@pytest.mark.parametrize("whenFull", [None, "pause"])
@pytest_twisted.ensureDeferred
async def test_fullPauseSinkHoldsBackTheFileSink(logd: Harness, whenFull: str | None) -> None:
    """
    The contrast, with when_full: pause and with when_full left out: the
    same full stdout sink pauses the connection, so the file sink stops
    short of the flood while the pipe is unread.  Reading the pipe lets all
    of it through to both sinks, nothing dropped.
    """
    service, pipe = start(logd, whenFull)
    router = service.listeners[0].factory.router
    path = logd.tmp / "all.log"
    lines = floodLines(CONTRAST_COUNT)
    client, pauses = await connectWatched(service)

    client.send(b"".join(line + b"\n" for line in lines))
    client.transport.loseConnection()
    await waitFor(lambda: router.paused, "the router to pause")
    (server,) = serverConnections(service)
    assert not isReading(server), "a paused connection is still being read"
    # Like the stdout sink, the router may pause and resume a few times before the pipe is full for good.
    assert pauses[-1:] == ["pauseProducing"]
    assert pauses == ["pauseProducing", "resumeProducing"] * (len(pauses) // 2) + ["pauseProducing"]
    # Nothing more is read; once the file sink has written what it was given, the file stops short.
    fileSink = sink(service, "all")
    await waitFor(lambda: fileSink.buffered == 0, "the file sink to write what it holds")
    held = countRecords(path)
    assert held < CONTRAST_COUNT, "the file sink got everything although the listener was paused"

    await waitFor(lambda: pipe.read().count(b"\n") == CONTRAST_COUNT, "every line through the pipe", timeout=10)
    await waitFor(lambda: countRecords(path) == CONTRAST_COUNT, "every line in the file sink")
    assert not router.paused
    assert pauses[0] == "pauseProducing" and pauses[-1] == "resumeProducing"
    await logd.stop(service)
    assert router.stats.droppedSinkFull == 0
    assert messages(readRecords(path)) == lines
    assert messages(pipe.records()) == lines
