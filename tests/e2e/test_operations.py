"""
Live operations of a real C{twistd -n logd}: SIGHUP reloads with a client
connected throughout, the admin endpoint read with urllib and C{logd
status}, systemd's notification protocol read from a real
C{NOTIFY_SOCKET}, socket activation with C{systemd-socket-activate} and
with descriptors passed the way systemd passes them, and the unit's
ExecReload refusing a broken file.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import textwrap
import urllib.error
import urllib.request
from typing import Callable


from tests.e2e.helpers import LOGD, TWISTD, Daemon, freePort, messages, passAsSystemd, readRecords, waitFor

Start = Callable[..., Daemon]


def config(port: int, admin: int | None = None, extra: str = "", sinkFormat: str = "text", listenerExtra: str = "") -> str:
    text = f"""\
    sinks:
      all: {{type: file, path: all.log, format: {sinkFormat}}}
    listeners:
      - {{name: tcp, endpoint: "tcp:{port}:interface=127.0.0.1", protocol: line, sinks: [all]{listenerExtra}}}
    """
    text = textwrap.dedent(text) + textwrap.dedent(extra)
    if admin is not None:
        text += f'admin: {{endpoint: "tcp:{admin}:interface=127.0.0.1"}}\n'
    return text


def reloadAndWait(daemon: Daemon, outcome: str) -> None:
    """SIGHUP, then wait for the reload's log line (C{outcome}: what it must say)."""
    before = daemon.stdout().count("reload of ")
    daemon.process.send_signal(signal.SIGHUP)
    waitFor(lambda: daemon.stdout().count("reload of ") > before, 10, lambda: "the reload\n" + daemon.describe())
    last = [line for line in daemon.stdout().splitlines() if "reload of " in line][-1]
    assert outcome in last, last


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_reloadsKeepAClientConnectedAndEveryLineOnce(daemons: Start, tmp_path) -> None:
    """
    One client stays connected across four reloads (unchanged, changed,
    broken file, port in use): it is never reset, and every line it sent is
    in the file once, in order.
    """
    port, other = freePort(), freePort()
    directory = str(tmp_path)
    daemon = daemons(directory, config(port))
    path = daemon.config
    client = socket.create_connection(("127.0.0.1", port))
    sent: list[bytes] = []

    def send(tag: str) -> None:
        batch = [f"{tag} {i}".encode() for i in range(2000)]
        client.sendall(b"".join(line + b"\n" for line in batch))
        sent.extend(batch)

    send("first")
    reloadAndWait(daemon, "0 changed, 0 added, 0 removed")
    send("unchanged")
    with open(path, "w") as f:
        f.write(config(port).replace("listeners:\n", f'listeners:\n  - {{name: second, endpoint: "tcp:{other}:interface=127.0.0.1", protocol: line, sinks: [all]}}\n'))
    reloadAndWait(daemon, "1 added")
    send("changed")
    with socket.create_connection(("127.0.0.1", other)) as second:
        second.sendall(b"to the added listener\n")
    with open(path, "w") as f:
        f.write("sinks: {all: {type: file, path: all.log, fromat: text}}\nlisteners: []\n")
    reloadAndWait(daemon, "failed: ")
    assert "sinks.all.fromat: unknown key" in daemon.stdout()
    send("broken")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    with open(path, "w") as f:
        f.write(config(port).replace("listeners:\n", f'listeners:\n  - {{name: third, endpoint: "tcp:{taken.getsockname()[1]}:interface=127.0.0.1", protocol: line, sinks: [all]}}\n'))
    reloadAndWait(daemon, "Address already in use")
    taken.close()
    send("in use")
    client.shutdown(socket.SHUT_WR)
    assert client.recv(1) == b""  # closed by logd at stop, never reset
    daemon.stop(signal.SIGTERM)
    records = readRecords(daemon.logPath)
    assert messages(records, "tcp") == sent
    assert messages(records, "second") == [b"to the added listener"]
    assert "reload: " in daemon.stdout()


