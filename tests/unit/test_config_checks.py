"""
What C{logd check} says about the mistakes a new user makes first: empty
sections, bad ports and interfaces, ambiguous sizes, typos (with "did you
mean"), problems in the order of the file, YAML alias bombs, file
permissions and owners, socket modes, and paths inside C{ssl:} endpoints.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logd.config import load
from tests.tls import makeServerCertificate
from tests.unit.helpers import assertProblem, listenerConfig, onlyProblem, problemsOf, sinkConfig, writeConfig


def test_emptySinks(tmp_path: Path) -> None:
    """C{sinks: {}} is a mapping, just an empty one: say that."""
    path = writeConfig(
        tmp_path,
        """
        sinks: {}
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [all]}
        """,
    )
    problems = problemsOf(path)
    assertProblem(problems, path, 1, "sinks", "no sinks")
    assert not any("expected a mapping" in p for p in problems), problems


def test_emptyListeners(tmp_path: Path) -> None:
    path = writeConfig(
        tmp_path,
        """
        sinks:
          s: {type: stdout}
        listeners: []
        """,
    )
    assert onlyProblem(path) == f"{path}:3: listeners: no listeners: give at least one"


@pytest.mark.parametrize(
    "endpoint, message",
    [
        ("tcp:abc", "port 'abc' is not a number from 0 to 65535"),
        ("tcp:70000", "port '70000' is not a number from 0 to 65535"),
        ("tcp:port=x1", "port 'x1' is not a number"),
        ("tcp:interface=127.0.0.1", "needs a port"),
        ("tcp:5140:interface=999.1.1.1", "interface '999.1.1.1' is not an IP address"),
        ("tcp6:5140:interface=127.0.0.1", "is not an IPv6 address"),
        ("tcp6:5140:interface=\\:\\:1\\:\\:2", "interface '::1::2' is not an IP address"),
        ("ssl:x1", "port 'x1' is not a number"),
        ("udp:5140:interface=999.1.1.1", "interface '999.1.1.1' is not an IP address"),
    ],
)
def test_badPortOrInterface(tmp_path: Path, endpoint: str, message: str) -> None:
    """Ports and interfaces are checked with messages a person can act on, before anything binds."""
    path = listenerConfig(tmp_path, f"{{name: a, endpoint: '{endpoint}', protocol: line, sinks: [all]}}")
    problem = onlyProblem(path)
    assertProblem([problem], path, 4, "listeners[0].endpoint", message)
    assert "int()" not in problem


@pytest.mark.parametrize("endpoint", ["tcp:0:interface=127.0.0.1", "tcp:0:interface=\\:\\:1", "tcp6:0:interface=\\:\\:1", "tcp:0:interface=localhost"])
def test_goodInterfaces(tmp_path: Path, endpoint: str) -> None:
    path = listenerConfig(tmp_path, f"{{name: a, endpoint: '{endpoint}', protocol: line, sinks: [all]}}")
    assert load(str(path)).listeners[0].endpoint.startswith(endpoint.split(":")[0])


def test_didYouMean(tmp_path: Path) -> None:
    """Unknown keys, values and sink names come with the closest known one."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: file, pth: a.log}
          js: {type: file, path: b.log, format: jsno}
        listeners:
          - {name: a, endpoint: "tcp:0", protocl: line, sinks: [all]}
          - {name: b, endpoint: "tcp:0", protocol: lines, sinks: [jss]}
        """,
    )
    problems = problemsOf(path)
    assertProblem(problems, path, 2, "sinks.all.pth", "unknown key", "did you mean 'path'?")
    assertProblem(problems, path, 3, "sinks.js.format", "did you mean 'json'?")
    assertProblem(problems, path, 5, "listeners[0].protocl", "did you mean 'protocol'?")
    assertProblem(problems, path, 6, "listeners[1].protocol", "did you mean 'line'?")
    assertProblem(problems, path, 6, "listeners[1].sinks", "unknown sink 'jss'", "did you mean 'js'?")


def test_problemsSortedByLine(tmp_path: Path) -> None:
    """Listeners above sinks in the file: the problems still come in the file's order."""
    path = writeConfig(
        tmp_path,
        """
        listeners:
          - {name: a, endpoint: "tcp:x", protocol: line, sinks: [all]}
          - {name: b, endpoint: "tcp:0", protocol: nope, sinks: [all]}
        sinks:
          s: {type: file, path: s.log, buffer: lots}
          t: {type: nope}
        """,
    )
    lines = [int(p.split(":")[1]) for p in problemsOf(path)]
    assert lines == sorted(lines) and lines[0] == 2 and lines[-1] == 6, lines


