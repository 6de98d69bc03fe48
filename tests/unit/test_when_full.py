"""
C{when_full: pause | drop}: what a sink over its buffer limit does to its
listener.

The configuration tests write real files and assert every problem with its
file, line and key, like test_config.  The router tests drive
L{logd.routing.Router} with fake sinks whose fullness the test switches
(telling the router exactly as a real sink does, through its pressure
observers) and fake producers that record being paused and resumed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from logd import cli
from logd.config import SinkConfig, load
from logd.outputs.formats import makeFormatter
from logd.filters import Filter
from logd.records import Batch, Lines
from logd.routing import IPressureObserver, ISink, ListenerStats, Router
from logd.outputs.sinks import FileSink

from .helpers import assertProblem, onlyProblem, problemsOf, sinkConfig, writeConfig


# Configuration -------------------------------------------------------------


@pytest.mark.parametrize("value", ["pause", "drop"])
@pytest.mark.parametrize("sink", ["{type: stdout, when_full: VALUE}", "{type: file, path: s.log, when_full: VALUE}"])
def test_whenFullAccepted(tmp_path: Path, sink: str, value: str) -> None:
    """Both values are accepted on both sink types, and kept as given."""
    path = sinkConfig(tmp_path, sink.replace("VALUE", value))
    assert load(str(path)).sinks["s"].whenFull == value


@pytest.mark.parametrize("sink", ["{type: stdout}", "{type: file, path: s.log, buffer: 1MiB}"])
def test_whenFullDefaultsToPause(tmp_path: Path, sink: str) -> None:
    """A sink that does not say holds its senders back: the safe side is the default."""
    path = sinkConfig(tmp_path, sink)
    assert load(str(path)).sinks["s"].whenFull == "pause"


@pytest.mark.parametrize(
    "value, shown",
    [
        ("block", "'block'"),
        ("Drop", "'Drop'"),  # values are case-sensitive, like format
        ("yes", "True"),  # YAML 1.1 reads yes as a boolean
        ("1", "1"),
        ('""', "''"),
        ("[drop]", "a list"),
        ("null", "None"),
    ],
)
def test_badWhenFull(tmp_path: Path, value: str, shown: str) -> None:
    """
    Anything else is one problem, at the sink's line, keyed
    sinks.NAME.when_full, saying what is allowed and what was found.
    """
    path = sinkConfig(tmp_path, f"{{type: stdout, when_full: {value}}}")
    problem = onlyProblem(path)
    assertProblem([problem], path, 2, "sinks.s.when_full", "pause", "drop", shown)


def test_badWhenFullInBlockStyleOnItsOwnLine(tmp_path: Path) -> None:
    """In block style the problem is on the when_full line, not the sink's first line."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: file, path: all.log}
          console:
            type: stdout
            buffer: 1MiB
            when_full: discard
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [all, console]}
        """,
    )
    problem = onlyProblem(path)
    assert problem == f"{path}:6: sinks.console.when_full: expected one of pause, drop, not 'discard'"


def test_badWhenFullReportedWithOtherProblems(tmp_path: Path) -> None:
    """A bad when_full does not hide (nor is hidden by) another problem of the same sink."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          console:
            type: stdout
            buffer: lots
            when_full: never
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [console]}
        """,
    )
    problems = problemsOf(path)
    assert len(problems) == 2, problems
    assertProblem(problems, path, 4, "sinks.console.buffer")
    assertProblem(problems, path, 5, "sinks.console.when_full", "never")


def test_describe(tmp_path: Path) -> None:
    """describe() says ', drops when full' for drop sinks only, before ', filtered'."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          held: {type: stdout, buffer: 64KiB}
          paused: {type: stdout, buffer: 64KiB, when_full: pause}
          console: {type: stdout, buffer: 64KiB, when_full: drop}
          debug: {type: stdout, buffer: 64KiB, when_full: drop, filter: {severity: debug}}
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [held, paused, console, debug]}
        """,
    )
    sinks = load(str(path)).sinks
    assert sinks["held"].describe() == "sink 'held': standard output (text, buffer 65536 bytes)"
    assert sinks["paused"].describe() == "sink 'paused': standard output (text, buffer 65536 bytes)"
    assert sinks["console"].describe() == "sink 'console': standard output (text, buffer 65536 bytes, drops when full)"
    assert sinks["debug"].describe() == (
        "sink 'debug': standard output (text, buffer 65536 bytes, drops when full, filtered)"
    )


def test_checkShowsDropSinks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """logd check lists a drop sink as dropping when full."""
    path = sinkConfig(tmp_path, "{type: stdout, when_full: drop}")
    assert cli.main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "  sink 's': standard output (text, buffer 16777216 bytes, drops when full)" in out.splitlines()


# Router --------------------------------------------------------------------


@implementer(ISink)
class FakeSink:
    """
    An ISink that keeps what it is given and is full when the test says so,
    telling its observers as a real sink does.
    """

    def __init__(self, full: bool = False) -> None:
        self.batches: list[Batch] = []
        self.observers: list[IPressureObserver] = []
        self.full = full

    def write(self, batch: Batch) -> None:
        self.batches.append(batch)

    def isFull(self) -> bool:
        return self.full

    def addPressureObserver(self, observer: IPressureObserver) -> None:
        self.observers.append(observer)

    def fill(self) -> None:
        assert not self.full
        self.full = True
        for observer in list(self.observers):
            observer.sinkFull(self)

    def drain(self) -> None:
        assert self.full
        self.full = False
        for observer in list(self.observers):
            observer.sinkDrained(self)

    @property
    def messages(self) -> list[bytes]:
        return [m for b in self.batches for m in b.messages]


@implementer(IPushProducer)
class FakeProducer:
    """A connection's transport, as far as the router sees it."""

    def __init__(self) -> None:
        self.paused = False
        self.pauses = 0
        self.resumes = 0

    def pauseProducing(self) -> None:
        self.pauses += 1
        self.paused = True

    def resumeProducing(self) -> None:
        self.resumes += 1
        self.paused = False

    def stopProducing(self) -> None:
        raise AssertionError("the router never stops a producer")


