"""
Sink templates (logd.outputs.formats.Template) and sink filters (logd.filters.Filter,
and through logd.routing.Router), on syslog records (fields parsed lazily by
logd.fields.SyslogFields) and on plain records (no fields).

Batch times are exact in binary, so these tests are about templates and
filters, not time rounding.
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

import pytest
from zope.interface import implementer

import logd.fields
from logd.fields import SyslogFields
from logd.filters import Filter
from logd.outputs.formats import Template, makeFormatter
from logd.records import Batch, escape, unescape
from logd.routing import ISink, ListenerStats, Router
from logd.syslog import FACILITIES, SEVERITIES

WHEN = 1795683881.5
WHEN_TEXT = "2026-11-26T09:04:41.500000Z"
PEER = "192.0.2.7:40514"
TEMPLATE = Template("{time} {hostname} {app_name}[{procid}]: {message}")

RFC5424_SD = (
    b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 8710 ID47 '
    b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
    b'[examplePriority@32473 class="high"] \xef\xbb\xbfAn application event log entry'
)
RFC3164 = b"<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8"
LOCAL_FORM = b"<14>myapp: no host here"  # Python's SysLogHandler, %(name)s: %(message)s


def syslogBatch(messages: Sequence[bytes], listener: str = "sys", peer: str = PEER) -> Batch:
    """A batch as a syslog listener builds it: fields parsed on first use."""
    messages = list(messages)
    return Batch(WHEN, listener, peer, messages, SyslogFields(messages, peer))


def plainBatch(messages: Sequence[bytes], listener: str = "lines", peer: str = PEER) -> Batch:
    return Batch(WHEN, listener, peer, list(messages))


def lines(output: bytes) -> list[bytes]:
    """The lines a template wrote, checking it wrote whole LF-terminated lines."""
    assert output.endswith(b"\n"), output
    return output[:-1].split(b"\n")


@pytest.fixture
def parseCount(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """
    Count calls of the syslog parser as logd.fields uses it: the list of
    messages parsed, in order.
    """
    calls: list[bytes] = []
    real = logd.fields.parse

    def counting(raw: bytes) -> Any:
        calls.append(raw)
        return real(raw)

    monkeypatch.setattr(logd.fields, "parse", counting)
    return calls


# Templates -----------------------------------------------------------------------


def test_templateRFC5424() -> None:
    """The README's template on an RFC 5424 message: header fields, MSG without its BOM."""
    assert TEMPLATE(syslogBatch([RFC5424_SD])) == (
        f"{WHEN_TEXT} mymachine.example.com evntslog[8710]: An application event log entry\n".encode()
    )


def test_templateRFC3164() -> None:
    """The README's template on a BSD message: TAG[PID] and the text after ': '."""
    assert TEMPLATE(syslogBatch([RFC3164])) == (
        f"{WHEN_TEXT} mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8\n".encode()
    )


@pytest.mark.parametrize("peer, host", [(PEER, "192.0.2.7"), ("[2001:db8::5]:514", "2001:db8::5")])
def test_templateHostnameFallsBackToPeer(peer: str, host: str) -> None:
    """
    A message naming no host gets the peer's address (without port or
    brackets); a missing PID is written '-'.
    """
    assert TEMPLATE(syslogBatch([LOCAL_FORM], peer=peer)) == f"{WHEN_TEXT} {host} myapp[-]: no host here\n".encode()


def test_templateHostnameOverUnixSocket() -> None:
    """Over a Unix socket (peer '-') the fallback host is this machine's name."""
    import socket

    assert TEMPLATE(syslogBatch([LOCAL_FORM], peer="-")) == (
        f"{WHEN_TEXT} {socket.gethostname()} myapp[-]: no host here\n".encode()
    )


