"""
Configuration checking (logd.config.load) and C{logd check}.

Every rejected config is written to a real file, and every problem is
asserted with its file, line and key, because that is what a user reads to
fix their config.  Where a config has exactly one mistake the tests also
insist on exactly one problem: a spurious second complaint misleads too.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from logd import cli
from logd.config import MAX_UNIX_PATH, ConfigError, load, parseSize

from .helpers import (
    CustomDatagram,
    CustomLine,
    assertProblem,
    listenerConfig,
    onlyProblem,
    problemsOf,
    sinkConfig,
    writeConfig,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "etc" / "logd.yaml"


# Unknown keys --------------------------------------------------------------


def test_unknownTopLevelKey(tmp_path: Path) -> None:
    """A misspelt top-level key is reported on its own line."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: stdout}
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [all]}
        listners: []
        """,
    )
    assert onlyProblem(path) == f"{path}:5: listners: unknown key (did you mean 'listeners'?)"


def test_unknownSinkKey(tmp_path: Path) -> None:
    """An unknown key inside a sink names the sink and the key."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all:
            type: file
            path: all.log
            colour: red
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [all]}
        """,
    )
    assert onlyProblem(path) == f"{path}:5: sinks.all.colour: unknown key"


def test_unknownListenerKey(tmp_path: Path) -> None:
    """An unknown key inside a listener names the listener's index and the key."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: stdout}
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [all]}
          - name: b
            endpoint: "tcp:0"
            protocol: line
            sinks: [all]
            maxline: 10
        """,
    )
    assert onlyProblem(path) == f"{path}:9: listeners[1].maxline: unknown key (did you mean 'max_line'?)"


# Duplicates ----------------------------------------------------------------


def test_duplicateSinkName(tmp_path: Path) -> None:
    """
    Two sinks with one name are a duplicate YAML key, which PyYAML would
    silently resolve by keeping the last: it is an error on the second
    occurrence's line, keyed like every other problem by its full path.
    """
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: file, path: a.log}
          console: {type: stdout}
          all: {type: file, path: b.log}
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [all]}
        """,
    )
    assert onlyProblem(path) == f"{path}:4: sinks.all: duplicate key"


def test_duplicateListenerName(tmp_path: Path) -> None:
    """A second listener with a taken name is reported where it is named, pointing at the first."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: stdout}
        listeners:
          - name: web
            endpoint: "tcp:0"
            protocol: line
            sinks: [all]
          - {name: other, endpoint: "tcp:0", protocol: raw, sinks: [all]}
          - name: web
            endpoint: "tcp:0"
            protocol: raw
            sinks: [all]
        """,
    )
    problem = onlyProblem(path)
    assertProblem([problem], path, 9, "listeners[2].name", "duplicate", "'web'", "line 4")


# Missing required keys -----------------------------------------------------

LISTENER_KEYS = {
    "name": "name: a",
    "endpoint": 'endpoint: "tcp:0"',
    "protocol": "protocol: line",
    "sinks": "sinks: [all]",
}


@pytest.mark.parametrize("missing", sorted(LISTENER_KEYS))
def test_missingListenerKey(tmp_path: Path, missing: str) -> None:
    """A listener without name, endpoint, protocol or sinks is reported at the listener's line."""
    body = ", ".join(text for key, text in LISTENER_KEYS.items() if key != missing)
    path = writeConfig(
        tmp_path,
        f"""
        sinks:
          all: {{type: stdout}}
        listeners:
          - {{name: ok, endpoint: "tcp:0", protocol: line, sinks: [all]}}
          - {{{body}}}
        """,
    )
    assert onlyProblem(path) == f"{path}:5: listeners[1].{missing}: missing required key"


@pytest.mark.parametrize("sink", ["{path: all.log}", "{format: json}"])
def test_missingSinkType(tmp_path: Path, sink: str) -> None:
    """
    A sink without a type is one problem: the missing type (a path next to
    it is what a file sink has, not a second mistake).
    """
    path = sinkConfig(tmp_path, sink)
    assert onlyProblem(path) == f"{path}:2: sinks.s.type: missing required key"


