"""
Shared helpers for the end-to-end tests: run C{twistd -n logd} as a
subprocess from the installed package, wait for it without sleeping, read
its log files back, and drive real clients.

Everything waits by polling a condition against a deadline (L{waitFor});
nothing sleeps to synchronise.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import termios
import threading
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


def freePort(kind: int = socket.SOCK_STREAM, family: int = socket.AF_INET) -> int:
    """
    A loopback port nobody is using right now (the caller retries on the
    rare collision).
    """
    with socket.socket(family, kind) as s:
        s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
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
    tls: dict | None = None
    """The listener's tls: block, if any."""

    def endpoint(self, directory: str) -> str:
        if self.kind == "tcp":
            return f"tcp:{self.port}:interface=127.0.0.1"
        if self.kind == "udp":
            return f"udp:{self.port}:interface=127.0.0.1"
        if self.kind == "tcp6":
            return f"tcp6:{self.port}:interface=\\:\\:1"
        if self.kind == "udp6":
            return f"udp:{self.port}:interface=\\:\\:1"
        self.path = os.path.join(directory, f"{self.name}.sock")
        return f"{self.kind}:{self.path}"

    def spec(self, directory: str) -> dict:
        spec: dict = {"name": self.name, "endpoint": self.endpoint(directory), "protocol": self.protocol, "sinks": ["all"]}
        if self.banner is not None:
            spec["banner"] = self.banner
        if self.maxLine is not None:
            spec["max_line"] = self.maxLine
        if self.tls is not None:
            spec["tls"] = self.tls
        return spec


def writeConfig(
    directory: str,
    listeners: Sequence[Listener],
    rotate: dict | None = None,
    name: str = "logd.yaml",
    sink: dict | None = None,
) -> str:
    """
    Write a configuration with one sink, C{all}: by default a text file
    sink at C{DIRECTORY/all.log}, or the given C{sink} spec (for example
    C{{"type": "stdout", "buffer": "4MiB"}}).  JSON is YAML, so no quoting
    worries.
    """
    if sink is None:
        sink = {"type": "file", "path": "all.log", "format": "text"}
    else:
        sink = dict(sink)
    if rotate is not None:
        sink["rotate"] = rotate
    config = {"sinks": {"all": sink}, "listeners": [listener.spec(directory) for listener in listeners]}
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    return path


def twistdCommand(config: str, reactor: str | None = None, logfile: str | None = None) -> list[str]:
    """
    C{twistd -n [--reactor=R] --pidfile= [--logfile=F] logd --config CONFIG}:
    twistd's options go before the plugin's.  With a C{logfile}, twistd's
    own log stays off standard output (which a stdout sink then owns).
    """
    reactorOption = [f"--reactor={reactor}"] if reactor is not None else []
    logfileOption = [f"--logfile={logfile}"] if logfile is not None else []
    return [TWISTD, "-n", *reactorOption, "--pidfile=", *logfileOption, "logd", "--config", config]


