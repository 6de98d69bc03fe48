"""
The line protocol over real sockets: CRLF, empty lines, telnet commands,
max_line splitting, the unterminated last line on close and on reset, and
the banner.
"""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.integration.helpers import (
    DatagramClient,
    Harness,
    bytesReceived,
    connect,
    messages,
    plainConnect,
    readRecords,
    resetConnection,
    sendAndClose,
    waitFor,
)


def lineListener(logd: Harness, kind: str = "tcp", **extra: object) -> dict[str, object]:
    return {"name": "lines", "endpoint": logd.endpoint(kind), "protocol": "line", "sinks": ["out"], **extra}


@pytest_twisted.ensureDeferred
async def test_crlfAndEmptyLines(logd: Harness) -> None:
    """
    A CR before the LF is dropped (a lone CR elsewhere is data); empty lines,
    CRLF-only lines included, are skipped.
    """
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd)])
    await sendAndClose(service, b"\r\n\none\r\n\r\n\r\ntwo\rhalf\r\n\n\nthree\n")
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == [b"one", b"two\rhalf", b"three"]


@pytest_twisted.ensureDeferred
async def test_telnetCommandsRemoved(logd: Harness) -> None:
    """
    What a real telnet client sends around its text is removed: Ctrl-C's
    IAC IP IAC DO TIMING-MARK, option negotiation, a subnegotiation; IAC IAC
    is a literal 0xff; a subnegotiation longer than 1 KiB is abandoned and
    its bytes kept as data.
    """
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd)])
    longSB = b"\xff\xfa" + b"s" * 1100
    await sendAndClose(
        service,
        b"\xff\xfb\x18\xff\xfd\x01hello\r\n"  # IAC WILL TTYPE, IAC DO ECHO
        b"ctrl-c\xff\xf4\xff\xfd\x06 gone\r\n"  # IAC IP, IAC DO TIMING-MARK
        b"lit\xff\xfferal\r\n"  # IAC IAC
        b"sub\xff\xfa\x18\x00xterm\xff\xf0neg\r\n"  # IAC SB TTYPE IS xterm IAC SE
        + longSB
        + b"\r\n",
    )
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == [
        b"hello",
        b"ctrl-c gone",
        b"lit\xfferal",
        b"subneg",
        longSB,
    ]


@pytest.mark.parametrize(
    "sequence, removed",
    [
        (b"\xff\xf4", True),  # IAC IP
        (b"\xff\xfd\x06", True),  # IAC DO TIMING-MARK
        (b"\xff\xff", False),  # IAC IAC: a literal 0xff
        (b"\xff\xfa\x18\x00vt100\xff\xf0", True),  # IAC SB ... IAC SE
    ],
    ids=["IP", "DO-TM", "IAC-IAC", "SB-SE"],
)
@pytest_twisted.ensureDeferred
async def test_telnetSequenceCutAtEveryChunkBoundary(logd: Harness, sequence: bytes, removed: bool) -> None:
    """
    A telnet sequence cut by a chunk boundary at any point is handled as if
    it had arrived whole (each half is made a separate read by waiting until
    logd has read the first one).
    """
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd)])
    want = []
    for cut in range(1, len(sequence)):
        client = await connect(service)
        first = b"before%d" % cut + sequence[:cut]
        client.send(first)
        await waitFor(lambda: bytesReceived(service) == len(first), "logd to read the first half")
        client.send(sequence[cut:] + b"after\n")
        await client.close()
        want.append(b"before%d" % cut + (b"" if removed else b"\xff") + b"after")
        await waitFor(lambda: len(readRecords(logd.tmp / "out.log")) == len(want), f"record {len(want)}")
    # The listener is still fine afterwards.
    await sendAndClose(service, b"still here\n")
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == want + [b"still here"]


@pytest_twisted.ensureDeferred
async def test_longLinesSplitIntoMaxLinePieces(logd: Harness) -> None:
    """
    A line longer than max_line becomes max_line-sized records, nothing
    lost, and each long line is counted once, also when it arrived in
    several reads.
    """
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, max_line=16)])
    client = await connect(service)
    # One long line in one read.
    client.send(b"A" * 50 + b"\nshort\n")
    await waitFor(lambda: len(readRecords(logd.tmp / "out.log")) == 5, "the first long line")
    # One long line over two reads: 40 bytes (two pieces go out at once),
    # then the rest of it.
    client.send(b"B" * 40)
    await waitFor(lambda: bytesReceived(service) == 57 + 40, "logd to read the first part")
    client.send(b"B" * 10 + b"\nexactly-16-bytes\n")
    await client.close()
    await logd.stop(service)

    assert messages(readRecords(logd.tmp / "out.log")) == [
        b"A" * 16, b"A" * 16, b"A" * 16, b"AA", b"short",
        b"B" * 16, b"B" * 16, b"B" * 16, b"BB", b"exactly-16-bytes",
    ]  # fmt: skip
    assert service.listeners[0].factory.router.stats.splitLines == 2


