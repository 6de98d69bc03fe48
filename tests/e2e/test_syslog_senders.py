"""
Real syslog senders against a real C{twistd -n logd} with C{protocol: syslog}
listeners (issue 4, "Real senders"): util-linux C{logger}, Python's
C{logging.handlers.SysLogHandler}, and rsyslog and syslog-ng forwarding what
C{logger} sends them.  Every sender is a subprocess, and every test checks
the fields logd parsed (the json sink's facility, severity, timestamp,
hostname, app_name, procid, msgid, structured_data and message), not just
that something arrived.

rsyslog and syslog-ng are Debian's packages unpacked into the virtualenv by
C{tests/e2e/peers.sh} (never installed: they conflict, and neither may run as
this machine's log daemon); each test runs its own in the foreground, with
its own configuration, pid file and work directory, and kills it afterwards.
"""

from __future__ import annotations

import glob
import os
import re
import socket
import subprocess
import sys
from typing import Any, Callable, Iterator

import pytest

from tests.e2e.helpers import (
    JSON_SINK,
    REPO,
    Daemon,
    Listener,
    PeerDaemon,
    assertStopsOnSIGTERM,
    freePort,
    readJSONRecords,
    runForPid,
    tool,
    waitForJSON,
)

Start = Callable[..., Daemon]

HOST = socket.gethostname()
"""What logger writes as HOSTNAME in RFC 5424, and logd's hostname for Unix socket messages that carry none."""
SHORT_HOST = HOST.split(".")[0]
"""What logger writes as HOSTNAME in RFC 3164 (the name up to the first dot)."""

PEERS_DIR = os.environ.get("LOGD_PEERS") or os.path.join(REPO, ".venv", "peers")
PEERS_SH = os.path.join(REPO, "tests", "e2e", "peers.sh")

JSON_KEYS = {
    "time", "listener", "peer", "facility", "severity", "timestamp",
    "hostname", "app_name", "procid", "msgid", "structured_data", "message",
}  # fmt: skip
"""Every key of a parsed syslog record in JSON; C{parse_error} only appears when a message fits neither RFC."""


class Like:
    """A string matching a regular expression, for comparing records with C{==}."""

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and self.pattern.fullmatch(other) is not None

    def __repr__(self) -> str:
        return f"Like({self.pattern.pattern!r})"


class TimeQuality:
    """
    logger's own C{timeQuality} SD element: C{isSynced} (and
    C{syncAccuracy}) depend on the clock of the machine the test runs on.
    """

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, dict)
            and other.get("tzKnown") == "1"
            and other.get("isSynced") in ("0", "1")
            and set(other) <= {"tzKnown", "isSynced", "syncAccuracy"}
        )

    def __repr__(self) -> str:
        return "TimeQuality(tzKnown=1, isSynced=0|1)"