def _aliasBomb(depth: int, width: int = 10) -> str:
    """
    The "billion laughs": each level a list of C{width} aliases of the one
    below, so C{depth} levels stand for C{width ** depth} leaves in a few
    hundred bytes.
    """
    lines = ['x0: &x0 ["lol"]']
    for level in range(1, depth + 1):
        lines.append(f"x{level}: &x{level} [" + ", ".join([f"*x{level - 1}"] * width) + "]")
    return "\n".join(lines)


def test_aliasBombChecksQuickly(tmp_path: Path) -> None:
    """
    A few KiB of nested aliases (10^9 leaves), used as an unknown key's
    value, as a format, a buffer, a sink list and the listener list, is
    checked in well under a second of work, not walked leaf by leaf.
    """
    path = tmp_path / "bomb.yaml"
    path.write_text(
        "bomb:\n"
        + "\n".join("  " + line for line in _aliasBomb(9).splitlines())
        + "\nsinks:\n  s: {type: file, path: s.log, format: *x9, buffer: *x9, filter: {listener: *x9}}\n"
        + "listeners: *x9\n"
    )
    assert path.stat().st_size < 4096
    started = time.process_time()
    problems = problemsOf(path)
    spent = time.process_time() - started
    assert spent < 1.0, f"checking a {path.stat().st_size}-byte file took {spent:.2f}s of CPU"
    assertProblem(problems, path, 1, "bomb", "unknown key")
    assertProblem(problems, path, 13, "sinks.s.format", "not a list")
    assert len(problems) < 30, problems


def test_duplicateInsideSharedAliasReportedOnce(tmp_path: Path) -> None:
    path = writeConfig(
        tmp_path,
        """
        sinks:
          s: &s {type: stdout, type: file}
          t: *s
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: line, sinks: [all]}
        """,
    )
    duplicates = [p for p in problemsOf(path) if "duplicate key" in p]
    assert duplicates == [f"{path}:2: sinks.s.type: duplicate key"]


@pytest.mark.parametrize("written, mode", [("640", 0o640), ("0640", 0o640), ('"0600"', 0o600), ("0o644", 0o644), ("444", 0o444), ("0", 0)])
def test_fileMode(tmp_path: Path, written: str, mode: int) -> None:
    """Modes are octal however YAML reads them (C{0640} is YAML 1.1's octal, C{640} is read as chmod would)."""
    path = sinkConfig(tmp_path, f"{{type: file, path: s.log, mode: {written}}}")
    assert load(str(path)).sinks["s"].mode == mode


def test_fileModeDefault(tmp_path: Path) -> None:
    path = sinkConfig(tmp_path, "{type: file, path: s.log}")
    sink = load(str(path)).sinks["s"]
    assert (sink.mode, sink.owner, sink.group) == (0o640, None, None)


@pytest.mark.parametrize("written", ["999", "1000", "rw", "-1", "true", "[640]"])
def test_badFileMode(tmp_path: Path, written: str) -> None:
    path = sinkConfig(tmp_path, f"{{type: file, path: s.log, mode: {written}}}")
    assertProblem([onlyProblem(path)], path, 2, "sinks.s.mode", "octal")


def test_ownerAndGroupByNameOrNumber(tmp_path: Path) -> None:
    import grp
    import pwd

    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    path = sinkConfig(tmp_path, f"{{type: file, path: s.log, owner: {user}, group: {group}}}")
    sink = load(str(path)).sinks["s"]
    assert (sink.owner, sink.group) == (os.getuid(), os.getgid())
    path = sinkConfig(tmp_path, "{type: file, path: s.log, owner: 65534, group: 65534}")
    sink = load(str(path)).sinks["s"]
    assert (sink.owner, sink.group) == (65534, 65534)


def test_unknownOwner(tmp_path: Path) -> None:
    path = sinkConfig(tmp_path, "{type: file, path: s.log, owner: no-such-user-here, group: no-such-group}")
    problems = problemsOf(path)
    assertProblem(problems, path, 2, "sinks.s.owner", "no user named 'no-such-user-here'")
    assertProblem(problems, path, 2, "sinks.s.group", "no group named 'no-such-group'")


def test_fileKeysOnStdout(tmp_path: Path) -> None:
    path = sinkConfig(tmp_path, "{type: stdout, mode: 600}")
    assertProblem([onlyProblem(path)], path, 2, "sinks.s.mode", "only file sinks")


