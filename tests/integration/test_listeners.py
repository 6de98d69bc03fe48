"""
Every listener kind (tcp, tcp6, udp, unix, unixgram) with both built-in
protocols and both output formats, on real loopback sockets: what a real
client sends is recorded with the listener's name, the client's own address
as the peer (C{-} for Unix sockets) and an arrival time.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import pytest_twisted

from tests.integration.helpers import (
    Harness,
    concat,
    connect,
    expected,
    hasIPv6Loopback,
    messages,
    openClient,
    readRecords,
    waitFor,
)

KINDS = ["tcp", "tcp6", "udp", "unix", "unixgram"]
STREAM_KINDS = ("tcp", "tcp6", "unix")

# Several lines in one write or datagram: CRLF, an empty line and a CR-only
# line (both skipped), a tab, UTF-8, controls, bytes that are not UTF-8, and
# an unterminated last line.
LINE_PAYLOAD = b"first line\r\nsecond\tline\n\n\r\nthird \xc3\xa9 \x00\x01\x1b\x7f \xfe\x80 end\nunterminated"
LINE_MESSAGES = [b"first line", b"second\tline", b"third \xc3\xa9 \x00\x01\x1b\x7f \xfe\x80 end", b"unterminated"]

# Raw: only single-byte characters and lone invalid bytes, so that the json
# form of the concatenation does not depend on where chunks were cut.
RAW_PAYLOAD = b"raw \x00\x01\x7f bytes\\x41 \xfe\x80 and\ttab\r\n\nnext\n"
RAW_DATAGRAMS = [b"one datagram\nwith two lines\n", b"\x00\xfe\\ second\r\n"]


def skipWithoutIPv6(kind: str) -> None:
    if kind in ("tcp6", "udp6") and not hasIPv6Loopback():
        pytest.skip("this machine has no IPv6 loopback (::1 cannot be bound)")


def namedClientPath(logd: Harness, kind: str) -> Path | None:
    """
    Unix datagram clients bind to a path here, so that the peer logd sees
    has a name (which it must still show as C{-}).
    """
    return logd.sockets / "client.dgram" if kind == "unixgram" else None


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("kind", KINDS)
@pytest_twisted.ensureDeferred
async def test_lineProtocol(logd: Harness, kind: str, fmt: str) -> None:
    """
    The line protocol on every kind: one write (or one datagram) holding
    several lines gives one record per non-empty line, the unterminated last
    one included, with the client's address as the peer.
    """
    skipWithoutIPv6(kind)
    out = logd.tmp / "out.log"
    service = logd.start(
        {"out": logd.fileSink(fmt=fmt)},
        [{"name": f"{kind}-line", "endpoint": logd.endpoint(kind), "protocol": "line", "sinks": ["out"]}],
    )
    before = time.time()
    client = await openClient(service, bindPath=namedClientPath(logd, kind))
    await client.deliver(LINE_PAYLOAD)
    peer = client.peer
    await client.close()
    want = [expected(m, fmt) for m in LINE_MESSAGES]
    await waitFor(lambda: len(readRecords(out, fmt)) >= len(want), f"{len(want)} records in {out}")
    after = time.time()
    await logd.stop(service)

    records = readRecords(out, fmt)
    assert messages(records) == want
    assert {r.listener for r in records} == {f"{kind}-line"}
    assert {r.peer for r in records} == {peer}
    if kind == "tcp":
        assert peer.startswith("127.0.0.1:") and peer != "127.0.0.1:0"
    elif kind == "tcp6":
        assert peer.startswith("[::1]:")
    elif kind == "udp":
        assert peer.startswith("127.0.0.1:")
    else:
        assert peer == "-"
    for record in records:
        assert before - 1 <= record.timestamp <= after + 1


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("kind", KINDS)
@pytest_twisted.ensureDeferred
async def test_rawProtocol(logd: Harness, kind: str, fmt: str) -> None:
    """
    The raw protocol on every kind: a stream's records concatenate back to
    exactly what was sent; every datagram is exactly one record, LFs and
    all.
    """
    skipWithoutIPv6(kind)
    out = logd.tmp / "out.log"
    service = logd.start(
        {"out": logd.fileSink(fmt=fmt)},
        [{"name": f"{kind}-raw", "endpoint": logd.endpoint(kind), "protocol": "raw", "sinks": ["out"]}],
    )
    client = await openClient(service, bindPath=namedClientPath(logd, kind))
    peer = client.peer
    if kind in STREAM_KINDS:
        await client.deliver(RAW_PAYLOAD)
        await client.close()
        want = expected(RAW_PAYLOAD, fmt)
        await waitFor(lambda: concat(messages(readRecords(out, fmt))) == want, f"the whole stream in {out}")
    else:
        for datagram in RAW_DATAGRAMS:
            await client.deliver(datagram)
        await client.close()
        await waitFor(lambda: len(readRecords(out, fmt)) >= len(RAW_DATAGRAMS), f"both datagrams in {out}")
    await logd.stop(service)

    records = readRecords(out, fmt)
    if kind in STREAM_KINDS:
        assert concat(messages(records)) == expected(RAW_PAYLOAD, fmt)
    else:
        assert messages(records) == [expected(d, fmt) for d in RAW_DATAGRAMS]
    assert {r.listener for r in records} == {f"{kind}-raw"}
    assert {r.peer for r in records} == {peer}


@pytest.mark.parametrize("kind", ["tcp", "tcp6"])
@pytest_twisted.ensureDeferred
async def test_peerIsEachClientsOwnPort(logd: Harness, kind: str) -> None:
    """
    Two clients connected at once are told apart by their own source ports.
    """
    skipWithoutIPv6(kind)
    out = logd.tmp / "out.log"
    service = logd.start(
        {"out": logd.fileSink()},
        [{"name": "ip", "endpoint": logd.endpoint(kind), "protocol": "line", "sinks": ["out"]}],
    )
    first = await connect(service)
    second = await connect(service)
    assert first.peer != second.peer
    first.send(b"from first 1\n")
    second.send(b"from second 1\n")
    first.send(b"from first 2\n")
    second.send(b"from second 2\n")
    await first.close()
    await second.close()
    await waitFor(lambda: len(readRecords(out)) >= 4, "four records")
    await logd.stop(service)

    byPeer: dict[str, list[bytes]] = {}
    for record in readRecords(out):
        byPeer.setdefault(record.peer, []).append(record.message)
    assert byPeer == {
        first.peer: [b"from first 1", b"from first 2"],
        second.peer: [b"from second 1", b"from second 2"],
    }


@pytest_twisted.ensureDeferred
async def test_udpOverIPv6Peer(logd: Harness) -> None:
    """
    A UDP listener on ::1 shows its peers as C{[::1]:PORT}.
    """
    skipWithoutIPv6("udp6")
    out = logd.tmp / "out.log"
    service = logd.start(
        {"out": logd.fileSink()},
        [{"name": "udp6", "endpoint": logd.endpoint("udp6"), "protocol": "line", "sinks": ["out"]}],
    )
    client = await openClient(service)
    await client.deliver(b"over v6\n")
    await client.close()
    await waitFor(lambda: readRecords(out), "a record")
    await logd.stop(service)
    assert client.peer.startswith("[::1]:")
    assert [(r.peer, r.message) for r in readRecords(out)] == [(client.peer, b"over v6")]


@pytest_twisted.ensureDeferred
async def test_unboundUnixDatagramPeer(logd: Harness) -> None:
    """
    A unixgram client that never bound a name is recorded with peer C{-} too.
    """
    out = logd.tmp / "out.log"
    service = logd.start(
        {"out": logd.fileSink()},
        [{"name": "dgram", "endpoint": logd.endpoint("unixgram"), "protocol": "line", "sinks": ["out"]}],
    )
    client = await openClient(service)
    await client.deliver(b"anonymous\n")
    await client.close()
    await waitFor(lambda: readRecords(out), "a record")
    await logd.stop(service)
    assert [(r.peer, r.message) for r in readRecords(out)] == [("-", b"anonymous")]


@pytest_twisted.ensureDeferred
async def test_oneListenerManySinksAndFormats(logd: Harness) -> None:
    """
    A listener feeding a text sink and a json sink writes every record to
    both, each in its own format, with the same times.
    """
    service = logd.start(
        {"text": logd.fileSink("text"), "json": logd.fileSink("json", fmt="json")},
        [{"name": "both", "endpoint": logd.endpoint("tcp"), "protocol": "line", "sinks": ["text", "json"]}],
    )
    lines = [b"plain", b"tab\there", b"bad \xff\xfe utf-8 \xc3\xa9", b"ctl \x01\x1b"]
    # 0xff would be telnet IAC: send it doubled, as telnet escapes it.
    client = await connect(service)
    client.send(b"\n".join(line.replace(b"\xff", b"\xff\xff") for line in lines) + b"\n")
    await client.close()
    await waitFor(lambda: len(readRecords(logd.tmp / "json.log", "json")) >= 4, "four json records")
    await logd.stop(service)

    text = readRecords(logd.tmp / "text.log")
    js = readRecords(logd.tmp / "json.log", "json")
    assert messages(text) == lines
    assert messages(js) == [line.decode("utf-8", "backslashreplace") for line in lines]
    assert [(r.time, r.listener, r.peer) for r in text] == [(r.time, r.listener, r.peer) for r in js]


@pytest_twisted.ensureDeferred
async def test_unixDatagramClientCannotForgeRecords(logd: Harness) -> None:
    """
    A unixgram client picks its own socket name; a name holding an LF and
    a fake record must not reach the output as a second line.
    """
    out = logd.tmp / "out.log"
    service = logd.start(
        {"out": logd.fileSink()},
        [{"name": "dgram", "endpoint": logd.endpoint("unixgram"), "protocol": "line", "sinks": ["out"]}],
    )
    evil = logd.sockets / "x\n2026-01-01T00:00:00.000000Z forged 10.0.0.1:1 fake"
    client = await openClient(service, bindPath=evil)
    await client.deliver(b"the only record\n")
    await client.close()
    await waitFor(lambda: out.exists() and out.read_bytes().endswith(b"\n"), "output")
    await logd.stop(service)
    data = out.read_bytes()
    assert data.count(b"\n") == 1, f"one datagram line became several output lines: {data!r}"
    assert [(r.listener, r.peer, r.message) for r in readRecords(out)] == [("dgram", "-", b"the only record")]
