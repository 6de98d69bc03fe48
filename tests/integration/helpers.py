"""
Shared machinery for logd's integration tests: a harness that writes a YAML
config, builds and starts the real service in-process on the real reactor,
real loopback clients, output parsers, and a poll-with-deadline helper.

Nothing here sleeps to synchronize: every wait is a Deferred or L{waitFor},
which polls a condition every 10 ms and fails with a clear message at its
deadline.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, NamedTuple, Sequence, TypeVar

import yaml
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import (
    TCP4ClientEndpoint,
    TCP6ClientEndpoint,
    UNIXClientEndpoint,
    connectProtocol,
)
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

import logd.config
import logd.service
from logd.records import unescape

T = TypeVar("T")

POLL_INTERVAL = 0.01


def getReactor() -> Any:
    """
    The reactor pytest-twisted installed (imported late, so that importing
    this module never installs a reactor of its own).
    """
    from twisted.internet import reactor

    return reactor


# Waiting -------------------------------------------------------------------


async def waitFor(condition: Callable[[], T], what: str, timeout: float = 3.0) -> T:
    """
    Poll C{condition} every 10 ms until it returns something true, and
    return that; fail with C{what} in the message after C{timeout} seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await deferLater(getReactor(), POLL_INTERVAL, lambda: None)


async def timed(awaitable: Awaitable[Any]) -> float:
    """
    How many seconds C{awaitable} took to complete.
    """
    start = time.monotonic()
    await awaitable
    return time.monotonic() - start


# Records -------------------------------------------------------------------

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Record:
    """
    One output record.  C{message} is the exact bytes (unescaped) for the
    text format and the JSON string for the json format.
    """

    time: str
    listener: str
    peer: str
    message: bytes | str

    @property
    def timestamp(self) -> float:
        return datetime.strptime(self.time, TIME_FORMAT).replace(tzinfo=timezone.utc).timestamp()


def parseText(data: bytes) -> list[Record]:
    """
    Parse text-format output, checking the format's guarantees on the way:
    LF-terminated lines, RFC 3339 UTC times with microseconds, valid UTF-8,
    and no control byte left unescaped inside a line.
    """
    assert data == b"" or data.endswith(b"\n"), f"output does not end with LF: {data[-80:]!r}"
    records = []
    for line in data.split(b"\n")[:-1]:
        assert _CONTROL.search(line) is None, f"unescaped control byte in {line[:200]!r}"
        line.decode("utf-8")
        parts = line.split(b" ", 3)
        assert len(parts) == 4, f"not TIME LISTENER PEER MESSAGE: {line[:200]!r}"
        when, listener, peer, message = parts
        assert _TIME.match(when.decode()), f"bad time {when!r}"
        records.append(Record(when.decode(), listener.decode(), peer.decode(), unescape(message)))
    return records


def parseJSON(data: bytes) -> list[Record]:
    """
    Parse json-format output: one object per line with exactly the keys
    time, listener, peer, message.
    """
    assert data == b"" or data.endswith(b"\n"), f"output does not end with LF: {data[-80:]!r}"
    records = []
    for line in data.split(b"\n")[:-1]:
        obj = json.loads(line)
        assert set(obj) == {"time", "listener", "peer", "message"}, f"unexpected keys in {line[:200]!r}"
        assert _TIME.match(obj["time"]), f"bad time {obj['time']!r}"
        records.append(Record(obj["time"], obj["listener"], obj["peer"], obj["message"]))
    return records


def readJSONObjects(path: str | Path) -> list[dict[str, Any]]:
    """
    The whole JSON lines of a json-format file so far, as dicts with every
    key they carry (syslog records have fields beyond the four that
    L{parseJSON} allows), each checked for time, listener, peer and message.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    objects = []
    for line in data[: data.rfind(b"\n") + 1].split(b"\n")[:-1]:
        obj = json.loads(line)
        assert {"time", "listener", "peer", "message"} <= set(obj), f"missing keys in {line[:200]!r}"
        assert _TIME.match(obj["time"]), f"bad time {obj['time']!r}"
        objects.append(obj)
    return objects


def parse(data: bytes, fmt: str = "text") -> list[Record]:
    return parseJSON(data) if fmt == "json" else parseText(data)


def readRecords(path: str | Path, fmt: str = "text") -> list[Record]:
    """
    The records in a file so far (none if it does not exist yet).  Only
    whole lines are parsed: a sink may be mid-write when a poll looks.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    return parse(data[: data.rfind(b"\n") + 1], fmt)


