"""
logd as twistd runs it for real: daemonized (twistd's umask 077, its
status pipe, its --logfile), with its privileges dropped by -u/-g through a
logrotate-style rotation, and on a filesystem that fills up to the last
byte.  Each is something a first-time user or a hostile tester hit.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import time
from typing import Iterator

import pytest

from tests.e2e.helpers import (
    LOGD,
    TWISTD,
    assertStopsOnSIGTERM,
    freePort,
    readFile,
    run,
    waitFor,
)

ROOT = os.geteuid() == 0
NOBODY = 65534

START_LINE = "listener {name!r} starting on"


def lines(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix} {i:04d}".encode() for i in range(count)]


def send(port: int, records: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"\n".join(records) + b"\n")


def messagesIn(path: str) -> list[bytes]:
    """The message of every whole text record in C{path}."""
    data = readFile(path)
    return [line.split(b" ", 3)[3] for line in data[: data.rfind(b"\n") + 1].split(b"\n")[:-1]]


class Daemonized:
    """A twistd that daemonized: not our child, known by its pid file."""

    def __init__(self, pidfile: str) -> None:
        self.pidfile = pidfile

    @property
    def pid(self) -> int:
        return int(readFile(self.pidfile))

    def alive(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, ValueError):
            return False

    def stop(self) -> None:
        if os.path.exists(self.pidfile) and self.alive():
            os.kill(self.pid, signal.SIGTERM)
            waitFor(lambda: not self.alive(), 20, "the daemon to exit on SIGTERM")


# Start-up errors --------------------------------------------------------------


@pytest.mark.parametrize("daemonize", [True, False], ids=["daemonized", "foreground"])
def test_startup_error_is_one_whole_line_on_the_terminal_and_in_the_log(workdir: str, daemonize: bool) -> None:
    """
    A port in use: the whole one-line reason reaches the terminal as text
    (not twistd's bytes repr cut at 100 bytes) and twistd's --logfile, and
    the exit status is 1.
    """
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        config = os.path.join(workdir, "clash.yaml")
        with open(config, "w") as f:
            f.write(
                "sinks: {all: {type: file, path: all.log}}\n"
                f'listeners: [{{name: a-listener-with-a-long-name-to-pass-100-bytes, endpoint: "tcp:{port}:interface=127.0.0.1", protocol: line, sinks: [all]}}]\n'
            )
        logfile = os.path.join(workdir, "twistd.log")
        pidfile = os.path.join(workdir, "twistd.pid")
        options = [] if daemonize else ["-n"]
        result = subprocess.run(
            [TWISTD, *options, f"--pidfile={pidfile}", f"--logfile={logfile}", "logd", "--config", config],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=workdir,
        )
    reason = (
        f"logd: listener 'a-listener-with-a-long-name-to-pass-100-bytes': "
        f"cannot listen on tcp:{port}:interface=127.0.0.1: Address already in use"
    )
    assert result.returncode == 1, result
    assert reason + "\n" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert reason in readFile(logfile).decode(), readFile(logfile)
    assert not os.path.exists(pidfile)


# Daemon mode --------------------------------------------------------------------


def test_daemon_mode_creates_what_the_configuration_says(workdir: str) -> None:
    """
    twistd daemonized sets umask 077; the files are still 0640 in 0750
    directories, and Unix sockets 0660 (Twisted's own default is 0666),
    unless the configuration says otherwise.
    """
    port = freePort()
    config = os.path.join(workdir, "logd.yaml")
    with open(config, "w") as f:
        f.write(
            f"""
sinks:
  all: {{type: file, path: log/all.log}}
  open: {{type: file, path: log/open.log, mode: "0644"}}
listeners:
  - {{name: tcp, endpoint: "tcp:{port}:interface=127.0.0.1", protocol: line, sinks: [all, open]}}
  - {{name: local, endpoint: "unix:run/logd.sock", protocol: line, sinks: [all]}}
  - {{name: dgram, endpoint: "unixgram:run/logd.dgram", protocol: line, sinks: [all]}}
  - {{name: devlog, endpoint: "unixgram:pub/log:mode=666", protocol: line, sinks: [all]}}
"""
        )
    pidfile = os.path.join(workdir, "twistd.pid")
    daemon = Daemonized(pidfile)
    try:
        run([TWISTD, f"--pidfile={pidfile}", f"--logfile={workdir}/twistd.log", "logd", "--config", config], cwd=workdir)
        send(port, [b"hello"])
        waitFor(lambda: b"hello" in readFile(f"{workdir}/log/all.log"), 10, "the record")
        modes = {
            name: stat.S_IMODE(os.stat(os.path.join(workdir, name)).st_mode)
            for name in ("log", "log/all.log", "log/open.log", "run", "run/logd.sock", "run/logd.dgram", "pub", "pub/log")
        }
        assert modes == {
            "log": 0o750,
            "log/all.log": 0o640,
            "log/open.log": 0o644,
            "run": 0o750,
            "run/logd.sock": 0o660,
            "run/logd.dgram": 0o660,
            "pub": 0o755,  # a socket for everyone is in a directory everyone may enter
            "pub/log": 0o666,
        }
    finally:
        daemon.stop()


# Versions and start-up lines -----------------------------------------------------


def test_twistd_logd_version() -> None:
    """C{twistd logd --version} is logd's version (with Twisted's), not Twisted's alone."""
    from twisted import version

    from logd import __version__

    result = run([TWISTD, "logd", "--version"])
    assert result.stdout.decode().strip() == f"logd {__version__} (Twisted {version.short()})"
    assert run([LOGD, "--version"]).stdout.decode().strip() == f"logd {__version__}"


def test_each_listener_logs_one_start_up_line_naming_it(workdir: str, daemons) -> None:
    port, udp = freePort(), freePort(socket.SOCK_DGRAM)
    daemon = daemons(
        workdir,
        f"""
sinks: {{all: {{type: file, path: all.log}}}}
listeners:
  - {{name: t, endpoint: "tcp:{port}:interface=127.0.0.1", protocol: line, sinks: [all]}}
  - {{name: u, endpoint: "udp:{udp}:interface=127.0.0.1", protocol: line, sinks: [all]}}
  - {{name: s, endpoint: "unix:s.sock", protocol: line, sinks: [all]}}
  - {{name: g, endpoint: "unixgram:g.dgram", protocol: syslog, sinks: [all]}}
""",
        [],
    )
    log = daemon.stdout()
    for name in "tusg":
        assert log.count(START_LINE.format(name=name)) == 1, log
    assert "<class" not in log and "listening on" not in log, log
    assertStopsOnSIGTERM(daemon)


# Privilege drop -------------------------------------------------------------------


@pytest.mark.skipif(not ROOT, reason="dropping privileges with -u/-g takes root")
def test_privilege_drop_through_rotation_loses_nothing(workdir: str, daemons) -> None:
    """
    C{twistd -u 65534 -g 65534}: what logd creates (log/, run/, the files
    and sockets) belongs to 65534, so a logrotate-style move and SIGHUP
    gives a new file; a sink in a directory that stays root's keeps writing
    to its moved file rather than lose records; a socket that cannot be
    removed at stop is a warning, not a traceback; the counters say
    nothing was lost.
    """
    os.chmod(workdir, 0o755)  # like /var/log: root's, but others may enter
    port = freePort()
    daemon = daemons(
        workdir,
        f"""
sinks:
  all: {{type: file, path: log/all.log}}
  side: {{type: file, path: side.log}}
listeners:
  - {{name: tcp, endpoint: "tcp:{port}:interface=127.0.0.1", protocol: line, sinks: [all, side]}}
  - {{name: local, endpoint: "unix:run/logd.sock", protocol: line, sinks: [all]}}
  - {{name: top, endpoint: "unix:top.sock", protocol: line, sinks: [all]}}
""",
        ["-u", str(NOBODY), "-g", str(NOBODY)],
    )
    for name in ("log", "log/all.log", "side.log", "run", "run/logd.sock", "top.sock"):
        st = os.stat(os.path.join(workdir, name))
        assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY), name
    with open(f"/proc/{daemon.process.pid}/status") as f:
        assert any(line.split()[:2] == ["Uid:", str(NOBODY)] for line in f)

    before, after = lines("before", 200), lines("after", 200)
    send(port, before)
    waitFor(lambda: messagesIn(f"{workdir}/log/all.log")[-1:] == before[-1:], 10, daemon.describe)
    waitFor(lambda: messagesIn(f"{workdir}/side.log")[-1:] == before[-1:], 10, daemon.describe)
    os.rename(f"{workdir}/log/all.log", f"{workdir}/log/all.log.1")
    os.rename(f"{workdir}/side.log", f"{workdir}/side.log.1")
    daemon.sendSignal(signal.SIGHUP)
    waitFor(lambda: os.path.exists(f"{workdir}/log/all.log") and "cannot reopen" in daemon.stdout(), 10, daemon.describe)
    send(port, after)
    waitFor(lambda: messagesIn(f"{workdir}/log/all.log")[-1:] == after[-1:], 10, daemon.describe)
    waitFor(lambda: messagesIn(f"{workdir}/side.log.1")[-1:] == after[-1:], 10, daemon.describe)
    assertStopsOnSIGTERM(daemon)

    assert messagesIn(f"{workdir}/log/all.log.1") == before
    assert messagesIn(f"{workdir}/log/all.log") == after
    assert messagesIn(f"{workdir}/side.log.1") == before + after
    assert not os.path.exists(f"{workdir}/side.log")
    log = daemon.stdout()
    assert log.count("cannot reopen") == 1, log
    assert "Permission denied" in log
    assert "sink 'all': " in log and "sink 'side': " in log
    assert log.count(" 0 records not written") == 2, log
    assert "cannot remove the socket" in log and "top.sock" in log, log
    assert not os.path.exists(f"{workdir}/run/logd.sock"), "the socket logd could remove is still there"