@dataclass
class Daemon:
    """
    A C{twistd -n logd} process and its working directory.  Its stdout
    (twistd's log) and stderr go to files, so a chatty daemon never blocks
    on a full pipe.

    With C{stdoutFD}, standard output is that descriptor instead (a pipe a
    test reads, for a stdout sink) and twistd's log goes to C{logfile},
    which is then what L{stdout} returns.
    """

    directory: str
    listeners: dict[str, Listener]
    config: str
    command: list[str]
    process: subprocess.Popen | None = None
    stdoutPath: str = ""
    stderrPath: str = ""
    _files: list = field(default_factory=list)
    stdoutFD: int | None = None
    logfile: str = ""
    env: dict[str, str] | None = None
    """The daemon's whole environment (default: the test's)."""
    passFds: tuple[int, ...] = ()
    """Descriptors the daemon inherits (socket activation)."""

    @property
    def logPath(self) -> str:
        return os.path.join(self.directory, "all.log")

    def port(self, name: str) -> int:
        return self.listeners[name].port

    def path(self, name: str) -> str:
        return self.listeners[name].path

    def launch(self) -> None:
        self.stderrPath = os.path.join(self.directory, "twistd.err")
        err = open(self.stderrPath, "wb")
        if self.stdoutFD is not None:
            self.stdoutPath = self.logfile
            self._files = [err]
            stdout: object = self.stdoutFD
        else:
            self.stdoutPath = os.path.join(self.directory, "twistd.out")
            stdout = open(self.stdoutPath, "wb")
            self._files = [stdout, err]
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=err,
            cwd=self.directory,
            env=self.env,
            pass_fds=self.passFds,
        )

    def stdout(self) -> str:
        return readFile(self.stdoutPath).decode("utf-8", "replace")

    def stderr(self) -> str:
        return readFile(self.stderrPath).decode("utf-8", "replace")

    def describe(self) -> str:
        label = "twistd log" if self.stdoutFD is not None else "stdout"
        return f"command: {self.command}\n--- {label}:\n{self.stdout()}\n--- stderr:\n{self.stderr()}"

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
    sink: dict | None = None,
    stdout: int | None = None,
) -> Daemon:
    """
    Start logd with fresh free ports, retrying with new ones if a port was
    taken between choosing and binding it.  C{onStart} registers the
    daemon for the finalizer before it is waited on.

    C{sink} replaces the default file sink's spec (see L{writeConfig});
    C{stdout} is a descriptor for the daemon's standard output, with
    twistd's log moved to C{DIRECTORY/twistd.log}.  The caller keeps (and
    eventually closes) its own copy of that descriptor.
    """
    assert stdout is None or commandFor is None, "stdout= builds its own twistd command"
    logfile = os.path.join(directory, "twistd.log")
    for attempt in range(attempts):
        for listener in listeners:
            if listener.kind in ("tcp", "udp", "tcp6", "udp6"):
                listener.port = freePort(
                    socket.SOCK_STREAM if listener.kind.startswith("tcp") else socket.SOCK_DGRAM,
                    socket.AF_INET6 if listener.kind.endswith("6") else socket.AF_INET,
                )
        config = writeConfig(directory, listeners, rotate, sink=sink)
        if commandFor is not None:
            command = commandFor(config)
        else:
            command = twistdCommand(config, reactor, logfile=logfile if stdout is not None else None)
        daemon = Daemon(directory, {listener.name: listener for listener in listeners}, config, command)
        if stdout is not None:
            daemon.stdoutFD, daemon.logfile = stdout, logfile
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


def assertStopsOnSIGTERM(daemon: Daemon) -> None:
    """
    SIGTERM, and a clean exit: twistd re-raises the signal once the service
    has stopped, and nothing was logged as a traceback on the way out.
    """
    status = daemon.stop(signal.SIGTERM)
    assert status == -signal.SIGTERM, f"exit status {status}, expected -SIGTERM (twistd re-raises it)\n{daemon.describe()}"
    log = daemon.stdout() + daemon.stderr()
    assert "Traceback" not in log and "Unhandled" not in log, daemon.describe()


# Processes, pipes and floods ---------------------------------------------------


def procStatus(pid: int, key: str) -> int:
    """
    A size from C{/proc/PID/status} (C{VmRSS}, C{VmHWM}, ...) in bytes.
    """
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            name, _, value = line.partition(b":")
            if name == key.encode():
                number, unit = value.split()
                assert unit == b"kB", line
                return int(number) * 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def openFDs(pid: int) -> int:
    """How many descriptors the process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


class RSSSampler(threading.Thread):
    """
    Sample a process's resident set size every few milliseconds, keeping
    the largest; L{peak} also takes the kernel's own high-water mark
    (C{VmHWM}), which no sample can miss.
    """

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.pid = pid
        self.interval = interval
        self.maxSampled = 0
        self.samples = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                rss = procStatus(self.pid, "VmRSS")
            except (OSError, AssertionError):  # the process has exited
                return
            self.maxSampled = max(self.maxSampled, rss)
            self.samples += 1
            self._stopping.wait(self.interval)

    def peak(self) -> int:
        """The largest RSS so far: sampled, or the kernel's high-water mark."""
        return max(self.maxSampled, procStatus(self.pid, "VmHWM"))

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)


F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def makePipe(size: int | None = None) -> tuple[int, int]:
    """
    A pipe (read end, write end) of (at least) C{size} bytes' capacity: the
    kernel rounds up to a power-of-two number of pages, at least one.
    """
    readFD, writeFD = os.pipe()
    if size is not None:
        fcntl.fcntl(writeFD, F_SETPIPE_SZ, size)
    return readFD, writeFD


def pipeCapacity(fd: int) -> int:
    return fcntl.fcntl(fd, getattr(fcntl, "F_GETPIPE_SZ", 1032))


def pipeQueued(fd: int) -> int:
    """How many bytes are in the pipe, waiting to be read (FIONREAD)."""
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)