def batch(*messages: bytes) -> Batch:
    return Batch(1.0, "l", "127.0.0.1:5000", list(messages))


def listener(
    *sinks: FakeSink, drop: tuple[FakeSink, ...] = (), producers: int = 2, **kwargs: Any
) -> tuple[Router, list[FakeProducer]]:
    """A stream listener's router over C{sinks}, with C{producers} connections."""
    router = Router(sinks, ListenerStats(), canPause=True, dropWhenFull=drop, **kwargs)
    connections = [FakeProducer() for _ in range(producers)]
    for connection in connections:
        router.addProducer(connection)
    return router, connections


def test_fullDropSinkPausesNothingAndDropsItsRecords() -> None:
    """
    A drop sink going over its limit pauses no connection; while it is full
    the records routed to it are counted as dropped, and the pause sink
    beside it gets every batch, the very batch routed.
    """
    held, console = FakeSink(), FakeSink()
    router, connections = listener(held, console, drop=(console,))
    router.route(batch(b"before"))
    console.fill()
    assert not router.paused
    assert [(c.pauses, c.resumes) for c in connections] == [(0, 0), (0, 0)]

    first, second = batch(b"a", b"b", b"c"), batch(b"d", b"e")
    router.route(first)
    router.route(second)
    assert held.batches[1:] == [first, second] and held.batches[1] is first
    assert console.messages == [b"before"]
    assert router.stats.droppedSinkFull == 5
    assert router.stats.droppedSinkError == 0
    assert not router.paused
    assert all(c.pauses == 0 for c in connections)


def test_droppedCountsRecordsOfJoinedLines() -> None:
    """The line protocol's joined batches count one dropped record per line."""
    held, console = FakeSink(), FakeSink()
    router, _ = listener(held, console, drop=(console,))
    console.fill()
    router.route(Batch(1.0, "l", "-", Lines(b"one\ntwo\nthree")))
    assert router.stats.droppedSinkFull == 3
    assert held.messages == [b"one", b"two", b"three"]


def test_droppedCountsOnlyWhatTheFilterLetsThrough() -> None:
    """
    A filtered drop sink that is full counts only the records that would
    have reached it; a batch its filter refuses entirely counts nothing.
    """
    held, matching = FakeSink(), FakeSink()
    router, _ = listener(held, matching, drop=(matching,), filters=[None, Filter(match=re.compile(rb"disk"))])
    matching.fill()
    router.route(batch(b"disk full", b"cpu hot", b"disk ok"))
    router.route(batch(b"nothing to see"))
    assert router.stats.droppedSinkFull == 2
    assert held.messages == [b"disk full", b"cpu hot", b"disk ok", b"nothing to see"]
    assert matching.batches == []


def test_fullPauseSinkPausesUntilDrained() -> None:
    """
    A pause sink (the default) going over its limit pauses every connection,
    once; its records are still handed to it (it buffers them), none are
    dropped; when it drains every connection is resumed, once.
    """
    held, console = FakeSink(), FakeSink()
    router, connections = listener(held, console, drop=(console,))
    held.fill()
    assert router.paused
    assert [(c.paused, c.pauses, c.resumes) for c in connections] == [(True, 1, 0), (True, 1, 0)]

    router.route(batch(b"read before the pause took effect"))
    assert held.messages == console.messages == [b"read before the pause took effect"]
    assert router.stats.droppedSinkFull == 0

    held.drain()
    assert not router.paused
    assert [(c.paused, c.pauses, c.resumes) for c in connections] == [(False, 1, 1), (False, 1, 1)]