# A full disk ----------------------------------------------------------------------


@pytest.fixture
def smallDisk(workdir: str) -> Iterator[str]:
    """A 16 KiB tmpfs of our own, mounted in the test's directory."""
    if not ROOT:
        pytest.skip("mounting a tmpfs takes root")
    mountpoint = os.path.join(workdir, "disk")
    os.mkdir(mountpoint)
    run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs", mountpoint])
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", mountpoint], check=False)


def fill(directory: str) -> str:
    """Fill the filesystem to the last byte; return the filler's path."""
    path = os.path.join(directory, "filler")
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return path


def test_record_cut_by_a_full_disk_is_not_glued_to_the_next_run(workdir: str, smallDisk: str, daemons) -> None:
    """
    The disk fills in the middle of a record; logd stops with records it
    could not write (and says how many); space is freed; the next run's
    first record starts on a line of its own, after an LF that ends the
    cut one, and says so.
    """
    port = freePort()
    text = f"""
sinks: {{all: {{type: file, path: disk/all.log}}}}
listeners: [{{name: tcp, endpoint: "tcp:{port}:interface=127.0.0.1", protocol: line, sinks: [all]}}]
"""
    path = os.path.join(smallDisk, "all.log")
    first = daemons(workdir, text, [])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"first\n")
        waitFor(lambda: readFile(path).endswith(b" first\n"), 10, first.describe)
        headerLength = len(readFile(path)) - len(b"first\n")
        filler = fill(smallDisk)
        # The file's page has 4096 - size bytes left: make its records not
        # fit it exactly, so the disk fills inside one.
        width = 70
        while (4096 - len(readFile(path))) % (headerLength + width + 1) == 0:
            width += 1
        sock.sendall(b"".join(b"%04d" % i + b"y" * (width - 4) + b"\n" for i in range(100)))
        waitFor(lambda: "write failed" in first.stdout(), 10, first.describe)
    assertStopsOnSIGTERM(first)
    cut = readFile(path)
    assert len(cut) == 4096 and not cut.endswith(b"\n"), "the disk did not fill inside a record"
    assert "records (" in first.stdout() and "not written" in first.stdout(), first.stdout()
    os.unlink(filler)

    os.rename(first.stdoutPath, first.stdoutPath + ".first")
    second = daemons(workdir, text, [])
    send(port, [b"second run"])
    waitFor(lambda: readFile(path).endswith(b" second run\n"), 10, second.describe)
    assertStopsOnSIGTERM(second)
    data = readFile(path)
    assert data.startswith(cut + b"\n"), "the cut record was not ended with an LF"
    last = data[len(cut) + 1 :]
    assert last.count(b"\n") == 1 and last[:4].isdigit() and last.endswith(b" second run\n"), last
    assert "ended inside a record" in second.stdout()
    assert "1 files found ending inside a record" in second.stdout()


