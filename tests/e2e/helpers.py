"""
Shared helpers for the end-to-end tests: run C{twistd -n logd} as a
subprocess from the installed package, wait for it without sleeping, read
its log files back, and drive real clients.

Everything waits by polling a condition against a deadline (L{waitFor});
nothing sleeps to synchronise.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

BIN = os.path.dirname(sys.executable)
TWISTD = os.path.join(BIN, "twistd")
LOGD = os.path.join(BIN, "logd")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REACTORS = ("epoll", "poll", "select")
"""The reactors the core subset runs under (twistd C{--reactor})."""

START_TIMEOUT = 15.0
STOP_TIMEOUT = 20.0
POLL_INTERVAL = 0.01

_TEXT_LINE = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S+) (\S+) (.*)\Z", re.DOTALL)
_UNESCAPE = re.compile(rb"\\(x[0-9a-f]{2}|[\\tnr])")
_SIMPLE = {b"\\": b"\\", b"t": b"\t", b"n": b"\n", b"r": b"\r"}


# Waiting ---------------------------------------------------------------------


def waitFor(condition: Callable[[], object], timeout: float, what: str | Callable[[], str]) -> object:
    """
    Poll C{condition} every few milliseconds until it returns something
    true, and return that; fail with C{what} after C{timeout} seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            message = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g}s waiting for {message}")
        time.sleep(POLL_INTERVAL)


def freePort(kind: int = socket.SOCK_STREAM) -> int:
    """
    A loopback port nobody is using right now (the caller retries on the
    rare collision).
    """
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def portIsFree(port: int, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# Records ---------------------------------------------------------------------


def unescape(escaped: bytes) -> bytes:
    """
    The issue's escaping, inverted independently of logd's own code, so a
    test does not trust what it checks.
    """

    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        return _SIMPLE[code]

    return _UNESCAPE.sub(one, escaped)


@dataclass(frozen=True)
class Record:
    time: str
    listener: str
    peer: str
    message: bytes


def parseText(data: bytes, source: str = "log") -> list[Record]:
    """
    Parse text-format records.  Every line must be a whole record with a
    well-formed time stamp: a split or torn record fails the test here.
    """
    if data and not data.endswith(b"\n"):
        raise AssertionError(f"{source} does not end with a newline: {data[-200:]!r}")
    records = []
    for number, line in enumerate(data.split(b"\n")[:-1], 1):
        match = _TEXT_LINE.match(line)
        if match is None:
            raise AssertionError(f"{source}:{number}: not a text record: {line[:200]!r}")
        when, listener, peer, message = match.groups()
        records.append(Record(when.decode(), listener.decode(), peer.decode(), unescape(message)))
    return records


def readFile(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def readRecords(path: str) -> list[Record]:
    data = readFile(path)
    # While the daemon runs, a write may be in flight: only whole lines count.
    return parseText(data[: data.rfind(b"\n") + 1], path)


def messages(records: Iterable[Record], listener: str) -> list[bytes]:
    return [r.message for r in records if r.listener == listener]


# The daemon ------------------------------------------------------------------


@dataclass
class Listener:
    """
    One listener of a test configuration.  C{kind} is tcp, udp, unix or
    unixgram; its port or path is filled in when the daemon starts.
    """

    name: str
    kind: str
    protocol: str = "line"
    banner: str | None = None
    maxLine: int | None = None
    port: int = 0
    path: str = ""

    def endpoint(self, directory: str) -> str:
        if self.kind == "tcp":
            return f"tcp:{self.port}:interface=127.0.0.1"
        if self.kind == "udp":
            return f"udp:{self.port}:interface=127.0.0.1"
        self.path = os.path.join(directory, f"{self.name}.sock")
        return f"{self.kind}:{self.path}"

    def spec(self, directory: str) -> dict:
        spec: dict = {"name": self.name, "endpoint": self.endpoint(directory), "protocol": self.protocol, "sinks": ["all"]}
        if self.banner is not None:
            spec["banner"] = self.banner
        if self.maxLine is not None:
            spec["max_line"] = self.maxLine
        return spec


def writeConfig(directory: str, listeners: Sequence[Listener], rotate: dict | None = None, name: str = "logd.yaml") -> str:
    """
    Write a configuration with one text file sink, C{all}, at
    C{DIRECTORY/all.log}.  JSON is YAML, so no quoting worries.
    """
    sink: dict = {"type": "file", "path": "all.log", "format": "text"}
    if rotate is not None:
        sink["rotate"] = rotate
    config = {"sinks": {"all": sink}, "listeners": [listener.spec(directory) for listener in listeners]}
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    return path


def twistdCommand(config: str, reactor: str | None = None) -> list[str]:
    """C{twistd -n [--reactor=R] --pidfile= logd --config CONFIG}: twistd's options go before the plugin's."""
    reactorOption = [f"--reactor={reactor}"] if reactor is not None else []
    return [TWISTD, "-n", *reactorOption, "--pidfile=", "logd", "--config", config]


@dataclass
class Daemon:
    """
    A C{twistd -n logd} process and its working directory.  Its stdout
    (twistd's log) and stderr go to files, so a chatty daemon never blocks
    on a full pipe.
    """

    directory: str
    listeners: dict[str, Listener]
    config: str
    command: list[str]
    process: subprocess.Popen | None = None
    stdoutPath: str = ""
    stderrPath: str = ""
    _files: list = field(default_factory=list)

    @property
    def logPath(self) -> str:
        return os.path.join(self.directory, "all.log")

    def port(self, name: str) -> int:
        return self.listeners[name].port

    def path(self, name: str) -> str:
        return self.listeners[name].path

    def launch(self) -> None:
        self.stdoutPath = os.path.join(self.directory, "twistd.out")
        self.stderrPath = os.path.join(self.directory, "twistd.err")
        out = open(self.stdoutPath, "wb")
        err = open(self.stderrPath, "wb")
        self._files = [out, err]
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.directory)

    def stdout(self) -> str:
        return readFile(self.stdoutPath).decode("utf-8", "replace")

    def stderr(self) -> str:
        return readFile(self.stderrPath).decode("utf-8", "replace")

    def describe(self) -> str:
        return f"command: {self.command}\n--- stdout:\n{self.stdout()}\n--- stderr:\n{self.stderr()}"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def waitReady(self) -> bool:
        """
        Wait for twistd's log to say "logd started" (logged once every
        listener is bound); return False if the daemon exited instead.
        """
        waitFor(lambda: "logd started" in self.stdout() or not self.running(), START_TIMEOUT, lambda: "logd to start\n" + self.describe())
        return "logd started" in self.stdout() and self.running()

    def records(self) -> list[Record]:
        return readRecords(self.logPath)

    def messages(self, listener: str) -> list[bytes]:
        return messages(self.records(), listener)

    def waitForMessages(self, listener: str, expected: Sequence[bytes], timeout: float = 10.0) -> list[Record]:
        """
        Wait until every message in C{expected} has been recorded for
        C{listener}; return that listener's records.
        """
        wanted = list(expected)

        def present() -> list[Record] | None:
            records = [r for r in self.records() if r.listener == listener]
            got = {r.message for r in records}
            return records if all(m in got for m in wanted) else None

        return waitFor(
            present, timeout, lambda: f"{len(wanted)} messages on {listener!r}; log has:\n{readFile(self.logPath)[-2000:]!r}\n{self.describe()}"
        )

    def waitForCount(self, listener: str, count: int, timeout: float = 10.0) -> None:
        waitFor(lambda: len(self.messages(listener)) >= count, timeout, lambda: f"{count} records on {listener!r}\n{self.describe()}")

    def sendSignal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """
        Signal the daemon and wait for it to exit; return its status.
        """
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"logd did not exit within {timeout}s of signal {signum}\n{self.describe()}") from None

    def kill(self) -> None:
        """The finalizer's job: never leave a daemon behind."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for f in self._files:
            f.close()


def startDaemon(
    directory: str,
    listeners: Sequence[Listener],
    reactor: str | None = None,
    rotate: dict | None = None,
    attempts: int = 3,
    commandFor: Callable[[str], list[str]] | None = None,
    onStart: Callable[[Daemon], None] | None = None,
) -> Daemon:
    """
    Start logd with fresh free ports, retrying with new ones if a port was
    taken between choosing and binding it.  C{onStart} registers the
    daemon for the finalizer before it is waited on.
    """
    for attempt in range(attempts):
        for listener in listeners:
            if listener.kind in ("tcp", "udp"):
                listener.port = freePort(socket.SOCK_STREAM if listener.kind == "tcp" else socket.SOCK_DGRAM)
        config = writeConfig(directory, listeners, rotate)
        command = commandFor(config) if commandFor is not None else twistdCommand(config, reactor)
        daemon = Daemon(directory, {listener.name: listener for listener in listeners}, config, command)
        daemon.launch()
        if onStart is not None:
            onStart(daemon)
        if daemon.waitReady():
            return daemon
        daemon.kill()
        if "in use" not in daemon.stderr() or attempt == attempts - 1:
            raise AssertionError("logd did not start\n" + daemon.describe())
    raise AssertionError("unreachable")


def udpQueueCapacity(size: int) -> int:
    """
    How many datagrams of C{size} bytes a UDP socket with the default
    receive buffer holds when nobody reads it: logd does not change
    SO_RCVBUF, so this is what its socket holds too.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        payload = b"x" * size
        for _ in range(4096):
            sender.sendto(payload, receiver.getsockname())
        held = 0
        while True:
            try:
                receiver.recv(65536)
            except BlockingIOError:
                return held
            held += 1


