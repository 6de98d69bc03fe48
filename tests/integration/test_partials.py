"""
The bound on unfinished lines across all connections (max_partial_bytes):
many connections each holding a long unterminated line make the largest
holders record what they hold early, counted, with nothing lost.
"""

from __future__ import annotations

import os

import pytest
import pytest_twisted

from tests.integration.helpers import Harness, connect, messages, readRecords, waitFor

CONNECTIONS = 40
HELD = 60 * 1024
"""Each connection's unterminated line: under max_line (64 KiB), so only the bound cuts it."""
LIMIT = 512 * 1024


@pytest.mark.parametrize("protocol", ["line", "syslog"])
@pytest_twisted.ensureDeferred
async def test_partialLinesAreBoundedAcrossConnections(logd: Harness, protocol: str) -> None:
    """
    40 connections x 60 KiB unfinished = 2.3 MiB, bound 512 KiB: the total
    held never stays over the bound, the cuts are counted, and each
    connection's records still add up to exactly the line it sent.
    """
    out = logd.tmp / "out.log"
    listener = {"name": "l", "endpoint": logd.endpoint("tcp"), "protocol": protocol, "sinks": ["out"]}
    service = logd.start({"out": logd.fileSink()}, [listener], max_partial_bytes=LIMIT)
    factory = service.listeners[0].factory
    budget = factory.partials
    clients = [await connect(service) for _ in range(CONNECTIONS)]
    lines = {}
    for n, client in enumerate(clients):
        # Distinct bytes per connection, so the records say whose they are.
        body = (b"%03d" % n) + os.urandom(HELD // 2).hex().encode()[: HELD - 3]
        lines[client.peer] = body
        client.send(body)
    stats = factory.router.stats
    await waitFor(lambda: sum(c.bytesReceived for c in factory.connections) == CONNECTIONS * HELD, "logd to read every byte", timeout=20)
    # Every cut brings the total under three quarters of the bound, by
    # whole unfinished lines: at least this many were needed, and about as
    # many suffice (each cut frees a whole 60 KiB line, or nearly).
    needed = (CONNECTIONS * HELD - LIMIT) // HELD
    assert needed <= stats.cutEarly <= CONNECTIONS, stats
    assert budget.held <= LIMIT and budget.held == sum(c.framer.held for c in factory.connections)
    for client in clients:
        client.send(b" end\n")
        await client.close()
    await waitFor(lambda: budget.held == 0, "every connection to finish its line")
    await logd.stop(service)
    records = readRecords(out)
    for client in clients:
        pieces = messages(r for r in records if r.peer == client.peer)
        assert b"".join(pieces) == lines[client.peer] + b" end", f"{client.peer}: {len(pieces)} pieces do not add up"
    assert len(records) == CONNECTIONS + stats.cutEarly


@pytest_twisted.ensureDeferred
async def test_underTheBoundNothingIsCut(logd: Harness) -> None:
    out = logd.tmp / "out.log"
    listener = {"name": "l", "endpoint": logd.endpoint("tcp"), "protocol": "line", "sinks": ["out"]}
    service = logd.start({"out": logd.fileSink()}, [listener], max_partial_bytes=LIMIT)
    clients = [await connect(service) for _ in range(4)]
    for client in clients:
        client.send(b"y" * HELD)
    factory = service.listeners[0].factory
    await waitFor(lambda: factory.partials.held == 4 * HELD, "logd to hold the four lines")
    for client in clients:
        client.send(b"\n")
        await client.close()
    await logd.stop(service)
    assert factory.router.stats.cutEarly == 0
    assert messages(readRecords(out)) == [b"y" * HELD] * 4


@pytest.mark.raisesIn.with_args(ValueError)
@pytest_twisted.ensureDeferred
async def test_aFailingReleaseClosesOnlyThatConnection(logd: Harness) -> None:
    """
    A custom lineReceived that raises on a cut piece: the connection whose
    piece it was is closed, and the one whose read passed the bound goes on.
    """
    out = logd.tmp / "out.log"
    listener = {"name": "l", "endpoint": logd.endpoint("tcp"), "protocol": "tests.integration.customprotocols:Picky", "sinks": ["out"]}
    service = logd.start({"out": logd.fileSink()}, [listener], max_partial_bytes=100_000)
    factory = service.listeners[0].factory
    holder = await connect(service)
    holder.send(b"h" * 60_000)
    await waitFor(lambda: factory.partials.held == 60_000, "logd to hold the first line")
    reader = await connect(service)
    reader.send(b"fine!\n" + b"r" * 50_000)
    await holder.closed
    reader.send(b"!\n")
    await reader.close()
    await logd.stop(service)
    assert messages(readRecords(out)) == [b"fine!", b"r" * 50_000 + b"!"]
    assert factory.partials.held == 0
