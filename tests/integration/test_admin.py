"""
The admin endpoint over real HTTP: Prometheus metrics (parsed with
prometheus_client's own parser), health, readiness and the JSON figures.
"""

from __future__ import annotations

import os
from typing import Any

import pytest_twisted
from twisted.internet.defer import Deferred

from logd.inputs.limits import NOT_ALLOWED
from tests.integration.helpers import Harness, adminURL, connect, httpGet, scrape, waitFor

ADMIN = {"endpoint": "tcp:0:interface=127.0.0.1"}


def lineListener(logd: Harness, name: str = "edge", sinks: tuple[str, ...] = ("out",), **extra: Any) -> dict[str, Any]:
    return {"name": name, "endpoint": "tcp:0:interface=127.0.0.1", "protocol": "line", "sinks": list(sinks), **extra}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest_twisted.ensureDeferred
async def test_metricsCountWhatArrives(logd: Harness) -> None:
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd)], admin=ADMIN)
    client = await connect(service)
    client.send(b"".join(b"line %d\n" % i for i in range(1000)))
    await waitFor(lambda: service.sinks[0].recordsWritten.get("edge") == 1000, "the lines written")
    samples = await scrape(service)
    assert value(samples, "logd_listener_records_received_total", listener="edge") == 1000
    assert value(samples, "logd_listener_records_delivered_total", listener="edge", sink="out") == 1000
    assert value(samples, "logd_sink_records_written_total", listener="edge", sink="out") == 1000
    assert value(samples, "logd_sink_records_buffered", listener="edge", sink="out") == 0
    assert value(samples, "logd_listener_bytes_received_total", listener="edge") == sum(len(b"line %d\n" % i) for i in range(1000))
    assert value(samples, "logd_listener_connections_open", listener="edge") == 1
    assert value(samples, "logd_listener_connections_accepted_total", listener="edge") == 1
    assert value(samples, "logd_sink_bytes_written_total", sink="out") == os.path.getsize(logd.tmp / "out.log")
    assert value(samples, "logd_sink_full", sink="out") == 0
    assert value(samples, "logd_ready") == 1
    assert value(samples, "logd_reloads_total", result="success") == 0
    build = [key for key in samples if key[0] == "logd_build_info"]
    assert build and dict(build[0][1])["version"]
    assert ("process_cpu_seconds_total", ()) in samples
    assert ("process_resident_memory_bytes", ()) in samples
    await client.close()
    samples = await scrape(service)
    assert value(samples, "logd_listener_connections_open", listener="edge") == 0


def withConsole(logd: Harness) -> tuple[Any, Any]:
    """A running logd with a file sink and a C{when_full: drop} stdout sink writing into a pipe the test holds."""
    pipe = logd.pipe()
    service = logd.start(
        {"out": logd.fileSink(), "console": {"type": "stdout", "when_full": "drop"}},
        [lineListener(logd, sinks=("out", "console"))],
        stdoutFD=pipe.writeFD,
        admin=ADMIN,
    )
    return service, pipe


@pytest_twisted.ensureDeferred
async def test_healthNamesAFailingSink(logd: Harness) -> None:
    """A sink whose writes fail (its reader has gone: EPIPE) makes /healthz 503, naming it and why."""
    service, pipe = withConsole(logd)
    healthy = await httpGet(adminURL(service, "/healthz"))
    assert (healthy.code, healthy.json()) == (200, {"status": "ok"})
    os.close(pipe.readFD)
    client = await connect(service)
    client.send(b"hello\n")
    await waitFor(lambda: service.sinks[1].failure, "the console sink to fail")
    sick = await httpGet(adminURL(service, "/healthz"))
    assert sick.code == 503
    body = sick.json()
    assert body["status"] == "failing" and list(body["failing"]) == ["console"]
    assert "Broken pipe" in body["failing"]["console"]
    assert sick.headers.getRawHeaders(b"content-type") == [b"application/json"]
    await client.close()


@pytest_twisted.ensureDeferred
async def test_readyIsRunningThenDraining(logd: Harness) -> None:
    """/ready: 200 while running; 503 "draining" while the listeners drain at stop."""
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd)], admin=ADMIN)
    ready = await httpGet(adminURL(service, "/ready"))
    assert (ready.code, ready.json()) == (200, {"phase": "running"})
    url = adminURL(service, "/ready")
    client = await connect(service)
    client.send(b"still sending")  # an open connection keeps the drain going
    await waitFor(lambda: service.listeners[0].factory.liveCounts()["bytesReceived"], "the bytes read")
    stopped = Deferred.fromCoroutine(logd.stop(service))
    draining = await httpGet(url)
    assert (draining.code, draining.json()) == (503, {"phase": "draining"})
    client.transport.loseConnection()
    await stopped