def test_unixSocketModes(tmp_path: Path) -> None:
    """Unix sockets default to 0660, not Twisted's 0666; a mode given is kept."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          s: {type: stdout}
        listeners:
          - {name: a, endpoint: "unix:a.sock", protocol: line, sinks: [s]}
          - {name: b, endpoint: "unix:b.sock:mode=666", protocol: line, sinks: [s]}
          - {name: c, endpoint: "unixgram:c.dgram", protocol: line, sinks: [s]}
          - {name: d, endpoint: "unixgram:d.dgram:mode=666", protocol: line, sinks: [s]}
        """,
    )
    a, b, c, d = load(str(path)).listeners
    assert a.endpoint.endswith(":mode=660")
    assert b.endpoint.endswith(":mode=666") and "660" not in b.endpoint
    assert (c.address[1], d.address[1]) == (0o660, 0o666)


def test_sslPathsResolveAgainstConfigDirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    An C{ssl:} endpoint's key and certificate, named relative to the
    configuration file, load wherever logd is started from (Twisted reads
    them at parse time, relative to the current directory).
    """
    etc = tmp_path / "etc"
    makeServerCertificate(str(etc / "tls"))
    path = listenerConfig(etc, '{name: a, endpoint: "ssl:0:privateKey=tls/server.key:certKey=tls/server.pem", protocol: line, sinks: [all]}')
    monkeypatch.chdir(tmp_path)
    endpoint = load(str(path)).listeners[0].endpoint
    assert f"privateKey={str(etc / 'tls' / 'server.key')}" in endpoint.replace("\\:", ":")
    assert f"certKey={str(etc / 'tls' / 'server.pem')}" in endpoint.replace("\\:", ":")


def test_sslMissingKeyNamedAbsolute(tmp_path: Path) -> None:
    """The default key file, server.pem, is looked for beside the configuration, and its absence reported."""
    path = listenerConfig(tmp_path, '{name: a, endpoint: "ssl:0", protocol: line, sinks: [all]}')
    problem = onlyProblem(path)
    assertProblem([problem], path, 4, "listeners[0].endpoint", "bad endpoint", str(tmp_path / "server.pem"))


@pytest.mark.parametrize(
    "endpoint, expected",
    [
        ("ssl:0:tls/server.key:tls/server.pem", ["privateKey={etc}/tls/server.key", "certKey={etc}/tls/server.pem"]),
        ("ssl:0:privateKey=tls/server.key:certKey=tls/server.pem:extraCertChain=tls/server.pem", ["extraCertChain={etc}/tls/server.pem"]),
        ("ssl:0:tls/server.key:tls/server.pem:interface=127.0.0.1", ["interface=127.0.0.1"]),
    ],
)
def test_sslPositionalAndChainPaths(tmp_path: Path, endpoint: str, expected: list[str]) -> None:
    """Positional key and certificate (Twisted's order) and the chain file resolve beside the config too."""
    etc = tmp_path / "etc"
    makeServerCertificate(str(etc / "tls"))
    path = listenerConfig(etc, f'{{name: a, endpoint: "{endpoint}", protocol: line, sinks: [all]}}')
    resolved = load(str(path)).listeners[0].endpoint.replace("\\:", ":")
    for part in expected:
        assert part.format(etc=etc) in resolved


@pytest.mark.parametrize(
    "endpoint, mode, resolved",
    [("unix:a.sock:600", 0o600, "unix:{d}/a.sock:mode=600"), ("unix:address=a.sock:backlog=5", 0o660, "unix:{d}/a.sock:backlog=5:mode=660")],
)
def test_unixPositionalMode(tmp_path: Path, endpoint: str, mode: int, resolved: str) -> None:
    path = listenerConfig(tmp_path, f'{{name: a, endpoint: "{endpoint}", protocol: line, sinks: [all]}}')
    listener = load(str(path)).listeners[0]
    assert (listener.socketMode, listener.endpoint) == (mode, resolved.format(d=tmp_path))


def test_tooManyEndpointArguments(tmp_path: Path) -> None:
    path = listenerConfig(tmp_path, '{name: a, endpoint: "tcp:0:127.0.0.1:5:more", protocol: line, sinks: [all]}')
    assertProblem([onlyProblem(path)], path, 4, "listeners[0].endpoint", "too many arguments for a tcp: endpoint")


def test_customProtocolBesideConfig(tmp_path: Path) -> None:
    """
    A custom protocol module beside the configuration file is found without
    PYTHONPATH (in a fresh interpreter, so no earlier import helps).
    """
    package = tmp_path / "mylogd_beside"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "semicolon.py").write_text("from twisted.internet.protocol import Protocol\nclass Semicolon(Protocol):\n    pass\n")
    path = listenerConfig(tmp_path, '{name: a, endpoint: "tcp:0", protocol: "mylogd_beside.semicolon:Semicolon", sinks: [all]}')
    result = subprocess.run(
        [sys.executable, "-m", "logd.cli", "check", str(path)], capture_output=True, text=True, cwd="/", timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "mylogd_beside.semicolon:Semicolon" in result.stdout


def test_limits(tmp_path: Path) -> None:
    import ipaddress

    path = listenerConfig(
        tmp_path,
        '{name: a, endpoint: "tcp:0", protocol: line, sinks: [all], allow: ["10.0.0.0/8", "192.168.1.7", "::1"], '
        "max_connections: 1000, max_connections_per_peer: 20, idle_timeout: 5m}",
    )
    limits = load(str(path)).listeners[0].limits
    assert limits.allow == tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "192.168.1.7", "::1"))
    assert (limits.maxConnections, limits.maxConnectionsPerPeer, limits.idleTimeout) == (1000, 20, 300.0)