# File descriptors -------------------------------------------------------------------


def cpuSeconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_file_descriptors_backs_off_and_recovers(workdir: str, daemons) -> None:
    """
    At the file-descriptor limit (RLIMIT_NOFILE 64 here), connections past
    it are closed at once rather than left queued, the daemon does not spin
    on accept, and once connections close it accepts again.
    """
    port = freePort()
    daemon = daemons(
        workdir,
        f'sinks: {{all: {{type: file, path: all.log}}}}\nlisteners: [{{name: t, endpoint: "tcp:{port}:interface=127.0.0.1:backlog=256", protocol: line, sinks: [all]}}]\n',
        [],
    )
    run(["prlimit", f"--pid={daemon.process.pid}", "--nofile=64:64"])
    clients = []
    try:
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.settimeout(10)
            clients.append(sock)

        def closedByLogd(sock: socket.socket) -> bool:
            sock.setblocking(False)
            try:
                return sock.recv(1) == b""
            except BlockingIOError:
                return False
            except ConnectionResetError:
                return True
            finally:
                sock.setblocking(True)

        waitFor(lambda: sum(map(closedByLogd, clients)) >= 30, 10, "logd to close what it has no descriptors for")
        before, started = cpuSeconds(daemon.process.pid), time.monotonic()
        waitFor(lambda: time.monotonic() - started >= 1.0, 5, "a second to pass")
        assert cpuSeconds(daemon.process.pid) - before < 0.3, "logd spins on accept at the descriptor limit"
    finally:
        for sock in clients:
            sock.close()
    send(port, [b"after the limit"])
    waitFor(lambda: b"after the limit" in readFile(f"{workdir}/all.log"), 10, daemon.describe)
    assertStopsOnSIGTERM(daemon)
    log = daemon.stdout()
    assert log.count("EMFILE encountered") == 1, "said more than once a minute"
    refused = int(re.search(r"listener 't'.*refused: (\d+) out of file descriptors", log).group(1))
    assert refused >= 30 and log.count("refused 127.0.0.1:") == 1, log[-3000:]
