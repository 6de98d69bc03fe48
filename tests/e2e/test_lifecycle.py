"""
The daemon's life: nothing lost on SIGTERM, files reopened on SIGHUP (by
hand and through the shipped logrotate configuration), and size rotation
that keeps every record whole and exactly once.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
from typing import Callable, Sequence

import pytest

from tests.e2e.helpers import (
    assertStopsOnSIGTERM,
    REACTORS,
    REPO,
    Daemon,
    Listener,
    parseText,
    readFile,
    run,
    udpQueueCapacity,
    waitFor,
)

Start = Callable[..., Daemon]


def assertSameLines(got: Sequence[bytes], expected: Sequence[bytes]) -> None:
    """
    Compare long sequences with a readable failure: counts, the first
    difference, and what is missing or duplicated.
    """
    if list(got) == list(expected):
        return
    first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
    counts = collections.Counter(got)
    missing = [line for line in expected if line not in counts]
    duplicated = [line for line, n in counts.items() if n > 1]
    raise AssertionError(
        f"got {len(got)} lines, expected {len(expected)}; first difference at {first}: "
        f"got {got[first:first + 1]!r}, expected {expected[first:first + 1]!r}; "
        f"{len(missing)} missing (first {missing[:3]!r}), {len(duplicated)} duplicated (first {duplicated[:3]!r})"
    )


def numbered(prefix: str, count: int, width: int = 100) -> list[bytes]:
    """C{count} distinct lines of C{width} bytes with their LF."""
    return [(f"{prefix} {i:06d} ".ljust(width - 1, "x")).encode() for i in range(count)]


def sendLines(port: int, lines: Sequence[bytes]) -> str:
    """Send lines over one TCP connection, close it, return its peer as logd writes it."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"\n".join(lines) + b"\n")
        return "127.0.0.1:%d" % sock.getsockname()[1]


# SIGTERM ----------------------------------------------------------------------


@pytest.mark.parametrize("reactor", REACTORS)
def test_sigterm_right_after_100k_lines_loses_nothing(logd: Start, reactor: str) -> None:
    """
    A client sends 100,000 lines of 100 bytes as fast as it can and closes;
    SIGTERM follows at once, with most of it still in kernel buffers.  The
    daemon exits with the signal's status and every line is in the file,
    once, in order.
    """
    daemon = logd([Listener("bulk", "tcp")], reactor=reactor)
    lines = numbered("bulk", 100_000)
    peer = sendLines(daemon.port("bulk"), lines)
    assertStopsOnSIGTERM(daemon)
    records = daemon.records()
    assert {(r.listener, r.peer) for r in records} == {("bulk", peer)}
    assertSameLines([r.message for r in records], lines)


