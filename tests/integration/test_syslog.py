"""
Syslog listeners (issue 4) in-process on real loopback sockets: RFC 6587
framing on streams (octet counting, LF and NUL, mixed on one connection,
split across writes, over-long frames, broken length prefixes), one message
per datagram, the parsed fields in JSON, hostname fallbacks, parse errors,
templates and filters through real sinks, lazy parsing, and garbage.

Real senders (logger, rsyslog, ...) are the end-to-end tests' business.
"""

from __future__ import annotations

import random
import socket
from collections import Counter
from typing import Any, Sequence

import pytest
import pytest_twisted

import logd.fields
from logd.inputs.syslogframing import datagram_frame
from tests.integration.helpers import (
    DatagramClient,
    Harness,
    bytesReceived,
    connect,
    countRecords,
    hasIPv6Loopback,
    messages,
    openClient,
    readJSONObjects,
    readRecords,
    sendAndClose,
    waitFor,
)

RFC5424 = (
    b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 8710 ID47 '
    b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
    b'[examplePriority@32473 class="high"] \xef\xbb\xbfAn application event log entry'
)
RFC5424_FIELDS = {
    "facility": "local4",
    "severity": "notice",
    "timestamp": "2003-10-11T22:14:15.003Z",
    "hostname": "mymachine.example.com",
    "app_name": "evntslog",
    "procid": "8710",
    "msgid": "ID47",
    "structured_data": {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "examplePriority@32473": {"class": "high"},
    },
    "message": "An application event log entry",
}
RFC3164 = b"<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8"
RFC3164_FIELDS = {
    "facility": "auth",
    "severity": "crit",
    "timestamp": "Oct 11 22:14:15",
    "hostname": "mymachine",
    "app_name": "su",
    "procid": "230",
    "msgid": None,
    "structured_data": {},
    "message": "'su root' failed for lonvick on /dev/pts/8",
}
# Python's logging.handlers.SysLogHandler with a "%(name)s: %(message)s" formatter.
PYTHON_HANDLER = b"<14>app: text from python"


def octet(message: bytes) -> bytes:
    """An RFC 6587 octet-counted frame."""
    return b"%d %s" % (len(message), message)


def syslogListener(logd: Harness, kind: str, sinks: Sequence[str] = ("out",), name: str = "sys", **extra: Any) -> dict[str, Any]:
    return {"name": name, "endpoint": logd.endpoint(kind, name), "protocol": "syslog", "sinks": list(sinks), **extra}


def textAndJSON(logd: Harness) -> dict[str, Any]:
    """Two sinks: the messages as received (text), and the parsed fields (json)."""
    return {"out": logd.fileSink("out"), "json": logd.fileSink("json", "json")}


def fieldsOf(obj: dict[str, Any]) -> dict[str, Any]:
    """A JSON record less time, listener and peer."""
    return {k: v for k, v in obj.items() if k not in ("time", "listener", "peer")}


def stats(service: Any, index: int = 0) -> Any:
    return service.listeners[index].factory.router.stats


def fallbackHost(kind: str) -> str:
    """What a message naming no host gets as hostname on a listener of this kind."""
    return {"tcp": "127.0.0.1", "udp": "127.0.0.1", "tcp6": "::1", "udp6": "::1"}.get(kind) or socket.gethostname()


async def sendPieces(service: Any, client: Any, pieces: Sequence[bytes]) -> None:
    """
    Write each piece separately and wait until logd has read it before the
    next, so that each is a read of its own on the server side.
    """
    total = 0
    for piece in pieces:
        client.send(piece)
        total += len(piece)
        await waitFor(lambda want=total: bytesReceived(service) >= want, f"logd to read {total} bytes")


async def deliverAll(logd: Harness, service: Any, payloads: Sequence[bytes]) -> None:
    """
    Send payloads to listener 0: one connection each for a stream listener,
    one datagram each for a datagram one; then stop the service, so that
    everything is recorded, flushed and counted.
    """
    if service.listeners[0].config.kind == "stream":
        for payload in payloads:
            await sendAndClose(service, payload)
    else:
        client = DatagramClient(service)
        for payload in payloads:
            await client.send(payload)
        await client.close()
        want = sum(1 for p in payloads if datagram_frame(p))
        await waitFor(lambda: len(readRecords(logd.tmp / "out.log")) >= want, f"{want} records")
    await logd.stop(service)