ISO_TIMESTAMP = Like(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
BSD_TIMESTAMP = Like(r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d")
IPV4_PEER = Like(r"127\.0\.0\.1:\d+")

# The structured data of the RFC 5424 messages logger sends in these tests:
# two elements, one value with every escape RFC 5424 has (\" \] \\).
SD_ARGS = [
    "--sd-id", "exampleSDID@32473", "--sd-param", 'iut="3"', "--sd-param", r'eventSource="App\"x\]y\\z"',
    "--sd-id", "examplePriority@32473", "--sd-param", 'class="high"',
]  # fmt: skip
SD_SENT = {"exampleSDID@32473": {"iut": "3", "eventSource": 'App"x]y\\z'}, "examplePriority@32473": {"class": "high"}}
SD_WITH_TQ = {"timeQuality": TimeQuality(), **SD_SENT}


def syslogRecord(**fields: Any) -> dict[str, Any]:
    """
    What a syslog record's JSON must be, given its fields; its receive
    time is any RFC 3339 UTC time.
    """
    record = {"time": Like(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"), **fields}
    assert set(record) == JSON_KEYS, f"test bug: fields {sorted(record)}"
    return record


def assertRecords(records: list[dict], expected: list[dict], context: str = "") -> None:
    """
    C{records == expected}, failing with each differing field spelled out
    (pytest truncates the diff of two lists of dicts).
    """
    if records == expected:
        return
    problems = []
    if len(records) != len(expected):
        problems.append(f"{len(records)} records, expected {len(expected)}")
    for index, (got, want) in enumerate(zip(records, expected)):
        for key in sorted(set(got) | set(want)):
            if key not in got or key not in want or got[key] != want[key]:
                problems.append(f"record {index}: {key}: got {got.get(key, '<missing>')!r}, expected {want.get(key, '<missing>')!r}")
    raise AssertionError("\n".join([*problems, "records:", *map(repr, records), context]))


def stopAndRead(daemon: Daemon, listener: str) -> list[dict]:
    """
    Stop logd (SIGTERM drains and flushes) and return every JSON record of
    C{listener}: after this nothing more can arrive, so exact comparisons
    also prove that nothing was duplicated or split.
    """
    assertStopsOnSIGTERM(daemon)
    records = readJSONRecords(os.path.join(daemon.directory, JSON_SINK["path"]))
    assert {r["listener"] for r in records} <= {listener}, records
    return records


def startLogd(logd: Start, listener: Listener) -> Daemon:
    return logd([listener], sink=JSON_SINK)


def logger(*args: str, input: bytes = b"") -> int:
    """Run util-linux logger; return its pid (what C{-i} writes as PROCID)."""
    return runForPid([tool("logger"), *args], input=input)


def lines(*texts: str) -> bytes:
    return "".join(text + "\n" for text in texts).encode()


# logger (util-linux) ------------------------------------------------------------


def test_logger_tcp_rfc5424_structured_data(logd: Start) -> None:
    """
    logger -T --rfc5424 with -p, -t, -i, --msgid and two --sd-id elements
    (one value with every escape): every RFC 5424 field arrives parsed, SD
    values unescaped, logger's own timeQuality element included.
    """
    daemon = startLogd(logd, Listener("tcp", "tcp", protocol="syslog"))
    pid = logger(
        "-n", "127.0.0.1", "-P", str(daemon.port("tcp")), "-T", "--rfc5424",
        "-p", "local3.warning", "-t", "myapp", "-i", "--msgid", "ID47", *SD_ARGS,
        "hello over tcp in RFC 5424",
    )  # fmt: skip
    waitForJSON(daemon, "tcp", 1)
    assertRecords(stopAndRead(daemon, "tcp"), [
        syslogRecord(
            listener="tcp", peer=IPV4_PEER, facility="local3", severity="warning", timestamp=ISO_TIMESTAMP,
            hostname=HOST, app_name="myapp", procid=str(pid), msgid="ID47", structured_data=SD_WITH_TQ,
            message="hello over tcp in RFC 5424",
        )
    ])  # fmt: skip


@pytest.mark.parametrize("format", ["--rfc5424=notq", "--rfc3164"])
def test_logger_tcp_octet_counting(logd: Start, format: str) -> None:
    """
    logger -T --octet-count sends each stdin line as an RFC 6587
    octet-counted frame on one connection: one record per frame, in order,
    each parsed (RFC 5424 or RFC 3164 inside the frame).
    """
    daemon = startLogd(logd, Listener("tcp", "tcp", protocol="syslog"))
    texts = ["first octet-counted", "second: with a colon", "third [with] brackets"]
    pid = logger(
        "-n", "127.0.0.1", "-P", str(daemon.port("tcp")), "-T", "--octet-count", format,
        "-p", "auth.err", "-t", "octapp", "-i", input=lines(*texts),
    )  # fmt: skip
    waitForJSON(daemon, "tcp", len(texts))
    records = stopAndRead(daemon, "tcp")
    if format == "--rfc3164":
        timestamp, hostname = BSD_TIMESTAMP, SHORT_HOST
    else:
        timestamp, hostname = ISO_TIMESTAMP, HOST
    expected = [
        syslogRecord(
            listener="tcp", peer=IPV4_PEER, facility="auth", severity="err", timestamp=timestamp,
            hostname=hostname, app_name="octapp", procid=str(pid), msgid=None, structured_data={}, message=text,
        )
        for text in texts
    ]  # fmt: skip
    assertRecords(records, expected)
    assert len({r["peer"] for r in records}) == 1, "one logger run is one connection"


def test_logger_tcp_rfc3164_lf_framing(logd: Start) -> None:
    """
    logger -T --rfc3164 without octet counting: non-transparent framing,
    each message ended by LF; BSD header fields parsed.
    """
    daemon = startLogd(logd, Listener("tcp", "tcp", protocol="syslog"))
    texts = ["bsd one", "bsd two", "  leading spaces kept"]
    pid = logger(
        "-n", "127.0.0.1", "-P", str(daemon.port("tcp")), "-T", "--rfc3164",
        "-p", "mail.info", "-t", "postfix/smtpd", "-i", input=lines(*texts),
    )  # fmt: skip
    waitForJSON(daemon, "tcp", len(texts))
    assertRecords(stopAndRead(daemon, "tcp"), [
        syslogRecord(
            listener="tcp", peer=IPV4_PEER, facility="mail", severity="info", timestamp=BSD_TIMESTAMP,
            hostname=SHORT_HOST, app_name="postfix/smtpd", procid=str(pid), msgid=None, structured_data={}, message=text,
        )
        for text in texts
    ])  # fmt: skip


UDP_CASES = {
    # name: (logger flags, timestamp, hostname, structured data, msgid)
    "rfc3164": (["--rfc3164"], BSD_TIMESTAMP, SHORT_HOST, {}, None),
    "rfc5424": (["--rfc5424", "--msgid", "ID47", *SD_ARGS], ISO_TIMESTAMP, HOST, SD_WITH_TQ, "ID47"),
    # NILVALUE hostname and timestamp: the hostname falls back to the peer's address.
    "rfc5424-nil": (["--rfc5424=nohost,notime,notq"], None, "127.0.0.1", {}, None),
}


@pytest.mark.parametrize("case", sorted(UDP_CASES))
def test_logger_udp(logd: Start, case: str) -> None:
    """logger -d: one datagram, one parsed message, in either RFC."""
    flags, timestamp, hostname, structuredData, msgid = UDP_CASES[case]
    daemon = startLogd(logd, Listener("udp", "udp", protocol="syslog"))
    pid = logger(
        "-n", "127.0.0.1", "-P", str(daemon.port("udp")), "-d", *flags,
        "-p", "daemon.debug", "-t", "udpapp", "-i", f"hello over udp ({case})",
    )  # fmt: skip
    waitForJSON(daemon, "udp", 1)
    assertRecords(stopAndRead(daemon, "udp"), [
        syslogRecord(
            listener="udp", peer=IPV4_PEER, facility="daemon", severity="debug", timestamp=timestamp,
            hostname=hostname, app_name="udpapp", procid=str(pid), msgid=msgid, structured_data=structuredData,
            message=f"hello over udp ({case})",
        )
    ])  # fmt: skip


def test_logger_unix_datagram(logd: Start) -> None:
    """
    logger -u PATH -d writes the local form (no HOSTNAME): the hostname is
    this machine's, the peer '-'.
    """
    daemon = startLogd(logd, Listener("dgram", "unixgram", protocol="syslog"))
    pid = logger("-u", daemon.path("dgram"), "-d", "--socket-errors=on", "-p", "user.notice", "-t", "dgramapp", "-i", "hello over unixgram")
    waitForJSON(daemon, "dgram", 1)
    assertRecords(stopAndRead(daemon, "dgram"), [
        syslogRecord(
            listener="dgram", peer="-", facility="user", severity="notice", timestamp=BSD_TIMESTAMP,
            hostname=HOST, app_name="dgramapp", procid=str(pid), msgid=None, structured_data={},
            message="hello over unixgram",
        )
    ])  # fmt: skip


def test_logger_unix_stream(logd: Start) -> None:
    """
    logger -u PATH -T connects to a unix stream listener and ends each
    message with LF; local form, so the hostname is this machine's.
    """
    daemon = startLogd(logd, Listener("local", "unix", protocol="syslog"))
    texts = ["stream one", "stream two"]
    logger("-u", daemon.path("local"), "-T", "--socket-errors=on", "-p", "local7.crit", "-t", "streamapp", input=lines(*texts))
    waitForJSON(daemon, "local", len(texts))
    assertRecords(stopAndRead(daemon, "local"), [
        syslogRecord(
            listener="local", peer="-", facility="local7", severity="crit", timestamp=BSD_TIMESTAMP,
            hostname=HOST, app_name="streamapp", procid=None, msgid=None, structured_data={}, message=text,
        )
        for text in texts
    ])  # fmt: skip


# Python's logging.handlers.SysLogHandler -----------------------------------------

SYSLOG_HANDLER_SCRIPT = r"""
import logging, logging.handlers, socket, sys
kind, target = sys.argv[1:]
if kind == "unixgram":
    address, socktype = target, socket.SOCK_DGRAM
else:
    host, port = target.rsplit(":", 1)
    address, socktype = (host, int(port)), (socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
handler = logging.handlers.SysLogHandler(address=address, facility=logging.handlers.SysLogHandler.LOG_LOCAL4, socktype=socktype)
handler.setFormatter(logging.Formatter("%(name)s[%(process)d]: %(message)s"))
log = logging.getLogger("e2e.sender")
log.propagate = False
log.setLevel(logging.DEBUG)
log.addHandler(handler)
for line in sys.stdin.read().splitlines():
    level, text = line.split(" ", 1)
    log.log(getattr(logging, level), text)
handler.close()
"""

# Python level -> RFC 5424 severity (SysLogHandler.priority_map).
PYTHON_LOGS = [
    ("DEBUG", "debug", "a debug message"),
    ("INFO", "info", "an info message"),
    ("WARNING", "warning", "a warning: disk 91% full"),
    ("ERROR", "err", "an error [code 7]"),
    ("CRITICAL", "crit", "critical, non-ASCII: naïve café ✓"),
]


@pytest.mark.parametrize("kind", ["udp", "tcp", "unixgram"])
def test_python_syslog_handler(logd: Start, kind: str) -> None:
    """
    SysLogHandler with facility local4 and a "%(name)s[%(process)d]: "
    formatter sends C{<PRI>NAME[PID]: MSG} and a NUL (over TCP the NUL is
    the only delimiter): one record per log call, in order, with the
    level as severity, the logger name as app_name and the pid as procid;
    no timestamp, and the hostname is the peer's (or this machine's, over
    a Unix socket).
    """
    daemon = startLogd(logd, Listener("py", kind, protocol="syslog"))
    target = daemon.path("py") if kind == "unixgram" else f"127.0.0.1:{daemon.port('py')}"
    pid = runForPid(
        [sys.executable, "-c", SYSLOG_HANDLER_SCRIPT, kind, target],
        input="".join(f"{level} {text}\n" for level, _, text in PYTHON_LOGS).encode(),
    )
    waitForJSON(daemon, "py", len(PYTHON_LOGS))
    records = stopAndRead(daemon, "py")
    peer, hostname = ("-", HOST) if kind == "unixgram" else (IPV4_PEER, "127.0.0.1")
    assertRecords(records, [
        syslogRecord(
            listener="py", peer=peer, facility="local4", severity=severity, timestamp=None, hostname=hostname,
            app_name="e2e.sender", procid=str(pid), msgid=None, structured_data={}, message=text,
        )
        for _, severity, text in PYTHON_LOGS
    ])  # fmt: skip
    if kind == "tcp":
        assert len({r["peer"] for r in records}) == 1, "one handler is one connection"


# rsyslog and syslog-ng ----------------------------------------------------------


class Peers:
    """Where peers.sh unpacked rsyslog and syslog-ng."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.rsyslogd = os.path.join(root, "usr/sbin/rsyslogd")
        modules = glob.glob(os.path.join(root, "usr/lib/*-linux-*/rsyslog"))
        assert len(modules) == 1, f"rsyslog's module directory under {root}/usr/lib: {modules}"
        self.rsyslogModules = modules[0]
        self.syslogNg = os.path.join(root, "usr/sbin/syslog-ng")
        self.syslogNgLibs = os.path.join(root, "usr/lib/syslog-ng")
        versions = sorted(glob.glob(os.path.join(self.syslogNgLibs, "[0-9]*.[0-9]*")))
        assert versions, f"no syslog-ng module directory under {self.syslogNgLibs}"
        self.syslogNgModules = versions[-1]
        self.syslogNgVersion = os.path.basename(self.syslogNgModules)


@pytest.fixture(scope="session")
def peers() -> Peers:
    """
    rsyslog and syslog-ng, unpacked by tests/e2e/peers.sh (tests/run calls
    it; this calls it again only if they are missing).
    """
    peers = PEERS_DIR
    if not (os.access(os.path.join(peers, "usr/sbin/rsyslogd"), os.X_OK) and os.access(os.path.join(peers, "usr/sbin/syslog-ng"), os.X_OK)):
        result = subprocess.run([PEERS_SH, peers], capture_output=True, timeout=600)
        assert result.returncode == 0, f"{PEERS_SH} {peers} exited {result.returncode}:\n{result.stdout.decode(errors='replace')}\n{result.stderr.decode(errors='replace')}"
    return Peers(peers)


def startPeer(workdir: str, name: str, argv: Callable[[str, int], list[str]], env: dict[str, str] | None, started: list[PeerDaemon]) -> tuple[PeerDaemon, int]:
    """
    Start a peer daemon listening on a fresh loopback UDP port (the input the
    test feeds with logger), retrying with another port if the chosen one
    was taken meanwhile; return it and the port once it has bound it.
    C{argv(directory, port)} writes the configuration and gives the command.
    """
    for attempt in range(3):
        directory = os.path.join(workdir, f"{name}-{attempt}")
        os.mkdir(directory)
        port = freePort(socket.SOCK_DGRAM)
        peer = PeerDaemon(name, argv(directory, port), directory, env)
        started.append(peer)
        if peer.waitBound(port, "udp"):
            return peer, port
        running = peer.running()
        peer.kill()
        if not running:
            raise AssertionError(f"{name} exited at start\n{peer.describe()}")
    raise AssertionError(f"{name} never bound its port\n{peer.describe()}")


def rsyslogArgv(peers: Peers, directory: str, config: str) -> list[str]:
    return [peers.rsyslogd, "-n", "-f", config, "-i", os.path.join(directory, "rsyslogd.pid"), "-M", peers.rsyslogModules]


def syslogNgArgv(peers: Peers, directory: str, config: str) -> list[str]:
    return [
        peers.syslogNg, "-F", "-e", "--no-caps", "-f", config,
        "-p", os.path.join(directory, "syslog-ng.pid"), "-R", os.path.join(directory, "syslog-ng.persist"),
        "-c", os.path.join(directory, "syslog-ng.ctl"), f"--module-path={peers.syslogNgModules}",
    ]  # fmt: skip


@pytest.fixture
def startedPeers() -> Iterator[list[PeerDaemon]]:
    """The peer daemons a test started: killed however the test ends."""
    started: list[PeerDaemon] = []
    try:
        yield started
    finally:
        for peer in started:
            peer.kill()


RSYSLOG_CONFIG = """\
global(workDirectory="{directory}" net.enableDNS="off")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{inputPort}" ruleset="forward")
ruleset(name="forward") {{
  action(type="omfwd" target="127.0.0.1" port="{logdPort}" protocol="{protocol}" {framing} template="{template}")
}}
"""

RSYSLOG_CASES = {
    # name: (omfwd protocol, framing option, template, logger flags, expected differences)
    "tcp-octet-counted-rfc5424": (
        "tcp", 'TCP_Framing="octet-counted"', "RSYSLOG_SyslogProtocol23Format", ["--rfc5424", "--msgid", "ID47", *SD_ARGS],
        {"timestamp": ISO_TIMESTAMP, "hostname": HOST, "msgid": "ID47", "structured_data": SD_WITH_TQ},
    ),
    "udp-traditional": (
        "udp", "", "RSYSLOG_TraditionalForwardFormat", ["--rfc3164"],
        {"timestamp": BSD_TIMESTAMP, "hostname": SHORT_HOST, "msgid": None, "structured_data": {}},
    ),
    # Not in the list, but what rsyslog's default TCP framing and its
    # high-precision forward format look like (an ISO timestamp in a BSD message).
    "tcp-lf-traditional": (
        "tcp", 'TCP_Framing="traditional"', "RSYSLOG_TraditionalForwardFormat", ["--rfc3164"],
        {"timestamp": BSD_TIMESTAMP, "hostname": SHORT_HOST, "msgid": None, "structured_data": {}},
    ),
    "udp-forward-format": (
        "udp", "", "RSYSLOG_ForwardFormat", ["--rfc3164"],
        {"timestamp": ISO_TIMESTAMP, "hostname": SHORT_HOST, "msgid": None, "structured_data": {}},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(RSYSLOG_CASES))
def test_rsyslog_forwarding(logd: Start, peers: Peers, workdir: str, startedPeers: list[PeerDaemon], case: str) -> None:
    """
    logger sends two messages to rsyslog (imudp), which forwards them to
    logd with omfwd: the original facility, severity, timestamp, hostname, tag,
    pid (and, in RFC 5424, msgid and structured data) arrive parsed.
    """
    protocol, framing, template, flags, expected = RSYSLOG_CASES[case]
    daemon = startLogd(logd, Listener("fwd", protocol, protocol="syslog"))

    def argv(directory: str, port: int) -> list[str]:
        config = os.path.join(directory, "rsyslog.conf")
        with open(config, "w") as f:
            f.write(RSYSLOG_CONFIG.format(
                directory=directory, inputPort=port, logdPort=daemon.port("fwd"), protocol=protocol, framing=framing, template=template,
            ))  # fmt: skip
        return rsyslogArgv(peers, directory, config)

    rsyslog, port = startPeer(workdir, "rsyslogd", argv, None, startedPeers)
    texts = [f"hello through rsyslog ({case})", "a second message"]
    pids = [logger("-n", "127.0.0.1", "-P", str(port), "-d", *flags, "-p", "local5.alert", "-t", "relayed", "-i", text) for text in texts]
    waitForJSON(daemon, "fwd", len(texts))
    assert rsyslog.stop() == 0, rsyslog.describe()
    assertRecords(stopAndRead(daemon, "fwd"), [
        syslogRecord(
            listener="fwd", peer=IPV4_PEER, facility="local5", severity="alert", app_name="relayed", procid=str(pid),
            message=text, **expected,
        )
        for pid, text in zip(pids, texts)
    ], f"rsyslog {case}; its output:\n{rsyslog.output()}")  # fmt: skip


SYSLOG_NG_CONFIG = """\
@version: {version}
options {{ use-dns(no); use-fqdn(no); dns-cache(no); stats-freq(0); keep-hostname(yes); }};
source s_in {{ syslog(ip("127.0.0.1") port({inputPort}) transport("udp")); }};
destination d_logd {{ syslog("127.0.0.1" port({logdPort}) transport("{transport}")); }};
log {{ source(s_in); destination(d_logd); }};
"""


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_syslog_ng_syslog_destination(logd: Start, peers: Peers, workdir: str, startedPeers: list[PeerDaemon], transport: str) -> None:
    """
    logger sends RFC 5424 messages to syslog-ng (a syslog() source), which
    forwards them with its syslog() destination: RFC 5424, octet-counted
    over TCP.  Every field arrives parsed, as logger sent it.
    """
    daemon = startLogd(logd, Listener("fwd", transport, protocol="syslog"))
    env = dict(os.environ, LD_LIBRARY_PATH=peers.syslogNgLibs)

    def argv(directory: str, port: int) -> list[str]:
        config = os.path.join(directory, "syslog-ng.conf")
        with open(config, "w") as f:
            f.write(SYSLOG_NG_CONFIG.format(version=peers.syslogNgVersion, inputPort=port, logdPort=daemon.port("fwd"), transport=transport))
        return syslogNgArgv(peers, directory, config)

    syslogNg, port = startPeer(workdir, "syslog-ng", argv, env, startedPeers)
    texts = [f"hello through syslog-ng over {transport}", "a second message"]
    pids = [
        logger(
            "-n", "127.0.0.1", "-P", str(port), "-d", "--rfc5424", "-p", "ftp.notice", "-t", "relayed", "-i",
            "--msgid", "ID47", *SD_ARGS, text,
        )
        for text in texts
    ]  # fmt: skip
    waitForJSON(daemon, "fwd", len(texts))
    assert syslogNg.stop() == 0, syslogNg.describe()
    records = stopAndRead(daemon, "fwd")
    assertRecords(records, [
        syslogRecord(
            listener="fwd", peer=IPV4_PEER, facility="ftp", severity="notice", timestamp=ISO_TIMESTAMP, hostname=HOST,
            app_name="relayed", procid=str(pid), msgid="ID47", structured_data=SD_WITH_TQ, message=text,
        )
        for pid, text in zip(pids, texts)
    ], f"syslog-ng over {transport}; its output:\n{syslogNg.output()}")  # fmt: skip
    if transport == "tcp":
        assert len({r["peer"] for r in records}) == 1, "syslog-ng keeps one connection"
