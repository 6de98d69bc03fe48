"""
The raw protocol is byte-exact: the unescaped messages of one connection,
concatenated, are exactly its byte stream, whatever the bytes.
"""

from __future__ import annotations

import random

import pytest
import pytest_twisted

from tests.integration.helpers import Harness, connect, messages, readRecords, waitFor


def rawListener(logd: Harness, kind: str) -> dict[str, object]:
    return {"name": "raw", "endpoint": logd.endpoint(kind), "protocol": "raw", "sinks": ["out"]}


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest_twisted.ensureDeferred
async def test_randomBinaryRoundTrip(logd: Harness, kind: str) -> None:
    """
    512 KiB of random bytes (NUL, 0xff, LF, CR, backslashes, broken UTF-8)
    in writes of random sizes come back exactly.
    """
    rng = random.Random(2)
    data = rng.randbytes(512 * 1024) + b"\x00\xff\n\\x41\\\r\n\xc3"
    service = logd.start({"out": logd.fileSink()}, [rawListener(logd, kind)])
    client = await connect(service)
    offset = 0
    while offset < len(data):
        size = rng.choice([1, 2, 3, 100, 4096, 65536, 200_000])
        client.send(data[offset : offset + size])
        offset += size
    await client.close()
    await logd.stop(service)
    records = readRecords(logd.tmp / "out.log")
    assert b"".join(messages(records)) == data
    assert {r.peer for r in records} == {client.peer}


@pytest_twisted.ensureDeferred
async def test_concurrentConnectionsEachReproduced(logd: Harness) -> None:
    """
    Interleaved writes on three connections: each peer's records still
    concatenate to exactly what that peer sent.
    """
    rng = random.Random(3)
    service = logd.start({"out": logd.fileSink()}, [rawListener(logd, "tcp")])
    clients = [await connect(service) for _ in range(3)]
    sent = {client.peer: bytearray() for client in clients}
    for _ in range(60):
        client = rng.choice(clients)
        chunk = rng.randbytes(rng.randrange(1, 5000))
        client.send(chunk)
        sent[client.peer] += chunk
        # Let logd read now and then, so that chunks interleave in the file.
        if rng.random() < 0.3:
            total = sum(map(len, sent.values()))
            await waitFor(
                lambda: sum(c.bytesReceived for c in service.listeners[0].factory.connections) == total,
                "logd to catch up",
            )
    for client in clients:
        await client.close()
    await logd.stop(service)

    received: dict[str, bytearray] = {}
    for record in readRecords(logd.tmp / "out.log"):
        received.setdefault(record.peer, bytearray()).extend(record.message)
    assert received == sent
