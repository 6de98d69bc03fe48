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

from tests.e2e.helpers import LOGD, REPO, TWISTD, Daemon, Listener, freePort, messages, passAsSystemd, readRecords, run, waitFor

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



def test_shipped_socket_unit_and_activated_config_agree(daemons, tmp_path) -> None:
    """
    systemd/logd.socket's Listen lines, bound in their order as systemd
    binds them (loopback test ports and a temporary path in place of 514
    and /run/logd), handed to logd running systemd/logd-activated.yaml
    (its file paths moved to the test's directory): every socket reaches
    the listener the configuration meant for it.
    """
    with open(os.path.join(REPO, "systemd", "logd.socket")) as f:
        listens = [line.strip().split("=", 1) for line in f if line.startswith("Listen")]
    assert [kind for kind, _ in listens] == ["ListenStream", "ListenDatagram", "ListenDatagram"]
    assert [value for _, value in listens] == ["514", "514", "/run/logd/logd.dgram"]
    tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    tcp.bind(("::1", 0))
    tcp.listen(16)
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.bind(("::1", 0))
    dgramPath = str(tmp_path / "logd.dgram")
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(dgramPath)
    inherited = [tcp, udp, dgram]
    tcpAddress, udpAddress = tcp.getsockname()[:2], udp.getsockname()[:2]
    with open(os.path.join(REPO, "systemd", "logd-activated.yaml")) as f:
        text = f.read().replace("/var/log/logd/", f"{tmp_path}/")
    wrapper, fds = passAsSystemd(inherited, ["logd.socket"] * 3)  # one unit: one name for all (systemd.socket(5))
    try:
        daemon = daemons(str(tmp_path), text, wrapper=wrapper, passFds=fds)
    finally:
        for s in inherited:
            s.close()
    with socket.create_connection(tcpAddress) as client:
        client.sendall(b"<13>Dec  2 21:00:00 host app: over tcp\n")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as client:
        client.sendto(b"<13>Dec  2 21:00:00 host app: over udp", udpAddress)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
        client.sendto(b"<13>Dec  2 21:00:00 app: over the local socket", dgramPath)
    waitFor(lambda: len(readRecords(daemon.logPath)) >= 3, 10, lambda: "three records\n" + daemon.describe())
    daemon.stop(signal.SIGTERM)
    records = readRecords(daemon.logPath)
    assert [m.rsplit(b": ", 1)[1] for m in messages(records, "tcp")] == [b"over tcp"]
    assert [m.rsplit(b": ", 1)[1] for m in messages(records, "udp")] == [b"over udp"]
    assert [m.rsplit(b": ", 1)[1] for m in messages(records, "dgram")] == [b"over the local socket"]
