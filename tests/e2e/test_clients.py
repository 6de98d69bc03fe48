"""
Real clients against a real C{twistd -n logd}: util-linux C{logger}, C{nc},
C{socat}, C{telnet} on a pseudo-terminal, C{logd send}, and Python's own
C{logging} handlers.  Each test checks that the text arrives in the file
with the right listener and peer.
"""

from __future__ import annotations

import logging
import logging.handlers
import random
import re
import socket
import uuid
from typing import Callable

import pytest

from tests.e2e.helpers import (
    assertStopsOnSIGTERM,
    LOGD,
    REACTORS,
    Daemon,
    Listener,
    PtyProcess,
    Record,
    run,
    tool,
    udpQueueCapacity,
    waitFor,
)

IPV4_PEER = re.compile(r"127\.0\.0\.1:\d+\Z")

Start = Callable[..., Daemon]


def token() -> str:
    """A marker no other test (or earlier run) writes."""
    return uuid.uuid4().hex[:12]


def onlyRecord(records: list[Record], text: str) -> Record:
    """The one record whose message contains C{text}."""
    matching = [r for r in records if text.encode() in r.message]
    assert len(matching) == 1, f"expected one record with {text!r}, got {matching}"
    return matching[0]


def assertReactor(daemon: Daemon, reactor: str) -> None:
    """twistd logs the reactor class it runs: make sure --reactor took effect."""
    names = {"epoll": "EPollReactor", "poll": "PollReactor", "select": "SelectReactor"}
    assert f"reactor class: twisted.internet.{reactor}reactor.{names[reactor]}" in daemon.stdout(), daemon.describe()


def stopCleanly(daemon: Daemon) -> list[Record]:
    """
    Stop with SIGTERM (which drains and flushes) and return every record:
    after this, nothing more can arrive, so exact comparisons are safe.
    """
    assertStopsOnSIGTERM(daemon)
    return daemon.records()


# logger (util-linux) ----------------------------------------------------------


@pytest.mark.parametrize("reactor", REACTORS)
def test_logger_tcp(logd: Start, reactor: str) -> None:
    """logger -T sends one message over TCP to a line listener."""
    daemon = logd([Listener("tcp", "tcp")], reactor=reactor)
    assertReactor(daemon, reactor)
    text = f"logger over tcp {token()}"
    run([tool("logger"), "-n", "127.0.0.1", "-P", str(daemon.port("tcp")), "-T", text])
    daemon.waitForCount("tcp", 1)
    record = onlyRecord(daemon.records(), text)
    assert record.listener == "tcp"
    assert record.message.endswith(text.encode())
    assert IPV4_PEER.match(record.peer), record
    assert len(stopCleanly(daemon)) == 1


@pytest.mark.parametrize("reactor", REACTORS)
def test_logger_udp(logd: Start, reactor: str) -> None:
    """logger -d sends one datagram to a UDP line listener."""
    daemon = logd([Listener("udp", "udp")], reactor=reactor)
    assertReactor(daemon, reactor)
    text = f"logger over udp {token()}"
    run([tool("logger"), "-n", "127.0.0.1", "-P", str(daemon.port("udp")), "-d", text])
    daemon.waitForCount("udp", 1)
    record = onlyRecord(daemon.records(), text)
    assert (record.listener, record.message.endswith(text.encode())) == ("udp", True)
    assert IPV4_PEER.match(record.peer), record
    assert len(stopCleanly(daemon)) == 1


def test_logger_unix_datagram(logd: Start) -> None:
    """logger -u PATH -d writes to a unixgram listener; a Unix peer is '-'."""
    daemon = logd([Listener("dgram", "unixgram")])
    text = f"logger over a unix datagram socket {token()}"
    run([tool("logger"), "-u", daemon.path("dgram"), "-d", "--socket-errors=on", text])
    daemon.waitForCount("dgram", 1)
    record = onlyRecord(daemon.records(), text)
    assert (record.listener, record.peer) == ("dgram", "-")
    assert record.message.endswith(text.encode())
    assert len(stopCleanly(daemon)) == 1


def test_logger_unix_stream(logd: Start) -> None:
    """logger -u PATH -T connects to a unix: stream listener."""
    daemon = logd([Listener("local", "unix")])
    text = f"logger over a unix stream socket {token()}"
    run([tool("logger"), "-u", daemon.path("local"), "-T", "--socket-errors=on", text])
    daemon.waitForCount("local", 1)
    record = onlyRecord(daemon.records(), text)
    assert (record.listener, record.peer) == ("local", "-")
    assert record.message.endswith(text.encode())
    assert len(stopCleanly(daemon)) == 1