@pytest_twisted.ensureDeferred
async def test_statsAsJSONWithRates(logd: Harness) -> None:
    service = logd.start({"out": logd.fileSink()}, [lineListener(logd)], admin=ADMIN)
    client = await connect(service)
    client.send(b"x\n" * 500)
    await waitFor(lambda: service.sinks[0].recordsWritten.get("edge") == 500, "the lines written")
    response = await httpGet(adminURL(service, "/stats"))
    assert response.code == 200
    stats = response.json()
    assert stats["phase"] == "running" and stats["pid"] == os.getpid()
    edge = stats["listeners"]["edge"]
    assert edge["records_received"] == 500 and edge["delivered"] == {"out": 500} and edge["connections_open"] == 1
    assert stats["sinks"]["out"]["records_written"] == {"edge": 500}
    assert set(edge["rates"]) == {"10s", "1m", "5m"}
    assert edge["rates"]["10s"] > 0 and stats["sinks"]["out"]["rates"]["1m"] > 0
    await client.close()


@pytest_twisted.ensureDeferred
async def test_adminPortInUseIsAStartupError(logd: Harness) -> None:
    import socket

    import pytest

    from logd.errors import StartupError

    taken = logd.track(socket.socket())
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    service = logd.build({"out": logd.fileSink()}, [lineListener(logd)], admin={"endpoint": f"tcp:{taken.getsockname()[1]}:interface=127.0.0.1"})
    with pytest.raises(StartupError, match="admin: cannot listen on tcp:"):
        service.privilegedStartService()


def checkBalance(samples: dict, listeners: dict[str, list[str]]) -> None:
    """
    For every listener and each of its sinks: received = delivered +
    filtered + dropped (by reason), and delivered = written + buffered +
    discarded, exactly.
    """
    for name, sinks in listeners.items():
        received = value(samples, "logd_listener_records_received_total", listener=name)
        rateLimited = value(samples, "logd_listener_records_dropped_total", listener=name, sink="", reason="rate_limit")
        for sink in sinks:
            delivered = value(samples, "logd_listener_records_delivered_total", listener=name, sink=sink)
            filtered = value(samples, "logd_listener_records_filtered_total", listener=name, sink=sink)
            full = value(samples, "logd_listener_records_dropped_total", listener=name, sink=sink, reason="sink_full")
            failed = value(samples, "logd_listener_records_dropped_total", listener=name, sink=sink, reason="sink_error")
            assert received == delivered + filtered + full + failed + rateLimited, (name, sink)
            written = samples.get(("logd_sink_records_written_total", (("listener", name), ("sink", sink))), 0)
            buffered = samples.get(("logd_sink_records_buffered", (("listener", name), ("sink", sink))), 0)
            discarded = samples.get(("logd_sink_records_discarded_total", (("listener", name), ("sink", sink))), 0)
            assert delivered == written + buffered + discarded, (name, sink)