def test_pauseIsTheDefaultForUnlistedSinks() -> None:
    """A router given no dropWhenFull pauses for any full sink, as before."""
    one, two = FakeSink(), FakeSink()
    router = Router([one, two], ListenerStats(), canPause=True)
    connection = FakeProducer()
    router.addProducer(connection)
    two.fill()
    assert router.paused and connection.paused
    two.drain()
    assert not router.paused and not connection.paused


def test_bothFullPausedUntilThePauseSinkDrains() -> None:
    """
    A drop sink and a pause sink both full: the connections stay paused
    until the pause sink drains.  The drop sink draining first resumes
    nothing, and from then on it takes records again.
    """
    held, console = FakeSink(), FakeSink()
    router, connections = listener(held, console, drop=(console,))
    console.fill()
    held.fill()
    assert router.paused and all(c.paused for c in connections)
    router.route(batch(b"x"))
    assert router.stats.droppedSinkFull == 1
    assert held.messages == [b"x"]

    console.drain()
    assert router.paused
    assert [(c.paused, c.pauses, c.resumes) for c in connections] == [(True, 1, 0), (True, 1, 0)]
    router.route(batch(b"y"))
    assert console.messages == [b"y"]
    assert held.messages == [b"x", b"y"]
    assert router.stats.droppedSinkFull == 1

    held.drain()
    assert not router.paused
    assert [(c.paused, c.pauses, c.resumes) for c in connections] == [(False, 1, 1), (False, 1, 1)]


def test_bothFullPauseSinkDrainsFirst() -> None:
    """
    The other order: the pause sink draining resumes the connections
    although the drop sink is still full, which keeps dropping (and not
    pausing) until it drains in turn.
    """
    held, console = FakeSink(), FakeSink()
    router, connections = listener(held, console, drop=(console,))
    held.fill()
    console.fill()
    held.drain()
    assert not router.paused
    assert [(c.paused, c.pauses, c.resumes) for c in connections] == [(False, 1, 1), (False, 1, 1)]
    router.route(batch(b"a", b"b"))
    assert held.messages == [b"a", b"b"] and console.batches == []
    assert router.stats.droppedSinkFull == 2

    console.drain()
    router.route(batch(b"c"))
    assert console.messages == [b"c"]
    assert router.stats.droppedSinkFull == 2
    assert [(c.pauses, c.resumes) for c in connections] == [(1, 1), (1, 1)]


def test_drainedDropSinkTakesRecordsAgain() -> None:
    """
    A drop sink that drains gets records again, nothing more is counted, and
    its draining resumes nothing (nothing was paused); it can fill and drop
    again.
    """
    held, console = FakeSink(), FakeSink()
    router, connections = listener(held, console, drop=(console,))
    console.fill()
    router.route(batch(b"lost 1"))
    console.drain()
    router.route(batch(b"kept 1", b"kept 2"))
    console.fill()
    router.route(batch(b"lost 2", b"lost 3"))
    console.drain()
    router.route(batch(b"kept 3"))
    assert console.messages == [b"kept 1", b"kept 2", b"kept 3"]
    assert held.messages == [b"lost 1", b"kept 1", b"kept 2", b"lost 2", b"lost 3", b"kept 3"]
    assert router.stats.droppedSinkFull == 3
    assert [(c.pauses, c.resumes) for c in connections] == [(0, 0), (0, 0)]


def test_newConnectionWhileOnlyDropSinkFullNotPaused() -> None:
    """
    A connection arriving while only a drop sink is full is not paused; one
    arriving while a pause sink is full is, at once, and is resumed with the
    others.
    """
    held, console = FakeSink(), FakeSink()
    router, _ = listener(held, console, drop=(console,), producers=0)
    console.fill()
    early = FakeProducer()
    router.addProducer(early)
    assert (early.paused, early.pauses) == (False, 0)

    held.fill()
    late = FakeProducer()
    router.addProducer(late)
    assert (late.paused, late.pauses) == (True, 1)
    assert early.paused

    held.drain()
    assert not early.paused and not late.paused


