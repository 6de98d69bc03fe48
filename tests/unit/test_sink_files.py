"""
What a file sink does with the files themselves: the modes and owners it
creates them with whatever the umask, a file found ending inside a record,
a reopen that the filesystem refuses, an external truncate, and what it
counts as lost when it stops with records it could not write.  The reactor
is a deterministic Clock; the files are real.
"""

from __future__ import annotations

import os
import resource
import signal
import stat
from pathlib import Path
from typing import Iterator

import pytest

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from logd.config import Rotation, SinkConfig
from logd.files import RunAs, directoryMode
from logd.outputs.formats import makeFormatter
from logd.records import Batch
from logd.outputs.sinks import RETRY_SECONDS, FileSink


def record(message: bytes) -> Batch:
    return Batch(1_700_000_000.0, "l", "-", [message])


def makeSink(path: Path, clock: Clock, **settings) -> FileSink:
    sink = FileSink(SinkConfig(name="out", type="file", path=str(path), **settings), makeFormatter("text"), clock)
    sink.startService()
    return sink


@pytest.fixture
def umask077() -> Iterator[None]:
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def logEvents() -> Iterator[list[dict]]:
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(events.append)


def texts(events: list[dict]) -> str:
    from twisted.logger import formatEvent

    return "\n".join(formatEvent(e) for e in events)


def test_defaultModesWhateverTheUmask(tmp_path: Path, umask077: None) -> None:
    """twistd's daemon umask 077 does not make the files 0600: 0640 in 0750 directories, as documented."""
    path = tmp_path / "a" / "b" / "all.log"
    sink = makeSink(path, Clock())
    sink.stopService()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o750


def test_configuredMode(tmp_path: Path, umask077: None) -> None:
    path = tmp_path / "logs" / "all.log"
    sink = makeSink(path, Clock(), mode=0o644)
    sink.stopService()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755


def test_existingFileAndDirectoryKeepTheirModes(tmp_path: Path) -> None:
    """What the administrator made is theirs: logd does not chmod an existing file or directory."""
    path = tmp_path / "all.log"
    path.write_bytes(b"")
    path.chmod(0o600)
    tmp_path.chmod(0o711)
    makeSink(path, Clock(), mode=0o644).stopService()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o711


def test_rotatedFileGetsTheMode(tmp_path: Path, umask077: None) -> None:
    clock = Clock()
    path = tmp_path / "all.log"
    sink = makeSink(path, clock, mode=0o604, rotate=Rotation(maxBytes=100, keep=2))
    for n in range(5):
        sink.write(record(b"x" * 40 + str(n).encode()))
        clock.advance(0)
    sink.stopService()
    assert (tmp_path / "all.log.1").exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o604


def test_directoryMode() -> None:
    assert [directoryMode(m) for m in (0o640, 0o600, 0o644, 0o660, 0o666, 0o604)] == [0o750, 0o700, 0o755, 0o750, 0o755, 0o705]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files away takes root")
def test_ownerGroupAndRunAs(tmp_path: Path) -> None:
    """
    Created files belong to owner/group when set, else to the user logd
    will run as; the directories logd creates belong to that user, so it
    can create files in them after the privilege drop.
    """
    path = tmp_path / "logs" / "all.log"
    config = SinkConfig(name="out", type="file", path=str(path), group=4)
    sink = FileSink(config, makeFormatter("text"), Clock(), RunAs(65534, 65534))
    sink.startService()
    sink.stopService()
    assert (path.stat().st_uid, path.stat().st_gid) == (65534, 4)
    assert (path.parent.stat().st_uid, path.parent.stat().st_gid) == (65534, 4)
    other = tmp_path / "other.log"
    sink = FileSink(SinkConfig(name="o", type="file", path=str(other), owner=1, group=2), makeFormatter("text"), Clock(), RunAs(65534, 65534))
    sink.startService()
    sink.stopService()
    assert (other.stat().st_uid, other.stat().st_gid) == (1, 2)