def test_templateOnPlainRecords() -> None:
    """
    Plain (line) records have no syslog fields: each is written '-', while
    time, listener, peer and the escaped message are filled in.
    """
    t = Template("{time}|{listener}|{peer}|{facility}|{severity}|{timestamp}|{hostname}|"
                 "{app_name}|{procid}|{msgid}|{structured_data}|{parse_error}|{message}")
    out = t(plainBatch([b"<13>Oct 11 22:14:15 host app: looks like syslog", b"tab\there\xff"]))
    assert lines(out) == [
        f"{WHEN_TEXT}|lines|{PEER}|-|-|-|-|-|-|-|-|-|<13>Oct 11 22:14:15 host app: looks like syslog".encode(),
        f"{WHEN_TEXT}|lines|{PEER}|-|-|-|-|-|-|-|-|-|".encode() + b"tab\\there\\xff",
    ]


def test_templateEveryFieldOfSyslogRecord() -> None:
    """Every syslog field by name, on an RFC 5424 record with a MSGID."""
    t = Template("{facility} {severity} {timestamp} {hostname} {app_name} {procid} {msgid} {message}")
    assert lines(t(syslogBatch([RFC5424_SD]))) == [
        b"local4 notice 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 8710 ID47 An application event log entry"
    ]


def test_templateNilValues() -> None:
    """NILVALUE fields and absent ones are written '-'; a parsed record has no parse_error."""
    t = Template("{timestamp} {hostname} {app_name} {procid} {msgid} {parse_error} {message}")
    assert lines(t(syslogBatch([b"<13>1 - host - - - - text"]))) == [b"- host - - - - text"]


def test_templateParseError() -> None:
    """A message that fits neither RFC: {message} is all of it, and parse_error is set (not '-')."""
    t = Template("{parse_error}|{message}")
    (line,) = lines(t(syslogBatch([b"<999>junk"])))
    flag, message = line.split(b"|", 1)
    assert message == b"<999>junk"
    assert flag not in (b"-", b"", b"False")


def test_templateFormatSpecsAndLiteralBraces() -> None:
    """Template syntax is str.format's: doubled braces and format specs work."""
    t = Template("{{{severity:>7}}} {app_name:.3}")
    assert lines(t(syslogBatch([RFC3164]))) == [b"{   crit} su"]


def test_templateRecordsAndLinesInOrder() -> None:
    """One line per record, in order, across a mixed batch."""
    batch = syslogBatch([RFC5424_SD, RFC3164, LOCAL_FORM, b"<999>junk"])
    out = lines(Template("{app_name}")(batch))
    assert out == [b"evntslog", b"su", b"myapp", b"-"]


def test_templateEmptyBatch() -> None:
    assert TEMPLATE(syslogBatch([])) == b""


# Escaping: one line per record, whatever the fields hold -------------------------

NASTY = "a\nb\rc\td\x00e\x1bf\x7fg\\h\u2028i"


def nastyFields() -> dict[str, Any]:
    """
    Fields with every kind of control character in every value, as a
    custom protocol may pass them to emit(messages, peer, fields).
    """
    return {
        "facility": "user" + NASTY,
        "severity": "info" + NASTY,
        "timestamp": "2026" + NASTY,
        "hostname": "host" + NASTY,
        "app_name": "app" + NASTY,
        "procid": "1" + NASTY,
        "msgid": "m" + NASTY,
        "structured_data": {"id" + NASTY: {"k" + NASTY: "v" + NASTY}},
        "message": "msg" + NASTY,
    }


def test_templateEscapesControlsInEveryField() -> None:
    """
    Control characters, CR and LF, and backslashes are escaped in every
    field as in a text-format message: each record is still exactly one
    line, and unescaping a field gives its value back.
    """
    names = ["facility", "severity", "timestamp", "hostname", "app_name", "procid", "msgid", "message"]
    t = Template("\x1f".join("{%s}" % name for name in names).replace("\x1f", " | "))
    fields = nastyFields()
    batch = Batch(WHEN, "custom", PEER, [b"raw1", b"raw2"], [fields, fields])
    out = lines(t(batch))
    assert len(out) == 2
    for line in out:
        assert re.search(rb"[\x00-\x1f\x7f]", line) is None, line
        values = line.split(b" | ")
        assert [unescape(v).decode() for v in values] == [fields[name] for name in names]