def test_missingFilePath(tmp_path: Path) -> None:
    """A file sink needs a path."""
    path = sinkConfig(tmp_path, "{type: file, format: json}")
    assertProblem([onlyProblem(path)], path, 2, "sinks.s.path", "missing required key")


def test_missingSinksAndListeners(tmp_path: Path) -> None:
    """A config with neither sinks nor listeners says that both are needed."""
    path = writeConfig(tmp_path, "{}\n")
    problems = problemsOf(path)
    assertProblem(problems, path, 1, "sinks")
    assertProblem(problems, path, 1, "listeners")
    assert len(problems) == 2, problems


# Endpoints -----------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint, words",
    [
        ('"tcp:notaport"', ["port 'notaport' is not a number from 0 to 65535"]),
        ('"bogus:1"', ["bad endpoint", "bogus"]),
        ('""', ["endpoint string"]),
        ("5140", ["endpoint string"]),
        ('"udp:99999"', ["udp:PORT"]),
        ('"udp:port"', ["udp:PORT"]),
        ('"udp:1:colour=red"', ["colour=red"]),
        ('"unixgram:"', []),
        ('"unixgram:x:mode=rw"', ["mode"]),
        ('"unix:"', []),
    ],
)
def test_badEndpoint(tmp_path: Path, endpoint: str, words: list[str]) -> None:
    """A bad endpoint string is reported on the endpoint's line, before anything binds."""
    path = writeConfig(
        tmp_path,
        f"""
        sinks:
          all: {{type: stdout}}
        listeners:
          - name: a
            endpoint: {endpoint}
            protocol: line
            sinks: [all]
        """,
    )
    assertProblem([onlyProblem(path)], path, 5, "listeners[0].endpoint", *words)


@pytest.mark.parametrize(
    "endpoint, kind, expected",
    [
        (r"'tcp6:0:interface=\:\:1'", "stream", r"tcp6:0:interface=\:\:1"),
        ('"unix:/tmp/x.sock:mode=660"', "stream", "unix:/tmp/x.sock:mode=660"),
        ('"tcp:5140:interface=127.0.0.1"', "stream", "tcp:5140:interface=127.0.0.1"),
        ('"udp:5142:interface=127.0.0.1"', "udp", "udp:5142:interface=127.0.0.1"),
        (r"'udp:0:interface=\:\:1'", "udp", r"udp:0:interface=\:\:1"),
        ('"unixgram:/tmp/x.dgram:mode=660"', "unixgram", "unixgram:/tmp/x.dgram:mode=660"),
    ],
)
def test_goodEndpoint(tmp_path: Path, endpoint: str, kind: str, expected: str) -> None:
    """Twisted's own strings (tcp6 with escaped colons, unix with a mode) and logd's datagram ones validate."""
    config = load(str(listenerConfig(tmp_path, f"{{name: a, endpoint: {endpoint}, protocol: line, sinks: [all]}}")))
    (listener,) = config.listeners
    assert (listener.kind, listener.endpoint) == (kind, expected)


def test_udpAddress(tmp_path: Path) -> None:
    """A udp: endpoint is parsed into the port and interface the datagram listener binds."""
    config = load(
        str(
            listenerConfig(
                tmp_path,
                r"""{name: a, endpoint: "udp:5142:interface=127.0.0.1", protocol: line, sinks: [all]}""",
            )
        )
    )
    assert config.listeners[0].address == (5142, "127.0.0.1")


def test_unixModes(tmp_path: Path) -> None:
    """unix:...:mode=660 keeps its mode for Twisted; unixgram: parses its mode as octal."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: stdout}
        listeners:
          - {name: s, endpoint: "unix:/tmp/x.sock:mode=660", protocol: line, sinks: [all]}
          - {name: d, endpoint: "unixgram:/tmp/x.dgram:mode=640", protocol: line, sinks: [all]}
        """,
    )
    stream, dgram = load(str(path)).listeners
    assert stream.unixPath == "/tmp/x.sock"
    assert dgram.address == ("/tmp/x.dgram", 0o640)
    assert dgram.unixPath == "/tmp/x.dgram"