def test_sinksAlreadyFullWhenTheRouterIsBuilt() -> None:
    """
    Sinks full before the router exists (a sink shared with another
    listener): a full drop sink drops and pauses no new connection; a full
    pause sink pauses the first connection, and draining resumes it.
    """
    console = FakeSink(full=True)
    router, connections = listener(FakeSink(), console, drop=(console,), producers=1)
    assert not router.paused and not connections[0].paused
    router.route(batch(b"a"))
    assert router.stats.droppedSinkFull == 1 and console.batches == []

    held = FakeSink(full=True)
    router, connections = listener(held, FakeSink(), drop=(), producers=1)
    assert router.paused and connections[0].paused
    held.drain()
    assert not router.paused and not connections[0].paused


def test_sharedDropSinkCountsPerListener() -> None:
    """A drop sink shared by two listeners: each counts what it dropped, neither pauses."""
    console = FakeSink()
    one, oneConnections = listener(FakeSink(), console, drop=(console,))
    two, twoConnections = listener(FakeSink(), console, drop=(console,))
    console.fill()
    one.route(batch(b"a", b"b"))
    two.route(batch(b"c"))
    assert (one.stats.droppedSinkFull, two.stats.droppedSinkFull) == (2, 1)
    assert not one.paused and not two.paused
    assert all(c.pauses == 0 for c in oneConnections + twoConnections)


def test_datagramRouterDropsForEverySink() -> None:
    """
    A datagram router (cannot pause) drops and counts for any full sink,
    whether or not it is listed as a drop sink, and never calls a producer.
    """
    held, console = FakeSink(), FakeSink()
    router = Router([held, console], ListenerStats(), canPause=False, dropWhenFull=[console])
    held.fill()
    console.fill()
    assert not router.paused
    router.route(batch(b"a", b"b"))
    assert held.batches == console.batches == []
    assert router.stats.droppedSinkFull == 4
    held.drain()
    router.route(batch(b"c"))
    assert held.messages == [b"c"] and console.batches == []
    assert router.stats.droppedSinkFull == 5


# The sink's own log lines -------------------------------------------------------


def said(log: list[dict[str, Any]], sink: str) -> list[str]:
    return [e["log_format"] for e in log if e.get("sink") == sink]


@pytest.mark.parametrize("whenFull, warnings", [("drop", 1), ("pause", 0)])
def test_fullSinkWarnsOnlyWhenItDrops(
    tmp_path: Path, capturedLog: list[dict[str, Any]], whenFull: str, warnings: int
) -> None:
    """
    A sink whose destination fails (/dev/full: ENOSPC) fills up.  A drop
    sink warns that it is dropping, once, however many more records come; a
    pause sink's fill is backpressure, not loss, and says nothing.
    """
    clock = Clock()
    path = tmp_path / "copy.log"
    path.symlink_to("/dev/full")
    config = SinkConfig(name="copy", type="file", path=str(path), buffer=100, whenFull=whenFull)
    sink = FileSink(config, makeFormatter("text"), clock)
    sink.startService()
    for _ in range(10):
        sink.write(batch(b"x" * 50))
        clock.advance(0)
    assert sink.isFull()
    assert len([text for text in said(capturedLog, "copy") if "dropping" in text]) == warnings
    sink.stopService()


def test_dropWarningAtMostOnceAMinute(tmp_path: Path, capturedLog: list[dict[str, Any]]) -> None:
    """Filling again and again says "dropping" once a minute, by the monotonic clock."""
    now = [1000.0]
    config = SinkConfig(name="copy", type="file", path=str(tmp_path / "copy.log"), whenFull="drop")
    sink = FileSink(config, makeFormatter("text"), Clock())
    sink.monotonic = lambda: now[0]  # type: ignore[method-assign]
    for step in (0, 1, 30, 59.9, 60, 61, 119, 120.5):
        now[0] = 1000.0 + step
        sink._warnDropping()
    assert len([text for text in said(capturedLog, "copy") if "dropping" in text]) == 3  # at 0, 60, 120.5


def test_healthySmallBufferTakesABurst(tmp_path: Path) -> None:
    """
    Records past a small buffer that the destination takes at once do not
    make the sink full: many connections' reads in one reactor iteration
    are a burst, not a stuck destination.
    """
    clock = Clock()
    config = SinkConfig(name="copy", type="file", path=str(tmp_path / "copy.log"), buffer=100, whenFull="drop")
    sink = FileSink(config, makeFormatter("text"), clock)
    sink.startService()
    full = []
    for i in range(50):
        sink.write(batch(b"burst %d " % i + b"x" * 50))
        full.append(sink.isFull())
    assert not any(full)
    sink.stopService()
    assert (tmp_path / "copy.log").read_bytes().count(b"\n") == 50


@pytest.fixture
def capturedLog() -> Any:
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)
