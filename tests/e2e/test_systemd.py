"""
The shipped systemd unit's commands are ones that actually work: its
ExecStart, with only the twistd path and the config path swapped for this
venv and a temporary config, starts logd and records a line; its
ExecStartPre check accepts the shipped systemd config.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
from typing import Callable

from tests.e2e.helpers import LOGD, REPO, TWISTD, Daemon, Listener, freePort, run, waitFor

Start = Callable[..., Daemon]
UNIT = os.path.join(REPO, "systemd", "logd.service")
SHIPPED_CONFIG = os.path.join(REPO, "systemd", "logd.yaml")


def serviceCommands(key: str) -> list[list[str]]:
    """
    The argv of every C{key=} line in the unit's [Service] section, without
    systemd's C{-@:+!} prefixes.
    """
    commands = []
    section = None
    with open(UNIT) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            name, sep, value = line.partition("=")
            if section == "[Service]" and sep and name.strip() == key:
                commands.append(shlex.split(value.strip().lstrip("-@:+!")))
    return commands


def withConfig(argv: list[str], config: str) -> list[str]:
    """Replace the value of --config (either spelling) with C{config}."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--config" and i + 1 < len(out):
            out[i + 1] = config
            return out
        if arg.startswith("--config="):
            out[i] = f"--config={config}"
            return out
    raise AssertionError(f"no --config in {argv}")


def test_unit_execstart_runs_logd(logd: Start) -> None:
    """
    ExecStart, as written, with the venv's twistd and a temporary config:
    twistd accepts its options, logd starts, records a line, and stops
    cleanly on SIGTERM (systemd's KillSignal).
    """
    execStart = serviceCommands("ExecStart")
    assert len(execStart) == 1, execStart
    argv = execStart[0]
    assert os.path.basename(argv[0]) == "twistd", argv
    assert "logd" in argv, argv

    def command(config: str) -> list[str]:
        return withConfig([TWISTD, *argv[1:]], config)

    daemon = logd([Listener("tcp", "tcp")], commandFor=command)
    with socket.create_connection(("127.0.0.1", daemon.port("tcp"))) as sock:
        sock.sendall(b"started the way systemd starts it\n")
    daemon.waitForMessages("tcp", [b"started the way systemd starts it"])
    status = daemon.stop(signal.SIGTERM)
    assert status == -signal.SIGTERM, daemon.describe()


def test_unit_execstartpre_accepts_the_shipped_config() -> None:
    """ExecStartPre (logd check) passes on systemd/logd.yaml, the config the unit installs."""
    for argv in serviceCommands("ExecStartPre"):
        if os.path.basename(argv[0]) == "logd":
            result = run([LOGD, *argv[1:-1], SHIPPED_CONFIG])
            assert b"OK" in result.stdout, result
            return
    raise AssertionError("the unit has no ExecStartPre=... logd check")


def test_unit_execreload_checks_then_signals(daemons, tmp_path) -> None:
    """
    ExecReload, as written: its check refuses a broken file (systemd then
    stops there, so nothing is signalled), and on a good file its kill
    makes the running logd reload.
    """
    reload = serviceCommands("ExecReload")
    assert [os.path.basename(argv[0]) for argv in reload] == ["logd", "kill"], reload
    assert ["check"] == reload[0][1:2] and reload[1][1:] == ["-HUP", "$MAINPID"]
    port = freePort()
    good = f'sinks: {{all: {{type: file, path: all.log}}}}\nlisteners:\n  - {{name: t, endpoint: "tcp:{port}:interface=127.0.0.1", protocol: line, sinks: [all]}}\n'
    daemon = daemons(str(tmp_path), good)
    check = [LOGD, *reload[0][1:-1], daemon.config]
    with open(daemon.config, "w") as f:
        f.write(good.replace("path:", "pth:"))
    import subprocess

    broken = subprocess.run(check, capture_output=True, timeout=30)
    assert broken.returncode == 1 and b"sinks.all.pth: unknown key" in broken.stderr
    with open(daemon.config, "w") as f:
        f.write(good)
    assert run(check).returncode == 0
    run([reload[1][0], "-HUP", str(daemon.process.pid)])
    waitFor(lambda: "reload of " in daemon.stdout(), 10, "the reload")
    assert "0 changed, 0 added, 0 removed" in daemon.stdout()

