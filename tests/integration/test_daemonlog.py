"""
logd's own log under C{twistd -n} (L{logd.admin.daemonlog}) on the real
reactor and a real pipe whose reader stops reading: writing never blocks,
what the pipe cannot take waits and arrives in order once the reader is
back, what is past the bound is dropped, counted and announced.
"""

from __future__ import annotations

import fcntl
import os
import time

import pytest_twisted

from logd.admin.daemonlog import DaemonLog
from tests.integration.helpers import getReactor, waitFor

PIPE_SIZE = 4096


def smallPipe() -> tuple[int, int]:
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    os.set_blocking(r, False)
    return r, w


def readAvailable(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest_twisted.ensureDeferred
async def test_aStalledReaderNeverBlocksAndLosesOnlyWhatIsPastTheBound() -> None:
    reactor = getReactor()
    r, w = smallPipe()
    limit = 16 * 1024
    log = DaemonLog(reactor, fd=w, limit=limit)
    os.close(w)  # the log has its own description of the pipe
    try:
        lines = [f"line {i:05d} {'x' * 88}\n" for i in range(1000)]  # 100 bytes each
        started = time.monotonic()
        for line in lines:
            log.write(line)
            log.flush()
        assert time.monotonic() - started < 2.0, "writes waited for the reader"
        assert 0 < log.pendingBytes <= limit
        # The pipe took PIPE_SIZE bytes, the log holds up to the bound, the rest is dropped.
        kept = PIPE_SIZE + limit
        assert log.linesDropped >= len(lines) - kept // 100 - 1
        assert log.linesDropped <= len(lines) - limit // 100 + 1
        dropped = log.linesDropped

        received = b""

        def drained() -> bool:
            nonlocal received
            received += readAvailable(r)
            return log.pendingBytes == 0

        await waitFor(drained, "the held lines to reach the reader")
        log.write("after the reader came back\n")
        received += readAvailable(r)
    finally:
        os.close(r)
        log.close()

    out = received.decode().splitlines()
    note = [i for i, line in enumerate(out) if "lines of logd's own log were dropped" in line]
    assert len(note) == 1, out[-5:]
    assert f"[logd] {dropped} lines of logd's own log were dropped" in out[note[0]]
    before = out[: note[0]]
    assert before == [line.rstrip("\n") for line in lines[: len(before)]], "held lines came out of order or torn"
    assert len(before) == len(lines) - dropped
    assert out[note[0] + 1 :] == ["after the reader came back"]


@pytest_twisted.ensureDeferred
async def test_aReaderThatGoesAwayIsCountedNotRaised() -> None:
    r, w = smallPipe()
    log = DaemonLog(getReactor(), fd=w, limit=1024)
    os.close(w)
    os.close(r)
    log.write("nobody reads this\n")
    log.write("nor this\n")
    assert log.linesDropped == 2
    log.close()


@pytest_twisted.ensureDeferred
async def test_linesFromOtherThreadsAreWrittenByTheReactorThread() -> None:
    from twisted.internet.threads import deferToThread

    r, w = smallPipe()
    log = DaemonLog(getReactor(), fd=w)
    os.close(w)
    try:
        await deferToThread(lambda: [log.write(f"from a thread {i}\n") for i in range(3)])
        received = b""

        def arrived() -> bool:
            nonlocal received
            received += readAvailable(r)
            return received.count(b"\n") == 3

        await waitFor(arrived, "the thread's lines")
    finally:
        os.close(r)
        log.close()
    assert received.decode().splitlines() == [f"from a thread {i}" for i in range(3)]