# nc and socat -------------------------------------------------------------------


def binaryLines(seed: int, count: int) -> list[bytes]:
    """
    Lines of arbitrary bytes (NUL, controls, invalid UTF-8, valid UTF-8)
    except what the line protocol itself interprets: LF, CR and IAC (0xff).
    """
    rng = random.Random(seed)
    alphabet = bytes(b for b in range(255) if b not in (0x0A, 0x0D))
    lines = [bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 300))) for _ in range(count)]
    lines.append("ünïcødé ✓ \\ back\\slash\ttab".encode())
    return lines


@pytest.mark.parametrize("reactor", REACTORS)
def test_nc_lines_to_tcp_line_listener(logd: Start, reactor: str) -> None:
    """
    nc -N sends text lines (CRLF and LF endings, empty lines, a line longer
    than max_line, an unterminated last line) and closes on EOF.
    """
    daemon = logd([Listener("lines", "tcp", maxLine=100)], reactor=reactor)
    assertReactor(daemon, reactor)
    t = token()
    long = ("L" * 250).encode()
    data = f"alpha {t}\r\nbeta {t}\n\n\r\ngamma {t}\n".encode() + long + f"\nunterminated {t}".encode()
    run([tool("nc"), "-N", "127.0.0.1", str(daemon.port("lines"))], input=data)
    records = stopCleanly(daemon)
    assert [r.message for r in records] == [
        f"alpha {t}".encode(),
        f"beta {t}".encode(),
        f"gamma {t}".encode(),
        long[:100],
        long[100:200],
        long[200:],
        f"unterminated {t}".encode(),
    ]
    assert {r.listener for r in records} == {"lines"}
    assert len({r.peer for r in records}) == 1 and IPV4_PEER.match(records[0].peer), records


def test_nc_binary_to_tcp_raw_listener(logd: Start) -> None:
    """Every byte nc sends to a raw listener comes back, in order, when unescaped."""
    daemon = logd([Listener("raw", "tcp", protocol="raw")])
    data = random.Random(1).randbytes(256 * 1024)
    run([tool("nc"), "-N", "127.0.0.1", str(daemon.port("raw"))], input=data)
    records = stopCleanly(daemon)
    assert b"".join(r.message for r in records) == data
    assert {r.listener for r in records} == {"raw"}
    assert len({r.peer for r in records}) == 1 and IPV4_PEER.match(records[0].peer)


def test_nc_lines_to_unix_line_listener(logd: Start) -> None:
    """nc -U to a unix: line listener, binary lines; the peer is '-'."""
    daemon = logd([Listener("local", "unix")])
    lines = binaryLines(2, 200)
    run([tool("nc"), "-N", "-U", daemon.path("local")], input=b"\n".join(lines) + b"\n")
    records = stopCleanly(daemon)
    assert [r.message for r in records] == lines
    assert {(r.listener, r.peer) for r in records} == {("local", "-")}


def test_socat_binary_to_tcp_raw_listener(logd: Start) -> None:
    """socat -u - TCP:... to a raw listener, including 0xff bytes, is byte-exact."""
    daemon = logd([Listener("raw", "tcp", protocol="raw")])
    data = random.Random(3).randbytes(128 * 1024) + b"\xff\xf4\xff\xfd\x06\x00tail"
    run([tool("socat"), "-u", "-", f"TCP:127.0.0.1:{daemon.port('raw')}"], input=data)
    records = stopCleanly(daemon)
    assert b"".join(r.message for r in records) == data
    assert {r.listener for r in records} == {"raw"}
    assert IPV4_PEER.match(records[0].peer)


def test_socat_lines_to_unix_line_listener(logd: Start) -> None:
    """socat - UNIX-CONNECT:... sends binary lines to a unix: line listener."""
    daemon = logd([Listener("local", "unix")])
    lines = binaryLines(4, 300)
    run([tool("socat"), "-u", "-", f"UNIX-CONNECT:{daemon.path('local')}"], input=b"\n".join(lines) + b"\n")
    records = stopCleanly(daemon)
    assert [r.message for r in records] == lines
    assert {(r.listener, r.peer) for r in records} == {("local", "-")}