def test_systemdEndpoint(tmp_path: Path) -> None:
    """
    The issue lists systemd: among the stream endpoints that work, and
    C{logd check} is how an admin validates a config before a restart: on
    their shell, where systemd has passed no descriptors, a socket-activated
    listener's endpoint must still validate, not be called bad.
    """
    path = listenerConfig(tmp_path, '{name: a, endpoint: "systemd:domain=INET:index=0", protocol: line, sinks: [all]}')
    listener = load(str(path)).listeners[0]
    assert (listener.kind, listener.endpoint) == ("stream", "systemd:domain=INET:index=0")



@pytest.mark.parametrize(
    "endpoint, kind",
    [
        ("systemd:domain=INET6:name=syslog-udp:type=datagram", "udp"),
        ("systemd:domain=UNIX:index=2:type=datagram", "unixgram"),
        ("systemd:domain=INET:index=0:type=stream", "stream"),
    ],
)
def test_systemdDatagramEndpoint(tmp_path: Path, endpoint: str, kind: str) -> None:
    """
    Inherited datagram sockets (C{type=datagram}, as a socket unit's
    C{ListenDatagram=}) are datagram listeners, so the datagram rules
    (no banner, no connection limits, C{when_over: drop}) apply to them;
    they have no address of their own until systemd passes the socket.
    """
    path = listenerConfig(tmp_path, f'{{name: a, endpoint: "{endpoint}", protocol: line, sinks: [all]}}')
    listener = load(str(path)).listeners[0]
    assert listener.kind == kind
    assert listener.address is None and listener.unixPath is None
    assert listener.endpoint == endpoint.replace(":type=stream", "")


def test_systemdDatagramEndpointTakesNoConnectionLimits(tmp_path: Path) -> None:
    path = listenerConfig(
        tmp_path,
        '{name: a, endpoint: "systemd:domain=INET:index=0:type=datagram", protocol: line, sinks: [all], max_connections: 5}',
    )
    assertProblem([onlyProblem(path)], path, 4, "listeners[0].max_connections", "datagram")


def test_systemdEndpointTypeIsStreamOrDatagram(tmp_path: Path) -> None:
    path = listenerConfig(tmp_path, '{name: a, endpoint: "systemd:domain=INET:index=0:type=seqpacket", protocol: line, sinks: [all]}')
    assertProblem([onlyProblem(path)], path, 4, "listeners[0].endpoint", "ListenDatagram=")

def _socketDir(tmp_path: Path, room: int) -> Path:
    """
    A directory whose absolute path leaves exactly C{room} bytes for the
    rest of a socket path ('/' included) within the kernel's limit.
    """
    base = len(os.fsencode(str(tmp_path)))
    length = MAX_UNIX_PATH - room - base - 1
    assert length > 0
    directory = tmp_path / ("d" * length)
    directory.mkdir()
    return directory


@pytest.mark.parametrize("scheme", ["unix", "unixgram"])
def test_unixPathAtLimit(tmp_path: Path, scheme: str) -> None:
    """A relative socket path that resolves to exactly 107 bytes is fine."""
    directory = _socketDir(tmp_path, len("/l.sock"))
    path = listenerConfig(directory, f'{{name: a, endpoint: "{scheme}:l.sock", protocol: line, sinks: [all]}}')
    listener = load(str(path)).listeners[0]
    assert listener.unixPath == str(directory / "l.sock")
    assert len(os.fsencode(listener.unixPath)) == MAX_UNIX_PATH


@pytest.mark.parametrize("scheme", ["unix", "unixgram"])
def test_unixPathTooLong(tmp_path: Path, scheme: str) -> None:
    """
    A short relative socket path that resolves to 108 bytes (one past what
    the kernel allows) is a config error on the endpoint's line.
    """
    directory = _socketDir(tmp_path, len("/l.sock"))  # one byte too many with the X
    path = listenerConfig(directory, f'{{name: a, endpoint: "{scheme}:l.sockX", protocol: line, sinks: [all]}}')
    assertProblem([onlyProblem(path)], path, 4, "listeners[0].endpoint", "107", str(directory / "l.sockX"))