# Framing -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest_twisted.ensureDeferred
async def test_mixedFramingOnOneConnection(logd: Harness, kind: str) -> None:
    """
    Octet-counted, LF-terminated, NUL-terminated (Python's SysLogHandler
    over TCP) and CRLF-terminated messages on one connection, in one write:
    each is one record, as received; an octet-counted frame may hold an LF.
    """
    frames = [
        RFC5424,
        RFC3164,
        PYTHON_HANDLER,
        b"<13>1 - host app - - - multi\nline",
        b"<14>app: crlf ended",
        b"<15>Oct 11 22:14:15 host app: last, unterminated",
    ]
    payload = (
        octet(frames[0]) + frames[1] + b"\n" + frames[2] + b"\x00" + octet(frames[3]) + frames[4] + b"\r\n" + frames[5]
    )
    service = logd.start(textAndJSON(logd), [syslogListener(logd, kind, ["out", "json"])])
    client = await connect(service)
    client.send(payload)
    await client.close()
    await logd.stop(service)
    records = readRecords(logd.tmp / "out.log")
    assert messages(records) == frames
    assert {(r.listener, r.peer) for r in records} == {("sys", client.peer)}
    objects = readJSONObjects(logd.tmp / "json.log")
    assert [o["message"] for o in objects] == [
        "An application event log entry",
        "'su root' failed for lonvick on /dev/pts/8",
        "text from python",
        "multi\nline",
        "crlf ended",
        "last, unterminated",
    ]
    host = fallbackHost(kind)
    assert [o["hostname"] for o in objects] == ["mymachine.example.com", "mymachine", host, "host", host, "host"]
    assert stats(service).badLengthPrefixes == 0


@pytest_twisted.ensureDeferred
async def test_framesSplitAcrossManyWrites(logd: Harness) -> None:
    """
    Frames cut across many separate reads, inside the length prefix, right
    after its space, inside the message, between a CR and its LF and right
    before a NUL, come out whole.
    """
    frames = [RFC5424, RFC3164, PYTHON_HANDLER, b"<13>1 - - - - - - x"]
    stream = octet(frames[0]) + frames[1] + b"\r\n" + frames[2] + b"\x00" + octet(frames[3])
    first = len(octet(frames[0]))
    prefix = len(b"%d " % len(frames[0]))
    crlf = first + len(frames[1]) + 1  # between the CR and the LF
    nul = crlf + 1 + len(frames[2])  # just before the NUL
    cuts = [1, 2, prefix, 40, first - 1, first + 5, crlf, nul, nul + 2, len(stream) - 1]
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    assert b"".join(pieces) == stream and len(pieces) == 11
    service = logd.start(textAndJSON(logd), [syslogListener(logd, "tcp", ["out", "json"])])
    client = await connect(service)
    await sendPieces(service, client, pieces)
    await client.close()
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == frames
    assert fieldsOf(readJSONObjects(logd.tmp / "json.log")[0]) == RFC5424_FIELDS
    assert stats(service).badLengthPrefixes == 0


@pytest_twisted.ensureDeferred
async def test_byteByByte(logd: Harness) -> None:
    """An octet-counted frame then an LF-ended one, every byte a read of its own."""
    stream = octet(b"<14>app: hi") + b"<14>app: there\n"
    service = logd.start({"out": logd.fileSink()}, [syslogListener(logd, "tcp")])
    client = await connect(service)
    await sendPieces(service, client, [stream[i : i + 1] for i in range(len(stream))])
    await client.close()
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == [b"<14>app: hi", b"<14>app: there"]