class PipeReader(threading.Thread):
    """
    Read a pipe in large chunks from a thread, but only once L{release}d:
    until then nobody reads, and the writer's side fills up.  Each chunk
    goes to L{consume} (by default kept); the thread ends at end of file.
    """

    CHUNK = 1024 * 1024

    def __init__(self, fd: int) -> None:
        super().__init__(name="pipe-reader", daemon=True)
        self.fd = fd
        self.bytesRead = 0
        self.data = bytearray()
        self.error: BaseException | None = None
        self.eof = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        """Start reading, at full speed."""
        self._released.set()

    def consume(self, chunk: bytes) -> None:
        self.data += chunk

    def run(self) -> None:
        self._released.wait()
        try:
            while True:
                chunk = os.read(self.fd, self.CHUNK)
                if not chunk:
                    break
                self.bytesRead += len(chunk)
                self.consume(chunk)
        except BaseException as e:  # reported by the test, not lost in the thread
            self.error = e
        finally:
            self.eof.set()


class Flooder(threading.Thread):
    """
    Send chunks over one TCP connection from a thread, as fast as the
    receiver takes them, counting every byte the kernel accepts: when the
    receiver stops reading, L{sent} stops growing, which L{stalled} sees.

    Each C{send} is one system call that takes what fits (the socket has a
    timeout, so Python polls and then sends without blocking), so progress
    is visible byte by byte, not chunk by chunk.  L{stop} ends the flood
    after the current chunk, so only whole chunks are ever sent.
    """

    def __init__(self, port: int, chunks: Iterable[bytes], timeout: float = 120.0) -> None:
        super().__init__(name="flooder", daemon=True)
        self.chunks = chunks
        self.timeout = timeout
        self.sent = 0
        self.lastProgress = time.monotonic()
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._stopping = threading.Event()
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.peer = "127.0.0.1:%d" % self.sock.getsockname()[1]

    def run(self) -> None:
        try:
            self.sock.settimeout(self.timeout)
            for chunk in self.chunks:
                if self._stopping.is_set():
                    break
                view = memoryview(chunk)
                while view:
                    n = self.sock.send(view)
                    view = view[n:]
                    self.sent += n
                    self.lastProgress = time.monotonic()
            self.sock.shutdown(socket.SHUT_WR)
        except BaseException as e:
            self.error = e
        finally:
            self.sock.close()
            self.finished.set()

    def stalled(self, seconds: float) -> bool:
        """Whether the flood has started and then made no progress for C{seconds}."""
        return self.sent > 0 and not self.finished.is_set() and time.monotonic() - self.lastProgress >= seconds

    def stop(self) -> None:
        self._stopping.set()


# Syslog senders: JSON records, pids, peer daemons ------------------------------

JSON_SINK = {"type": "file", "path": "all.json", "format": "json"}
"""A C{sink=} for L{startDaemon}: JSON records, with a syslog listener's parsed fields, at C{DIRECTORY/all.json}."""


def readJSONRecords(path: str) -> list[dict]:
    """
    The records of a json-format file: every whole line must be one JSON
    object (a write in flight, after the last LF, is not looked at yet).
    """
    data = readFile(path)
    records = []
    for number, line in enumerate(data[: data.rfind(b"\n") + 1].split(b"\n")[:-1], 1):
        try:
            record = json.loads(line)
        except ValueError as e:
            raise AssertionError(f"{path}:{number}: not JSON ({e}): {line[:300]!r}") from None
        if not isinstance(record, dict):
            raise AssertionError(f"{path}:{number}: not a JSON object: {line[:300]!r}")
        records.append(record)
    return records


def waitForJSON(daemon: Daemon, listener: str, count: int, timeout: float = 10.0) -> list[dict]:
    """
    Wait until the daemon's JSON_SINK file holds at least C{count} records
    of C{listener}; return them.
    """
    path = os.path.join(daemon.directory, JSON_SINK["path"])

    def arrived() -> list[dict] | None:
        records = [r for r in readJSONRecords(path) if r.get("listener") == listener]
        return records if len(records) >= count else None

    return waitFor(arrived, timeout, lambda: f"{count} JSON records on {listener!r}; {path} has:\n{readFile(path)[-3000:]!r}\n{daemon.describe()}")


