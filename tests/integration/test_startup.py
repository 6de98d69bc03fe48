"""
Start-up errors are one-line StartupErrors naming the listener or sink, and
Unix socket files are claimed only when nobody is listening on them.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess

import pytest
import pytest_twisted

from logd.errors import StartupError
from tests.integration.helpers import DatagramClient, Harness, messages, readRecords, sendAndClose, waitFor


def startupError(logd: Harness, sinks: dict[str, object], listeners: list[dict[str, object]]) -> str:
    """
    Start a service that must fail; return the error's one-line message.
    """
    service = logd.build(sinks, listeners)
    with pytest.raises(StartupError) as caught:
        service.privilegedStartService()
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_portInUse(logd: Harness, kind: str) -> None:
    """
    A port another socket holds: the error names the listener and says the
    address is in use.
    """
    busy = logd.track(socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM))
    busy.bind(("127.0.0.1", 0))
    if kind == "tcp":
        busy.listen()
    port = busy.getsockname()[1]
    message = startupError(
        logd,
        {"out": logd.fileSink()},
        [{"name": "taken", "endpoint": f"{kind}:{port}:interface=127.0.0.1", "protocol": "line", "sinks": ["out"]}],
    )
    assert "'taken'" in message
    assert "address already in use" in message.lower()


def test_unwritableSinkPath(logd: Harness) -> None:
    """
    A sink whose file cannot be created: the error names the sink.
    """
    message = startupError(
        logd,
        {"nowhere": {"type": "file", "path": "/proc/nope/x.log"}},
        [{"name": "l", "endpoint": logd.endpoint("tcp"), "protocol": "line", "sinks": ["nowhere"]}],
    )
    assert "sink 'nowhere'" in message
    assert "/proc/nope/x.log" in message


@pytest.mark.parametrize("kind", ["unix", "unixgram"])
@pytest_twisted.ensureDeferred
async def test_liveUnixSocketInUse(logd: Harness, kind: str) -> None:
    """
    A socket path a running logd listens on: a second logd gets an 'in use'
    error naming its listener, and the first keeps its socket and works.
    """
    first = logd.start(
        {"out": logd.fileSink()},
        [{"name": "first", "endpoint": logd.endpoint(kind, "shared"), "protocol": "line", "sinks": ["out"]}],
    )
    message = startupError(
        logd,
        {"other": logd.fileSink("other")},
        [{"name": "second", "endpoint": logd.endpoint(kind, "shared"), "protocol": "line", "sinks": ["other"]}],
    )
    assert "'second'" in message
    assert "in use" in message
    if kind == "unix":
        await sendAndClose(first, b"first still works\n")
    else:
        client = DatagramClient(first)
        await client.send(b"first still works\n")
        await client.close()
    await waitFor(lambda: readRecords(logd.tmp / "out.log"), "the first logd to record")
    await logd.stop(first)
    assert messages(readRecords(logd.tmp / "out.log")) == [b"first still works"]


@pytest.mark.parametrize("kind", ["unix", "unixgram"])
@pytest_twisted.ensureDeferred
async def test_staleSocketFileReplaced(logd: Harness, kind: str) -> None:
    """
    A socket file left behind by a listener that is gone (bound, then
    closed; for a stream socket with a stale lock beside it) is replaced,
    and the new listener works.
    """
    path = logd.sockets / ("stale.sock" if kind == "unix" else "stale.dgram")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM if kind == "unix" else socket.SOCK_DGRAM)
    stale.bind(str(path))
    if kind == "unix":
        stale.listen()
    stale.close()
    assert path.exists()
    if kind == "unix":
        # Twisted's lock beside it, left by a process that has exited.
        gone = subprocess.Popen(["true"])
        gone.wait()
        os.symlink(str(gone.pid), f"{path}.lock")
    service = logd.start(
        {"out": logd.fileSink()},
        [{"name": "fresh", "endpoint": logd.endpoint(kind, "stale"), "protocol": "line", "sinks": ["out"]}],
    )
    if kind == "unix":
        await sendAndClose(service, b"on the new socket\n")
    else:
        client = DatagramClient(service)
        await client.send(b"on the new socket\n")
        await client.close()
    await waitFor(lambda: readRecords(logd.tmp / "out.log"), "a record")
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == [b"on the new socket"]


@pytest_twisted.ensureDeferred
async def test_restartOnSameSocketPaths(logd: Harness) -> None:
    """
    A logd stopped cleanly can be started again on the same Unix socket
    paths (what it leaves behind, if anything, is not 'in use').
    """
    listeners = [
        {"name": "s", "endpoint": logd.endpoint("unix", "again"), "protocol": "line", "sinks": ["out"]},
        {"name": "d", "endpoint": logd.endpoint("unixgram", "again"), "protocol": "line", "sinks": ["out"]},
    ]
    await logd.stop(logd.start({"out": logd.fileSink()}, listeners))
    service = logd.start({"out": logd.fileSink()}, listeners)
    await sendAndClose(service, b"second run\n")
    await waitFor(lambda: readRecords(logd.tmp / "out.log"), "a record")
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == [b"second run"]


@pytest.mark.parametrize("kind", ["unix", "unixgram"])
@pytest_twisted.ensureDeferred
async def test_socketFileMode(logd: Harness, kind: str) -> None:
    """
    The mode option of unix: and unixgram: endpoints sets the socket file's
    permissions (who may send logs).
    """
    path = logd.sockets / ("mode.sock" if kind == "unix" else "mode.dgram")
    for mode in (0o600, 0o660):
        service = logd.start(
            {"out": logd.fileSink()},
            [{"name": "m", "endpoint": f"{kind}:{path}:mode={mode:o}", "protocol": "line", "sinks": ["out"]}],
        )
        assert stat.S_IMODE(os.stat(path).st_mode) == mode
        await logd.stop(service)