def test_unixAddressPathTooLong(tmp_path: Path) -> None:
    """The address= form of unix: is checked too."""
    directory = _socketDir(tmp_path, len("/l.sock"))  # one byte too many with the X
    path = listenerConfig(directory, '{name: a, endpoint: "unix:address=l.sockX", protocol: line, sinks: [all]}')
    assertProblem([onlyProblem(path)], path, 4, "listeners[0].endpoint", "107")


# Protocols -----------------------------------------------------------------


def test_unknownProtocol(tmp_path: Path) -> None:
    """A protocol that is neither built in nor module:Class is reported with the choices."""
    path = listenerConfig(tmp_path, '{name: a, endpoint: "tcp:0", protocol: lines, sinks: [all]}')
    assertProblem([onlyProblem(path)], path, 4, "listeners[0].protocol", "'lines'", "raw", "line")


@pytest.mark.parametrize(
    "protocol, words",
    [("nosuch.module:X", ["cannot import", "nosuch.module"]), ("os:NoSuchClass", ["NoSuchClass"]), ("os:sep", ["sep"])],
)
def test_unimportableProtocol(tmp_path: Path, protocol: str, words: list[str]) -> None:
    """A custom protocol whose module or class cannot be found is reported before anything binds."""
    path = listenerConfig(tmp_path, f'{{name: a, endpoint: "tcp:0", protocol: "{protocol}", sinks: [all]}}')
    assertProblem([onlyProblem(path)], path, 4, "listeners[0].protocol", *words)


@pytest.mark.parametrize(
    "endpoint, cls, wanted",
    [
        ("tcp:0", "NotAProtocol", "Protocol"),
        ("tcp:0", "CustomDatagram", "Protocol"),
        ("udp:0", "CustomLine", "DatagramProtocol"),
        ("unixgram:x.dgram", "NotAProtocol", "DatagramProtocol"),
    ],
)
def test_protocolNotASubclass(tmp_path: Path, endpoint: str, cls: str, wanted: str) -> None:
    """A custom class must be a Protocol (streams) or DatagramProtocol (datagrams) subclass."""
    path = listenerConfig(tmp_path, f'{{name: a, endpoint: "{endpoint}", protocol: "tests.unit.helpers:{cls}", sinks: [all]}}')
    assertProblem([onlyProblem(path)], path, 4, "listeners[0].protocol", cls, f"{wanted} subclass")


def test_customProtocols(tmp_path: Path) -> None:
    """Custom classes of the right kind load, and the listener carries the class."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: stdout}
        listeners:
          - {name: s, endpoint: "tcp:0", protocol: "tests.unit.helpers:CustomLine", sinks: [all]}
          - {name: d, endpoint: "udp:0", protocol: "tests.unit.helpers:CustomDatagram", sinks: [all]}
        """,
    )
    stream, dgram = load(str(path)).listeners
    assert stream.protocolClass is CustomLine
    assert dgram.protocolClass is CustomDatagram


# Sinks -------------------------------------------------------------------------


def test_unknownSinkType(tmp_path: Path) -> None:
    """An unknown sink type is reported on the type's line, with the choices."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          s:
            type: syslog
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [s]}
        """,
    )
    assertProblem([onlyProblem(path)], path, 3, "sinks.s.type", "'syslog'", "file", "stdout")


def test_unknownSinkReference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's own example, to the character: etc/logd.yaml:14: listeners[2].sinks: unknown sink 'al'."""
    writeConfig(
        tmp_path / "etc",
        """
        # line 1
        sinks:
          all:
            type: file
            path: ../var/log/all.log
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [all]}
          - {name: b, endpoint: "tcp:0", protocol: raw, sinks: [all]}
          - name: c
            endpoint: "tcp:0"
            protocol: line
            # the mistake is on line 14
            banner: "hi\\r\\n"
            sinks: [al]
        """,
    )
    monkeypatch.chdir(tmp_path)
    assert problemsOf("etc/logd.yaml") == ["etc/logd.yaml:14: listeners[2].sinks: unknown sink 'al' (did you mean 'all'?)"]