def test_templateEscapesStructuredData() -> None:
    """
    Structured data is written as one JSON object on the record's line:
    unescaped, it is JSON giving back the SD-IDs, names and values (values
    with quotes, backslashes, brackets and an LF included).
    """
    fields = nastyFields()
    batch = Batch(WHEN, "custom", PEER, [b"raw"], [fields])
    (line,) = lines(Template("<{structured_data}>")(batch))
    assert re.search(rb"[\x00-\x1f\x7f]", line) is None, line
    assert line.startswith(b"<{") and line.endswith(b"}>")
    assert json.loads(unescape(line[1:-1])) == fields["structured_data"]


def test_templateStructuredDataFromMessage() -> None:
    """Escaped characters in SD values arrive unescaped in the written JSON object."""
    raw = b'<13>1 - h a - - [x@1 q="say \\"hi\\"" b="c:\\\\d" r="[1\\]" n="l1\nl2"][y@2] m'
    (line,) = lines(Template("{structured_data}")(syslogBatch([raw])))
    assert b"\n" not in line
    assert json.loads(unescape(line)) == {"x@1": {"q": 'say "hi"', "b": "c:\\d", "r": "[1]", "n": "l1\nl2"}, "y@2": {}}


def test_templateStructuredDataNil() -> None:
    """
    A NILVALUE STRUCTURED-DATA ('-'), like every other NILVALUE, is written
    '-' (as Template's docstring promises), not as an empty JSON object.
    """
    (line,) = lines(Template("{msgid} {structured_data}")(syslogBatch([b"<13>1 - h a - - - text"])))
    assert line == b"- -"


def test_templateMessageEscapedLikeTextFormat() -> None:
    """
    A syslog MSG is escaped exactly as the text format escapes bytes:
    invalid UTF-8 becomes \\xNN (one backslash), so unescaping the field
    gives the MSG bytes back and a literal backslash-x in a message stays
    distinguishable from a raw byte.  Header fields are text (RFC 5424
    makes them printable ASCII): a byte that is not UTF-8 in one is the text
    \\xNN, as in JSON, and the template escapes that text like any other, so
    unescaping gives the header's text back.
    """
    msg = b"caf\xff \\xff \x1b end"
    (line,) = lines(Template("{message}")(syslogBatch([b"<13>Oct 11 22:14:15 host app: " + msg])))
    assert line == escape(msg)
    assert unescape(line) == msg
    (line,) = lines(Template("{hostname}")(syslogBatch([b"<13>1 - h\xffst app - - - x"])))
    assert unescape(line) == b"h\\xffst"


def test_templateMessageOfPlainRecordIsEscapedBytes() -> None:
    """For plain records {message} is escape(message): unescape gives the exact bytes."""
    raw = b"\xff\xfe\\x41\n\r\t\x00"
    (line,) = lines(Template("{message}")(plainBatch([raw])))
    assert unescape(line) == raw


def test_templateThroughMakeFormatter() -> None:
    """makeFormatter with a template renders with it (and formats a batch once for every sink)."""
    fmt = makeFormatter("text", "{app_name}: {message}")
    batch = syslogBatch([RFC3164])
    first = fmt(batch)
    assert first == b"su: 'su root' failed for lonvick on /dev/pts/8\n"
    assert fmt(batch) is first


# Filters ---------------------------------------------------------------------------


def bySeverity() -> Batch:
    """Eight user-facility records, severity 0 (emerg) to 7 (debug), in order."""
    return syslogBatch([b"<%d>Oct 11 22:14:15 h app: sev %d" % (8 + s, s) for s in range(8)])