@pytest.mark.parametrize("end", [b"\n", b"\x00", b""], ids=["LF", "NUL", "at-close"])
@pytest_twisted.ensureDeferred
async def test_longNonTransparentFrameSplit(logd: Harness, end: bytes) -> None:
    """
    A message longer than max_line, ended by LF, NUL or the close, is cut
    into max_line pieces (as the line protocol does), counted in splitLines;
    the next message is intact.
    """
    long = b"<14>app: " + bytes(random.Random(1).choices(b"abcdefghij ", k=241))
    assert len(long) == 250
    service = logd.start({"out": logd.fileSink()}, [syslogListener(logd, "tcp", max_line=100)])
    if end:
        await sendAndClose(service, long + end + b"<14>app: next\n")
        want = [long[:100], long[100:200], long[200:], b"<14>app: next"]
    else:
        await sendAndClose(service, b"<14>app: first\n" + long)
        want = [b"<14>app: first", long[:100], long[100:200], long[200:]]
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == want
    assert stats(service).splitLines == 2
    assert stats(service).skippedBytes == 0


@pytest_twisted.ensureDeferred
async def test_longOctetCountedFrameTruncated(logd: Harness) -> None:
    """
    An octet-counted frame longer than max_line: its first max_line bytes
    are recorded, the rest skipped (even across reads) and counted in
    skippedBytes; the frames after it are intact.
    """
    long = b"<14>app: " + b"x\ny" * 97 + b"z" * 9  # LFs inside: still one frame
    assert len(long) == 309
    stream = octet(long) + octet(b"<14>app: after") + b"<14>app: lf after\n"
    service = logd.start(textAndJSON(logd), [syslogListener(logd, "tcp", ["out", "json"], max_line=100)])
    client = await connect(service)
    await sendPieces(service, client, [stream[:50], stream[50:200], stream[200:]])
    await client.close()
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == [long[:100], b"<14>app: after", b"<14>app: lf after"]
    assert stats(service).skippedBytes == 209
    assert stats(service).splitLines == 0
    assert readJSONObjects(logd.tmp / "json.log")[0]["app_name"] == "app"


@pytest_twisted.ensureDeferred
async def test_brokenLengthPrefix(logd: Harness) -> None:
    """
    A message starting with digits that are not a length prefix ('12x',
    a leading zero, more than nine digits) falls back to LF framing, digits
    included, and is counted in badLengthPrefixes; octet counting works
    again for the next message.
    """
    stream = (
        b"12x <14>app: broken prefix\n"
        + octet(b"<14>app: good 1")
        + b"007 <14>app: leading zero\n"
        + b"1234567890123 <14>app: too many digits\n"
        + octet(b"<14>app: good 2")
    )
    service = logd.start({"out": logd.fileSink()}, [syslogListener(logd, "tcp")])
    await sendAndClose(service, stream)
    await logd.stop(service)
    assert messages(readRecords(logd.tmp / "out.log")) == [
        b"12x <14>app: broken prefix",
        b"<14>app: good 1",
        b"007 <14>app: leading zero",
        b"1234567890123 <14>app: too many digits",
        b"<14>app: good 2",
    ]
    assert stats(service).badLengthPrefixes == 3


@pytest.mark.parametrize("kind", ["udp", "unixgram"])
@pytest_twisted.ensureDeferred
async def test_datagramOneMessageEach(logd: Harness, kind: str) -> None:
    """
    One datagram is one message, whatever it holds (LFs, an octet count);
    a trailing LF, CRLF or NUL is trimmed; an empty datagram is nothing.
    """
    datagrams = [
        RFC5424 + b"\n",
        RFC3164 + b"\r\n",
        PYTHON_HANDLER + b"\x00",
        b"<13>1 - h a - - - two\nlines",
        b"",
        b"15 <14>app: x",
    ]
    service = logd.start(textAndJSON(logd), [syslogListener(logd, kind, ["out", "json"])])
    client = DatagramClient(service)
    for datagram in datagrams:
        await client.send(datagram)
    await client.close()
    await waitFor(lambda: len(readJSONObjects(logd.tmp / "json.log")) >= 5, "5 json records")
    await logd.stop(service)
    records = readRecords(logd.tmp / "out.log")
    assert messages(records) == [RFC5424, RFC3164, PYTHON_HANDLER, b"<13>1 - h a - - - two\nlines", b"15 <14>app: x"]
    assert {(r.listener, r.peer) for r in records} == {("sys", client.peer)}
    objects = readJSONObjects(logd.tmp / "json.log")
    assert fieldsOf(objects[0]) == RFC5424_FIELDS
    assert fieldsOf(objects[1]) == RFC3164_FIELDS
    assert [o["message"] for o in objects[2:]] == ["text from python", "two\nlines", "15 <14>app: x"]
    assert {o["peer"] for o in objects} == {client.peer}