@pytest.mark.parametrize("kind", ["udp", "unixgram"])
@pytest_twisted.ensureDeferred
async def test_longLineInDatagramSplit(logd: Harness, kind: str) -> None:
    """
    In a datagram too, a long line is cut into max_line pieces and counted;
    the other lines of the datagram, and plain single-line datagrams, are
    recorded as they are.
    """
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, kind, max_line=16)])
    client = DatagramClient(service)
    await client.send(b"C" * 40 + b"\nsmall\n")
    await client.send(b"single line\n")
    await client.send(b"no newline")
    await client.close()
    await waitFor(lambda: len(readRecords(logd.tmp / "out.log")) == 6, "six records")
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == [
        b"C" * 16, b"C" * 16, b"C" * 8, b"small", b"single line", b"no newline"
    ]  # fmt: skip
    assert service.listeners[0].factory.router.stats.splitLines == 1


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest_twisted.ensureDeferred
async def test_unterminatedLastLineRecordedOnClose(logd: Harness, kind: str) -> None:
    """
    A partial last line is held while the connection is open and recorded
    when the client closes (before logd is stopped).
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, kind)])
    client = await connect(service)
    client.send(b"complete\npartial")
    await waitFor(lambda: readRecords(out), "the complete line")
    assert messages(readRecords(out)) == [b"complete"]
    await client.close()
    await waitFor(lambda: len(readRecords(out)) == 2, "the partial line after the close")
    assert messages(readRecords(out)) == [b"complete", b"partial"]
    await logd.stop(service)


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest_twisted.ensureDeferred
async def test_halfCloseAnsweredWithClose(logd: Harness, kind: str) -> None:
    """
    The way logd send ends: half-close, then wait for logd to close. By
    the time logd closes, it has recorded everything, the unterminated last
    line included.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, kind)])
    client = await connect(service)
    client.send(b"one\ntwo\nno newline at the end")
    client.transport.loseWriteConnection()
    await client.closed
    await waitFor(lambda: len(readRecords(out)) == 3, "the three records")
    await logd.stop(service)
    assert messages(readRecords(out)) == [b"one", b"two", b"no newline at the end"]


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest_twisted.ensureDeferred
async def test_resetConnectionRecordsPartialLine(logd: Harness, kind: str) -> None:
    """
    A client that resets its connection (SO_LINGER 0: RST, not FIN) still
    has the partial last line it sent recorded.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, kind)])
    sock = logd.track(plainConnect(service))
    sent = b"complete\npartial before reset"
    sock.sendall(sent)
    await waitFor(lambda: bytesReceived(service) == len(sent), "logd to read what was sent")
    resetConnection(sock)
    await waitFor(lambda: not service.listeners[0].factory.connections, "logd to see the reset")
    await waitFor(lambda: len(readRecords(out)) == 2, "the partial line")
    await logd.stop(service)
    assert messages(readRecords(out)) == [b"complete", b"partial before reset"]


@pytest_twisted.ensureDeferred
async def test_abortedTwistedClientRecordsPartialLine(logd: Harness) -> None:
    """
    The same with a Twisted client's abortConnection.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd)])
    client = await connect(service)
    sent = b"one\ntwo, unfinished"
    client.send(sent)
    await waitFor(lambda: bytesReceived(service) == len(sent), "logd to read what was sent")
    client.transport.abortConnection()
    await client.closed
    await waitFor(lambda: len(readRecords(out)) == 2, "the partial line")
    await logd.stop(service)
    assert messages(readRecords(out)) == [b"one", b"two, unfinished"]


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest_twisted.ensureDeferred
async def test_bannerSentOnConnect(logd: Harness, kind: str) -> None:
    """
    A stream listener's banner reaches the client as soon as it connects,
    before it sends anything, and is not itself recorded.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd, kind, banner="logd ready\r\n")])
    client = await connect(service)
    await waitFor(lambda: bytes(client.received) == b"logd ready\r\n", "the banner")
    client.send(b"hello\n")
    await client.close()
    await logd.stop(service)
    assert bytes(client.received) == b"logd ready\r\n"
    assert messages(readRecords(out)) == [b"hello"]


@pytest_twisted.ensureDeferred
async def test_noBannerUnlessConfigured(logd: Harness) -> None:
    """
    Without a banner, logd sends nothing at all: the client sees only the
    close when logd stops.
    """
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd)])
    client = await connect(service)
    client.send(b"quiet\n")
    await waitFor(lambda: readRecords(logd.tmp / "out.log"), "the line")
    await logd.stop(service)
    await client.closed
    assert bytes(client.received) == b""