def test_fileEndingInsideARecordGetsAnLF(tmp_path: Path, logEvents: list[dict]) -> None:
    """
    A file left ending mid-record (an earlier run cut short by a full disk)
    gets an LF before the first new record, counted and logged: the new
    record is not glued to the old fragment.
    """
    path = tmp_path / "all.log"
    path.write_bytes(b"2026-12-02T12:25:09.593893Z tcp 127.0.0.1:1 whole\n2026-12-02T12:25:09.6")
    clock = Clock()
    sink = makeSink(path, clock)
    sink.write(record(b"new"))
    clock.advance(0)
    sink.stopService()
    lines = path.read_bytes().split(b"\n")
    assert lines[1] == b"2026-12-02T12:25:09.6"
    assert lines[2].startswith(b"2023-11-14T22:13:20.000000Z l - new")
    assert sink.recordsMended == 1
    assert "ended inside a record" in texts(logEvents)


@pytest.mark.parametrize("content", [b"", b"whole\n"])
def test_fileEndingWellIsLeftAlone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "all.log"
    path.write_bytes(content)
    clock = Clock()
    sink = makeSink(path, clock)
    sink.write(record(b"new"))
    clock.advance(0)
    sink.stopService()
    assert path.read_bytes().startswith(content + b"2023") and sink.recordsMended == 0


def test_reopenOnSighupMendsTheNewFile(tmp_path: Path) -> None:
    """The same on a SIGHUP reopen: something else left the file at the path mid-line."""
    path = tmp_path / "all.log"
    clock = Clock()
    sink = makeSink(path, clock)
    sink.write(record(b"one"))
    clock.advance(0)
    os.rename(path, tmp_path / "all.log.1")
    path.write_bytes(b"partial")
    sink.reopen()
    sink.write(record(b"two"))
    clock.advance(0)
    sink.stopService()
    assert path.read_bytes().split(b"\n")[0] == b"partial"
    assert path.read_bytes().split(b"\n")[1].endswith(b" l - two")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges within the test")
def test_refusedReopenKeepsWritingToTheOpenFile(tmp_path: Path, logEvents: list[dict]) -> None:
    """
    After a privilege drop, the directory is not ours: logrotate's move and
    SIGHUP cannot create a new file.  The records keep going into the moved
    file (nothing held back, nothing lost), with one error logged however
    often the reopen is tried.  The sink runs in a child process, which can
    drop root for good; the parent is logrotate, moving the file as root.
    """
    tmp_path.chmod(0o755)
    directory = tmp_path / "root-owned"
    directory.mkdir(mode=0o755)
    path = directory / "all.log"
    toParent, fromChild = os.pipe()
    fromParent, toChild = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            clock = Clock()
            config = SinkConfig(name="out", type="file", path=str(path))
            sink = FileSink(config, makeFormatter("text"), clock, RunAs(65534, 65534))
            sink.privilegedStartService()
            os.setgid(65534)
            os.setuid(65534)
            sink.startService()
            sink.write(record(b"before"))
            clock.advance(0)
            os.write(fromChild, b"1")
            os.read(fromParent, 1)  # logrotate has moved the file
            sink.reopen()
            for _ in range(3):
                clock.advance(RETRY_SECONDS)
            sink.write(record(b"after"))
            clock.advance(0)
            sink.stopService()
            errors = texts(logEvents).count("cannot reopen")
            code = 0 if errors == 1 and sink.recordsLost == 0 else 10 + errors
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    assert os.read(toParent, 1) == b"1"
    os.rename(path, directory / "all.log.1")
    os.write(toChild, b"1")
    _, status = os.waitpid(pid, 0)
    for fd in (toParent, fromChild, fromParent, toChild):
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not path.exists()
    content = (directory / "all.log.1").read_bytes()
    assert content.endswith(b" l - after\n") and b" l - before\n" in content


def test_deletedFileThatCannotBeRecreatedIsAFailure(tmp_path: Path, logEvents: list[dict]) -> None:
    """
    Writing on into a file that has no name left would lose the records
    silently: a reopen refused after a delete is a failure episode, whose
    records wait in the buffer (and count as lost if the stop comes first).
    """
    directory = tmp_path / "logs"
    path = directory / "all.log"
    clock = Clock()
    sink = makeSink(path, clock)
    path.unlink()
    directory.rmdir()
    directory.write_bytes(b"a file where the directory was")
    sink.reopen()
    sink.write(record(b"held"))
    clock.advance(0)
    assert sink.buffered > 0
    sink.stopService()
    assert sink.recordsLost == 1
    assert "stopping with 1 records" in texts(logEvents)