# Fields in JSON --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tcp", "udp", "unix", "unixgram"])
@pytest_twisted.ensureDeferred
async def test_jsonFields(logd: Harness, kind: str) -> None:
    """
    JSON records carry every parsed field with the issue's keys: RFC 5424
    with structured data, MSGID and PROCID; RFC 5424 with an offset
    timestamp, escaped SD values, UTF-8 and all-NILVALUE header fields;
    RFC 3164.
    """
    offset = b'<86>1 2026-11-26T10:04:41.123456+01:00 host-\xc3\xa9 sshd - - [auth@1 user="r\\"o\\\\o\\]t"] caf\xc3\xa9'
    service = logd.start(textAndJSON(logd), [syslogListener(logd, kind, ["out", "json"])])
    client = await openClient(service)
    if kind in ("tcp", "unix"):
        await client.deliver(octet(RFC5424) + octet(offset) + RFC3164 + b"\n")
    else:
        for message in (RFC5424, offset, RFC3164):
            await client.deliver(message)
    await client.close()
    await waitFor(lambda: len(readJSONObjects(logd.tmp / "json.log")) == 3, "3 json records")
    objects = readJSONObjects(logd.tmp / "json.log")
    assert [(o["listener"], o["peer"]) for o in objects] == [("sys", client.peer)] * 3
    assert fieldsOf(objects[0]) == RFC5424_FIELDS
    assert fieldsOf(objects[1]) == {
        "facility": "authpriv",
        "severity": "info",
        "timestamp": "2026-11-26T10:04:41.123456+01:00",
        "hostname": "host-é",
        "app_name": "sshd",
        "procid": None,
        "msgid": None,
        "structured_data": {"auth@1": {"user": 'r"o\\o]t'}},
        "message": "café",
    }
    assert fieldsOf(objects[2]) == RFC3164_FIELDS


@pytest.mark.parametrize("kind", ["tcp", "tcp6", "udp", "udp6", "unix", "unixgram"])
@pytest_twisted.ensureDeferred
async def test_hostnameFallback(logd: Harness, kind: str) -> None:
    """
    A message naming no host (Python's SysLogHandler form, glibc's local
    form, RFC 5424's NILVALUE) gets the peer's IP address as hostname, or
    this machine's host name over a Unix socket.
    """
    if kind.endswith("6") and not hasIPv6Loopback():
        pytest.skip("this machine has no IPv6 loopback (::1 cannot be bound)")
    sent = [PYTHON_HANDLER, b"<30>Oct 11 22:14:15 cron[99]: local form", b"<13>1 - - app - - - nil host"]
    service = logd.start({"json": logd.fileSink("json", "json")}, [syslogListener(logd, kind, ["json"])])
    client = await openClient(service)
    for message in sent:
        await client.deliver(message + b"\n")
    await client.close()
    await waitFor(lambda: len(readJSONObjects(logd.tmp / "json.log")) == 3, "3 json records")
    objects = readJSONObjects(logd.tmp / "json.log")
    assert [(o["hostname"], o["app_name"], o["message"]) for o in objects] == [
        (fallbackHost(kind), "app", "text from python"),
        (fallbackHost(kind), "cron", "local form"),
        (fallbackHost(kind), "app", "nil host"),
    ]


@pytest.mark.parametrize("kind", ["tcp", "udp"])
@pytest_twisted.ensureDeferred
async def test_parseErrorRecordedWhole(logd: Harness, kind: str) -> None:
    """
    A message that fits neither RFC (a bad PRI, a broken RFC 5424 header)
    is recorded whole, with parse_error true; parsed ones have no true
    parse_error.  The text sink has every message as received.
    """
    sent = [b"<999>junk", b"<1a>x", b"<13>1 2026-13-01T00:00:00Z h a - - - bad month", b"<13>fine"]
    service = logd.start(textAndJSON(logd), [syslogListener(logd, kind, ["out", "json"])])
    await deliverAll(logd, service, [m + b"\n" for m in sent])
    assert messages(readRecords(logd.tmp / "out.log")) == sent
    objects = readJSONObjects(logd.tmp / "json.log")
    assert [(o["message"], o.get("parse_error")) for o in objects[:3]] == [(m.decode(), True) for m in sent[:3]]
    assert objects[3]["message"] == "fine" and objects[3].get("parse_error") in (None, False)
    assert [o["hostname"] for o in objects] == ["127.0.0.1"] * 4
    assert objects[2]["facility"] == "user" and objects[2]["severity"] == "notice"