def test_severityThreshold() -> None:
    """
    severity: warning passes emerg, alert, crit, err and warning, and not
    notice, info or debug; the sub-batch carries the kept records' fields.
    """
    batch = bySeverity()
    part = Filter(severity=SEVERITIES.index("warning")).select(batch)
    assert part is not None
    assert list(part.messages) == list(batch.messages[:5])
    assert [f["severity"] for f in part.fields] == ["emerg", "alert", "crit", "err", "warning"]
    assert [f["message"] for f in part.fields] == [f"sev {s}" for s in range(5)]
    assert (part.time, part.listener, part.peer) == (batch.time, batch.listener, batch.peer)


@pytest.mark.parametrize("level", range(8))
def test_severityEveryLevel(level: int) -> None:
    """Each threshold passes exactly the records at least that urgent."""
    part = Filter(severity=level).select(bySeverity())
    assert part is not None
    assert [f["severity"] for f in part.fields] == list(SEVERITIES[: level + 1])


def test_facilityList() -> None:
    """facility: [auth, authpriv] passes exactly those facilities, any severity."""
    messages = [b"<%d>Oct 11 22:14:15 h app: %s" % (code * 8 + 6, name.encode()) for code, name in enumerate(FACILITIES)]
    part = Filter(facilities=frozenset({4, 10})).select(syslogBatch(messages))
    assert part is not None
    assert list(part.messages) == [messages[4], messages[10]]
    assert [f["facility"] for f in part.fields] == ["auth", "authpriv"]


def test_listenerList() -> None:
    """listener: [a, b] passes whole batches of those listeners and nothing of others."""
    f = Filter(listeners=frozenset({"a", "b"}))
    for name in ("a", "b"):
        batch = syslogBatch([RFC3164], listener=name)
        assert f.select(batch) is batch
    assert f.select(syslogBatch([RFC3164], listener="c")) is None
    assert f.select(plainBatch([b"x"], listener="ab")) is None


def test_matchOnMessageBytes() -> None:
    """
    match searches the message bytes (invalid UTF-8 included), anywhere in
    the message, not only at its start.
    """
    f = Filter(match=re.compile(rb"fail(ed|ure)|\xff"))
    messages = [
        b"<34>Oct 11 22:14:15 h su: auth failed",
        b"<34>Oct 11 22:14:15 h su: ok",
        b"<34>Oct 11 22:14:15 h su: byte \xff here",
        b"<34>Oct 11 22:14:15 h su: failure",
    ]
    part = f.select(syslogBatch(messages))
    assert part is not None
    assert list(part.messages) == [messages[0], messages[2], messages[3]]
    assert [x["message"] for x in part.fields] == ["auth failed", "byte \\xff here", "failure"]


def test_combinedFiltersAllMustPass() -> None:
    """Every key of a filter must pass: severity and facility and listener and match."""
    messages = [
        b"<34>Oct 11 22:14:15 h su: failed (auth.crit)",
        b"<38>Oct 11 22:14:15 h su: failed (auth.info)",
        b"<82>Oct 11 22:14:15 h su: failed (authpriv.crit)",
        b"<10>Oct 11 22:14:15 h su: failed (user.crit)",
        b"<34>Oct 11 22:14:15 h su: fine (auth.crit)",
    ]
    f = Filter(
        severity=SEVERITIES.index("err"),
        facilities=frozenset({4, 10}),
        listeners=frozenset({"sys"}),
        match=re.compile(rb"failed"),
    )
    part = f.select(syslogBatch(messages))
    assert part is not None
    assert list(part.messages) == [messages[0], messages[2]]
    assert f.select(syslogBatch(messages, listener="other")) is None