def test_externalTruncateIsNoticedBeforeRotating(tmp_path: Path) -> None:
    """
    After a copytruncate, the file is nearly empty: logd must not rotate it
    away as if it held what was written before the truncate.
    """
    clock = Clock()
    path = tmp_path / "all.log"
    sink = makeSink(path, clock, rotate=Rotation(maxBytes=1000, keep=3))
    line = b"y" * 60  # 90 bytes a record with the header
    for _ in range(10):
        sink.write(record(line))
        clock.advance(0)
    os.truncate(path, 0)
    for _ in range(10):
        sink.write(record(line))
        clock.advance(0)
    sink.stopService()
    assert not (tmp_path / "all.log.1").exists(), "rotated a file that a truncate had emptied"
    assert path.read_bytes().count(b"\n") == 10


class FileSizeLimit:
    """
    RLIMIT_FSIZE for the test process: a write past C{limit} bytes of any
    file fails partway with EFBIG, as a full disk would, for real.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __enter__(self) -> None:
        self.saved = resource.getrlimit(resource.RLIMIT_FSIZE)
        self.handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.limit, self.saved[1]))

    def __exit__(self, *exc: object) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, self.saved)
        signal.signal(signal.SIGXFSZ, self.handler)


def test_restOfACutRecordWhoseFileIsGoneIsDroppedAndCounted(tmp_path: Path, logEvents: list[dict]) -> None:
    """
    A write stops inside a record; logrotate moves the file and the old
    file cannot take the rest either.  The new file does not start with a
    headless fragment: the rest is dropped, counted as one record lost,
    and the next record is whole in the new file.
    """
    clock = Clock()
    path = tmp_path / "all.log"
    sink = makeSink(path, clock)
    sink.write(record(b"a" * 50))
    clock.advance(0)
    size = path.stat().st_size
    with FileSizeLimit(size + 10):
        sink.write(record(b"b" * 50))
        clock.advance(0)
        assert path.stat().st_size == size + 10, "the write did not stop partway"
        os.rename(path, tmp_path / "all.log.1")
        sink.reopen()
    sink.write(record(b"c" * 50))
    clock.advance(RETRY_SECONDS)
    sink.stopService()
    assert (sink.recordsLost, sink.buffered) == (1, 0)
    assert not (tmp_path / "all.log.1").read_bytes().endswith(b"\n")
    assert path.read_bytes().count(b"\n") == 1 and path.read_bytes().startswith(b"2023-") and path.read_bytes().endswith(b" l - " + b"c" * 50 + b"\n")
    assert "dropped the record's remaining" in texts(logEvents)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges within the test")
def test_refusedRotationWritesOn(tmp_path: Path, logEvents: list[dict]) -> None:
    """
    logd's own rotation in a directory that is root's after the privilege
    drop: the renames are refused; the file grows past max_bytes instead
    of the records piling up in the buffer, and it is said once.
    """
    tmp_path.chmod(0o755)
    directory = tmp_path / "root-owned"
    directory.mkdir(mode=0o755)
    path = directory / "all.log"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            clock = Clock()
            config = SinkConfig(name="out", type="file", path=str(path), rotate=Rotation(maxBytes=300, keep=2))
            sink = FileSink(config, makeFormatter("text"), clock, RunAs(65534, 65534))
            sink.privilegedStartService()
            os.setgid(65534)
            os.setuid(65534)
            sink.startService()
            for n in range(10):
                sink.write(record(b"%d" % n + b"x" * 60))
                clock.advance(0)
            clock.advance(RETRY_SECONDS)
            sink.write(record(b"last"))
            clock.advance(0)
            ok = sink._failure is None and sink.buffered == 0 and texts(logEvents).count("cannot rotate") == 1
            sink.stopService()
            code = 0 if ok else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not (directory / "all.log.1").exists()
    assert path.read_bytes().count(b"\n") == 11 and path.stat().st_size > 300