def runForPid(command: Sequence[str], input: bytes = b"", timeout: float = 30.0) -> int:
    """
    Run a client to completion, like L{run}, and return its process id
    (which C{logger -i} and Python's C{%(process)d} write into messages).
    """
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate(input, timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError(f"{command} did not exit within {timeout}s") from None
    assert process.returncode == 0, f"{command} exited {process.returncode}: {out[-2000:]!r} {err[-2000:]!r}"
    return process.pid


def socketInodes(pid: int) -> set[int]:
    """The inodes of the sockets process C{pid} has open."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def boundBy(pid: int, port: int, kind: str) -> bool:
    """
    Whether process C{pid} has a C{kind} (tcp or udp) socket bound to
    loopback port C{port}: the port is not just taken, it is taken by
    that process (and not by whoever else may have grabbed the port we
    chose for it).
    """
    try:
        mine = socketInodes(pid)
    except OSError:
        return False
    wanted = f"0100007F:{port:04X}"
    with open(f"/proc/net/{kind}") as f:
        for row in f.readlines()[1:]:
            columns = row.split()
            if columns[1] == wanted and int(columns[9]) in mine:
                return True
    return False


class PeerDaemon:
    """
    A third-party daemon (rsyslogd, syslog-ng) run in the foreground as a
    subprocess, its output in a file.  L{kill} is the finalizer's job.
    """

    def __init__(self, name: str, argv: Sequence[str], directory: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.outputPath = os.path.join(directory, f"{name}.out")
        self._output = open(self.outputPath, "wb")
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.STDOUT, cwd=directory, env=env
        )

    def output(self) -> str:
        return readFile(self.outputPath).decode("utf-8", "replace")

    def describe(self) -> str:
        return f"{self.name}: {self.argv}\n--- output:\n{self.output()}"

    def waitBound(self, port: int, kind: str, timeout: float = START_TIMEOUT) -> bool:
        """
        Wait until the daemon has bound C{port}; False if it exited first,
        or bound nothing in time (someone else took the port).
        """
        try:
            waitFor(lambda: not self.running() or boundBy(self.process.pid, port, kind), timeout, "")
        except AssertionError:
            return False
        return self.running()

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, and wait for the exit; return its status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout}s of SIGTERM\n{self.describe()}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._output.close()


TCP_STATES = {1: "ESTABLISHED", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN"}


@dataclass(frozen=True)
class TCPSocket:
    """One line of C{/proc/net/tcp}: what the kernel holds for an IPv4 socket."""

    localPort: int
    remotePort: int
    state: str
    txQueue: int
    """Bytes sent but not yet acknowledged by the peer (or not yet sent)."""
    rxQueue: int
    """Bytes received that the owner has not read yet."""


def tcpSocket(localPort: int, remotePort: int) -> TCPSocket | None:
    """
    The kernel's view of the IPv4 TCP socket between two loopback ports, as
    any process can see it: its state and its queues.  None once it is gone.
    """
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
            if int(local.split(":")[1], 16) == localPort and int(remote.split(":")[1], 16) == remotePort:
                tx, rx = (int(q, 16) for q in queues.split(":"))
                number = int(state, 16)
                return TCPSocket(localPort, remotePort, TCP_STATES.get(number, str(number)), tx, rx)
    return None


class FileTail:
    """
    Follow a file that another process appends to, reading only what was
    written since the last L{poll}: a file that grows by a hundred
    megabytes a second is never read twice.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._file = None
        self.pending = b""
        self.offset = 0
        self.lines = 0

    def poll(self) -> bytes:
        """The whole lines appended since the last poll (a partial last line waits for the next)."""
        if self._file is None:
            try:
                self._file = open(self.path, "rb", buffering=0)
            except FileNotFoundError:
                return b""
        data = self._file.read()
        if not data:
            return b""
        self.offset += len(data)
        if self.pending:
            data = self.pending + data
        end = data.rfind(b"\n") + 1
        self.pending = data[end:]
        complete = data[:end]
        self.lines += complete.count(b"\n")
        return complete

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def passAsSystemd(sockets: list[socket.socket], names: list[str]) -> tuple[list[str], list[int]]:
    """
    A wrapper that hands C{sockets} to the daemon as systemd does: bash
    moves them to descriptors 3, 4, ... and becomes twistd (same pid, so
    C{LISTEN_PID=$$}), with C{LISTEN_FDS} and C{LISTEN_FDNAMES} set.
    """
    parked = " ".join(f"{200 + i}<&{s.fileno()} {s.fileno()}<&-" for i, s in enumerate(sockets))  # out of the way first
    moves = " ".join(f"{3 + i}<&{200 + i} {200 + i}<&-" for i in range(len(sockets)))
    shell = f'exec {parked}; exec {moves}; LISTEN_PID=$$ LISTEN_FDS={len(sockets)} LISTEN_FDNAMES={":".join(names)} exec "$@"'
    return ["bash", "-c", shell, "bash"], [s.fileno() for s in sockets]
