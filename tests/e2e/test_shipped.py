"""
The shipped default configuration and the README's examples, run as a user
would run them: the README's own twistd command on etc/logd.yaml (its ports
moved to free ones), the clients its comments name, and the README's custom
protocol module put beside the configuration with no PYTHONPATH.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket

from tests.e2e.helpers import REPO, TWISTD, Daemon, assertStopsOnSIGTERM, freePort, readRecords, run, tool, waitFor
from tests.unit.test_shipped import blocks, readme, section


def startShipped(workdir: str, configText: str) -> Daemon:
    """
    Run the README's command (C{twistd -n --pidfile= logd --config
    etc/logd.yaml}) from C{workdir}, as from a checkout.
    """
    os.makedirs(os.path.join(workdir, "etc"), exist_ok=True)
    config = os.path.join(workdir, "etc", "logd.yaml")
    with open(config, "w") as f:
        f.write(configText)
    command = re.search(r"\.venv/bin/twistd ([^\n]*)", blocks(readme(), "sh")[0]).group(1)
    daemon = Daemon(workdir, {}, config, [TWISTD, *shlex.split(command)])
    daemon.launch()
    assert daemon.waitReady(), daemon.describe()
    return daemon


def withFreePorts(text: str) -> tuple[str, dict[int, int]]:
    ports = {old: freePort(socket.SOCK_DGRAM if old == 5142 else socket.SOCK_STREAM) for old in (5140, 5141, 5142)}
    for old, new in ports.items():
        text = text.replace(f":{old}:", f":{new}:")
    return text, ports


def test_shipped_default_config_with_the_clients_it_names(workdir: str) -> None:
    """
    etc/logd.yaml, run with the README's command: no twistd.pid is left in
    the directory, and the logger commands of its comments (-T to the stream
    socket, -d to the datagram socket) and nc reach it.
    """
    with open(os.path.join(REPO, "etc", "logd.yaml")) as f:
        text, ports = withFreePorts(f.read())
    daemon = startShipped(workdir, text)
    assert not os.path.exists(os.path.join(workdir, "twistd.pid"))
    for command in re.findall(r"(logger [^\n]*-u [^\n]*)", text):
        argv = shlex.split(command)
        run([tool("logger"), *argv[1:]], cwd=workdir)
    run([tool("nc"), "-N", "127.0.0.1", str(ports[5140])], input=b"hello from nc\n")
    log = os.path.join(workdir, "var", "log", "all.log")
    waitFor(lambda: len(readRecords(log)) >= 3, 10, daemon.describe)
    assertStopsOnSIGTERM(daemon)
    records = readRecords(log)
    byListener = {r.listener for r in records}
    assert {"local", "dgram", "telnet"} <= byListener, records
    assert sum(r.message.endswith(b"hello") for r in records) == 2


def test_readme_custom_protocol_example_beside_the_config(workdir: str) -> None:
    """
    The README's SemicolonProtocol, saved as mylogd/semicolon.py beside the
    configuration, found without PYTHONPATH; its records and its pending
    one at the close.
    """
    custom = section("Protocols").split("### Custom protocols", 1)[1]
    python = [b for b in blocks(custom, "python") if "class SemicolonProtocol" in b][0]
    listener = [b for b in blocks(custom, "yaml") if "SemicolonProtocol" in b][0]
    package = os.path.join(workdir, "etc", "mylogd")
    os.makedirs(package)
    with open(os.path.join(package, "semicolon.py"), "w") as f:
        f.write(python)
    port = freePort()
    listener = listener.replace('"tcp:5150"', f'"tcp:{port}:interface=127.0.0.1"')
    # Run from the checkout's top (as the README does), where mylogd/ is not: only the config's directory has it.
    daemon = startShipped(workdir, f"sinks:\n  all: {{type: file, path: ../all.log}}\nlisteners:\n{listener}")
    run([tool("nc"), "-N", "127.0.0.1", str(port)], input=b"one;two;three")
    waitFor(lambda: len(daemon.records()) >= 3, 10, daemon.describe)
    assertStopsOnSIGTERM(daemon)
    assert [r.message for r in daemon.records()] == [b"one", b"two", b"three"]
    shutil.rmtree(package)
