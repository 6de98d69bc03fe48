"""
Reloading the configuration (SIGHUP's L{LogdService.hangUp}) on real
sockets: what stays keeps its socket and connections, what changes takes
its new settings, a broken file or a port in use changes nothing, and no
line is lost or repeated.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest_twisted
import yaml

from tests.integration.helpers import (
    DatagramClient,
    Harness,
    boundAddress,
    connect,
    messages,
    readRecords,
    serverConnections,
    waitFor,
)


def line(name: str = "edge", sinks: tuple[str, ...] = ("out",), endpoint: str = "tcp:0:interface=127.0.0.1", **extra: Any) -> dict[str, Any]:
    return {"name": name, "endpoint": endpoint, "protocol": "line", "sinks": list(sinks), **extra}


def rewrite(service: Any, sinks: dict[str, Any], listeners: list[dict[str, Any]], **settings: Any) -> None:
    Path(service.config.path).write_text(yaml.safe_dump({"sinks": sinks, "listeners": listeners, **settings}, sort_keys=False))


async def reload(service: Any) -> None:
    await service.hangUp()


def logged(events: list, text: str) -> list[str]:
    from twisted.logger import formatEvent

    return [formatEvent(e) for e in events if text in formatEvent(e)]


@pytest_twisted.ensureDeferred
async def test_unchangedReloadKeepsEveryConnection(logd: Harness) -> None:
    out = logd.tmp / "out.log"
    sinks, listeners = {"out": logd.fileSink()}, [line()]
    service = logd.start(sinks, listeners)
    port = boundAddress(service).port
    client = await connect(service)
    (connection,) = serverConnections(service)
    sink = service.sinks[0]
    for round in range(3):
        client.send(b"".join(b"r%d %d\n" % (round, i) for i in range(1000)))
        await waitFor(lambda: sink.recordsWritten.get("edge") == 1000 * (round + 1), "the lines written")
        await reload(service)
        assert service.sinks[0] is sink and serverConnections(service) == {connection}
        assert boundAddress(service).port == port
    client.send(b"after\n")
    await client.close()
    await logd.stop(service)
    assert messages(readRecords(out)) == [b"r%d %d" % (r, i) for r in range(3) for i in range(1000)] + [b"after"]
    assert service.reloads == {"success": 3, "failure": 0}


@pytest_twisted.ensureDeferred
async def test_changedSinkFlushesThenReopensWithNewSettings(logd: Harness, logEvents: list) -> None:
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [line()])
    client = await connect(service)
    client.send(b"before\n")
    await waitFor(lambda: service.sinks[0].recordsWritten.get("edge") == 1, "the first line written")
    old = service.sinks[0]
    rewrite(service, {"out": logd.fileSink(fmt="json")}, [line()])
    await reload(service)
    assert service.sinks[0] is not old and not old.running and service.sinks[0].running
    client.send(b"after\n")
    await client.close()
    await logd.stop(service)
    text, json = out.read_bytes().split(b"\n", 1)
    assert text.endswith(b" before")
    assert [record["message"] for record in jsonRows(json)] == ["after"]
    assert logged(logEvents, "1 changed, 0 added, 0 removed")


def jsonRows(data: bytes) -> list[dict]:
    import json

    return [json.loads(row) for row in data.splitlines() if row]


@pytest_twisted.ensureDeferred
async def test_changedListenerKeepsItsSocketAndConnections(logd: Harness) -> None:
    """
    New sinks and a filter reach the open connection at once; a new
    max_line reaches only the connections that follow.
    """
    sinks = {"out": logd.fileSink(), "more": logd.fileSink("more")}
    service = logd.start(sinks, [line(max_line=1000)])
    port = boundAddress(service).port
    client = await connect(service)
    (connection,) = serverConnections(service)
    client.send(b"one\n")
    await waitFor(lambda: service.sinks[0].recordsWritten.get("edge") == 1, "the first line")
    rewrite(service, sinks, [line(sinks=("out", "more"), max_line=10)])
    await reload(service)
    assert boundAddress(service).port == port and serverConnections(service) == {connection}
    client.send(b"two " + b"x" * 20 + b"\n")
    later = await connect(service)
    later.send(b"three " + b"y" * 20 + b"\n")
    await client.close()
    await later.close()
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "more.log")) == [b"two " + b"x" * 20, b"three yyyy", b"y" * 10, b"y" * 6]


@pytest_twisted.ensureDeferred
async def test_brokenFileChangesNothing(logd: Harness, logEvents: list) -> None:
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [line()])
    client = await connect(service)
    before = (list(service.sinks), list(service.listeners), service.config)
    Path(service.config.path).write_text(
        "sinks:\n  out: {type: file, path: out.log, fromat: json}\nlisteners:\n  - {name: edge, endpoint: 'tcp:0', protocol: line, sinks: [nowhere]}\n"
    )
    await reload(service)
    assert (list(service.sinks), list(service.listeners), service.config) == before
    assert service.reloads == {"success": 0, "failure": 1}
    path = service.config.path
    problems = logged(logEvents, f"reload: {path}:")
    assert any(f"{path}:2: sinks.out.fromat: unknown key" in p for p in problems), problems
    assert any(f"{path}:4:" in p and "nowhere" in p for p in problems), problems
    assert logged(logEvents, "still running the previous configuration")
    client.send(b"still here\n")
    await client.close()
    await logd.stop(service)
    assert messages(readRecords(out)) == [b"still here"]


@pytest_twisted.ensureDeferred
async def test_portInUseChangesNothing(logd: Harness, logEvents: list) -> None:
    taken = logd.track(socket.socket())
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [line()])
    sink = service.sinks[0]
    rewrite(
        service,
        {"out": logd.fileSink(fmt="json")},
        [line(), line("second", endpoint=f"tcp:{taken.getsockname()[1]}:interface=127.0.0.1")],
    )
    await reload(service)
    assert service.sinks == [sink] and sink.running and len(service.listeners) == 1
    assert service.reloads["failure"] == 1
    (failure,) = logged(logEvents, "reload of")
    assert "listener 'second': cannot listen on tcp:" in failure and "Address already in use" in failure
    await connect(service)  # the old listener still takes connections
    client = await connect(service)
    client.send(b"plain text still\n")
    await client.close()
    await logd.stop(service)
    assert messages(readRecords(out)) == [b"plain text still"]
    assert not (logd.tmp / "out.log.json").exists()


@pytest_twisted.ensureDeferred
async def test_removedListenerDrainsAndAddedOneStarts(logd: Harness) -> None:
    """A removed listener stops as at SIGTERM (its partial line recorded); an added one takes connections."""
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [line("old")])
    client = await connect(service)
    client.send(b"whole\npartial")
    await waitFor(lambda: service.sinks[0].recordsWritten.get("old") == 1, "the whole line")
    oldListener = service.listeners[0]
    rewrite(service, {"out": logd.fileSink()}, [line("new", endpoint="tcp:0:interface=127.0.0.2")])
    reloading = service.hangUp()
    assert [listener.config.name for listener in service.listeners] == ["new"]
    fresh = await connect(service)
    fresh.send(b"to the new one\n")
    await fresh.close()
    await client.closed  # the drain closes the idle connection
    await reloading
    assert not oldListener.running and oldListener.port is None
    await logd.stop(service)
    records = readRecords(out)
    assert sorted((r.listener, r.message) for r in records) == [("new", b"to the new one"), ("old", b"partial"), ("old", b"whole")]


@pytest_twisted.ensureDeferred
async def test_renamedListenerKeepsItsPort(logd: Harness) -> None:
    out = logd.tmp / "out.log"
    service = logd.start({"out": logd.fileSink()}, [line("before")])
    port = boundAddress(service).port
    client = await connect(service)
    client.send(b"one\n")
    await waitFor(lambda: service.sinks[0].recordsWritten.get("before") == 1, "the first line")
    rewrite(service, {"out": logd.fileSink()}, [line("after")])
    await reload(service)
    assert boundAddress(service).port == port and service.namedServices["listener/after"] is service.listeners[0]
    client.send(b"two\n")
    await client.close()
    await logd.stop(service)
    assert [(r.listener, r.message) for r in readRecords(out)] == [("before", b"one"), ("after", b"two")]


@pytest_twisted.ensureDeferred
async def test_datagramListenerKeepsItsSocket(logd: Harness) -> None:
    out, more = logd.tmp / "out.log", logd.tmp / "more.log"
    sinks = {"out": logd.fileSink(), "more": logd.fileSink("more")}
    listener = line("dgram", endpoint=logd.endpoint("udp"))
    service = logd.start(sinks, [listener])
    port = service.listeners[0].port
    client = DatagramClient(service)
    await client.send(b"one")
    await waitFor(lambda: service.sinks[0].recordsWritten.get("dgram") == 1, "the first datagram")
    rewrite(service, sinks, [{**listener, "sinks": ["more"]}])
    await reload(service)
    assert service.listeners[0].port is port
    await client.send(b"two")
    await waitFor(lambda: service.sinks[1].recordsWritten.get("dgram") == 1, "the second datagram")
    await client.close()
    await logd.stop(service)
    assert messages(readRecords(out)) == [b"one"] and messages(readRecords(more)) == [b"two"]


@pytest_twisted.ensureDeferred
async def test_reloadReleasesConnectionsAFullSinkHeld(logd: Harness) -> None:
    """
    A stdout sink nobody reads holds its listener paused; a reload that
    points the listener at another sink resumes the connection at once,
    and the unread sink keeps what it holds: nothing is lost.
    """
    import threading

    from tests.integration.helpers import parse

    pipe = logd.pipe()
    out = logd.tmp / "out.log"
    sinks = {"console": {"type": "stdout", "buffer": "64KiB"}, "out": logd.fileSink()}
    service = logd.start(sinks, [line(sinks=("console",))], stdoutFD=pipe.writeFD)
    console = service.sinks[0]
    client = await connect(service)
    client.send(b"".join(b"line %d\n" % i for i in range(200_000)))
    await waitFor(lambda: service.listeners[0].factory.router.paused, "the listener paused")
    rewrite(service, sinks, [line(sinks=("out",))])
    await reload(service)
    assert service.sinks[0] is console and not service.listeners[0].factory.router.paused
    await waitFor(lambda: service.sinks[1].recordsWritten.get("edge", 0) > 0, "lines in the new sink", timeout=10)
    await client.close()
    # The console's reader wakes up: at stop it is given what it holds.
    done = threading.Event()
    reader = threading.Thread(target=lambda: [pipe.read() for _ in iter(lambda: done.wait(0.01), True)])
    reader.start()
    try:
        await logd.stop(service)
    finally:
        done.set()
        reader.join()
    fromConsole = [r.message for r in parse(pipe.read())]
    assert fromConsole + messages(readRecords(out)) == [b"line %d" % i for i in range(200_000)]