def test_socat_binary_to_unix_raw_listener(logd: Start) -> None:
    """A raw listener on a Unix socket is byte-exact too."""
    daemon = logd([Listener("rawlocal", "unix", protocol="raw")])
    data = random.Random(5).randbytes(64 * 1024)
    run([tool("socat"), "-u", "-", f"UNIX-CONNECT:{daemon.path('rawlocal')}"], input=data)
    records = stopCleanly(daemon)
    assert b"".join(r.message for r in records) == data
    assert {(r.listener, r.peer) for r in records} == {("rawlocal", "-")}


@pytest.mark.parametrize("kind", ["udp", "unixgram"])
def test_socat_datagram_with_several_lines(logd: Start, kind: str) -> None:
    """
    Datagrams (socat UDP-SENDTO / UNIX-SENDTO) holding several LF or CRLF
    ended lines, empty lines, or one line without an LF: each line is a record.
    """
    daemon = logd([Listener("dgram", kind)])
    t = token()
    datagrams = [
        f"one {t}\ntwo {t}\r\nthree {t}\n",
        f"\nfour {t}\n\nfive {t}",
        f"six {t}",
    ]
    target = f"UDP-SENDTO:127.0.0.1:{daemon.port('dgram')}" if kind == "udp" else f"UNIX-SENDTO:{daemon.path('dgram')}"
    for datagram in datagrams:
        run([tool("socat"), "-u", "-", target], input=datagram.encode())
    expected = [f"{word} {t}".encode() for word in ("one", "two", "three", "four", "five", "six")]
    daemon.waitForMessages("dgram", expected[-1:], timeout=5)
    records = stopCleanly(daemon)
    assert [r.message for r in records] == expected
    if kind == "udp":
        assert IPV4_PEER.match(records[0].peer)
    else:
        assert {r.peer for r in records} == {"-"}


# telnet on a pseudo-terminal --------------------------------------------------


def typeAtTelnet(daemon: Daemon, listener: str, lines: list[str]) -> None:
    """
    A person at telnet: read the banner, type two lines, press Ctrl-C
    (telnet sends IAC IP and IAC DO TIMING-MARK), type a third line, quit
    with Ctrl-] and 'quit'.
    """

    def typed(text: str) -> None:
        seen = lambda: text.encode() in b"".join(daemon.messages(listener))
        waitFor(seen, 10, lambda: f"{text!r} on {listener!r}\n{daemon.describe()}")

    session = PtyProcess([tool("telnet"), "127.0.0.1", str(daemon.port(listener))])
    try:
        session.expect(b"logd ready")
        session.send(f"{lines[0]}\r".encode())
        session.send(f"{lines[1]}\r".encode())
        typed(lines[1])
        session.send(b"\x03")  # Ctrl-C: telnet's interrupt
        session.send(f"{lines[2]}\r".encode())
        typed(lines[2])
        session.send(b"\x1d")  # Ctrl-]: telnet's escape character
        session.expect(b"telnet>")
        session.send(b"quit\r")
        assert session.wait() == 0, session.output
    finally:
        session.close()


def test_telnet_through_a_pty(logd: Start) -> None:
    """
    Lines typed at a real telnet arrive on a line listener without any
    telnet command bytes.  The same session against a raw listener shows
    that telnet did send IAC IP and IAC DO TIMING-MARK, so the line
    listener really removed them.
    """
    banner = "logd ready\r\n"
    daemon = logd([Listener("telnet", "tcp", banner=banner), Listener("rawtelnet", "tcp", protocol="raw", banner=banner)])
    t = token()
    lines = [f"first line {t}", f"second line {t}", f"third line {t}"]
    typeAtTelnet(daemon, "telnet", lines)
    typeAtTelnet(daemon, "rawtelnet", lines)
    records = stopCleanly(daemon)
    telnet = [r for r in records if r.listener == "telnet"]
    assert [r.message for r in telnet] == [line.encode() for line in lines]
    assert len({r.peer for r in telnet}) == 1 and IPV4_PEER.match(telnet[0].peer)
    raw = b"".join(r.message for r in records if r.listener == "rawtelnet")
    assert b"\xff\xf4\xff\xfd\x06" in raw, raw  # IAC IP, IAC DO TIMING-MARK


# logd send --------------------------------------------------------------------


