"""
Any bytes at all from a client never crash logd or a listener (the autouse
noUnhandledErrors fixture fails a test that logs a traceback), and the
listener goes on accepting and recording normally afterwards.
"""

from __future__ import annotations

import random

import pytest
import pytest_twisted

from tests.integration.helpers import (
    DatagramClient,
    Harness,
    connect,
    countRecords,
    lastRecord,
    messages,
    oracleLines,
    readRecords,
    sendAndClose,
    waitFor,
)


def listener(logd: Harness, kind: str, protocol: str = "line", **extra: object) -> dict[str, object]:
    return {"name": "l", "endpoint": logd.endpoint(kind), "protocol": protocol, "sinks": ["out"], **extra}


async def assertStillRecording(logd: Harness, service: object, kind: str, protocol: str = "line") -> None:
    """
    A new client of the listener is recorded normally.
    """
    out = logd.tmp / "out.log"
    payload = b"after the garbage\n"
    want = payload if protocol == "raw" else payload.rstrip(b"\n")
    if kind in ("udp", "unixgram"):
        client = DatagramClient(service)  # type: ignore[arg-type]
        await client.send(payload)
        await client.close()
    else:
        await sendAndClose(service, payload)  # type: ignore[arg-type]
    await waitFor(lambda: getattr(lastRecord(out), "message", None) == want, "a record after the garbage")


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest_twisted.ensureDeferred
async def test_randomBinaryOnLineListener(logd: Harness, kind: str) -> None:
    """
    256 KiB of random bytes, telnet IAC bytes and all, on a line listener.
    """
    rng = random.Random(5)
    service = logd.start({"out": logd.fileSink()}, [listener(logd, kind, max_line=1000)])
    client = await connect(service)
    for _ in range(64):
        client.send(rng.randbytes(4096))
    await client.close()
    await waitFor(lambda: not service.listeners[0].factory.connections, "logd to see the close")
    await assertStillRecording(logd, service, kind)
    await logd.stop(service)
    assert all(len(m) <= 1000 for m in messages(readRecords(logd.tmp / "out.log")))


@pytest_twisted.ensureDeferred
async def test_randomLinesMatchModel(logd: Harness) -> None:
    """
    Random bytes without telnet's 0xff, dense in LFs and CRs, give exactly
    the lines of a simple model of the protocol, wherever the reads fell.
    """
    rng = random.Random(6)
    # 0xff becomes LF, and 32 more byte values become LF or CR.
    data = rng.randbytes(200_000).translate(
        bytes.maketrans(b"\xff" + bytes(range(0x80, 0xA0)), b"\n" + b"\n\r" * 16)
    )
    service = logd.start({"out": logd.fileSink()}, [listener(logd, "tcp", max_line=100)])
    client = await connect(service)
    offset = 0
    while offset < len(data):
        size = rng.choice([1, 7, 99, 100, 101, 1000, 30000])
        client.send(data[offset : offset + size])
        offset += size
    await client.close()
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == [line for line in oracleLines(data, 100) if line]


@pytest.mark.parametrize("protocol", ["line", "raw"])
@pytest.mark.parametrize("kind", ["udp", "unixgram"])
@pytest_twisted.ensureDeferred
async def test_randomDatagrams(logd: Harness, kind: str, protocol: str) -> None:
    """
    Random datagrams, an empty one and a 65507-byte one among them: a raw
    listener records each non-empty one exactly, a line listener the lines
    each holds.
    """
    rng = random.Random(7)
    datagrams = [rng.randbytes(rng.randrange(1, 3000)) for _ in range(30)]
    datagrams[3] = b""
    datagrams[10] = rng.randbytes(65507)
    service = logd.start({"out": logd.fileSink()}, [listener(logd, kind, protocol, max_line=70000)])
    client = DatagramClient(service)
    for datagram in datagrams:
        await client.send(datagram)
    await client.close()
    if protocol == "raw":
        want = [d for d in datagrams if d]
    else:
        want = [line for d in datagrams for line in oracleLines(d, 70000) if line]
    await waitFor(lambda: len(readRecords(logd.tmp / "out.log")) >= len(want), f"{len(want)} records")
    assert messages(readRecords(logd.tmp / "out.log")) == want
    await assertStillRecording(logd, service, kind, protocol)
    await logd.stop(service)


@pytest.mark.parametrize("protocol", ["line", "raw"])
@pytest_twisted.ensureDeferred
async def test_megabyteWithoutNewline(logd: Harness, protocol: str) -> None:
    """
    1 MiB with no newline: a line listener records it in max_line pieces as
    it arrives (it does not hold the whole megabyte until the close), the
    last piece at the close; nothing is lost.
    """
    rng = random.Random(8)
    # Printable bytes, so that escaping costs little in a test about size.
    data = rng.randbytes(1 << 20).translate(bytes(33 + b % 94 for b in range(256)))
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [listener(logd, "tcp", protocol, max_line=4096)])
    client = await connect(service)
    client.send(data)
    if protocol == "line":
        await waitFor(lambda: countRecords(out) == 255, "255 pieces before the close")
    await client.close()
    await waitFor(lambda: not service.listeners[0].factory.connections, "logd to see the close")
    await assertStillRecording(logd, service, "tcp", protocol)
    await logd.stop(service)

    records = messages(readRecords(out))[:-1]
    assert b"".join(records) == data
    if protocol == "line":
        assert [len(m) for m in records] == [4096] * 256
        assert service.listeners[0].factory.router.stats.splitLines == 1


@pytest.mark.parametrize(
    "tail",
    [b"\xff", b"\xff\xfb", b"\xff\xfa\x18 unterminated subnegotiation"],
    ids=["IAC", "IAC-WILL", "IAC-SB"],
)
@pytest_twisted.ensureDeferred
async def test_halfTelnetSequenceAtClose(logd: Harness, tail: bytes) -> None:
    """
    A connection that ends in the middle of a telnet sequence: nothing
    crashes, and the held bytes are kept as data (nothing is lost).
    """
    service = logd.start({"out": logd.fileSink()}, [listener(logd, "tcp")])
    client = await connect(service)
    client.send(b"complete\nlast " + tail)
    await client.close()
    await waitFor(lambda: not service.listeners[0].factory.connections, "logd to see the close")
    await assertStillRecording(logd, service, "tcp")
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == [b"complete", b"last " + tail, b"after the garbage"]
