"""
Custom protocols named as "package.module:Class" in the config are used
for the listener, and what they emit through self.factory.emit is recorded.
"""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.integration.helpers import DatagramClient, Harness, connect, messages, readRecords, waitFor

MODULE = "tests.integration.customprotocols"


def customListener(logd: Harness, kind: str, cls: str) -> dict[str, object]:
    return {"name": "custom", "endpoint": logd.endpoint(kind), "protocol": f"{MODULE}:{cls}", "sinks": ["out"]}


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest_twisted.ensureDeferred
async def test_customStreamProtocol(logd: Harness, kind: str) -> None:
    """
    A plain Twisted Protocol: its emitted records are written with its peer,
    and it can talk back to its client.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [customListener(logd, kind, "ReversedWords")])
    client = await connect(service)
    client.send(b"hello logd world")
    await waitFor(lambda: bytes(client.received) == b"3\n", "the protocol's answer")
    await client.close()
    await waitFor(lambda: len(readRecords(out)) == 3, "three records")
    await logd.stop(service)
    records = readRecords(out)
    assert messages(records) == [b"olleh", b"dgol", b"dlrow"]
    assert {(r.listener, r.peer) for r in records} == {("custom", client.peer)}


@pytest_twisted.ensureDeferred
async def test_customProtocolDrainedOnStop(logd: Harness) -> None:
    """
    A custom protocol's connection is drained on stop like a built-in one:
    what its client sent just before the stop is still recorded.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [customListener(logd, "tcp", "ReversedWords")])
    client = await connect(service)
    client.send(b"last words")
    client.transport.loseConnection()
    await client.closed
    await logd.stop(service)
    assert messages(readRecords(out)) == [b"tsal", b"sdrow"]


@pytest_twisted.ensureDeferred
async def test_lineProtocolSubclassGetsEachLine(logd: Harness) -> None:
    """
    A LineProtocol subclass overriding lineReceived gets every line, one
    call each, with the line protocol's framing (CRLF, empty lines, the
    unterminated last line at the close).
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [customListener(logd, "tcp", "Numbered")])
    client = await connect(service)
    client.send(b"alpha\r\n\nbeta\n")
    client.send(b"gamma\ndel")
    client.send(b"ta")
    await client.close()
    await waitFor(lambda: len(readRecords(out)) == 4, "four records")
    await logd.stop(service)
    records = readRecords(out)
    assert messages(records) == [b"1: alpha", b"2: beta", b"3: gamma", b"4: delta"]
    assert {r.peer for r in records} == {client.peer}


@pytest_twisted.ensureDeferred
async def test_readmeExampleRecordsPendingAtClose(logd: Harness) -> None:
    """
    The README's custom protocol: its records, and the pending one it emits
    from connectionLost, are all recorded, also when logd is stopped right
    after the client closed.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [customListener(logd, "tcp", "SemicolonProtocol")])
    client = await connect(service)
    client.send(b"one;two;th")
    client.send(b"ree;pending at close")
    client.transport.loseConnection()
    await client.closed
    await logd.stop(service)
    records = readRecords(out)
    assert messages(records) == [b"one", b"two", b"three", b"pending at close"]
    assert {r.peer for r in records} == {client.peer}


@pytest.mark.parametrize("kind", ["udp", "unixgram"])
@pytest_twisted.ensureDeferred
async def test_customDatagramProtocol(logd: Harness, kind: str) -> None:
    """
    A custom DatagramProtocol gets the listener's factory and records
    through it, passing the datagram's address as the README says: the
    peer is the client's address for UDP and C{-} for a Unix socket, even
    one the client bound to a path.
    """
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [customListener(logd, kind, "UpperDatagrams")])
    client = DatagramClient(service, bindPath=logd.sockets / "client.dgram")
    await client.send(b"shout this")
    await client.close()
    await waitFor(lambda: readRecords(out), "a record")
    await logd.stop(service)
    assert [(r.peer, r.message) for r in readRecords(out)] == [(client.peer, b"SHOUT THIS")]


@pytest.mark.parametrize("cls", ["ReversedWords", "Numbered"])
@pytest_twisted.ensureDeferred
async def test_customProtocolBytesAreCounted(logd: Harness, cls: str) -> None:
    """
    The bytes a custom protocol's connection sent count in the listener's
    bytesReceived, as for the built-in protocols (6 bytes sent: 6 counted).
    """
    service = logd.start({"out": logd.fileSink()}, [customListener(logd, "tcp", cls)])
    client = await connect(service)
    client.send(b"a b c\n")
    await client.close()
    stats = service.listeners[0].factory.router.stats
    await waitFor(lambda: stats.bytesReceived == 6, "the connection's 6 bytes to be counted")
    await logd.stop(service)
    assert stats.bytesReceived == 6