def test_wholeBatchPassingIsTheSameBatch() -> None:
    """When every record passes, the batch goes on untouched (no copy); when none does, nothing."""
    batch = bySeverity()
    assert Filter(severity=7).select(batch) is batch
    assert Filter(match=re.compile(rb"sev")).select(batch) is batch
    assert Filter(match=re.compile(rb"nothing like it")).select(batch) is None
    assert Filter(facilities=frozenset({0})).select(batch) is None


@pytest.mark.parametrize(
    "f, passes",
    [
        (Filter(severity=7), False),
        (Filter(facilities=frozenset(range(24))), False),
        (Filter(severity=7, match=re.compile(rb"line")), False),
        (Filter(match=re.compile(rb"line")), True),
        (Filter(listeners=frozenset({"lines"})), True),
        (Filter(listeners=frozenset({"lines"}), match=re.compile(rb"^<")), True),
    ],
    ids=["severity", "facility", "severity+match", "match", "listener", "listener+match"],
)
def test_plainRecords(f: Filter, passes: bool) -> None:
    """
    Records without syslog fields (a line listener's) never pass a severity
    or facility filter, even a permissive one, but do pass match and
    listener filters, even when they look like syslog.
    """
    batch = plainBatch([b"<13>Oct 11 22:14:15 h app: a line", b"<13>another line"])
    assert f.select(batch) is (batch if passes else None)


def test_plainRecordsPartialMatch() -> None:
    """A match filter on plain records gives a sub-batch without fields."""
    part = Filter(match=re.compile(rb"keep")).select(plainBatch([b"keep 1", b"drop", b"keep 2"]))
    assert part is not None
    assert list(part.messages) == [b"keep 1", b"keep 2"]
    assert part.fields is None


def test_parseErrorRecordsHaveSeverity() -> None:
    """
    A record that fits neither RFC keeps syslog fields (user.notice, or its
    valid PRI), so severity filters judge it as such rather than failing.
    """
    batch = syslogBatch([b"<999>junk", b"<11>1 2003-99-99T00:00:00Z broken"])
    part = Filter(severity=SEVERITIES.index("notice")).select(batch)
    assert part is not None
    assert [(f["facility"], f["severity"], f.get("parse_error")) for f in part.fields] == [
        ("user", "notice", True),
        ("user", "err", True),
    ]


def test_filtersDecideWithoutParsing(parseCount: list[bytes]) -> None:
    """
    No filter parses: listener and match filters need no fields, severity
    and facility filters read the PRI alone (the C accelerator's
    C{priorities}).  Templates and JSON still get every field afterwards.
    """
    batch = bySeverity()
    Filter(listeners=frozenset({"sys"})).select(batch)
    Filter(listeners=frozenset({"other"}), severity=0).select(batch)
    Filter(match=re.compile(rb"sev [0-3]")).select(batch)
    part = Filter(severity=3).select(batch)
    Filter(facilities=frozenset({1})).select(batch)
    Filter(severity=3, match=re.compile(rb"sev [0-1]")).select(batch)
    assert parseCount == []
    assert part is not None
    assert [f["severity"] for f in part.fields] == ["emerg", "alert", "crit", "err"]


# Through the router ------------------------------------------------------------------