def test_everyUnknownSinkReported(tmp_path: Path) -> None:
    """Each unknown name in a listener's sinks is its own problem."""
    path = listenerConfig(tmp_path, '{name: a, endpoint: "tcp:0", protocol: line, sinks: [al, all, console]}')
    problems = problemsOf(path)
    assert problems == [
        f"{path}:4: listeners[0].sinks: unknown sink 'al' (did you mean 'all'?)",
        f"{path}:4: listeners[0].sinks: unknown sink 'console'",
    ]


@pytest.mark.parametrize("endpoint", ["udp:0:interface=127.0.0.1", "unixgram:x.dgram"])
def test_bannerOnDatagramListener(tmp_path: Path, endpoint: str) -> None:
    """A datagram listener has no connection to greet: a banner is an error on its line."""
    path = writeConfig(
        tmp_path,
        f"""
        sinks:
          all: {{type: stdout}}
        listeners:
          - name: a
            endpoint: "{endpoint}"
            protocol: line
            sinks: [all]
            banner: "hello\\r\\n"
        """,
    )
    assertProblem([onlyProblem(path)], path, 8, "listeners[0].banner", "datagram")


@pytest.mark.parametrize("value", ["0", "-1", "big", "true", "1.5", "[1]"])
def test_badMaxLine(tmp_path: Path, value: str) -> None:
    """max_line is a whole number of bytes greater than zero."""
    path = listenerConfig(tmp_path, f'{{name: a, endpoint: "tcp:0", protocol: line, sinks: [all], max_line: {value}}}')
    assertProblem([onlyProblem(path)], path, 4, "listeners[0].max_line")


@pytest.mark.parametrize(
    "rotate, key, words",
    [
        ("5", "sinks.s.rotate", ["mapping"]),
        ("{keep: 3}", "sinks.s.rotate.max_bytes", ["missing"]),
        ("{max_bytes: 0}", "sinks.s.rotate.max_bytes", ["greater than zero"]),
        ("{max_bytes: lots}", "sinks.s.rotate.max_bytes", ["lots"]),
        ("{max_bytes: 1MiB, keep: 0}", "sinks.s.rotate.keep", ["greater than zero"]),
        ("{max_bytes: 1MiB, keep: many}", "sinks.s.rotate.keep", ["whole number"]),
        ("{max_bytes: 1MiB, kep: 3}", "sinks.s.rotate.kep", ["unknown key"]),
    ],
)
def test_badRotate(tmp_path: Path, rotate: str, key: str, words: list[str]) -> None:
    """A bad rotate setting is reported with its own key (on the rotate line here, written as a flow mapping)."""
    path = writeConfig(
        tmp_path,
        f"""
        sinks:
          s:
            type: file
            path: s.log
            rotate: {rotate}
        listeners:
          - {{name: a, endpoint: "tcp:0", protocol: line, sinks: [s]}}
        """,
    )
    assertProblem([onlyProblem(path)], path, 5, key, *words)


def test_rotateOnStdout(tmp_path: Path) -> None:
    """Only file sinks rotate."""
    path = sinkConfig(tmp_path, "{type: stdout, rotate: {max_bytes: 1MiB}}")
    assertProblem([onlyProblem(path)], path, 2, "sinks.s.rotate", "file")


def test_pathOnStdout(tmp_path: Path) -> None:
    """A stdout sink has no path."""
    path = sinkConfig(tmp_path, "{type: stdout, path: x.log}")
    assertProblem([onlyProblem(path)], path, 2, "sinks.s.path", "stdout")


@pytest.mark.parametrize("sink, key", [("{type: file, path: x, format: xml}", "format"), ("{type: stdout, buffer: lots}", "buffer")])
def test_badSinkValue(tmp_path: Path, sink: str, key: str) -> None:
    """A bad format or buffer size is reported with its key."""
    path = sinkConfig(tmp_path, sink)
    assertProblem([onlyProblem(path)], path, 2, f"sinks.s.{key}")


# File-level problems -----------------------------------------------------------


def test_yamlSyntaxError(tmp_path: Path) -> None:
    """A YAML syntax error is one problem with the line it is on."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all:
            path: a: b
        listeners: []
        """,
    )
    problem = onlyProblem(path)
    assert problem.startswith(f"{path}:3: YAML syntax error"), problem