@pytest.mark.parametrize(
    "value, seconds", [("300s", 300.0), ("5m", 300.0), ("1h", 3600.0), ("500ms", 0.5), ("1.5s", 1.5), (30, 30.0), ("30", 30.0)]
)
def test_durations(value: object, seconds: float) -> None:
    from logd.config import parseDuration

    assert parseDuration(value) == seconds


@pytest.mark.parametrize(
    "extra, key, words",
    [
        ('allow: ["10.0.0.1/8"]', "allow", ("host bits set", "did you mean '10.0.0.0/8'")),
        ("allow: [10.0.0.300]", "allow", ("not an address or network",)),
        ("allow: []", "allow", ("expected an address",)),
        ("max_connections: 0", "max_connections", ("greater than zero",)),
        ("idle_timeout: soon", "idle_timeout", ("duration",)),
        ("idle_timeout: 0s", "idle_timeout", ("greater than zero",)),
    ],
)
def test_badLimits(tmp_path: Path, extra: str, key: str, words: tuple[str, ...]) -> None:
    path = listenerConfig(tmp_path, f'{{name: a, endpoint: "tcp:0", protocol: line, sinks: [all], {extra}}}')
    assertProblem([onlyProblem(path)], path, 4, f"listeners[0].{key}", *words)


@pytest.mark.parametrize("key, value", [("max_connections", "5"), ("max_connections_per_peer", "5"), ("idle_timeout", "5s")])
def test_connectionLimitsOnDatagrams(tmp_path: Path, key: str, value: str) -> None:
    path = listenerConfig(tmp_path, f'{{name: a, endpoint: "udp:0", protocol: line, sinks: [all], {key}: {value}}}')
    assertProblem([onlyProblem(path)], path, 4, f"listeners[0].{key}", "no connections")


@pytest.mark.parametrize("endpoint", ["unix:a.sock", "unixgram:a.dgram", "systemd:domain=UNIX:index=0"])
def test_allowOnUnixSockets(tmp_path: Path, endpoint: str) -> None:
    path = listenerConfig(tmp_path, f'{{name: a, endpoint: "{endpoint}", protocol: line, sinks: [all], allow: [127.0.0.1]}}')
    assertProblem([onlyProblem(path)], path, 4, "listeners[0].allow", "file mode")


def tlsConfig(tmp_path: Path, block: str, endpoint: str = "tcp:0") -> Path:
    from tests.tls import CertificateAuthority

    ca = CertificateAuthority(str(tmp_path / "tls"))
    ca.issue("server", dnsNames=("localhost",))
    ca.issue("other", dnsNames=("other",))
    (tmp_path / "tls" / "garbage.pem").write_text("not a certificate\n")
    return writeConfig(
        tmp_path,
        f"""
        sinks:
          all: {{type: stdout}}
        listeners:
          - name: a
            endpoint: "{endpoint}"
            protocol: syslog
            sinks: [all]
            tls:
        {block}
        """,
    )