def test_adminEndpointAndStatus(daemons: Start, tmp_path) -> None:
    port, admin = freePort(), freePort()
    daemon = daemons(str(tmp_path), config(port, admin))
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"one\ntwo\nthree\n")
        base = f"http://127.0.0.1:{admin}"
        waitFor(lambda: b'logd_sink_records_written_total{listener="tcp",sink="all"} 3.0' in get(base + "/metrics")[1], 10, "the metrics")
        code, body = get(base + "/metrics")
        assert code == 200 and b"# TYPE logd_listener_records_received_total counter" in body
        assert get(base + "/healthz") == (200, b'{\n "status": "ok"\n}\n')
        assert json.loads(get(base + "/ready")[1]) == {"phase": "running"}
        result = subprocess.run([LOGD, "status", "--config", daemon.config], capture_output=True, text=True, timeout=30, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert "running" in lines[0] and "health: ok" in lines[0]
        row = next(line.split() for line in lines if line.startswith("tcp "))
        assert row[0:5] == ["tcp", f"tcp:{port}:interface=127.0.0.1", "1", "0", "3"]
        assert any(line.startswith("all ") and line.rstrip().endswith("ok") for line in lines)
    unreachable = subprocess.run([LOGD, "status", "--admin", f"http://127.0.0.1:{freePort()}"], capture_output=True, text=True, timeout=30)
    assert unreachable.returncode == 2 and "cannot reach" in unreachable.stderr


class NotifySocket:
    """A Unix datagram socket standing in for systemd's NOTIFY_SOCKET: what logd tells systemd, in order."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.messages: list[dict[str, str]] = []

    def read(self) -> list[dict[str, str]]:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.messages
            self.messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))

    def waitFor(self, key: str, count: int = 1) -> list[dict[str, str]]:
        waitFor(lambda: sum(key in m for m in self.read()) >= count, 10, f"{count} {key} notifications: {self.messages}")
        return self.messages

    def close(self) -> None:
        self.sock.close()


def test_notifyTellsSystemdReadyReloadingStoppingAndWatchdog(daemons: Start, tmp_path) -> None:
    port = freePort()
    notify = NotifySocket(str(tmp_path / "notify"))
    try:
        env = {**os.environ, "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"}
        daemon = daemons(str(tmp_path), config(port), env=env)
        notify.waitFor("READY")
        notify.waitFor("WATCHDOG", 2)  # every 0.2 s: half of WATCHDOG_USEC
        daemon.process.send_signal(signal.SIGHUP)
        notify.waitFor("READY", 2)
        daemon.stop(signal.SIGTERM)
        notes = [m for m in notify.read() if "WATCHDOG" not in m]
    finally:
        notify.close()
    assert [sorted(m) for m in notes] == [["READY", "STATUS"], ["MONOTONIC_USEC", "RELOADING"], ["READY", "STATUS"], ["STOPPING"]]
    assert notes[0]["READY"] == "1" and notes[0]["STATUS"].startswith("1 listeners, 1 sinks")
    assert notes[1]["RELOADING"] == "1"
    import time

    assert abs(int(notes[1]["MONOTONIC_USEC"]) / 1e6 - time.monotonic()) < 60
    assert notes[3] == {"STOPPING": "1"}


def activationConfig(endpoints: dict[str, tuple[str, str]]) -> str:
    lines = ["sinks:", "  all: {type: file, path: all.log}", "listeners:"]
    for name, (endpoint, protocol) in endpoints.items():
        lines.append(f'  - {{name: {name}, endpoint: "{endpoint}", protocol: {protocol}, sinks: [all]}}')
    return "\n".join(lines) + "\n"


def test_socketActivationStreamWithSystemdSocketActivate(daemons: Start, tmp_path) -> None:
    """
    systemd-socket-activate binds the port, passes it by name, and starts
    logd only when the first client connects: that client's line, queued
    in the kernel meanwhile, is recorded.
    """
    port = freePort()
    wrapper = ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "--fdname=syslog-tcp"]
    text = activationConfig({"tcp": ("systemd:domain=INET:name=syslog-tcp", "syslog")})
    daemon = daemons(str(tmp_path), text, wrapper=wrapper, ready=False)
    waitFor(lambda: "Listening on" in daemon.stderr(), 10, "systemd-socket-activate to listen")
    subprocess.run(["logger", "--tcp", "-n", "127.0.0.1", "-P", str(port), "--rfc5424", "activated over tcp"], check=True, timeout=30)
    assert daemon.waitReady(), daemon.describe()
    waitFor(lambda: any(m.endswith(b"activated over tcp") for m in messages(readRecords(daemon.logPath), "tcp")), 10, "the line")
    daemon.stop(signal.SIGTERM)


def test_socketActivationDatagramWithSystemdSocketActivate(daemons: Start, tmp_path) -> None:
    """
    systemd-socket-activate --datagram binds a UDP port and starts logd at
    the first datagram, which waits in the socket and is recorded, as is
    every datagram after it.
    """
    port = freePort(socket.SOCK_DGRAM)
    wrapper = ["systemd-socket-activate", "--datagram", "-l", f"127.0.0.1:{port}", "--fdname=syslog-udp"]
    text = activationConfig({"udp": ("systemd:domain=INET:name=syslog-udp:type=datagram", "syslog")})
    daemon = daemons(str(tmp_path), text, wrapper=wrapper, ready=False)
    waitFor(lambda: "Listening on" in daemon.stderr(), 10, "systemd-socket-activate to listen")
    logger = ["logger", "--udp", "-n", "127.0.0.1", "-P", str(port), "--rfc5424"]
    subprocess.run([*logger, "activated over udp"], check=True, timeout=30)
    assert daemon.waitReady(), daemon.describe()
    subprocess.run([*logger, "after activation"], check=True, timeout=30)
    waitFor(lambda: len(messages(readRecords(daemon.logPath), "udp")) >= 2, 10, lambda: "two records\n" + daemon.describe())
    daemon.stop(signal.SIGTERM)
    assert [m.rsplit(b" ", 2)[-2:] for m in messages(readRecords(daemon.logPath), "udp")] == [
        [b"over", b"udp"],
        [b"after", b"activation"],
    ]


def test_socketActivationByDescriptorsAsSystemdPassesThem(daemons: Start, tmp_path) -> None:
    """
    LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES as systemd sets them, for
    every kind of socket a socket unit makes: TCP and Unix stream sockets,
    a UDP and a Unix datagram socket; some selected by name, some by index.
    The Unix datagram socket's file is systemd's: logd leaves it at stop.
    """
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    path = str(tmp_path / "logd.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(path)
    unix.listen(16)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    dgramPath = str(tmp_path / "logd.dgram")
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(dgramPath)
    inherited = [tcp, unix, udp, dgram]
    address, udpAddress = tcp.getsockname(), udp.getsockname()
    wrapper, fds = passAsSystemd(inherited, ["syslog-tcp", "local", "syslog-udp", "dgram"])
    text = activationConfig(
        {
            "tcp": ("systemd:domain=INET:name=syslog-tcp", "line"),
            "local": ("systemd:domain=UNIX:index=1", "line"),
            "udp": ("systemd:domain=INET:name=syslog-udp:type=datagram", "syslog"),
            "dgram": ("systemd:domain=UNIX:index=3:type=datagram", "syslog"),
        }
    )
    try:
        daemon = daemons(str(tmp_path), text, wrapper=wrapper, passFds=fds)
    finally:
        for s in inherited:
            s.close()
    with socket.create_connection(address) as client:
        client.sendall(b"over the inherited tcp socket\n")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(path)
        client.sendall(b"over the inherited unix socket\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto(b"<13>over the inherited udp socket", udpAddress)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
        client.sendto(b"<13>over the inherited unix datagram socket", dgramPath)
    waitFor(lambda: len(readRecords(daemon.logPath)) >= 4, 10, lambda: "four records\n" + daemon.describe())
    daemon.stop(signal.SIGTERM)
    records = readRecords(daemon.logPath)
    assert messages(records, "tcp") == [b"over the inherited tcp socket"]
    assert messages(records, "local") == [b"over the inherited unix socket"]
    assert messages(records, "udp") == [b"<13>over the inherited udp socket"]
    assert messages(records, "dgram") == [b"<13>over the inherited unix datagram socket"]
    assert os.path.exists(dgramPath), "the socket file is systemd's to remove"


def test_socketActivationOfTheWrongKindIsAClearStartupError(daemons: Start, tmp_path) -> None:
    """
    A socket unit and a configuration that disagree (a stream socket where
    the listener wants a datagram one; no socket of that name at all) stop
    the start with one line naming the listener, before anything listens.
    """
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    wrapper, fds = passAsSystemd([tcp], ["syslog-udp"])
    text = activationConfig({"udp": ("systemd:domain=INET:name=syslog-udp:type=datagram", "syslog")})
    try:
        daemon = daemons(str(tmp_path), text, wrapper=wrapper, passFds=fds, ready=False)
    finally:
        tcp.close()
    assert daemon.process.wait(30) != 0
    said = daemon.stdout() + daemon.stderr()
    assert "listener 'udp': systemd passed a stream socket (AF_INET) named 'syslog-udp'" in said, daemon.describe()
    assert "ListenDatagram=" in said

    wrapper, fds = passAsSystemd([], [])
    text = activationConfig({"tcp": ("systemd:domain=INET6:name=syslog-tcp", "line")})
    (tmp_path / "none").mkdir()
    daemon = daemons(str(tmp_path / "none"), text, wrapper=wrapper, passFds=fds, ready=False)
    assert daemon.process.wait(30) != 0
    said = daemon.stdout() + daemon.stderr()
    assert "listener 'tcp': systemd passed no socket named 'syslog-tcp'" in said, daemon.describe()


def test_aStalledStandardOutputNeverStopsTheDaemon(tmp_path) -> None:
    """
    Under C{twistd -n}, logd's own log goes to standard output: here a
    4 KiB pipe that nobody reads while logd starts, reloads 30 times and
    records lines.  The daemon keeps answering and recording throughout;
    once the pipe is read, every line of its log is there, in order, up
    to its stop.
    """
    port, admin = freePort(), freePort()
    path = tmp_path / "logd.yaml"
    path.write_text(config(port, admin))
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    with open(tmp_path / "twistd.err", "wb") as err:
        process = subprocess.Popen(
            [TWISTD, "-n", "--pidfile=", "logd", "--config", str(path)], stdout=w, stderr=err, stdin=subprocess.DEVNULL, cwd=tmp_path
        )
    os.close(w)
    try:
        base = f"http://127.0.0.1:{admin}"
        waitFor(lambda: ready(base), 30, "logd to start")
        for count in range(1, 31):
            process.send_signal(signal.SIGHUP)
            waitFor(lambda: json.loads(get(base + "/stats")[1])["reloads"]["success"] == count, 10, f"reload {count}")
        assert os.read(r, 0) == b"" and select.select([r], [], [], 0)[0], "nothing waiting in the pipe?"
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"recorded while nobody reads logd's log\n")
        waitFor(lambda: messages(readRecords(str(tmp_path / "all.log")), "tcp") == [b"recorded while nobody reads logd's log"], 10, "the line")
        process.send_signal(signal.SIGTERM)
        log = b""
        while chunk := os.read(r, 65536):  # to EOF: the daemon has exited
            log += chunk
        assert process.wait(30) == -signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
        os.close(r)
    text = log.decode()
    assert text.count("reload of ") == 30, text[-2000:]
    assert "lines of logd's own log were dropped" not in text
    assert text.index("logd started") < text.index("reload of ") < text.rindex("Server Shut Down.")


def ready(base: str) -> bool:
    try:
        return get(base + "/ready")[0] == 200
    except OSError:
        return False
