"""
Start-up failures as a user sees them: one line naming the listener, sink
or config key, exit status 1, no traceback, nothing left bound or running,
and a daemonizing twistd that reports the error instead of hanging.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from typing import Callable, Iterator

import pytest

from tests.e2e.helpers import (
    TWISTD,
    Daemon,
    Listener,
    portIsFree,
    readFile,
    twistdCommand,
    waitFor,
    writeConfig,
)

Start = Callable[..., Daemon]
TIMEOUT = 20


def runTwistd(command: list[str], cwd: str) -> subprocess.CompletedProcess:
    """Run a twistd that is expected to fail; it must not hang."""
    try:
        return subprocess.run(command, capture_output=True, timeout=TIMEOUT, cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{command} did not exit within {TIMEOUT}s: {e.stdout!r} {e.stderr!r}") from None


def nonEmptyLines(data: bytes) -> list[str]:
    return [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


@pytest.fixture
def secondDir(workdir: str) -> str:
    """A directory for a second daemon's config and files."""
    path = os.path.join(workdir, "second")
    os.mkdir(path)
    return path


@pytest.fixture
def pidfileCleanup() -> Iterator[list[tuple[str, str]]]:
    """
    Daemonized twistd runs outside our Popen: if one ever stays up, kill it
    by the pid in its pid file, after checking it is the process we started.
    """
    started: list[tuple[str, str]] = []
    yield started
    for pidfile, marker in started:
        try:
            pid = int(readFile(pidfile) or b"0")
            cmdline = readFile(f"/proc/{pid}/cmdline") if pid else b""
        except ValueError:
            continue
        if pid and marker.encode() in cmdline:
            os.kill(pid, signal.SIGKILL)


def test_port_in_use_is_one_line_and_exit_1(logd: Start, secondDir: str) -> None:
    """
    A second daemon on a port the first holds exits 1 with one line on
    stderr naming the listener, and no traceback; the first keeps serving.
    """
    first = logd([Listener("telnet", "tcp", banner="logd ready\r\n")])
    config = writeConfig(secondDir, [Listener("telnet", "tcp", port=first.port("telnet"))])
    result = runTwistd(twistdCommand(config), secondDir)
    assert result.returncode == 1, result
    lines = nonEmptyLines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "listener 'telnet'" in lines[0] and "in use" in lines[0], lines
    assert b"Traceback" not in result.stderr and b"Traceback" not in result.stdout, result

    assert first.running(), first.describe()
    with socket.create_connection(("127.0.0.1", first.port("telnet"))) as sock:
        sock.sendall(b"first daemon still serving\n")
    first.waitForMessages("telnet", [b"first daemon still serving"])


def test_port_in_use_daemonized_reports_and_does_not_hang(
    logd: Start, secondDir: str, pidfileCleanup: list[tuple[str, str]]
) -> None:
    """
    Daemonized (no -n), the same failure makes twistd's parent print its
    "An error has occurred:" line naming the listener and exit 1 promptly;
    no daemon is left running.
    """
    first = logd([Listener("telnet", "tcp")])
    config = writeConfig(secondDir, [Listener("telnet", "tcp", port=first.port("telnet"))])
    pidfile = os.path.join(secondDir, "twistd.pid")
    pidfileCleanup.append((pidfile, config))
    command = [TWISTD, f"--pidfile={pidfile}", f"--logfile={os.path.join(secondDir, 'twistd.log')}", "logd", "--config", config]
    result = runTwistd(command, secondDir)
    assert result.returncode == 1, result
    errors = [line for line in nonEmptyLines(result.stderr) if line.startswith("An error has occurred:")]
    assert len(errors) == 1, result
    assert "listener 'telnet'" in errors[0], errors
    assert b"Traceback" not in result.stderr, result

    def noDaemonLeft() -> bool:
        pid = int(readFile(pidfile) or b"0")
        return not pid or config.encode() not in readFile(f"/proc/{pid}/cmdline")

    waitFor(noDaemonLeft, 10, "the failed daemon to be gone")
    assert first.running(), first.describe()


def test_bad_config_names_file_line_key_and_binds_nothing(workdir: str) -> None:
    """
    Every problem is reported as FILE:LINE: KEY: message, exit status 1, no
    traceback, and nothing is bound, created or opened.
    """
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    socketPath = os.path.join(workdir, "local.sock")
    config = os.path.join(workdir, "bad.yaml")
    with open(config, "w") as f:
        f.write(
            "sinks:\n"                                                  # 1
            "  all: {type: file, path: all.log}\n"                      # 2
            "listeners:\n"                                              # 3
            "  - name: tcp\n"                                           # 4
            f'    endpoint: "tcp:{number}:interface=127.0.0.1"\n'       # 5
            "    protocol: line\n"                                      # 6
            "    sinks: [al]\n"                                         # 7
            f'  - {{name: local, endpoint: "unix:{socketPath}", protocol: line, sinks: [all]}}\n'  # 8
            "  - name: odd\n"                                           # 9
            '    endpoint: "udp:0:interface=127.0.0.1"\n'               # 10
            "    protocol: line\n"                                      # 11
            "    sinks: [all]\n"                                        # 12
            "    colour: blue\n"                                        # 13
        )
    result = runTwistd(twistdCommand(config), workdir)
    assert result.returncode == 1, result
    stderr = result.stderr.decode()
    assert re.search(rf"{re.escape(config)}:7: listeners\[0\]\.sinks: unknown sink 'al'", stderr), stderr
    assert re.search(rf"{re.escape(config)}:13: listeners\[2\]\.colour: unknown key", stderr), stderr
    assert "Traceback" not in stderr and b"Traceback" not in result.stdout, result
    assert portIsFree(number), "the listener's port is still bound"
    assert not os.path.exists(socketPath), "a Unix socket was created"
    assert not os.path.exists(os.path.join(workdir, "all.log")), "the sink's file was created"


def test_unwritable_sink_path_is_one_line_and_exit_1(workdir: str) -> None:
    """
    A file sink whose directory cannot exist (its parent is a regular file,
    which stops root too) fails start-up with one line naming the sink.
    """
    blocker = os.path.join(workdir, "not-a-directory")
    with open(blocker, "w"):
        pass
    config = os.path.join(workdir, "sink.yaml")
    with open(config, "w") as f:
        f.write(
            f"sinks:\n  broken: {{type: file, path: {blocker}/all.log}}\n"
            'listeners:\n  - {name: tcp, endpoint: "tcp:0:interface=127.0.0.1", protocol: line, sinks: [broken]}\n'
        )
    result = runTwistd(twistdCommand(config), workdir)
    assert result.returncode == 1, result
    lines = nonEmptyLines(result.stderr)
    assert len(lines) == 1 and "sink 'broken'" in lines[0], result.stderr
    assert b"Traceback" not in result.stderr, result
