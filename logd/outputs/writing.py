"""
Getting bytes out through a descriptor: whole writes to a blocking one (a
sink's file), and some-or-none writes to standard output that never block
the reactor (the stdout sink, and logd's own log under C{twistd -n}).
"""

from __future__ import annotations

import os
import select
import socket
import stat

IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


def dropFront(pieces: list[bytes], count: int, total: int) -> list[bytes]:
    """
    What is left of C{pieces} (C{total} bytes in all) once C{count} bytes of
    them are written.
    """
    if count >= total:
        return []
    index = 0
    while count >= len(pieces[index]):
        count -= len(pieces[index])
        index += 1
    rest = pieces[index:]
    rest[0] = rest[0][count:]
    return rest


def writevAll(fd: int, pieces: list[bytes]) -> int:
    """
    Write all of C{pieces} to a blocking descriptor with as few C{writev}
    calls as the kernel allows, or raise an C{OSError} carrying how much was
    written before the failure.
    """
    left = sum(map(len, pieces))
    done = 0
    while pieces:
        try:
            count = os.writev(fd, pieces[:IOV_MAX])
        except InterruptedError:
            continue
        except OSError as e:
            e.written = done  # type: ignore[attr-defined]
            raise
        pieces = dropFront(pieces, count, left)
        done += count
        left -= count
    return done


def writeAll(fd: int, data: bytes) -> int:
    """
    Write all of C{data} to a blocking descriptor, or raise an C{OSError}
    carrying how much was written before the failure.
    """
    view = memoryview(data)
    written = 0
    while written < len(data):
        try:
            written += os.write(fd, view[written:])
        except InterruptedError:
            continue
        except OSError as e:
            e.written = written  # type: ignore[attr-defined]
            raise
    return written


class NonBlockingOutput:
    """
    A descriptor of our own for standard output (or any output C{fd})
    whose writes never block.

    If C{fd} is a pipe or a terminal, this opens its own file description
    for it (setting O_NONBLOCK on fd 1 itself would change it for everyone
    sharing it: the shell, the process that reads it); a socket (the
    journal) gets per-call non-blocking sends; a regular file never blocks
    anyway and gets plain writes.
    """

    def __init__(self, fd: int = 1) -> None:
        self._socket: socket.socket | None = None
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
            try:
                self._fd = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                pass
            else:
                self.writeSome = self._writeNonBlocking  # type: ignore[method-assign]
                return
        self._fd = os.dup(fd)
        os.set_inheritable(self._fd, False)
        if stat.S_ISSOCK(mode):
            self._socket = socket.socket(fileno=self._fd)
            self.writeSome = self._sendNonBlocking  # type: ignore[method-assign]

    def writeSome(self, pieces: list[bytes]) -> int:
        """
        Write what the descriptor takes now of C{pieces}; return how many
        bytes that was (0 when its reader is behind).

        @raise OSError: the descriptor failed (the reader went away).
        """
        return writevAll(self._fd, pieces)

    def _writeNonBlocking(self, pieces: list[bytes]) -> int:
        try:
            return os.writev(self._fd, pieces[:IOV_MAX])
        except BlockingIOError:
            return 0

    def _sendNonBlocking(self, pieces: list[bytes]) -> int:
        try:
            return self._socket.sendmsg(pieces[:IOV_MAX], (), socket.MSG_DONTWAIT)  # type: ignore[union-attr]
        except BlockingIOError:
            return 0

    def fileno(self) -> int:
        return self._fd

    def waitWritable(self, timeout: float) -> bool:
        """Block up to C{timeout} seconds for room: only where blocking is the point (at stop)."""
        return bool(select.select([], [self._fd], [], timeout)[1])

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        else:
            os.close(self._fd)