# Templates, text and filters through real sinks ----------------------------------------


@pytest_twisted.ensureDeferred
async def test_templateAndTextSinks(logd: Harness) -> None:
    """
    A template sink shared by a syslog and a line listener writes the
    syslog fields of one and '-' for the other; a text sink on the syslog
    listener keeps the message as received, escaped; every record is one line.
    """
    template = "{listener} {hostname} {app_name}[{procid}]: {message}"
    sinks = {"tpl": logd.fileSink("tpl", template=template), "out": logd.fileSink()}
    service = logd.start(
        sinks,
        [
            syslogListener(logd, "tcp", ["tpl", "out"]),
            {"name": "lines", "endpoint": logd.endpoint("tcp"), "protocol": "line", "sinks": ["tpl"]},
        ],
    )
    await sendAndClose(service, octet(RFC5424) + octet(b"<14>app[7]: two\nlines\ttab") + RFC3164 + b"\n")
    await waitFor(lambda: countRecords(logd.tmp / "tpl.log") == 3, "3 template lines")
    await sendAndClose(service, b"a plain line\n", index=1)
    await logd.stop(service)
    assert (logd.tmp / "tpl.log").read_bytes().split(b"\n") == [
        b"sys mymachine.example.com evntslog[8710]: An application event log entry",
        b"sys 127.0.0.1 app[7]: two\\nlines\\ttab",
        b"sys mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8",
        b"lines - -[-]: a plain line",
        b"",
    ]
    assert messages(readRecords(logd.tmp / "out.log")) == [RFC5424, b"<14>app[7]: two\nlines\ttab", RFC3164]


@pytest_twisted.ensureDeferred
async def test_filtersThroughSinks(logd: Harness) -> None:
    """
    Filters pick each sink's records: by severity, facility, listener and
    match; a record reaches every sink whose filter it passes; the line
    listener's records pass only match and listener filters.
    """
    sinks = {
        "all": logd.fileSink("all"),
        "urgent": logd.fileSink("urgent", filter={"severity": "warning"}),
        "auth": logd.fileSink("auth", "json", filter={"facility": ["auth", "authpriv"]}),
        "fromB": logd.fileSink("fromB", filter={"listener": ["b", "lines"]}),
        "failed": logd.fileSink("failed", filter={"match": "fail(ed|ure)"}),
        "authFailUrgent": logd.fileSink(
            "both", filter={"severity": "err", "facility": "auth", "listener": "a", "match": "failed"}
        ),
    }
    allSinks = list(sinks)
    service = logd.start(
        sinks,
        [
            syslogListener(logd, "tcp", allSinks, name="a"),
            syslogListener(logd, "udp", allSinks, name="b"),
            {"name": "lines", "endpoint": logd.endpoint("tcp"), "protocol": "line", "sinks": allSinks},
        ],
    )
    authCrit = b"<34>Oct 11 22:14:15 h su: auth failed"  # auth.crit
    userInfo = b"<14>Oct 11 22:14:15 h app: hello"  # user.info
    privNotice = b"<85>Oct 11 22:14:15 h sudo: session failure"  # authpriv.notice
    kernWarn = b"<4>Oct 11 22:14:15 h kernel: warm"  # kern.warning
    await sendAndClose(service, b"".join(m + b"\n" for m in (authCrit, userInfo, privNotice, kernWarn)))
    udp = DatagramClient(service, 1)
    for m in (authCrit, userInfo):
        await udp.send(m)
    await udp.close()
    await waitFor(lambda: len(readRecords(logd.tmp / "all.log")) == 6, "6 records")
    await sendAndClose(service, b"<34>a line that failed\nanother line\n", index=2)
    await logd.stop(service)

    def got(name: str) -> list[tuple[str, bytes]]:
        return sorted((r.listener, r.message) for r in readRecords(logd.tmp / f"{name}.log"))

    lineFailed, lineOther = ("lines", b"<34>a line that failed"), ("lines", b"another line")
    fromA = [("a", m) for m in (authCrit, userInfo, privNotice, kernWarn)]
    assert got("all") == sorted([*fromA, ("b", authCrit), ("b", userInfo), lineFailed, lineOther])
    assert got("urgent") == sorted([("a", authCrit), ("a", kernWarn), ("b", authCrit)])
    assert sorted((o["listener"], o["app_name"], o["facility"]) for o in readJSONObjects(logd.tmp / "auth.log")) == [
        ("a", "su", "auth"), ("a", "sudo", "authpriv"), ("b", "su", "auth")
    ]
    assert got("fromB") == sorted([("b", authCrit), ("b", userInfo), lineFailed, lineOther])
    assert got("failed") == sorted([("a", authCrit), ("a", privNotice), ("b", authCrit), lineFailed])
    assert got("both") == [("a", authCrit)]


# Lazy parsing ----------------------------------------------------------------------


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Counter[bytes]:
    """How many times each message went through the syslog parser."""
    counts: Counter[bytes] = Counter()
    real = logd.fields.parse

    def counting(raw: bytes) -> Any:
        counts[bytes(raw)] += 1
        return real(raw)

    monkeypatch.setattr(logd.fields, "parse", counting)
    return counts


def numbered(n: int) -> list[bytes]:
    """n distinct syslog messages of every severity."""
    return [b"<%d>Oct 11 22:14:15 host app[%d]: message %d" % (8 + i % 8, i, i) for i in range(n)]


@pytest.mark.parametrize("kind", ["tcp", "udp"])
@pytest_twisted.ensureDeferred
async def test_textSinkDoesNotParse(logd: Harness, parsed: Counter[bytes], kind: str) -> None:
    """
    A syslog listener whose only sink writes text as received (no
    template, filter or json) never calls the parser.
    """
    sent = numbered(40)
    service = logd.start({"out": logd.fileSink()}, [syslogListener(logd, kind)])
    if kind == "tcp":
        await deliverAll(logd, service, [b"".join(octet(m) if i % 2 else m + b"\n" for i, m in enumerate(sent))])
    else:
        await deliverAll(logd, service, sent)
    assert messages(readRecords(logd.tmp / "out.log")) == sent
    assert sum(parsed.values()) == 0


@pytest.mark.parametrize("kind", ["tcp", "udp"])
@pytest_twisted.ensureDeferred
async def test_jsonSinksParseOnce(logd: Harness, parsed: Counter[bytes], kind: str) -> None:
    """
    With two json sinks, a filtered one among them, a template sink and a
    text sink, a message the C accelerator writes is never parsed in Python,
    and one it leaves to Python (here: with a repeated SD-ID, which Python
    merges) exactly once.
    """
    merged = [
        m.replace(b"Oct 11 22:14:15 host app[%d]: " % i, b'1 - host app %d - [x@1 n="%d"][x@1 m="%d"] ' % (i, i, i))
        for i, m in enumerate(numbered(40))
    ]
    sent = [m if i % 3 else merged[i] for i, m in enumerate(numbered(40))]
    sinks = {
        "out": logd.fileSink(),
        "j1": logd.fileSink("j1", "json"),
        "j2": logd.fileSink("j2", "json", filter={"severity": "warning"}),
        "tpl": logd.fileSink("tpl", template="{app_name} {message}"),
    }
    service = logd.start(sinks, [syslogListener(logd, kind, list(sinks))])
    if kind == "tcp":
        client = await connect(service)
        await sendPieces(service, client, [m + b"\n" for m in sent[:20]] + [b"".join(octet(m) for m in sent[20:])])
        await client.close()
    else:
        client = DatagramClient(service)
        for m in sent:
            await client.send(m)
        await client.close()
        await waitFor(lambda: len(readRecords(logd.tmp / "out.log")) == len(sent), "every record")
    await logd.stop(service)
    assert [o["message"] for o in readJSONObjects(logd.tmp / "j1.log")] == [f"message {i}" for i in range(40)]
    assert [o["procid"] for o in readJSONObjects(logd.tmp / "j2.log")] == [str(i) for i in range(40) if i % 8 <= 4]
    assert (logd.tmp / "tpl.log").read_bytes().count(b"\n") == 40
    assert parsed == Counter({m: 1 for i, m in enumerate(sent) if not i % 3})


