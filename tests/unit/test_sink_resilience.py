"""
Sinks and routing keep going when something odd happens underneath them:
a file check that cannot stat its path, a sink that cannot take a batch.
The reactor is a deterministic Clock here: these are about what the code
does on the next tick, not about sockets.
"""

from __future__ import annotations

import json
import os
import resource
import signal
from pathlib import Path

import pytest

from twisted.internet.task import Clock

from logd.config import Rotation, SinkConfig
from logd.outputs.formats import makeFormatter, renderJSON
from logd.records import Batch
from logd.routing import ListenerStats, Router
from logd.outputs.sinks import RETRY_SECONDS, FileSink


def fileSink(path: Path, clock: Clock) -> FileSink:
    sink = FileSink(SinkConfig(name="out", type="file", path=str(path)), makeFormatter("text"), clock)
    sink.startService()
    return sink


def record(message: bytes) -> Batch:
    return Batch(1_700_000_000.0, "l", "-", [message])


def test_fileCheckSurvivesAnUnreadableDirectory(tmp_path: Path) -> None:
    """
    The once-a-second check meets an error other than "no such file" (its
    directory replaced by a regular file): it keeps running, and once the
    directory is back and the file deleted, the next record recreates it.
    """
    clock = Clock()
    directory = tmp_path / "logs"
    path = directory / "all.log"
    sink = fileSink(path, clock)
    sink.write(record(b"first"))
    clock.advance(0)
    os.rename(directory, tmp_path / "moved")
    directory.write_bytes(b"not a directory")
    clock.advance(RETRY_SECONDS)
    assert sink._check.running, "the file check stopped for good"
    directory.unlink()
    os.rename(tmp_path / "moved", directory)
    path.unlink()
    for _ in range(3):
        clock.advance(RETRY_SECONDS)
    sink.write(record(b"second"))
    clock.advance(0)
    assert path.read_bytes().endswith(b" l - second\n")
    sink.stopService()


class RaisingSink:
    """A sink that cannot take anything."""

    def addPressureObserver(self, observer: object) -> None:
        pass

    def isFull(self) -> bool:
        return False

    def write(self, batch: Batch) -> None:
        raise TypeError("cannot format this")


class ListSink(RaisingSink):
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def write(self, batch: Batch) -> None:
        self.batches.append(batch)


def test_routerGivesOtherSinksTheBatchWhenOneRaises() -> None:
    """
    A sink raising on a batch does not keep it from the sinks after it, and
    its records are counted as dropped.
    """
    stats = ListenerStats()
    good = ListSink()
    router = Router([RaisingSink(), good], stats, canPause=True)
    batch = Batch(1.0, "l", "-", [b"a", b"b"])
    router.route(batch)
    router.route(batch)
    assert good.batches == [batch, batch]
    assert stats.droppedSinkError == 4


def test_jsonKeepsTheMessageBesideCustomFields() -> None:
    """
    Fields a custom protocol attaches come after the message as received;
    values JSON has no type for (bytes) are written as text, not raised on.
    """
    batch = Batch(1.0, "l", "-", [b"hello", b"bad \xff"], [{"user": "x"}, {"raw": b"\xfe", "n": 3}])
    first, second = (json.loads(line) for line in renderJSON(batch).splitlines())
    assert first["message"] == "hello" and first["user"] == "x"
    assert second["message"] == "bad \\xff" and second["raw"] == "\\xfe" and second["n"] == 3


@pytest.mark.parametrize("resumedBy", ["retry", "next write"])
def test_recordCutByAFailedWriteEndsInItsFile(tmp_path: Path, resumedBy: str) -> None:
    """
    A write that fails partway (here: the kernel's file size limit, EFBIG)
    leaves half a record in the file.  When writing resumes (the retry, or
    a new record's flush before it), the rest of that record goes into the
    same file, even if rotation would otherwise start a new one first: a
    record is never split across files.  And the half that was written
    counts towards the file's size: the next record starts a new file.
    """
    clock = Clock()
    path = tmp_path / "all.log"
    config = SinkConfig(name="out", type="file", path=str(path), rotate=Rotation(maxBytes=1000, keep=2))
    sink = FileSink(config, makeFormatter("text"), clock)
    sink.startService()
    big = b"x" * 1500  # bigger than max_bytes: a file of its own
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (700, hard))
        sink.write(record(big))
        clock.advance(0)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert path.stat().st_size == 700, "the write did not stop partway"
    sink.write(record(b"next"))
    clock.advance(RETRY_SECONDS if resumedBy == "retry" else 0)
    sink.stopService()
    first = (tmp_path / "all.log.1").read_bytes()
    assert first.count(b"\n") == 1 and first.endswith(b" l - " + big + b"\n")
    assert path.read_bytes().endswith(b" l - next\n") and path.read_bytes().count(b"\n") == 1
    assert (sink.buffered, sink.recordsLost) == (0, 0), "the rotation after the record's rest miscounted the buffer"