@implementer(ISink)
class RecordingSink:
    """An ISink that keeps what it is given and is never full."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def write(self, batch: Batch) -> None:
        self.batches.append(batch)

    def isFull(self) -> bool:
        return False

    def addPressureObserver(self, observer: Any) -> None:
        pass

    @property
    def messages(self) -> list[bytes]:
        return [m for b in self.batches for m in b.messages]


def route(filters: Sequence[Filter | None], batches: Sequence[Batch]) -> list[RecordingSink]:
    sinks = [RecordingSink() for _ in filters]
    router = Router(sinks, ListenerStats(), canPause=True, filters=list(filters))
    for batch in batches:
        router.route(batch)
    return sinks


def test_routerRecordReachesSeveralSinks() -> None:
    """
    One record may reach several sinks: an auth.crit failure goes to the
    unfiltered sink, the 'warning' sink, the auth sink and the match sink;
    a user.info record only to the unfiltered one.
    """
    authCrit = b"<34>Oct 11 22:14:15 h su: failed"
    userInfo = b"<14>Oct 11 22:14:15 h app: hello"
    everything, urgent, auth, failures, other = route(
        [
            None,
            Filter(severity=SEVERITIES.index("warning")),
            Filter(facilities=frozenset({4, 10})),
            Filter(match=re.compile(rb"failed")),
            Filter(listeners=frozenset({"elsewhere"})),
        ],
        [syslogBatch([authCrit, userInfo])],
    )
    assert everything.messages == [authCrit, userInfo]
    assert urgent.messages == auth.messages == failures.messages == [authCrit]
    assert other.batches == []


def test_routerUnfilteredSinkGetsTheBatchItself() -> None:
    """Sinks without a filter get the very batch routed (the fast path)."""
    batch = bySeverity()
    plain, filtered = route([None, Filter(severity=2)], [batch])
    assert plain.batches == [batch] and plain.batches[0] is batch
    assert filtered.batches[0] is not batch


def test_routerSubBatchFields() -> None:
    """
    A batch of which only some records pass reaches the sink as a sub-batch
    of those records, with their own fields, the batch's time, listener and
    peer; JSON and templates of the sub-batch use those fields.
    """
    messages = [
        b"<13>1 2026-01-01T00:00:00Z web1 nginx 11 ACCESS - GET /",
        b"<11>1 2026-01-01T00:00:01Z web1 nginx 11 ERR [req@1 id=\"7\"] upstream failed",
        b"<12>1 2026-01-01T00:00:02Z web2 nginx 12 WARN - slow",
        b"<15>1 2026-01-01T00:00:03Z web2 nginx 12 DBG - noise",
    ]
    (sink,) = route([Filter(severity=SEVERITIES.index("warning"))], [syslogBatch(messages, peer="10.0.0.9:601")])
    (part,) = sink.batches
    assert (part.time, part.listener, part.peer) == (WHEN, "sys", "10.0.0.9:601")
    assert list(part.messages) == messages[1:3]
    assert [(f["hostname"], f["msgid"], f["severity"], f["structured_data"], f["message"]) for f in part.fields] == [
        ("web1", "ERR", "err", {"req@1": {"id": "7"}}, "upstream failed"),
        ("web2", "WARN", "warning", {}, "slow"),
    ]
    assert lines(Template("{timestamp} {msgid}")(part)) == [b"2026-01-01T00:00:01Z ERR", b"2026-01-01T00:00:02Z WARN"]
    objects = [json.loads(line) for line in lines(makeFormatter("json")(part))]
    assert [(o["peer"], o["msgid"], o["message"]) for o in objects] == [
        ("10.0.0.9:601", "ERR", "upstream failed"),
        ("10.0.0.9:601", "WARN", "slow"),
    ]


def test_routerFiltersPlainAndSyslogListeners() -> None:
    """
    A sink shared by a line listener and a syslog listener, filtered on
    severity, gets only the syslog records that pass; a match sink gets
    matching records of both.
    """
    severe, matching = [RecordingSink(), RecordingSink()]
    filters = [Filter(severity=3), Filter(match=re.compile(rb"disk"))]
    lineRouter = Router([severe, matching], ListenerStats(), canPause=True, filters=filters)
    syslogRouter = Router([severe, matching], ListenerStats(), canPause=True, filters=filters)
    lineRouter.route(plainBatch([b"<11>disk full, as a plain line", b"other"]))
    syslogRouter.route(syslogBatch([b"<11>app: disk full", b"<14>app: disk ok", b"<10>app: cpu"]))
    assert severe.messages == [b"<11>app: disk full", b"<10>app: cpu"]
    assert matching.messages == [b"<11>disk full, as a plain line", b"<11>app: disk full", b"<14>app: disk ok"]