def lastRecord(path: str | Path, fmt: str = "text") -> Record | None:
    """
    The last whole record in a file, parsing only that line (cheap enough
    to poll on big files).
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    end = data.rfind(b"\n")
    if end < 0:
        return None
    return parse(data[data.rfind(b"\n", 0, end) + 1 : end + 1], fmt)[0]


def concat(parts: Sequence[Any]) -> Any:
    """
    Join messages, bytes (text format) or str (json format) alike.
    """
    return (parts[0][:0] if parts else b"").join(parts)


def countRecords(path: str | Path) -> int:
    """
    How many records a file holds so far, without parsing them (cheap
    enough to poll on big files).
    """
    try:
        return Path(path).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def messages(records: Iterable[Record]) -> list[Any]:
    return [record.message for record in records]


def expected(message: bytes, fmt: str) -> bytes | str:
    """
    What a message received as C{message} looks like once parsed back from
    the given format: the bytes themselves for text, the text with invalid
    UTF-8 as C{\\xNN} for json.
    """
    return message.decode("utf-8", "backslashreplace") if fmt == "json" else message


def oracleLines(data: bytes, maxLine: int) -> list[bytes]:
    """
    An independent model of the line protocol (for data without telnet IAC
    bytes): LF-delimited, a CR before the LF dropped, empty lines skipped,
    the unterminated last line kept, long lines cut into maxLine pieces.
    """
    out = []
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        out.extend(line[i : i + maxLine] for i in range(0, len(line), maxLine))
    return out


# Pipes ---------------------------------------------------------------------


class Pipe:
    """
    What a stdout sink writes into, read by the test without blocking: an
    os.pipe (a terminal or C{| reader}), a socket pair (the journal), or a
    regular file (C{> file}).  The sink gets C{writeFD}.
    """

    def __init__(self, kind: str = "pipe", directory: Path | None = None) -> None:
        if kind == "pipe":
            self.readFD, self.writeFD = os.pipe()
        elif kind == "socket":
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.readFD, self.writeFD = ours.detach(), theirs.detach()
        elif kind == "file":
            assert directory is not None
            path = directory / "stdout.file"
            self.writeFD = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            self.readFD = os.open(path, os.O_RDONLY)
        else:
            raise ValueError(kind)
        os.set_blocking(self.readFD, False)
        self.data = bytearray()

    def read(self) -> bytes:
        """
        Take everything the pipe holds now; return all read so far.
        """
        while True:
            try:
                chunk = os.read(self.readFD, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.data += chunk
        return bytes(self.data)

    def records(self, fmt: str = "text") -> list[Record]:
        data = self.read()
        return parse(data[: data.rfind(b"\n") + 1], fmt)

    def close(self) -> None:
        for fd in (self.readFD, self.writeFD):
            try:
                os.close(fd)
            except OSError:
                pass


# The service ---------------------------------------------------------------


def hasIPv6Loopback() -> bool:
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        probe.bind(("::1", 0))
    except OSError:
        return False
    finally:
        probe.close()
    return True


class Harness:
    """
    Builds logd services from config dicts written as YAML under the test's
    tmp_path, and stops whatever a test left running.

    @ivar sockets: a short directory under /tmp for Unix socket paths
        (pytest's tmp_path can exceed the kernel's 107 bytes).
    """

    def __init__(self, tmp: Path, sockets: Path) -> None:
        self.tmp = tmp
        self.sockets = sockets
        self.services: list[logd.service.LogdService] = []
        self.closeables: list[Any] = []
        self._configs = 0

    # endpoints

    def endpoint(self, kind: str, name: str = "l") -> str:
        """
        A listener endpoint string of the given kind on an ephemeral port or
        a fresh socket path.
        """
        if kind == "tcp":
            return "tcp:0:interface=127.0.0.1"
        if kind == "tcp6":
            return r"tcp6:0:interface=\:\:1"
        if kind == "udp":
            return "udp:0:interface=127.0.0.1"
        if kind == "udp6":
            return r"udp:0:interface=\:\:1"
        if kind == "unix":
            return f"unix:{self.sockets / (name + '.sock')}"
        if kind == "unixgram":
            return f"unixgram:{self.sockets / (name + '.dgram')}"
        raise ValueError(kind)

    def fileSink(self, name: str = "out", fmt: str = "text", **extra: Any) -> dict[str, Any]:
        return {"type": "file", "path": str(self.tmp / f"{name}.log"), "format": fmt, **extra}

    # building

    def writeConfig(self, sinks: dict[str, Any], listeners: Sequence[dict[str, Any]], **settings: Any) -> Path:
        """
        C{settings} are top-level keys besides C{sinks} and C{listeners}
        (such as C{max_partial_bytes}).
        """
        self._configs += 1
        path = self.tmp / f"logd-{self._configs}.yaml"
        path.write_text(yaml.safe_dump({"sinks": sinks, "listeners": list(listeners), **settings}, sort_keys=False))
        return path

    def build(
        self,
        sinks: dict[str, Any],
        listeners: Sequence[dict[str, Any]],
        stdoutFD: int | None = None,
        **settings: Any,
    ) -> logd.service.LogdService:
        config = logd.config.load(str(self.writeConfig(sinks, listeners, **settings)))
        if stdoutFD is None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            self.closeables.append(lambda: os.close(devnull))
            stdoutFD = devnull
        service = logd.service.buildService(config, getReactor(), stdoutFD=stdoutFD)
        self.services.append(service)
        return service

    def start(
        self,
        sinks: dict[str, Any],
        listeners: Sequence[dict[str, Any]],
        stdoutFD: int | None = None,
        **settings: Any,
    ) -> logd.service.LogdService:
        """
        Build and start a service as twistd would: privileged start (bind,
        open), then start.
        """
        service = self.build(sinks, listeners, stdoutFD, **settings)
        service.privilegedStartService()
        service.startService()
        return service

    async def stop(self, service: logd.service.LogdService) -> float:
        """
        Stop a service (listeners drain, then sinks flush); return how long
        that took.
        """
        start = time.monotonic()
        await service.stopService()
        return time.monotonic() - start

    def pipe(self, kind: str = "pipe") -> Pipe:
        pipe = Pipe(kind, self.tmp)
        self.closeables.append(pipe.close)
        return pipe

    def track(self, thing: T) -> T:
        """
        Close C{thing} (a socket) when the test ends.
        """
        self.closeables.append(thing.close)  # type: ignore[attr-defined]
        return thing

    def cleanup(self) -> Deferred:
        """
        Stop running services; release half-started ones (a start-up error
        leaves earlier children bound or open).  Returns a Deferred to wait on.
        """
        pending = []
        for service in self.services:
            if service.running:
                pending.append(Deferred.fromCoroutine(self.stop(service)))
            else:
                for listener in service.listeners:
                    if listener.port is not None:
                        port, listener.port = listener.port, None
                        pending.append(port.stopListening())
                for sink in service.sinks:
                    close = getattr(sink, "_close", None)
                    if close is not None:
                        close()
        def closeRest(result: object) -> object:
            for close in reversed(self.closeables):
                try:
                    close()
                except OSError:
                    pass
            return result

        return gatherResults([d for d in pending if isinstance(d, Deferred)], consumeErrors=True).addBoth(closeRest)


def boundAddress(service: logd.service.LogdService, index: int = 0) -> Any:
    return service.listeners[index].port.getHost()


def serverConnections(service: logd.service.LogdService, index: int = 0) -> set[Any]:
    """
    The listener's open connections (protocols with a C{bytesReceived} count).
    """
    return service.listeners[index].factory.connections


def bytesReceived(service: logd.service.LogdService, index: int = 0) -> int:
    return sum(c.bytesReceived for c in serverConnections(service, index))


# Clients -------------------------------------------------------------------


class StreamClient(Protocol):
    """
    A real Twisted stream client: remembers what the server sent and fires
    C{closed} when the connection ends.
    """

    def __init__(self) -> None:
        self.received = bytearray()
        self.closed: Deferred = Deferred()
        self.reason: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.reason = reason
        self.closed.callback(None)

    def connectionMade(self) -> None:
        """Remember how logd should show this client as the peer."""
        host = self.transport.getHost()
        if isinstance(host, IPv4Address):
            self.peer = f"{host.host}:{host.port}"
        elif isinstance(host, IPv6Address):
            self.peer = f"[{host.host}]:{host.port}"
        else:
            self.peer = "-"

    def send(self, data: bytes) -> None:
        self.transport.write(data)

    async def deliver(self, data: bytes) -> None:
        """
        L{send}, under the name both client kinds share.
        """
        self.send(data)

    async def close(self) -> None:
        """
        Close after everything written has gone out, and wait for it.
        """
        self.transport.loseConnection()
        await self.closed


def clientEndpoint(address: Any) -> Any:
    reactor = getReactor()
    if isinstance(address, IPv6Address):
        return TCP6ClientEndpoint(reactor, address.host, address.port)
    if isinstance(address, IPv4Address):
        return TCP4ClientEndpoint(reactor, address.host, address.port)
    if isinstance(address, UNIXAddress):
        return UNIXClientEndpoint(reactor, address.name.decode() if isinstance(address.name, bytes) else address.name)
    raise TypeError(address)


async def connect(service: logd.service.LogdService, index: int = 0) -> StreamClient:
    return await connectProtocol(clientEndpoint(boundAddress(service, index)), StreamClient())


async def sendAndClose(service: logd.service.LogdService, data: bytes, index: int = 0) -> StreamClient:
    client = await connect(service, index)
    client.send(data)
    await client.close()
    return client


def plainConnect(service: logd.service.LogdService, index: int = 0) -> socket.socket:
    """
    A blocking socket client, connected by the kernel alone (the listen
    backlog completes the handshake before logd accepts).  Fine for sending
    small amounts, which the kernel buffers.
    """
    address = boundAddress(service, index)
    if isinstance(address, UNIXAddress):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: Any = address.name
    elif isinstance(address, IPv6Address):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        target = (address.host, address.port)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        target = (address.host, address.port)
    sock.connect(target)
    return sock


class DatagramClient:
    """
    A plain non-blocking datagram socket aimed at a UDP or unixgram listener.
    """

    def __init__(self, service: logd.service.LogdService, index: int = 0, bindPath: Path | None = None) -> None:
        config = service.listeners[index].config
        if config.kind == "udp":
            address = boundAddress(service, index)
            if isinstance(address, IPv6Address):
                self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                self.sock.bind(("::1", 0))
                self.peer = f"[::1]:{self.sock.getsockname()[1]}"
            else:
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.sock.bind(("127.0.0.1", 0))
                self.peer = f"127.0.0.1:{self.sock.getsockname()[1]}"
            self.target: Any = (address.host, address.port)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            if bindPath is not None:
                self.sock.bind(str(bindPath))
            self.target = config.address[0]
            self.peer = "-"
        self.sock.setblocking(False)

    def sendNow(self, data: bytes) -> None:
        """
        Send one datagram without giving the reactor a turn; the socket
        queue must have room.
        """
        sent = self.sock.sendto(data, self.target)
        assert sent == len(data)

    async def send(self, data: bytes) -> None:
        """
        Send one datagram, waiting (polling) while a Unix datagram queue is
        full rather than losing it.
        """
        def trySend() -> bool:
            try:
                self.sendNow(data)
            except BlockingIOError:
                return False
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    return False
                raise
            return True

        await waitFor(trySend, "room in the datagram socket's queue")

    deliver = send

    async def close(self) -> None:
        self.sock.close()


async def openClient(
    service: logd.service.LogdService, index: int = 0, bindPath: Path | None = None
) -> StreamClient | DatagramClient:
    """
    A client of the right kind for listener C{index}; both kinds have a
    C{peer}, an async C{close}, and an async C{deliver(data)} (one write, or
    one datagram).
    """
    if service.listeners[index].config.kind == "stream":
        return await connect(service, index)
    return DatagramClient(service, index, bindPath)


def resetConnection(sock: socket.socket) -> None:
    """
    Close with SO_LINGER 0: the kernel sends RST instead of FIN.
    """
    import struct

    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# The admin endpoint ---------------------------------------------------------


class Response(NamedTuple):
    code: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


async def httpGet(url: str) -> Response:
    """A GET with Twisted's own HTTP client, on the test's reactor."""
    from twisted.web.client import Agent, readBody

    response = await Agent(getReactor()).request(b"GET", url.encode())
    body = await readBody(response)
    return Response(response.code, response.headers, body)


def adminURL(service: logd.service.LogdService, path: str) -> str:
    port = service.admin.port.getHost().port
    return f"http://127.0.0.1:{port}{path}"


async def scrape(service: logd.service.LogdService) -> dict[tuple[str, tuple], float]:
    """C{/metrics}, parsed by prometheus_client's own parser: C{{(name, sorted labels): value}}."""
    from prometheus_client.parser import text_string_to_metric_families

    response = await httpGet(adminURL(service, "/metrics"))
    assert response.code == 200, response
    samples = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples
