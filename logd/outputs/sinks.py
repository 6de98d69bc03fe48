"""
Sinks: format, buffer, write.

A sink formats each batch into one bytes object, appends it to a buffer and
writes the buffer out in one system call at the end of the reactor
iteration (or sooner, once a megabyte has piled up): when the reactor goes
idle, everything received is on its way to disk, so C{tail -f} sees a line
within milliseconds, and under load one write carries many batches.

A sink that cannot write keeps what it has, logs the failure once per
episode, retries every second, and tells its routers when its buffer passes
the configured limit so they can pause their connections.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any, Callable

from zope.interface import implementer

from twisted.application.service import Service
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from logd.config import Rotation, SinkConfig
from logd.errors import StartupError
from logd.files import RunAs, setOwner, directoryMode, makeDirectories
from logd.outputs.formats import Formatter
from logd.outputs.writing import NonBlockingOutput, dropFront, writeAll, writevAll
from logd.records import Batch
from logd.routing import IPressureObserver, ISink

FLUSH_AT = 1024 * 1024
"""Write at once, rather than at the end of the iteration, past this many buffered bytes."""

STOP_WRITE_SECONDS = 5.0
"""How long a stopping stdout sink waits for a slow reader to take the rest."""

RETRY_SECONDS = 1.0
"""How often a failing sink tries again, and how often a file sink checks that its file is still there."""

DROP_WARNING_SECONDS = 60.0
"""The least time between two "dropping" warnings of one C{when_full: drop} sink."""


@implementer(ISink)
class BufferedSink(Service):
    """
    What every sink shares: the buffer, the flush schedule, the failure
    episodes and the pressure signal.  Subclasses say how bytes get out with
    L{_writeSome}.
    """

    log = Logger()
    monotonic: Callable[[], float] = staticmethod(time.monotonic)  # type: ignore[assignment]
    """The clock of the "dropping" warning's limit: not the wall clock, which may be stepped back."""
    rotations = 0
    """Files rotated (only file sinks rotate)."""

    def __init__(self, config: SinkConfig, formatter: Formatter, reactor: IReactorTime) -> None:
        self.name = f"sink/{config.name}"
        self.sinkName = config.name
        self.config = config
        self.formatter = formatter
        self.reactor = reactor
        self.limit = config.buffer
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._flushCall = None
        self._observers: list[IPressureObserver] = []
        self._full = False
        self._failure: str | None = None
        self._retryCall: Any = None
        self._lastDropWarning = float("-inf")
        self.bytesWritten = 0
        self.recordsLost = 0
        """Records this sink had taken but could not write: left over at stop, or the rest of a cut record with nowhere to go."""
        self.recordsMended = 0
        """Files found ending inside a record and given an LF first (only files can be)."""
        self.recordsWritten: dict[str, int] = {}
        """Records written out, by the listener they came from: a batch counts once all its bytes are out."""
        self.recordsDiscarded: dict[str, int] = {}
        """Records taken but never written (left at stop), by listener."""
        self.writeErrors = 0
        """Writes that failed (each retry that fails again counts)."""
        self._pending: deque[tuple[str, int, int]] = deque()
        """Per batch in the buffer: its listener, its record count, and where its bytes end (in L{_taken} terms)."""
        self._taken = 0
        """Bytes ever put into the buffer (those taken off its front since are C{_taken - _buffered})."""

    # ISink

    def write(self, batch: Batch) -> None:
        pieces = self.formatter.pieces(batch)
        if not pieces:
            return
        self._buffer.extend(pieces)
        size = sum(map(len, pieces))
        self._buffered += size
        self._taken += size
        self._pending.append((batch.listener, len(batch.messages), self._taken))
        if self._buffered >= FLUSH_AT and self._failure is None:
            self.flush()
        elif self._flushCall is None:
            self._flushCall = self.reactor.callLater(0, self._scheduledFlush)
        if self._buffered > self.limit and not self._full:
            if self._failure is None:
                # A burst (many connections' reads in one iteration) may go
                # over a small buffer that a healthy destination takes at
                # once: full means it did not.
                self.flush()
            if self._buffered > self.limit:
                self._full = True
                if self.config.whenFull == "drop":
                    self._warnDropping()
                for observer in list(self._observers):
                    observer.sinkFull(self)

    def _warnDropping(self) -> None:
        """
        Say that a C{when_full: drop} sink is dropping, at most once a
        minute: a slow reader can fill and drain a small buffer many times a
        second, and the log must not become the flood.  There is no "drained"
        line to match: it could be the log's last word on a sink that filled
        again a moment later, in the quiet minute.  The counts are at
        shutdown.
        """
        now = self.monotonic()
        if now - self._lastDropWarning < DROP_WARNING_SECONDS:
            return
        self._lastDropWarning = now
        self.log.warn(
            "sink {sink!r}: {buffered} bytes waiting, over its buffer: dropping its records while it is full "
            "(said at most once a minute; the count is logged at shutdown)",
            sink=self.sinkName,
            buffered=self._buffered,
        )

    def isFull(self) -> bool:
        return self._full

    def addPressureObserver(self, observer: IPressureObserver) -> None:
        self._observers.append(observer)

    def removePressureObserver(self, observer: IPressureObserver) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    @property
    def buffered(self) -> int:
        return self._buffered

    def recordsBuffered(self) -> dict[str, int]:
        """Records taken and not yet written, by listener (read when asked, never kept up per batch)."""
        waiting = dict.fromkeys(self.recordsWritten, 0)
        for listener, count, _ in self._pending:
            waiting[listener] = waiting.get(listener, 0) + count
        return waiting

    @property
    def failure(self) -> str | None:
        """Why the sink is not writing, while it is not; else L{None}."""
        return self._failure

    def _consume(self) -> None:
        """
        Bytes have left the front of the buffer (C{_buffered} is down by
        them): the batches now wholly out count as written.
        """
        pending, consumed, written = self._pending, self._taken - self._buffered, self.recordsWritten
        while pending and pending[0][2] <= consumed:
            listener, records, _ = pending.popleft()
            written[listener] = written.get(listener, 0) + records

    def _discardPending(self) -> None:
        """What is still buffered will never be written (the sink is stopping)."""
        for listener, records, _ in self._pending:
            self.recordsDiscarded[listener] = self.recordsDiscarded.get(listener, 0) + records
        self._pending.clear()

    # flushing

    def _scheduledFlush(self) -> None:
        self._flushCall = None
        self.flush()

    def flush(self) -> None:
        """
        Write out as much of the buffer as the destination takes now.
        """
        if not self._buffer:
            return
        pieces = self._buffer
        try:
            written = self._writeSome(pieces)
        except OSError as e:
            written = getattr(e, "written", 0)
            self._failed(e)
        else:
            self._recovered()
        self.bytesWritten += written
        self._buffer = dropFront(pieces, written, self._buffered)
        self._buffered -= written
        self._consume()
        if self._full and self._buffered <= self.limit // 2:
            self._full = False
            for observer in list(self._observers):
                observer.sinkDrained(self)

    def _writeSome(self, pieces: list[bytes]) -> int:
        """
        Write from the front of C{pieces}; return how many bytes were
        written.  An C{OSError} means the destination failed; its
        C{written} attribute, if any, says how much got out before it did.
        """
        raise NotImplementedError()

    # failure episodes

    def _failed(self, error: OSError) -> None:
        self.writeErrors += 1
        if self._failure is None:
            self._failure = str(error)
            self.log.error(
                "sink {sink!r}: write failed: {error}; keeping {buffered} bytes and retrying every {retry}s",
                sink=self.sinkName,
                error=self._failure,
                buffered=self._buffered,
                retry=RETRY_SECONDS,
            )
        if self._retryCall is None:
            self._retryCall = self.reactor.callLater(RETRY_SECONDS, self._retry)

    def _retry(self) -> None:
        """
        One retry chain per episode: it ends when a write succeeds.
        """
        self._retryCall = None
        if not self.running:
            return
        if self._reopenAfterFailure() and not self._buffer:
            # A failed reopen with nothing waiting: the episode ends here,
            # not at the next write.
            self._recovered()
        self.flush()
        if self._failure is not None and self._retryCall is None:
            self._retryCall = self.reactor.callLater(RETRY_SECONDS, self._retry)

    def _reopenAfterFailure(self) -> bool:
        """
        A chance to get a fresh destination before retrying; whether the
        destination is usable.
        """
        return True

    def _recovered(self) -> None:
        if self._retryCall is not None and self._retryCall.active():
            self._retryCall.cancel()
            self._retryCall = None
        if self._failure is not None:
            self.log.info("sink {sink!r}: writing again after: {error}", sink=self.sinkName, error=self._failure)
            self._failure = None

    # lifecycle

    def stopService(self) -> None:
        Service.stopService(self)
        if self._flushCall is not None and self._flushCall.active():
            self._flushCall.cancel()
        self._flushCall = None
        self.flush()
        if self._buffered:
            # Every formatted record ends with an LF, so the LFs count the
            # records (the rest of a record cut short by a failed write too).
            lost = sum(piece.count(b"\n") for piece in self._buffer)
            self.recordsLost += lost
            self.log.error(
                "sink {sink!r}: stopping with {records} records ({buffered} bytes) not written: {error}",
                sink=self.sinkName,
                records=lost,
                buffered=self._buffered,
                error=self._failure,
            )
            self._buffer, self._buffered = [], 0
        self._discardPending()

    def reopen(self) -> None:
        """
        Called on SIGHUP.  Only files have something to reopen.
        """