def test_yamlUnclosedFlowMapping(tmp_path: Path) -> None:
    """An unclosed flow mapping is reported near where YAML notices it, with a line number."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: file, path: a.log
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [all]}
        """,
    )
    problem = onlyProblem(path)
    assert problem.startswith(f"{path}:3: YAML syntax error"), problem


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_notAMapping(tmp_path: Path, text: str) -> None:
    """A file that is empty or not a mapping says what it should be."""
    path = writeConfig(tmp_path, text)
    assert onlyProblem(path) == f"{path}:1: expected a mapping with sinks and listeners"


def test_unreadableFile(tmp_path: Path) -> None:
    """A missing file is one problem naming the file."""
    missing = tmp_path / "nope.yaml"
    problem = onlyProblem(missing)
    assert problem.startswith(f"{missing}: cannot read"), problem


def test_severalProblemsAtOnce(tmp_path: Path) -> None:
    """All the problems of a config come out of one load, each with its own line and key."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: file, path: all.log, colour: red}
          odd: {type: pigeon}
          nopath: {type: file}
        listeners:
          - {name: a, endpoint: "tcp:nope", protocol: line, sinks: [all]}
          - {name: a, endpoint: "tcp:0", protocol: lines, sinks: [all]}
          - {name: c, endpoint: "udp:0", protocol: line, sinks: [al], banner: hi}
          - {name: d, endpoint: "tcp:0", protocol: "nosuch.module:X", sinks: [all], max_line: 0}
          - {name: e, protocol: raw, sinks: [all]}
        extra: 1
        """,
    )
    problems = problemsOf(path)
    expected = [
        (2, "sinks.all.colour"),
        (3, "sinks.odd.type"),
        (4, "sinks.nopath.path"),
        (6, "listeners[0].endpoint"),
        (7, "listeners[1].name"),
        (7, "listeners[1].protocol"),
        (8, "listeners[2].sinks"),
        (9, "listeners[3].protocol"),
        (9, "listeners[3].max_line"),
        (10, "listeners[4].endpoint"),
        (11, "extra"),
    ]
    for line, key in expected:
        assertProblem(problems, path, line, key)
    assert len(problems) == len(expected), problems


# The happy path ------------------------------------------------------------------


def test_shippedConfig() -> None:
    """
    The shipped etc/logd.yaml loads, and its relative paths land under the
    repository's var/ (resolved against etc/, not the working directory).
    """
    config = load(str(SHIPPED))
    var = REPO / "var"
    (sink,) = config.sinks.values()
    assert (sink.name, sink.type, sink.format) == ("all", "file", "text")
    assert sink.path == str(var / "log" / "all.log")
    assert (sink.rotate.maxBytes, sink.rotate.keep) == (100 * 1024 * 1024, 7)
    byName = {listener.name: listener for listener in config.listeners}
    assert list(byName) == ["telnet", "raw", "udp", "local", "dgram"]
    assert byName["telnet"].endpoint == "tcp:5140:interface=127.0.0.1"
    assert (byName["telnet"].protocol, byName["telnet"].banner) == ("line", b"logd ready\r\n")
    assert byName["telnet"].maxLine == 65536
    assert (byName["raw"].protocol, byName["raw"].kind) == ("raw", "stream")
    assert (byName["udp"].kind, byName["udp"].address) == ("udp", (5142, "127.0.0.1"))
    assert byName["local"].unixPath == str(var / "run" / "logd.sock")
    assert byName["local"].endpoint == f"unix:{var / 'run' / 'logd.sock'}:mode=660"
    assert byName["dgram"].unixPath == str(var / "run" / "logd.dgram")
    assert byName["dgram"].address[0] == str(var / "run" / "logd.dgram")
    assert all(listener.sinks == ("all",) for listener in config.listeners)


def test_relativePathsResolveAgainstConfigDirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sink paths and unix:/unixgram: paths resolve against the config's directory, whatever the cwd."""
    etc = tmp_path / "conf" / "etc"
    path = writeConfig(
        etc,
        """
        sinks:
          all: {type: file, path: ../var/log/all.log}
          here: {type: file, path: here.log, format: json}
        listeners:
          - {name: s, endpoint: "unix:../run/s.sock:mode=660", protocol: line, sinks: [all]}
          - {name: t, endpoint: "unix:address=../run/t.sock", protocol: line, sinks: [all]}
          - {name: d, endpoint: "unixgram:../run/d.dgram", protocol: line, sinks: [here]}
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load(str(path))
    conf = tmp_path / "conf"
    assert config.sinks["all"].path == str(conf / "var" / "log" / "all.log")
    assert config.sinks["here"].path == str(etc / "here.log")
    s, t, d = config.listeners
    assert s.unixPath == str(conf / "run" / "s.sock")
    assert s.endpoint == f"unix:{conf / 'run' / 's.sock'}:mode=660"
    assert t.unixPath == str(conf / "run" / "t.sock")
    assert d.unixPath == str(conf / "run" / "d.dgram")
    assert d.address == (str(conf / "run" / "d.dgram"), 0o660)


def test_relativeConfigPath(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a relative config path, resolved paths are still absolute and problems name the path as given."""
    writeConfig(
        tmp_path / "etc",
        """
        sinks:
          all: {type: file, path: ../var/all.log}
        listeners:
          - {name: a, endpoint: "unix:../var/a.sock", protocol: line, sinks: [all]}
        """,
    )
    monkeypatch.chdir(tmp_path)
    config = load("etc/logd.yaml")
    assert config.sinks["all"].path == str(tmp_path / "var" / "all.log")
    assert config.listeners[0].unixPath == str(tmp_path / "var" / "a.sock")


@pytest.mark.parametrize(
    "value, size",
    [
        (4096, 4096),
        ("16MiB", 16 * 1024**2),
        ("16 MiB", 16 * 1024**2),
        ("512KiB", 512 * 1024),
        ("512kib", 512 * 1024),
        ("512KB", 512 * 1000),
        ("100MB", 100 * 1000**2),
        ("100 mb", 100 * 1000**2),
        ("1GB", 1000**3),
        ("1GiB", 1024**3),
        ("2TiB", 2 * 1024**4),
        ("2TB", 2 * 1000**4),
        ("100", 100),
        ("100B", 100),
    ],
)
def test_parseSize(value: object, size: int) -> None:
    """Sizes are byte counts, or numbers with KiB/MiB/GiB/TiB (powers of 1024) or KB/MB/GB/TB (powers of 1000)."""
    assert parseSize(value) == size


@pytest.mark.parametrize("value", [0, -5, "0MiB", "lots", "16 XiB", "1.5MiB", True, None, [1], {"a": 1}])
def test_parseSizeRejects(value: object) -> None:
    """Zero, negatives, garbage and booleans are no sizes."""
    with pytest.raises(ValueError):
        parseSize(value)


@pytest.mark.parametrize("value, suggestion", [("512k", "512KiB"), ("16M", "16MiB"), ("1g", "1GiB"), ("2T", "2TiB")])
def test_bareUnitIsAmbiguous(value: str, suggestion: str) -> None:
    """A bare K/M/G/T is refused, not guessed at: the message offers both readings."""
    with pytest.raises(ValueError) as info:
        parseSize(value)
    message = str(info.value)
    assert "ambiguous" in message and suggestion in message and suggestion.replace("i", "") in message


def test_sizesInConfig(tmp_path: Path) -> None:
    """Sizes like 16MiB work for buffer and rotate.max_bytes; keep defaults to 7."""
    path = sinkConfig(tmp_path, "{type: file, path: s.log, buffer: 16MiB, rotate: {max_bytes: 1GiB}}")
    sink = load(str(path)).sinks["s"]
    assert sink.buffer == 16 * 1024**2
    assert (sink.rotate.maxBytes, sink.rotate.keep) == (1024**3, 7)


def test_defaults(tmp_path: Path) -> None:
    """max_line defaults to 65536, format to text, banner to none; sinks may be one name."""
    path = sinkConfig(tmp_path, "{type: stdout}")
    config = load(str(path))
    listener = config.listeners[0]
    assert (listener.maxLine, listener.banner, listener.sinks) == (65536, None, ("s",))
    assert config.sinks["s"].format == "text"
    assert config.sinks["s"].rotate is None


def test_configErrorCarriesProblems(tmp_path: Path) -> None:
    """ConfigError's message is its problems, one a line."""
    path = listenerConfig(tmp_path, '{name: a, endpoint: "tcp:x", protocol: q, sinks: [b]}')
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert len(info.value.problems) == 3
    assert str(info.value).splitlines() == info.value.problems


# logd check ----------------------------------------------------------------------


def test_checkGoodConfig(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """logd check says OK and describes every sink and listener, exit 0."""
    etc = tmp_path / "etc"
    etc.mkdir()
    path = etc / "logd.yaml"
    shutil.copy(SHIPPED, path)
    config = load(str(path))
    assert cli.main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == ""
    assert lines[0] == f"{path}: OK"
    assert len(lines) == 1 + len(config.sinks) + len(config.listeners)
    text = "\n".join(lines[1:])
    for sink in config.sinks.values():
        assert f"sink '{sink.name}'" in text
    for listener in config.listeners:
        assert f"listener '{listener.name}': {listener.endpoint}" in text
    assert str(tmp_path / "var" / "log" / "all.log") in text
    assert f"unix:{tmp_path / 'var' / 'run' / 'logd.sock'}" in text


def test_checkBadConfig(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """logd check prints every problem on stderr and exits 1."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: pigeon}
        listeners:
          - {name: a, endpoint: "tcp:x", protocol: line, sinks: [al]}
          - {name: b, endpoint: "udp:0", protocol: line, sinks: [all], banner: hi}
        """,
    )
    problems = problemsOf(path)
    assert len(problems) >= 3
    assert cli.main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    errLines = err.splitlines()
    for problem in problems:
        assert problem in errLines
    assertProblem(problems, path, 2, "sinks.all.type")
    assertProblem(problems, path, 4, "listeners[0].endpoint")
    assertProblem(problems, path, 4, "listeners[0].sinks")
    assertProblem(problems, path, 5, "listeners[1].banner")


def test_checkSyntaxError(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A YAML syntax error is an exit 1 with the line, not a traceback."""
    path = writeConfig(tmp_path, "sinks:\n  all: [\n")
    assert cli.main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert f"{path}:" in err and "YAML syntax error" in err
    assert "Traceback" not in err


def test_checkCreatesNothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """
    A check opens no file for writing and binds no socket: no var/ directory,
    no log file, no socket file appears, good config or bad.
    """
    etc = tmp_path / "etc"
    etc.mkdir()
    shutil.copy(SHIPPED, etc / "logd.yaml")
    writeConfig(
        etc,
        """
        sinks:
          all: {type: file, path: ../var/log/all.log}
        listeners:
          - {name: s, endpoint: "unix:../var/run/s.sock", protocol: line, sinks: [all]}
          - {name: d, endpoint: "unixgram:../var/run/d.dgram", protocol: line, sinks: [al]}
        """,
        name="bad.yaml",
    )
    assert cli.main(["check", str(etc / "logd.yaml")]) == 0
    assert cli.main(["check", str(etc / "bad.yaml")]) == 1
    capsys.readouterr()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "etc",
        "etc/bad.yaml",
        "etc/logd.yaml",
    ]


def test_checkBindsNothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """
    Checking a config whose TCP and UDP ports are already taken still says
    OK: a check does not bind.  Unix socket paths in an existing directory
    stay absent.
    """
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with tcp, udp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        udp.bind(("127.0.0.1", 0))
        path = writeConfig(
            tmp_path,
            f"""
            sinks:
              all: {{type: stdout}}
            listeners:
              - {{name: t, endpoint: "tcp:{tcp.getsockname()[1]}:interface=127.0.0.1", protocol: line, sinks: [all]}}
              - {{name: u, endpoint: "udp:{udp.getsockname()[1]}:interface=127.0.0.1", protocol: line, sinks: [all]}}
              - {{name: s, endpoint: "unix:s.sock", protocol: line, sinks: [all]}}
              - {{name: d, endpoint: "unixgram:d.dgram", protocol: line, sinks: [all]}}
            """,
        )
        assert cli.main(["check", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith(f"{path}: OK\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logd.yaml"]