# Garbage -------------------------------------------------------------------------------

TEN_MB_DIGITS = b"1234567890" * 1_000_000

NASTY_STREAMS = [
    b"\x00" * 5000,
    b"\xff" * 5000 + b"\n" + b"\xfe\xff\x00\x80" * 1000,
    b"<",
    b"<1>1 ",
    b"<13>1 - h a - - [x@1 k=\"unterminated\n",
    b"999999999 truncated octet-counted frame",
    b"99999999999 eleven digits\n",
    b"12",
    b"0 \n0\x00",
    b"\r\n\r\n\n\x00\x00\r\r",
    b"5 <1>",
    b"<191>1 9999-12-31T23:59:60.999999999Z " + b"x" * 300 + b" - - - [" + b"[" * 1000,
    random.Random(9).randbytes(200_000),
]


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest_twisted.ensureDeferred
async def test_garbageOnStreamListener(logd: Harness, kind: str) -> None:
    """
    Nasty inputs, each on its own connection (10 MB of digits with no
    space, NULs, 0xff, truncated headers and frames, broken length
    prefixes, random bytes), through text, json and template sinks: no
    crash (the autouse fixture fails a logged traceback), the 10 MB comes
    back as max_line pieces that add up to it, and the listener records
    normally afterwards.
    """
    sinks = {
        "out": logd.fileSink(),
        "json": logd.fileSink("json", "json"),
        "tpl": logd.fileSink("tpl", template="{hostname} {app_name} {structured_data} {message}"),
    }
    service = logd.start(sinks, [syslogListener(logd, kind, list(sinks))])
    await sendAndClose(service, TEN_MB_DIGITS)
    # The next connection's records come after every piece of this one.
    await waitFor(lambda: not service.listeners[0].factory.connections, "logd to see the close", timeout=10)
    for payload in NASTY_STREAMS:
        await sendAndClose(service, payload)
    await sendAndClose(service, octet(RFC5424))
    await logd.stop(service)
    records = readRecords(logd.tmp / "out.log")
    pieces = [TEN_MB_DIGITS[i : i + 65536] for i in range(0, len(TEN_MB_DIGITS), 65536)]
    assert messages(records[: len(pieces)]) == pieces
    assert records[-1].message == RFC5424
    objects = readJSONObjects(logd.tmp / "json.log")
    assert len(objects) == len(records)
    assert fieldsOf(objects[-1]) == RFC5424_FIELDS
    assert (logd.tmp / "tpl.log").read_bytes().count(b"\n") == len(records)
    assert stats(service).badLengthPrefixes >= 4


NASTY_DATAGRAMS = [
    b"",
    b"\x00",
    b"\n\x00\r\n",
    b"\xff" * 1000,
    b"<",
    b"<1>1 ",
    b"9" * 60000,
    b"<13>1 - h a - - [x@1 k=\"\x00\n",
    b"\x00\xfe<13>\xff",
    random.Random(10).randbytes(30000),
]


@pytest.mark.parametrize("kind", ["udp", "unixgram"])
@pytest_twisted.ensureDeferred
async def test_garbageOnDatagramListener(logd: Harness, kind: str) -> None:
    """
    Nasty datagrams: none crashes the listener; each non-empty one is
    recorded whole (trailing LF/NUL trimmed), and a good one still parses after.
    """
    sinks = {"out": logd.fileSink(), "json": logd.fileSink("json", "json")}
    service = logd.start(sinks, [syslogListener(logd, kind, list(sinks), max_line=70000)])
    await deliverAll(logd, service, [*NASTY_DATAGRAMS, RFC3164])
    want = [datagram_frame(d) for d in [*NASTY_DATAGRAMS, RFC3164] if datagram_frame(d)]
    assert messages(readRecords(logd.tmp / "out.log")) == want
    objects = readJSONObjects(logd.tmp / "json.log")
    assert len(objects) == len(want)
    assert fieldsOf(objects[-1]) == RFC3164_FIELDS