@pytest_twisted.ensureDeferred
async def test_countsBalanceThroughFaults(logd: Harness) -> None:
    """
    A million records through a full drop sink, a failing sink, a filter,
    oversized lines and frames, a rate limit and refused peers: for every
    listener and sink the counts balance exactly, while running and after
    the stop.
    """
    from tests.integration.helpers import DatagramClient, boundAddress, getReactor
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

    from tests.integration.helpers import StreamClient

    pipe = logd.pipe()
    os.close(pipe.readFD)  # the console's reader is gone: its writes fail (EPIPE), then it is full
    sinks = {
        "all": logd.fileSink("all"),
        "errors": logd.fileSink("errors", filter={"match": "ERR"}),
        "console": {"type": "stdout", "when_full": "drop", "buffer": "64KiB"},
    }
    listeners = [
        lineListener(logd, "lines", sinks=("all", "errors", "console"), max_line=100, allow=["127.0.0.1"]),
        {"name": "frames", "endpoint": "tcp:0:interface=127.0.0.1", "protocol": "syslog", "sinks": ["all"], "max_line": 200},
        {
            "name": "dgrams",
            "endpoint": logd.endpoint("udp"),
            "protocol": "line",
            "sinks": ["all", "console"],
            "rate_limit": {"records": 1000, "per": "1h", "when_over": "drop"},
        },
    ]
    service = logd.start(sinks, listeners, stdoutFD=pipe.writeFD, admin=ADMIN)

    # Lines: 990,000 short ones (one in ten an ERR), 10,000 of 250 bytes (3 pieces each).
    client = await connect(service)
    for block in range(99):
        client.send(b"".join(b"ERR %d\n" % i if i % 10 == 0 else b"ok %d\n" % i for i in range(block * 10000, (block + 1) * 10000)))
    client.send(b"y" * 249 + b"\n" * 1 + b"".join(b"z" * 249 + b"\n" for _ in range(9999)))
    # Refused: a sender outside allow.
    address = boundAddress(service, 0)
    outsider = await connectProtocol(TCP4ClientEndpoint(getReactor(), address.host, address.port, bindAddress=("127.0.0.2", 0)), StreamClient())
    outsider.send(b"refused\n")
    # Frames: octet-counted, one in four over max_line (its start kept, the rest skipped).
    frames = await connect(service, 1)
    frames.send(b"".join(b"%d %s" % (len(body), body) for body in (b"<13>1 - h a - - - " + (b"m" * (300 if i % 4 == 0 else 20)) for i in range(2000))))
    # Datagrams: 3,000 from one sender, over its 1,000-record budget.
    dgrams = DatagramClient(service, 2)
    for i in range(3000):
        await dgrams.send(b"datagram %d\n" % i)

    expectedLines = 990_000 + 10_000 * 3
    stats = [listener.factory.router.stats for listener in service.listeners]
    await waitFor(lambda: stats[0].records == expectedLines, "every line routed", timeout=60)
    await waitFor(lambda: stats[1].records == 2000, "every frame routed", timeout=10)
    await waitFor(lambda: stats[2].records + stats[2].droppedRateLimit == 3000, "every datagram read", timeout=10)
    await waitFor(lambda: stats[0].refused.get(NOT_ALLOWED), "the refusal", timeout=10)

    samples = await scrape(service)
    layout = {"lines": ["all", "errors", "console"], "frames": ["all"], "dgrams": ["all", "console"]}
    checkBalance(samples, layout)
    assert value(samples, "logd_listener_records_received_total", listener="lines") == expectedLines
    assert value(samples, "logd_listener_records_filtered_total", listener="lines", sink="errors") == expectedLines - 99_000
    assert value(samples, "logd_listener_records_dropped_total", listener="lines", sink="console", reason="sink_full") > 0
    assert value(samples, "logd_sink_failing", sink="console") == 1
    assert value(samples, "logd_listener_records_dropped_total", listener="dgrams", sink="", reason="rate_limit") == 2000
    assert value(samples, "logd_listener_frame_bytes_skipped_total", listener="frames") == 500 * (len(b"<13>1 - h a - - - ") + 300 - 200)
    assert value(samples, "logd_listener_refused_total", listener="lines", reason=NOT_ALLOWED) >= 1
    assert value(samples, "logd_listener_lines_split_total", listener="lines") == 10_000  # lines split (into 3 pieces each)

    await client.close()
    await frames.close()
    await dgrams.close()
    await logd.stop(service)
    console = service.sinks[2]
    for name in ("lines", "dgrams"):
        delivered = stats[0 if name == "lines" else 2].delivered["console"]
        assert console.recordsWritten.get(name, 0) + console.recordsDiscarded.get(name, 0) == delivered
    for index, name in enumerate(("lines", "frames", "dgrams")):
        assert service.sinks[0].recordsWritten[name] == stats[index].delivered["all"]


@pytest_twisted.ensureDeferred
async def test_statusCommandExitsNonZeroWhileASinkFails(logd: Harness) -> None:
    """C{logd status}, run as the shipped command against the live endpoint: exit 0 healthy, 1 once a sink fails."""
    import sys

    from twisted.internet.utils import getProcessOutputAndValue

    from tests.integration.helpers import getReactor

    service, pipe = withConsole(logd)
    url = adminURL(service, "")
    command = [sys.executable, "-m", "logd.cli", "status", "--admin", url]
    out, err, code = await getProcessOutputAndValue(command[0], command[1:], env=dict(os.environ), reactor=getReactor())
    assert code == 0, err
    assert b"health: ok" in out and b"console" in out
    os.close(pipe.readFD)
    client = await connect(service)
    client.send(b"hello\n")
    await waitFor(lambda: service.sinks[1].failure, "the console sink to fail")
    out, err, code = await getProcessOutputAndValue(command[0], command[1:], env=dict(os.environ), reactor=getReactor())
    assert code == 1, (out, err)
    assert b"health: failing" in out and b"FAILING: [Errno 32] Broken pipe" in out
    await client.close()