def test_tlsBlock(tmp_path: Path) -> None:
    path = tlsConfig(
        tmp_path,
        "      cert: tls/server.pem\n              key: tls/server.key\n              ca: tls/test-ca.pem\n"
        "              client_cert: required\n              permitted_peers: ['*.example.com', 'sha256:" + "AB:" * 31 + "CD']\n"
        "              min_version: '1.3'\n              handshake_timeout: 5s",
    )
    config = load(str(path)).listeners[0].tls
    assert config.cert == str(tmp_path / "tls" / "server.pem") and config.ca == str(tmp_path / "tls" / "test-ca.pem")
    assert (config.clientCert, config.minVersion, config.handshakeTimeout) == ("required", "1.3", 5.0)
    assert config.permittedPeers == ("*.example.com", "sha256:" + "ab" * 31 + "cd")


@pytest.mark.parametrize(
    "block, key, words",
    [
        ("      cert: tls/server.pem\n              key: tls/other.key", "key", ("is not the key of the certificate",)),
        ("      cert: tls/garbage.pem\n              key: tls/server.key", "cert", ("cannot load",)),
        ("      cert: tls/nothere.pem\n              key: tls/server.key", "cert", ("no such file",)),
        ("      cert: tls/server.pem\n              key: tls/server.key\n              client_cert: required", "ca", ("needs a ca",)),
        ("      cert: tls/server.pem\n              key: tls/server.key\n              ca: tls/garbage.pem", "ca", ("cannot load",)),
        ("      cert: tls/server.pem\n              key: tls/server.key\n              permitted_peers: [a.example]", "permitted_peers", ("client_cert",)),
        ("      cert: tls/server.pem\n              key: tls/server.key\n              min_version: '1.1'", "min_version", ("1.2, 1.3",)),
        ("      cert: tls/server.pem\n              key: tls/server.key\n              client_cert: maybe", "client_cert", ("none, optional, required",)),
        ("      cert: tls/server.pem\n              kye: tls/server.key", "kye", ("did you mean 'key'",)),
    ],
)
def test_badTLSBlock(tmp_path: Path, block: str, key: str, words: tuple[str, ...]) -> None:
    path = tlsConfig(tmp_path, block)
    problems = problemsOf(path)
    matching = [p for p in problems if f"listeners[0].tls.{key}: " in p]
    assert matching and all(w in matching[0] for w in words), problems


@pytest.mark.parametrize("endpoint, words", [("udp:0", "stream listener"), ("ssl:0:privateKey=tls/server.key:certKey=tls/server.pem", "TLS already")])
def test_tlsOnTheWrongEndpoint(tmp_path: Path, endpoint: str, words: str) -> None:
    path = tlsConfig(tmp_path, "      cert: tls/server.pem\n              key: tls/server.key", endpoint)
    assert any(f"listeners[0].tls: " in p and words in p for p in problemsOf(path))


def test_rateLimit(tmp_path: Path) -> None:
    path = listenerConfig(tmp_path, '{name: a, endpoint: "tcp:0", protocol: line, sinks: [all], rate_limit: {records: 10000, per: 1s, burst: 20000}}')
    rate = load(str(path)).listeners[0].limits.rateLimit
    assert (rate.records, rate.per, rate.burst, rate.whenOver) == (10000, 1.0, 20000, "pause")
    path = listenerConfig(tmp_path, '{name: a, endpoint: "udp:0", protocol: line, sinks: [all], rate_limit: {records: 10}}')
    rate = load(str(path)).listeners[0].limits.rateLimit
    assert (rate.per, rate.burst, rate.whenOver) == (1.0, 10, "drop")


@pytest.mark.parametrize(
    "endpoint, limit, key, words",
    [
        ("udp:0", "{records: 10, when_over: pause}", "rate_limit.when_over", ("cannot pause",)),
        ("tcp:0", "{per: 1s}", "rate_limit.records", ("missing required key",)),
        ("tcp:0", "{records: 10, when_over: wait}", "rate_limit.when_over", ("pause, drop",)),
        ("tcp:0", "{records: 10, pre: 1s}", "rate_limit.pre", ("did you mean 'per'",)),
    ],
)
def test_badRateLimit(tmp_path: Path, endpoint: str, limit: str, key: str, words: tuple[str, ...]) -> None:
    path = listenerConfig(tmp_path, f'{{name: a, endpoint: "{endpoint}", protocol: line, sinks: [all], rate_limit: {limit}}}')
    problems = problemsOf(path)
    matching = [p for p in problems if f"listeners[0].{key}: " in p]
    assert matching and all(w in matching[0] for w in words), problems