class FileSink(BufferedSink):
    """
    Append to a file, rotating by size if configured.

    The file is opened in append mode, so another writer (or a logrotate
    C{copytruncate}) cannot make us write over data.  Once a second the sink
    checks that the path still names the file it has open, and reopens it if
    the file was deleted or replaced.

    A file is created with the sink's C{mode} (default 0640) whatever the
    umask, owned by its C{owner}/C{group} or else by the user logd runs as.
    Every record starts on a line of its own: a file found ending inside a
    record (cut short by a full disk in an earlier run, say) gets an LF
    first, counted in C{recordsMended}.
    """

    def __init__(self, config: SinkConfig, formatter: Formatter, reactor: IReactorTime, runAs: RunAs | None = None) -> None:
        super().__init__(config, formatter, reactor)
        assert config.path is not None
        self.path = config.path
        self.rotation: Rotation | None = config.rotate
        self.rotations = 0
        self.runAs = runAs
        self._fd: int | None = None
        self._fileId: tuple[int, int] | None = None
        """The (device, inode) of the open file: a reopen may find the same file or a new one."""
        self._fileSize = 0
        self._midRecord = False
        """Whether the last write stopped inside a record (it failed partway)."""
        self._reopenProblem: str | None = None
        """Why the path could not be reopened, while we keep writing to the file we have."""
        self._rotateProblem: str | None = None
        """Why the file could not be rotated, while it grows past max_bytes."""
        self._rotateTried = float("-inf")
        self._chownProblem = False
        self._check = LoopingCall(self._checkFile)
        self._check.clock = reactor

    def privilegedStartService(self) -> None:
        if self._fd is not None:
            return
        try:
            self._open()
        except OSError as e:
            raise StartupError(f"sink {self.sinkName!r}: cannot open {self.path}: {e.strerror}") from None
        Service.privilegedStartService(self)

    def startService(self) -> None:
        if self.running:
            return  # started already: a reload opens a new sink before it switches to it
        if self._fd is None:
            self.privilegedStartService()
        Service.startService(self)
        self._check.start(RETRY_SECONDS, now=False)

    def stopService(self) -> None:
        if self._check.running:
            self._check.stop()
        super().stopService()
        self._close()

    # opening

    def _open(self) -> None:
        self._adopt(self._openFile())

    def _openFile(self) -> int:
        """
        Open the path for appending, creating it (and its directories) with
        the configured mode and owner if it is not there.
        """
        config = self.config
        directory = os.path.dirname(self.path)
        if directory:
            makeDirectories(directory, directoryMode(config.mode), self.runAs, config.group)
        flags = os.O_APPEND | os.O_CLOEXEC
        try:
            # Read access too, to see how the file ends (see _adopt).
            fd = os.open(self.path, flags | os.O_RDWR | os.O_CREAT | os.O_EXCL, config.mode)
        except FileExistsError:
            try:
                return os.open(self.path, flags | os.O_RDWR)
            except PermissionError:
                return os.open(self.path, flags | os.O_WRONLY)
        try:
            os.fchmod(fd, config.mode)
            self._chown(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _chown(self, fd: int) -> None:
        uid = self.config.owner if self.config.owner is not None else (self.runAs.uid if self.runAs else None)
        gid = self.config.group if self.config.group is not None else (self.runAs.gid if self.runAs else None)
        try:
            setOwner(fd, uid, gid)
        except OSError as e:
            if not self._chownProblem:
                self._chownProblem = True
                self.log.warn("sink {sink!r}: cannot give {path} to {uid}:{gid}: {error}", sink=self.sinkName, path=self.path, uid=uid, gid=gid, error=e)

    def _adopt(self, fd: int) -> None:
        """
        Make C{fd} the file we write to.  If we were inside a record when a
        write failed, its rest continues in the same file, and is dropped
        (counted) if that file is gone: written at the top of another, it
        would be a line without a time or a peer.
        """
        try:
            st = os.fstat(fd)
            fileId = (st.st_dev, st.st_ino)
            if self._midRecord and fileId != self._fileId:
                self._dropCutRest()
            if not self._midRecord and st.st_size and not _endsWithLF(fd, st.st_size):
                writeAll(fd, b"\n")
                self.recordsMended += 1
                self.log.warn(
                    "sink {sink!r}: {path} ended inside a record (cut short earlier, by a full disk or a crash); "
                    "ended it with a newline so that new records start on their own line",
                    sink=self.sinkName,
                    path=self.path,
                )
                size = st.st_size + 1
            else:
                size = st.st_size
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._fileId, self._fileSize = fd, fileId, size

    def _dropCutRest(self) -> None:
        data = b"".join(self._buffer)
        cut = data.find(b"\n") + 1 or len(data)
        self._buffer = [data[cut:]] if cut < len(data) else []
        self._buffered -= cut
        self._consume()
        self._midRecord = False
        self.recordsLost += 1
        self.log.error(
            "sink {sink!r}: the file holding the start of a record cut short by a failed write is gone; "
            "dropped the record's remaining {n} bytes",
            sink=self.sinkName,
            n=cut,
        )

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                pass

    def reopen(self) -> None:
        """
        Flush into the old file, then open the path again: after logrotate
        has moved the file away, new records go to a new file.  If the path
        cannot be opened (a directory this user may not write, after a
        privilege drop), records keep going to the file already open, as
        long as it still has a name: nothing is held back or lost for it.
        """
        self.flush()
        try:
            fd = self._openFile()
        except OSError as e:
            self._cannotReopen(e)
            return
        old, self._fd = self._fd, None
        try:
            self._adopt(fd)
        except OSError as e:
            self._fd = old
            self._cannotReopen(e)
            return
        if old is not None:
            os.close(old)
        if self._reopenProblem is not None:
            self.log.info("sink {sink!r}: reopened {path}", sink=self.sinkName, path=self.path)
            self._reopenProblem = None

    def _cannotReopen(self, error: OSError) -> None:
        if self._fd is not None and _stillNamed(self._fd):
            if self._reopenProblem is None:
                self._reopenProblem = str(error)
                self.log.error(
                    "sink {sink!r}: cannot reopen {path}: {error}; still writing to the file it had open "
                    "(wherever it was moved) until the path can be opened",
                    sink=self.sinkName,
                    path=self.path,
                    error=error,
                )
            return
        self._close()
        self._failed(error)

    def _reopenAfterFailure(self) -> bool:
        self._close()
        try:
            self._open()
        except OSError:
            return False
        return True

    def _checkFile(self) -> None:
        """
        Once a second: does the path still name the file we write to?  Any
        error here must not stop the check for good (a LoopingCall whose
        call raises never runs again).
        """
        if self._fd is None or self._failure is not None:
            return
        try:
            opened = os.fstat(self._fd)
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        except OSError as e:
            # The directory became unreadable or was replaced: the file as
            # we know it is gone from the path; reopening will say why.
            self.log.warn("sink {sink!r}: cannot check {path}: {error}", sink=self.sinkName, path=self.path, error=e)
            self.reopen()
            return
        if current is None or (current.st_ino, current.st_dev) != (opened.st_ino, opened.st_dev):
            self.log.warn("sink {sink!r}: {path} was removed or replaced; reopening it", sink=self.sinkName, path=self.path)
            self.reopen()

    def flush(self) -> None:
        """
        Open the file first if it is not (after a failed reopen): opening
        may drop the rest of a cut record from the buffer (L{_adopt}),
        which must happen before the buffer is taken for writing.
        """
        if self._fd is None and self._buffer:
            try:
                self._open()
            except OSError as e:
                self._failed(e)
                return
        super().flush()

    def _writeSome(self, pieces: list[bytes]) -> int:
        if self.rotation is not None:
            # Rotation cuts between records, so it needs the bytes in one piece.
            return self._writeRotating(b"".join(pieces))
        try:
            written = writevAll(self._fd, pieces)
        except OSError as e:
            partial = getattr(e, "written", 0)
            self._fileSize += partial
            if partial:
                self._midRecord = _byteAt(pieces, partial - 1) != 0x0A
            raise
        self._fileSize += written
        self._midRecord = False
        return written

    def _writeRotating(self, data: bytes) -> int:
        """
        Write whole records, rotating before a write that would take the
        file past C{maxBytes}, unless the file is empty: a record bigger
        than C{maxBytes} gets a file of its own.  Records are LF-terminated
        lines, so record boundaries are LFs.
        """
        maxBytes = self.rotation.maxBytes
        done = 0
        total = len(data)
        try:
            if self._midRecord:
                # The rest of a record that a failed write cut short belongs
                # in the file that holds its start, whatever its size now.
                cut = data.find(b"\n") + 1 or total
                self._fileSize += writeAll(self._fd, data[:cut])
                done = cut
                self._midRecord = data[cut - 1] != 0x0A
            while done < total:
                room = maxBytes - self._fileSize
                if total - done <= room:
                    cut = total
                else:
                    cut = data.rfind(b"\n", done, done + max(room, 0)) + 1
                    if cut <= done:
                        if self._fileSize:
                            if self._truncatedElsewhere() or self._rotate():
                                continue
                            # Cannot rotate now: write on past max_bytes
                            # rather than hold the records back.
                            cut = total
                        else:
                            cut = data.find(b"\n", done) + 1 or total
                self._fileSize += writeAll(self._fd, data[done:cut])
                done = cut
        except OSError as e:
            partial = getattr(e, "written", 0)
            self._fileSize += partial
            written = done + partial
            e.written = written  # type: ignore[attr-defined]
            if written:
                self._midRecord = data[written - 1] != 0x0A
            raise
        self._midRecord = data[-1:] != b"\n"
        return done

    def _truncatedElsewhere(self) -> bool:
        """
        Before rotating, ask the file its real size: after logrotate's
        C{copytruncate} (or any C{truncate}) it is smaller than what we
        wrote, and rotating now would put away a nearly empty file.
        """
        actual = os.fstat(self._fd).st_size
        if actual >= self._fileSize:
            return False
        self.log.info(
            "sink {sink!r}: {path} was truncated by someone else ({size} bytes now, not {believed})",
            sink=self.sinkName,
            path=self.path,
            size=actual,
            believed=self._fileSize,
        )
        self._fileSize = actual
        return True

    def _rotate(self) -> bool:
        """
        C{all.log} becomes C{all.log.1}, C{.1} becomes C{.2}, and so on up to
        C{keep}; the oldest falls off the end.  The renames happen with the
        file still open: if they are refused (a directory that is not ours
        after a privilege drop), nothing is lost, the file just grows past
        C{max_bytes}; the error is logged once, and rotation is tried again
        at most once a second.  Whether it rotated.
        """
        if self._rotateProblem is not None and self.monotonic() - self._rotateTried < RETRY_SECONDS:
            return False
        self._rotateTried = self.monotonic()
        keep = self.rotation.keep
        try:
            for n in range(keep - 1, 0, -1):
                source = f"{self.path}.{n}"
                if os.path.exists(source):
                    os.replace(source, f"{self.path}.{n + 1}")
            os.replace(self.path, f"{self.path}.1")
        except OSError as e:
            if self._rotateProblem is None:
                self._rotateProblem = str(e)
                self.log.error(
                    "sink {sink!r}: cannot rotate {path}: {error}; writing on past max_bytes until it can",
                    sink=self.sinkName,
                    path=self.path,
                    error=e,
                )
            return False
        if self._rotateProblem is not None:
            self.log.info("sink {sink!r}: rotating {path} again", sink=self.sinkName, path=self.path)
            self._rotateProblem = None
        self.rotations += 1
        self._close()
        self._open()
        return True


def _endsWithLF(fd: int, size: int) -> bool:
    try:
        return os.pread(fd, 1, size - 1) == b"\n"
    except OSError:
        return True  # opened write-only (we may not read it): nothing to mend that we can see


def _stillNamed(fd: int) -> bool:
    """Whether the open file still has a name somewhere (was moved, not deleted)."""
    try:
        return os.fstat(fd).st_nlink > 0
    except OSError:
        return False


def _byteAt(pieces: list[bytes], index: int) -> int:
    for piece in pieces:
        if index < len(piece):
            return piece[index]
        index -= len(piece)
    raise IndexError(index)


class StdoutSink(BufferedSink):
    """
    Write to standard output without ever blocking the reactor.

    twistd replaces C{sys.stdout} once its logging starts, so the sink takes
    its own descriptor for fd 1 when it is made (a L{NonBlockingOutput}).
    When the reader is slow, the buffer grows to its limit and the routers
    pause their connections.
    """

    def __init__(
        self, config: SinkConfig, formatter: Formatter, reactor: IReactorTime, fd: int = 1
    ) -> None:
        super().__init__(config, formatter, reactor)
        self._out = NonBlockingOutput(fd)
        self._waiting = False

    def fileno(self) -> int:
        return self._out.fileno()

    def _writeSome(self, pieces: list[bytes]) -> int:
        written = self._out.writeSome(pieces)
        if written < self._buffered and not self._waiting and self.running:
            self._waiting = True
            self.reactor.addWriter(self)
        return written

    # IWriteDescriptor, so the reactor tells us when the reader has caught up.

    def doWrite(self) -> None:
        self._waiting = False
        self.reactor.removeWriter(self)
        self.flush()

    def logPrefix(self) -> str:
        return f"sink {self.sinkName}"

    def connectionLost(self, reason: object) -> None:
        self._waiting = False

    def stopService(self) -> None:
        """
        Give a slow reader what it has not taken yet, waiting for it up to
        L{STOP_WRITE_SECONDS} (the reactor is shutting down, so waiting here
        blocks nothing else); then close our descriptor.
        """
        if self._waiting:
            self.reactor.removeWriter(self)
            self._waiting = False
        Service.stopService(self)
        if self._flushCall is not None and self._flushCall.active():
            self._flushCall.cancel()
        self._flushCall = None
        data = b"".join(self._buffer)
        self._buffer = []
        deadline = time.monotonic() + STOP_WRITE_SECONDS
        try:
            while data:
                sent = self._out.writeSome([data])
                self._buffered -= sent
                self._consume()
                self.bytesWritten += sent
                data = data[sent:]
                remaining = deadline - time.monotonic()
                if data and (remaining <= 0 or not self._out.waitWritable(remaining)):
                    break
        except OSError as e:
            self.log.error("sink {sink!r}: writing at stop failed: {e}", sink=self.sinkName, e=e)
        if data:
            lost = data.count(b"\n")
            self.recordsLost += lost
            self.log.error(
                "sink {sink!r}: {records} records ({n} bytes) not taken by the reader at stop",
                sink=self.sinkName,
                records=lost,
                n=len(data),
            )
        self._buffered = 0
        self._discardPending()
        self._out.close()