@pytest.mark.parametrize("reactor", REACTORS)
def test_sigterm_reads_queued_datagrams(logd: Start, reactor: str) -> None:
    """
    Bursts of datagrams right before SIGTERM are all recorded: 3000 over a
    Unix datagram socket (where the sender blocks rather than the kernel
    dropping), and 3000 over UDP, sent in rounds that fit the default
    receive buffer (so the kernel cannot drop any whatever logd does), the
    last round immediately before the signal.
    """
    daemon = logd([Listener("udp", "udp"), Listener("dgram", "unixgram")], reactor=reactor)
    size = 100
    udpLines = numbered("udp", 3000, size)
    dgramLines = numbered("dgram", 3000, size)
    perRound = max(1, udpQueueCapacity(size) // 2)
    rounds = [udpLines[i : i + perRound] for i in range(0, len(udpLines), perRound)]

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dgram:
        udp.connect(("127.0.0.1", daemon.port("udp")))
        peer = "127.0.0.1:%d" % udp.getsockname()[1]
        sent = 0
        for batch in rounds[:-1]:
            for line in batch:
                udp.send(line)
            sent += len(batch)
            daemon.waitForCount("udp", sent)
        dgram.connect(daemon.path("dgram"))
        for line in dgramLines:
            dgram.send(line)
        for line in rounds[-1]:
            udp.send(line)
        assertStopsOnSIGTERM(daemon)

    records = daemon.records()
    udpRecords = [r for r in records if r.listener == "udp"]
    assert {r.peer for r in udpRecords} == {peer}
    # Loopback keeps order in practice, but UDP does not promise it: exactly once is the contract.
    assertSameLines(sorted(r.message for r in udpRecords), udpLines)
    dgramRecords = [r for r in records if r.listener == "dgram"]
    assert {r.peer for r in dgramRecords} == {"-"}
    assertSameLines([r.message for r in dgramRecords], dgramLines)


# SIGHUP -----------------------------------------------------------------------


def waitForReopen(daemon: Daemon, times: int) -> None:
    """
    The daemon has handled SIGHUP C{times} times and the file is back at
    its path.  (The once-a-second check for a moved file would reopen it
    too, but it does not log this line.)
    """
    waitFor(
        lambda: daemon.stdout().count("SIGHUP: reopening file sinks") >= times and os.path.exists(daemon.logPath),
        10,
        lambda: "the SIGHUP reopen\n" + daemon.describe(),
    )


def test_sighup_reopens_the_file_after_mv(logd: Start) -> None:
    """
    mv the log away and send SIGHUP: the old records stay in the moved file,
    new ones go to a new file at the configured path, and the daemon lives on.
    """
    daemon = logd([Listener("tcp", "tcp")])
    before = numbered("before", 500)
    after = numbered("after", 500)
    sendLines(daemon.port("tcp"), before)
    daemon.waitForMessages("tcp", before[-1:])
    moved = daemon.logPath + ".moved"
    run(["mv", daemon.logPath, moved])
    daemon.sendSignal(signal.SIGHUP)
    waitForReopen(daemon, 1)
    assert daemon.running(), daemon.describe()
    sendLines(daemon.port("tcp"), after)
    daemon.waitForMessages("tcp", after[-1:])
    assert daemon.running(), daemon.describe()
    assertStopsOnSIGTERM(daemon)
    assertSameLines([r.message for r in parseText(readFile(moved), moved)], before)
    assertSameLines([r.message for r in daemon.records()], after)


def test_shipped_logrotate_config_rotates_and_reopens(logd: Start, workdir: str) -> None:
    """
    etc/logrotate.d/logd, pointed at a temporary directory (and with a
    postrotate that signals only this test's daemon), run with logrotate -f:
    the old records are in all.log.1 and new records in a new all.log.
    """
    logrotate = shutil.which("logrotate")
    assert logrotate is not None, "logrotate is not installed: tests/run installs it"
    shipped = os.path.join(REPO, "etc", "logrotate.d", "logd")
    with open(shipped) as f:
        text = f.read()
    daemon = logd([Listener("tcp", "tcp")])
    assert "/var/log/logd/" in text and "postrotate" in text, text
    text = text.replace("/var/log/logd/", workdir + "/")
    # The shipped script signals logd by service or process name; here only this daemon may get it.
    text, replaced = re.subn(r"postrotate\n.*?\n\s*endscript", f"postrotate\n        kill -HUP {daemon.process.pid}\n    endscript", text, flags=re.DOTALL)
    assert replaced == 1, text
    config = os.path.join(workdir, "logrotate.conf")
    with open(config, "w") as f:
        f.write(text)
    os.chmod(config, 0o644)

    before = numbered("before", 300)
    after = numbered("after", 300)
    sendLines(daemon.port("tcp"), before)
    daemon.waitForMessages("tcp", before[-1:])
    result = subprocess.run([logrotate, "-f", "-s", os.path.join(workdir, "logrotate.state"), config], capture_output=True, timeout=30)
    assert result.returncode == 0, result
    waitForReopen(daemon, 1)
    sendLines(daemon.port("tcp"), after)
    daemon.waitForMessages("tcp", after[-1:])
    assertStopsOnSIGTERM(daemon)
    rotated = daemon.logPath + ".1"  # delaycompress: the newest rotated file stays plain
    assertSameLines([r.message for r in parseText(readFile(rotated), rotated)], before)
    assertSameLines([r.message for r in daemon.records()], after)


# Size rotation ----------------------------------------------------------------


def test_size_rotation_keeps_every_record_whole_and_once(logd: Start) -> None:
    """
    With max_bytes of 4 KiB, records spread over many files; every file is
    at most max_bytes (except one holding a single oversized record), no
    record is split, and oldest-to-newest they hold every line once, in order.
    """
    maxBytes = 4096
    daemon = logd([Listener("tcp", "tcp")], rotate={"max_bytes": maxBytes, "keep": 60})
    lines = [f"rotating {i:04d} ".encode() + b"r" * (i * 37 % 150) for i in range(600)]
    big = b"B" * (maxBytes + 500)
    lines.insert(300, big)
    sendLines(daemon.port("tcp"), lines[:300])
    daemon.waitForMessages("tcp", lines[299:300])
    sendLines(daemon.port("tcp"), lines[300:])
    assertStopsOnSIGTERM(daemon)

    directory = os.path.dirname(daemon.logPath)
    rotated = sorted(
        (int(name.rsplit(".", 1)[1]) for name in os.listdir(directory) if re.fullmatch(r"all\.log\.\d+", name)),
        reverse=True,
    )
    assert 10 <= len(rotated) < 60, rotated
    assert rotated == list(range(len(rotated), 0, -1)), rotated
    files = [f"{daemon.logPath}.{n}" for n in rotated] + [daemon.logPath]
    got: list[bytes] = []
    for path in files:
        data = readFile(path)
        records = parseText(data, path)
        assert records, f"{path} is empty"
        if len(data) > maxBytes:
            assert [r.message for r in records] == [big], f"{path} is {len(data)} bytes"
        got.extend(r.message for r in records)
    assertSameLines(got, lines)