# Clients ---------------------------------------------------------------------


def run(command: Sequence[str], input: bytes = b"", timeout: float = 30.0, **kwargs) -> subprocess.CompletedProcess:
    """
    Run a client to completion; a non-zero exit fails the test with its output.
    """
    result = subprocess.run(command, input=input, capture_output=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, f"{command} exited {result.returncode}: {result.stdout[-2000:]!r} {result.stderr[-2000:]!r}"
    return result


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is not installed (tests/run installs the e2e clients)"
    return path


class PtyProcess:
    """
    A program on a pseudo-terminal, as a person at a terminal would run it:
    write keystrokes to the master side, read its screen with a deadline.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        import pty

        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.execv(argv[0], list(argv))
            finally:
                os._exit(127)
        self.pid = pid
        self.fd = fd
        self.output = b""
        self.status: int | None = None

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.output += data
        return bool(data)

    def expect(self, text: bytes, timeout: float = 10.0) -> None:
        """Wait until C{text} has appeared on the screen."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.1)):
                if text in self.output:
                    return
                raise AssertionError(f"timed out waiting for {text!r} on the terminal; screen so far: {self.output!r}")

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the program to exit, draining its output meanwhile."""
        deadline = time.monotonic() + timeout
        open_ = True
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() >= deadline:
                raise AssertionError(f"terminal program did not exit; screen: {self.output!r}")
            if open_:
                open_ = self._read(POLL_INTERVAL)
            else:
                time.sleep(POLL_INTERVAL)  # terminal closed: poll for the exit status
        return self.status

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.status = -signal.SIGKILL
        try:
            os.close(self.fd)
        except OSError:
            pass