SEND_CASES: dict[str, tuple[str, str, Callable[[Listener], str], int]] = {
    "tcp": ("tcp", "tcp", lambda l: f"tcp:127.0.0.1:{l.port}", 2000),
    "unix": ("local", "unix", lambda l: f"unix:{l.path}", 2000),
    # UDP can drop what the receive queue cannot hold: stay inside it (see below).
    "udp": ("udp", "udp", lambda l: f"udp:127.0.0.1:{l.port}", 100),
    "unixgram": ("dgram", "unixgram", lambda l: f"unixgram:{l.path}", 2000),
    # IPv6 literals are written in brackets, as people write them.
    "tcp6": ("tcp6", "tcp6", lambda l: f"tcp:[::1]:{l.port}", 2000),
    "udp6": ("udp6", "udp6", lambda l: f"udp:[::1]:{l.port}", 100),
}


@pytest.mark.parametrize("kind", sorted(SEND_CASES))
def test_logd_send(logd: Start, kind: str) -> None:
    """logd send --to ENDPOINT: exit status 0 and every stdin line recorded."""
    name, listenerKind, endpointFor, count = SEND_CASES[kind]
    if kind.startswith("udp"):
        # Even if logd read nothing until logd send is done, none may be dropped.
        count = min(count, udpQueueCapacity(64) // 2)
    listener = Listener(name, listenerKind)
    daemon = logd([listener])
    t = token()
    lines = [f"sent over {kind} {i} {t}".encode() for i in range(count)]
    run([LOGD, "send", "--to", endpointFor(listener)], input=b"\n".join(lines) + b"\n")
    if kind.startswith("udp"):
        # Datagrams need no close to be complete: wait, then stop.
        daemon.waitForCount(listener.name, count, timeout=5)
    records = stopCleanly(daemon)
    assert sorted(r.message for r in records) == sorted(lines)
    if kind in ("tcp", "tcp6", "unix", "unixgram"):
        assert [r.message for r in records] == lines
    peers = {r.peer for r in records}
    if kind in ("tcp", "udp"):
        assert len(peers) == 1 and IPV4_PEER.match(peers.pop())
    elif kind in ("tcp6", "udp6"):
        assert len(peers) == 1 and re.fullmatch(r"\[::1\]:\d+", peers.pop())
    else:
        assert peers == {"-"}


# Python's logging -------------------------------------------------------------


def test_python_logging_stream_handler_over_tcp(logd: Start) -> None:
    """A logging.StreamHandler writing to a TCP socket's file: one record per log call."""
    daemon = logd([Listener("app", "tcp")])
    t = token()
    with socket.create_connection(("127.0.0.1", daemon.port("app"))) as sock:
        peer = "127.0.0.1:%d" % sock.getsockname()[1]
        stream = sock.makefile("w", encoding="utf-8", newline="\n")
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        log = logging.getLogger(f"e2e.stream.{t}")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        try:
            for i in range(3):
                log.info("hello %d from python logging", i)
            log.warning("multi\tfield ünïcode")
            handler.flush()
        finally:
            log.removeHandler(handler)
            stream.close()
    records = stopCleanly(daemon)
    name = f"e2e.stream.{t}"
    assert [r.message for r in records] == [
        f"{name} INFO hello 0 from python logging".encode(),
        f"{name} INFO hello 1 from python logging".encode(),
        f"{name} INFO hello 2 from python logging".encode(),
        f"{name} WARNING multi\tfield ünïcode".encode(),
    ]
    assert {(r.listener, r.peer) for r in records} == {("app", peer)}


def test_python_syslog_handler_over_udp(logd: Start) -> None:
    """logging.handlers.SysLogHandler over UDP to a line listener: the text arrives whole."""
    daemon = logd([Listener("syslog", "udp")])
    t = token()
    handler = logging.handlers.SysLogHandler(address=("127.0.0.1", daemon.port("syslog")))
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    log = logging.getLogger(f"e2e.syslog.{t}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        log.info("hello from SysLogHandler")
        peer = "127.0.0.1:%d" % handler.socket.getsockname()[1]
    finally:
        log.removeHandler(handler)
        handler.close()
    daemon.waitForCount("syslog", 1)
    records = stopCleanly(daemon)
    # <14> is user.info; SysLogHandler appends a NUL, which is recorded escaped.
    assert [r.message for r in records] == [f"<14>e2e.syslog.{t}: hello from SysLogHandler\x00".encode()]
    assert (records[0].listener, records[0].peer) == ("syslog", peer)
