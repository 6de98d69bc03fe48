"""
Tests for L{logd.syslog}: RFC 5424 / RFC 3164 parsing.

The parser is checked field by field against the RFCs' own examples and a
table of what real senders (util-linux C{logger}, glibc, Python's
C{SysLogHandler}, rsyslog) put on the wire.
"""

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logd.syslog import (
    FACILITIES,
    SEVERITIES,
    SyslogMessage,
    parse,
)

BOM = b"\xef\xbb\xbf"


def fields(m: SyslogMessage) -> tuple:
    """Every field of a parsed message, in declaration order."""
    return (
        m.facility,
        m.severity,
        m.timestamp,
        m.hostname,
        m.app_name,
        m.procid,
        m.msgid,
        m.structured_data,
        m.message,
        m.parse_error,
    )


def E(fac, sev, ts, host, app, pid, msgid, sd, msg, err=False) -> tuple:
    """Expected fields of a message that parses."""
    return (fac, sev, ts, host, app, pid, msgid, sd, msg, err)


def BAD(raw: bytes, fac: int = 1, sev: int = 5) -> tuple:
    """Expected fields of a message that fits neither RFC."""
    return (fac, sev, None, None, None, None, None, {}, raw, True)


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------


def test_names() -> None:
    assert len(FACILITIES) == 24 and len(SEVERITIES) == 8
    assert FACILITIES[:12] == (
        "kern", "user", "mail", "daemon", "auth", "syslog",
        "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    )  # fmt: skip
    assert FACILITIES[12:16] == ("ntp", "audit", "alert", "clock")
    assert FACILITIES[16:] == tuple(f"local{i}" for i in range(8))
    assert SEVERITIES == (
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    )  # fmt: skip
    m = parse(b"<165>Aug 24 05:34:00 host app: x")
    assert (m.facility_name, m.severity_name) == ("local4", "notice")
    m = parse(b"<0>x")
    assert (m.facility_name, m.severity_name) == ("kern", "emerg")
    m = parse(b"<191>x")
    assert (m.facility_name, m.severity_name) == ("local7", "debug")


def test_frozen_and_equal_to_constructed() -> None:
    """parse() builds its results without __init__: same object anyway."""
    m = parse(b"<13>Nov 26 10:00:00 host app[1]: hi")
    assert m == SyslogMessage(
        1, 5, "Nov 26 10:00:00", "host", "app", "1", None, {}, b"hi", False
    )
    assert hash(parse(b"<13>x").message) == hash(b"x")
    with pytest.raises(AttributeError):
        m.facility = 3  # type: ignore[misc]
    assert repr(m).startswith("SyslogMessage(facility=1, severity=5,")


# --------------------------------------------------------------------------
# The RFCs' own examples
# --------------------------------------------------------------------------


def test_rfc5424_example_1() -> None:
    """RFC 5424 6.5 example 1: no structured data, BOM before MSG."""
    m = parse(
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
        + BOM
        + b"'su root' failed for lonvick on /dev/pts/8"
    )
    assert fields(m) == E(
        4, 2, "2003-10-11T22:14:15.003Z", "mymachine.example.com", "su",
        None, "ID47", {}, b"'su root' failed for lonvick on /dev/pts/8",
    )  # fmt: skip
    assert (m.facility_name, m.severity_name) == ("auth", "crit")


def test_rfc5424_example_2() -> None:
    """RFC 5424 6.5 example 2: offset and microseconds, no BOM."""
    m = parse(
        b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
        b"%% It's time to make the do-nuts."
    )
    assert fields(m) == E(
        20, 5, "2003-08-24T05:14:15.000003-07:00", "192.0.2.1", "myproc",
        "8710", None, {}, b"%% It's time to make the do-nuts.",
    )  # fmt: skip


def test_rfc5424_example_3() -> None:
    """RFC 5424 6.5 example 3: one SD element, then a MSG with BOM."""
    m = parse(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - "
        b'ID47 [exampleSDID@32473 iut="3" eventSource="Application" '
        b'eventID="1011"] ' + BOM + b"An application event log entry..."
    )
    assert fields(m) == E(
        20, 5, "2003-10-11T22:14:15.003Z", "mymachine.example.com",
        "evntslog", None, "ID47",
        {"exampleSDID@32473": {
            "iut": "3", "eventSource": "Application", "eventID": "1011"}},
        b"An application event log entry...",
    )  # fmt: skip


def test_rfc5424_example_4() -> None:
    """RFC 5424 6.5 example 4: two SD elements and no MSG at all."""
    m = parse(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - "
        b'ID47 [exampleSDID@32473 iut="3" eventSource="Application" '
        b'eventID="1011"][examplePriority@32473 class="high"]'
    )
    assert fields(m) == E(
        20, 5, "2003-10-11T22:14:15.003Z", "mymachine.example.com",
        "evntslog", None, "ID47",
        {"exampleSDID@32473": {
            "iut": "3", "eventSource": "Application", "eventID": "1011"},
         "examplePriority@32473": {"class": "high"}},
        b"",
    )  # fmt: skip


def test_rfc3164_example_1() -> None:
    m = parse(
        b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick "
        b"on /dev/pts/8"
    )
    assert fields(m) == E(
        4, 2, "Oct 11 22:14:15", "mymachine", "su", None, None, {},
        b"'su root' failed for lonvick on /dev/pts/8",
    )  # fmt: skip


def test_rfc3164_example_2() -> None:
    """As sent (no PRI, no header: all of it is MSG) and as relayed."""
    assert fields(parse(b"Use the BFG!")) == E(
        1, 5, None, None, None, None, None, {}, b"Use the BFG!"
    )
    # The relayed form has no TAG: "Use" is not followed by ":" or "[".
    assert fields(parse(b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!")) == E(
        1, 5, "Feb  5 17:32:18", "10.0.0.99", None, None, None, {},
        b"Use the BFG!",
    )  # fmt: skip


def test_rfc3164_example_3() -> None:
    """
    The RFC's own remark: "CST 1987" is not part of a valid HEADER, so a
    receiver takes "CST" for the HOSTNAME and the rest for the MSG.
    """
    m = parse(
        b"<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time "
        b"to make the do-nuts.  %%  Ingredients: Mix=OK, Jelly=OK # Devices: "
        b"Mixer=OK, Jelly_Injector=OK, Frier=OK # Transport: Conveyer1=OK, "
        b"Conveyer2=OK # %%"
    )
    assert fields(m) == E(
        20, 5, "Aug 24 05:34:00", "CST", None, None, None, {},
        b"1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  "
        b"Ingredients: Mix=OK, Jelly=OK # Devices: Mixer=OK, "
        b"Jelly_Injector=OK, Frier=OK # Transport: Conveyer1=OK, "
        b"Conveyer2=OK # %%",
    )  # fmt: skip


def test_rfc3164_example_4() -> None:
    """No valid TIMESTAMP: everything after the PRI is MSG; then relayed."""
    rest = (
        b"1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 "
        b"sched[0]: That's All Folks!"
    )
    assert fields(parse(b"<0>" + rest)) == E(
        0, 0, None, None, None, None, None, {}, rest
    )
    relayed = parse(b"<0>Oct 22 10:52:12 scapegoat " + rest)
    assert fields(relayed) == E(
        0, 0, "Oct 22 10:52:12", "scapegoat", None, None, None, {}, rest
    )


# --------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------

TS = "2026-11-26T10:00:00.123456+01:00"
TQ = b'[timeQuality tzKnown="1" isSynced="1" syncAccuracy="49000"]'
TQD = {"timeQuality": {"tzKnown": "1", "isSynced": "1", "syncAccuracy": "49000"}}

CASES: list[tuple[str, bytes, tuple]] = [
    # ---- RFC 5424: NILVALUEs, empty MSG, BOM ----
    ("5424-all-nil", b"<13>1 - - - - - -",
     E(1, 5, None, None, None, None, None, {}, b"")),
    ("5424-all-nil-sp", b"<13>1 - - - - - - ",
     E(1, 5, None, None, None, None, None, {}, b"")),
    ("5424-all-nil-msg", b"<13>1 - - - - - - hello world",
     E(1, 5, None, None, None, None, None, {}, b"hello world")),
    ("5424-pri-0", b"<0>1 - h a p m - x",
     E(0, 0, None, "h", "a", "p", "m", {}, b"x")),
    ("5424-pri-191", b"<191>1 - h a p m - x",
     E(23, 7, None, "h", "a", "p", "m", {}, b"x")),
    ("5424-bom", b"<13>1 - h a - - - " + BOM + b"caf\xc3\xa9",
     E(1, 5, None, "h", "a", None, None, {}, b"caf\xc3\xa9")),
    ("5424-bom-only", b"<13>1 - h a - - - " + BOM,
     E(1, 5, None, "h", "a", None, None, {}, b"")),
    ("5424-bom-twice", b"<13>1 - h a - - - " + BOM + BOM + b"x",
     E(1, 5, None, "h", "a", None, None, {}, BOM + b"x")),
    ("5424-msg-spaces", b"<13>1 - h a - - -   x  ",
     E(1, 5, None, "h", "a", None, None, {}, b"  x  ")),
    ("5424-msg-binary", b"<13>1 - h a - - - \x00\xff\n\r",
     E(1, 5, None, "h", "a", None, None, {}, b"\x00\xff\n\r")),
    ("5424-msg-latin1", b"<13>1 - h a - - - caf\xe9",
     E(1, 5, None, "h", "a", None, None, {}, b"caf\xe9")),
    # ---- RFC 5424 timestamps ----
    ("5424-ts-z", b"<13>1 2003-10-11T22:14:15Z h a - - - x",
     E(1, 5, "2003-10-11T22:14:15Z", "h", "a", None, None, {}, b"x")),
    ("5424-ts-frac1", b"<13>1 2003-10-11T22:14:15.1Z h a - - - x",
     E(1, 5, "2003-10-11T22:14:15.1Z", "h", "a", None, None, {}, b"x")),
    ("5424-ts-frac9", b"<13>1 2003-10-11T22:14:15.123456789+05:30 h a - - -",
     E(1, 5, "2003-10-11T22:14:15.123456789+05:30", "h", "a", None, None,
       {}, b"")),
    ("5424-ts-neg-offset", b"<13>1 1985-04-12T19:20:50.52-04:00 h a - - -",
     E(1, 5, "1985-04-12T19:20:50.52-04:00", "h", "a", None, None, {}, b"")),
    ("5424-leap-second", b"<13>1 2016-12-31T23:59:60Z h a - - - leap",
     E(1, 5, "2016-12-31T23:59:60Z", "h", "a", None, None, {}, b"leap")),
    ("5424-leap-second-offset", b"<13>1 1990-12-31T15:59:60-08:00 h a - - -",
     E(1, 5, "1990-12-31T15:59:60-08:00", "h", "a", None, None, {}, b"")),
    ("5424-ts-second-61", b"<13>1 2016-12-31T23:59:61Z h a - - - x",
     BAD(b"<13>1 2016-12-31T23:59:61Z h a - - - x", 1, 5)),
    ("5424-ts-month-13", b"<13>1 2016-13-01T00:00:00Z h a - - - x",
     BAD(b"<13>1 2016-13-01T00:00:00Z h a - - - x", 1, 5)),
    ("5424-ts-day-0", b"<13>1 2016-01-00T00:00:00Z h a - - - x",
     BAD(b"<13>1 2016-01-00T00:00:00Z h a - - - x", 1, 5)),
    ("5424-ts-hour-24", b"<13>1 2016-01-01T24:00:00Z h a - - - x",
     BAD(b"<13>1 2016-01-01T24:00:00Z h a - - - x", 1, 5)),
    ("5424-ts-lower-t", b"<13>1 2016-01-01t00:00:00Z h a - - - x",
     BAD(b"<13>1 2016-01-01t00:00:00Z h a - - - x", 1, 5)),
    ("5424-ts-no-offset", b"<13>1 2016-01-01T00:00:00 h a - - - x",
     BAD(b"<13>1 2016-01-01T00:00:00 h a - - - x", 1, 5)),
    ("5424-ts-frac-10", b"<13>1 2016-01-01T00:00:00.1234567890Z h a - - -",
     BAD(b"<13>1 2016-01-01T00:00:00.1234567890Z h a - - -", 1, 5)),
    ("5424-ts-empty-frac", b"<13>1 2016-01-01T00:00:00.Z h a - - -",
     BAD(b"<13>1 2016-01-01T00:00:00.Z h a - - -", 1, 5)),
    ("5424-ts-offset-24", b"<13>1 2016-01-01T00:00:00+24:00 h a - - -",
     BAD(b"<13>1 2016-01-01T00:00:00+24:00 h a - - -", 1, 5)),
    ("5424-ts-space", b"<13>1 2016-01-01 00:00:00Z h a - - -",
     BAD(b"<13>1 2016-01-01 00:00:00Z h a - - -", 1, 5)),
    # ---- RFC 5424 truncated / broken headers (keep the valid PRI) ----
    ("5424-trunc-ts", b"<14>1 2003-10-11T22:14:15.003Z",
     BAD(b"<14>1 2003-10-11T22:14:15.003Z", 1, 6)),
    ("5424-trunc-host", b"<14>1 2003-10-11T22:14:15.003Z host",
     BAD(b"<14>1 2003-10-11T22:14:15.003Z host", 1, 6)),
    ("5424-trunc-app", b"<14>1 - host app",
     BAD(b"<14>1 - host app", 1, 6)),
    ("5424-trunc-procid", b"<14>1 - host app 12",
     BAD(b"<14>1 - host app 12", 1, 6)),
    ("5424-trunc-msgid", b"<14>1 - host app 12 ID",
     BAD(b"<14>1 - host app 12 ID", 1, 6)),
    ("5424-trunc-before-sd", b"<14>1 - host app 12 ID ",
     BAD(b"<14>1 - host app 12 ID ", 1, 6)),
    ("5424-nil-then-trunc", b"<14>1 - ", BAD(b"<14>1 - ", 1, 6)),
    ("5424-double-space", b"<14>1 -  host app - - - x",
     BAD(b"<14>1 -  host app - - - x", 1, 6)),
    ("5424-sd-not-nil", b"<14>1 - h a - - x msg",
     BAD(b"<14>1 - h a - - x msg", 1, 6)),
    ("5424-nil-sd-glued", b"<14>1 - h a - - -msg",
     BAD(b"<14>1 - h a - - -msg", 1, 6)),
    ("5424-control-in-host", b"<14>1 - ho\x01st a - - - x",
     BAD(b"<14>1 - ho\x01st a - - - x", 1, 6)),
    # Not committed to 5424 ("1 -" is not followed by a space): BSD text.
    ("5424-tab-sep", b"<14>1 -\thost a - - - x",
     E(1, 6, None, None, None, None, None, {}, b"1 -\thost a - - - x")),
    # "1 " then neither "-" nor a date: a BSD message whose text says "1 ..."
    ("5424-like-text", b"<14>1 apple a day",
     E(1, 6, None, None, None, None, None, {}, b"1 apple a day")),
    ("version-2", b"<14>2 - h a - - - x",
     E(1, 6, None, None, None, None, None, {}, b"2 - h a - - - x")),
    ("version-only", b"<14>1", E(1, 6, None, None, None, None, None, {}, b"1")),
    # ---- RFC 5424 non-ASCII header fields (accepted, decoded leniently) ----
    ("5424-utf8-host", "<13>1 - hôst.exämple.org app - - - x".encode(),
     E(1, 5, None, "hôst.exämple.org", "app", None, None, {}, b"x")),
    ("5424-latin1-host", b"<13>1 - h\xf4st app - - - x",
     E(1, 5, None, "h\\xf4st", "app", None, None, {}, b"x")),
    ("5424-utf8-app", "<13>1 - h прил 1 - - x".encode(),
     E(1, 5, None, "h", "прил", "1", None, {}, b"x")),
    # ---- RFC 5424 structured data ----
    ("sd-one", b'<13>1 - h a - - [id a="1"] m',
     E(1, 5, None, "h", "a", None, None, {"id": {"a": "1"}}, b"m")),
    ("sd-no-params", b"<13>1 - h a - - [id] m",
     E(1, 5, None, "h", "a", None, None, {"id": {}}, b"m")),
    ("sd-empty-value", b'<13>1 - h a - - [id a=""]',
     E(1, 5, None, "h", "a", None, None, {"id": {"a": ""}}, b"")),
    ("sd-escapes", rb'<13>1 - h a - - [id a="q\"b\\c\]d"] m',
     E(1, 5, None, "h", "a", None, None, {"id": {"a": 'q"b\\c]d'}}, b"m")),
    ("sd-other-backslash", rb'<13>1 - h a - - [id p="C:\dir\n"] m',
     E(1, 5, None, "h", "a", None, None, {"id": {"p": "C:\\dir\\n"}}, b"m")),
    ("sd-trailing-backslash", rb'<13>1 - h a - - [id p="x\\"]',
     E(1, 5, None, "h", "a", None, None, {"id": {"p": "x\\"}}, b"")),
    ("sd-unescaped-bracket", b'<13>1 - h a - - [id a="x]y"] m',
     E(1, 5, None, "h", "a", None, None, {"id": {"a": "x]y"}}, b"m")),
    ("sd-spaces-in-value", b'<13>1 - h a - - [id a="x y  z"] m',
     E(1, 5, None, "h", "a", None, None, {"id": {"a": "x y  z"}}, b"m")),
    ("sd-param-name-with-bracket", b'<13>1 - h a - - [id [x="[evil" y="w"] m',
     E(1, 5, None, "h", "a", None, None, {"id": {"[x": "[evil", "y": "w"}}, b"m")),
    ("sd-escaped-control", b'<13>1 - h a - - [id y="a\\\n\\\x00"] m',
     E(1, 5, None, "h", "a", None, None, {"id": {"y": "a\\\n\\\x00"}}, b"m")),
    ("sd-utf8-value", '<13>1 - h a - - [id a="日本"] m'.encode(),
     E(1, 5, None, "h", "a", None, None, {"id": {"a": "日本"}}, b"m")),
    ("sd-three", b'<13>1 - h a - - [a x="1"][b@1 y="2" z="3"][c] m',
     E(1, 5, None, "h", "a", None, None,
       {"a": {"x": "1"}, "b@1": {"y": "2", "z": "3"}, "c": {}}, b"m")),
    ("sd-dup-id-merged", b'<13>1 - h a - - [a x="1"][a y="2"] m',
     E(1, 5, None, "h", "a", None, None, {"a": {"x": "1", "y": "2"}}, b"m")),
    ("sd-dup-param-last", b'<13>1 - h a - - [a x="1" x="2"] m',
     E(1, 5, None, "h", "a", None, None, {"a": {"x": "2"}}, b"m")),
    ("sd-bom-msg", b'<13>1 - h a - - [a x="1"] ' + BOM + b"m",
     E(1, 5, None, "h", "a", None, None, {"a": {"x": "1"}}, b"m")),
    ("sd-msg-looks-like-sd", b'<13>1 - h a - - [a x="1"] [b y="2"]',
     E(1, 5, None, "h", "a", None, None, {"a": {"x": "1"}}, b'[b y="2"]')),
    ("sd-unquoted", b"<13>1 - h a - - [a x=1] m",
     BAD(b"<13>1 - h a - - [a x=1] m", 1, 5)),
    ("sd-unterminated", b'<13>1 - h a - - [a x="1" m',
     BAD(b'<13>1 - h a - - [a x="1" m', 1, 5)),
    ("sd-unclosed-quote", b'<13>1 - h a - - [a x="1] m',
     BAD(b'<13>1 - h a - - [a x="1] m', 1, 5)),
    ("sd-empty-element", b"<13>1 - h a - - [] m",
     BAD(b"<13>1 - h a - - [] m", 1, 5)),
    ("sd-glued-msg", b'<13>1 - h a - - [a x="1"]m',
     BAD(b'<13>1 - h a - - [a x="1"]m', 1, 5)),
    ("sd-space-in-id", b'<13>1 - h a - - [a b x="1"] m',
     BAD(b'<13>1 - h a - - [a b x="1"] m', 1, 5)),
    ("sd-double-space", b'<13>1 - h a - - [a  x="1"] m',
     BAD(b'<13>1 - h a - - [a  x="1"] m', 1, 5)),
    # ---- util-linux logger --rfc5424 over the network ----
    ("logger-5424", b"<13>1 " + TS.encode() + b" myhost alice - - " + TQ + b" hello",
     E(1, 5, TS, "myhost", "alice", None, None, TQD, b"hello")),
    ("logger-5424-pid-msgid",
     b"<14>1 " + TS.encode() + b" myhost myapp 4242 ID7 " + TQ + b" hi there",
     E(1, 6, TS, "myhost", "myapp", "4242", "ID7", TQD, b"hi there")),
    ("logger-5424-notq", b"<13>1 " + TS.encode() + b" myhost alice - - - hello",
     E(1, 5, TS, "myhost", "alice", None, None, {}, b"hello")),
    ("logger-5424-sd-id",
     b"<13>1 " + TS.encode() + b' myhost alice - - [timeQuality tzKnown="1"]'
     b'[zoo@123 tiger="hungry" zebra="running"] hello',
     E(1, 5, TS, "myhost", "alice", None, None,
       {"timeQuality": {"tzKnown": "1"},
        "zoo@123": {"tiger": "hungry", "zebra": "running"}}, b"hello")),
    # ---- util-linux logger --rfc3164 over the network ----
    ("logger-3164", b"<13>Nov 26 10:00:00 myhost alice: hello",
     E(1, 5, "Nov 26 10:00:00", "myhost", "alice", None, None, {}, b"hello")),
    ("logger-3164-pid", b"<13>Nov  6 09:05:01 myhost alice[4242]: hello",
     E(1, 5, "Nov  6 09:05:01", "myhost", "alice", "4242", None, {}, b"hello")),
    ("logger-3164-empty", b"<13>Nov 26 10:00:00 myhost alice: ",
     E(1, 5, "Nov 26 10:00:00", "myhost", "alice", None, None, {}, b"")),
    ("logger-3164-no-space-after-colon", b"<13>Nov 26 10:00:00 myhost alice:",
     E(1, 5, "Nov 26 10:00:00", "myhost", "alice", None, None, {}, b"")),
    # ---- local socket: glibc syslog(), logger -u (no HOSTNAME) ----
    ("local-tag-pid", b"<13>Nov 26 10:00:00 tag[123]: msg",
     E(1, 5, "Nov 26 10:00:00", None, "tag", "123", None, {}, b"msg")),
    ("local-tag", b"<13>Nov 26 10:00:00 alice: hello world",
     E(1, 5, "Nov 26 10:00:00", None, "alice", None, None, {}, b"hello world")),
    ("local-padded-day", b"<38>Nov  6 10:00:00 sshd[99]: Accepted publickey",
     E(4, 6, "Nov  6 10:00:00", None, "sshd", "99", None, {},
       b"Accepted publickey")),
    ("local-tag-empty-msg", b"<13>Nov 26 10:00:00 cron[1]:",
     E(1, 5, "Nov 26 10:00:00", None, "cron", "1", None, {}, b"")),
    ("local-tag-colon-only-space", b"<13>Nov 26 10:00:00 cron[1]: ",
     E(1, 5, "Nov 26 10:00:00", None, "cron", "1", None, {}, b"")),
    ("local-msg-keeps-spaces", b"<13>Nov 26 10:00:00 app:   indented",
     E(1, 5, "Nov 26 10:00:00", None, "app", None, None, {}, b"  indented")),
    # ---- real-world BSD senders ----
    ("postfix", b"<22>Nov 26 10:00:00 mail postfix/smtpd[4321]: connect from "
     b"unknown[10.0.0.1]",
     E(2, 6, "Nov 26 10:00:00", "mail", "postfix/smtpd", "4321", None, {},
       b"connect from unknown[10.0.0.1]")),
    ("kernel", b"<4>Nov 26 10:00:00 host kernel: [ 12.345] eth0: link up",
     E(0, 4, "Nov 26 10:00:00", "host", "kernel", None, None, {},
       b"[ 12.345] eth0: link up")),
    ("systemd-dotted-tag", b"<30>Nov 26 10:00:00 host org.gnome.Shell.desktop[1]: x",
     E(3, 6, "Nov 26 10:00:00", "host", "org.gnome.Shell.desktop", "1", None,
       {}, b"x")),
    ("tag-pid-no-colon", b"<13>Nov 26 10:00:00 host app[12] msg",
     E(1, 5, "Nov 26 10:00:00", "host", "app", "12", None, {}, b"msg")),
    ("tag-pid-glued-msg", b"<13>Nov 26 10:00:00 host app[12]:msg",
     E(1, 5, "Nov 26 10:00:00", "host", "app", "12", None, {}, b"msg")),
    ("tag-pid-nonnumeric", b"<13>Nov 26 10:00:00 host app[main-1]: x",
     E(1, 5, "Nov 26 10:00:00", "host", "app", "main-1", None, {}, b"x")),
    ("tag-empty-pid", b"<13>Nov 26 10:00:00 host app[]: x",
     E(1, 5, "Nov 26 10:00:00", "host", None, None, None, {}, b"app[]: x")),
    ("host-no-tag", b"<13>Nov 26 10:00:00 host just some text",
     E(1, 5, "Nov 26 10:00:00", "host", None, None, None, {},
       b"just some text")),
    ("host-url-not-tag", b"<13>Nov 26 10:00:00 host http://x/: down",
     E(1, 5, "Nov 26 10:00:00", "host", None, None, None, {},
       b"http://x/: down")),
    ("host-ipv6", b"<13>Nov 26 10:00:00 fe80::1 app: x",
     E(1, 5, "Nov 26 10:00:00", "fe80::1", "app", None, None, {}, b"x")),
    ("host-utf8", "<13>Nov 26 10:00:00 hôst app: x".encode(),
     E(1, 5, "Nov 26 10:00:00", "hôst", "app", None, None, {}, b"x")),
    ("host-latin1", b"<13>Nov 26 10:00:00 h\xf4st app: x",
     E(1, 5, "Nov 26 10:00:00", "h\\xf4st", "app", None, None, {}, b"x")),
    ("lone-token-is-message", b"<13>Nov 26 10:00:00 word",
     E(1, 5, "Nov 26 10:00:00", None, None, None, None, {}, b"word")),
    ("ts-only", b"<13>Nov 26 10:00:00",
     E(1, 5, "Nov 26 10:00:00", None, None, None, None, {}, b"")),
    ("ts-only-space", b"<13>Nov 26 10:00:00 ",
     E(1, 5, "Nov 26 10:00:00", None, None, None, None, {}, b"")),
    ("ts-zero-padded-day", b"<11>Oct 05 12:23:34 hostname tag: hello world",
     E(1, 3, "Oct 05 12:23:34", "hostname", "tag", None, None, {},
       b"hello world")),
    ("ts-bare-day", b"<11>Oct 5 12:23:34 hostname tag: x",
     E(1, 3, "Oct 5 12:23:34", "hostname", "tag", None, None, {}, b"x")),
    ("ts-leap-second", b"<11>Dec 31 23:59:60 h tag: x",
     E(1, 3, "Dec 31 23:59:60", "h", "tag", None, None, {}, b"x")),
    ("ts-bad-month", b"<11>Foo 31 23:59:59 h tag: x",
     E(1, 3, None, None, None, None, None, {}, b"Foo 31 23:59:59 h tag: x")),
    ("ts-bad-hour", b"<11>Dec 31 24:00:00 h tag: x",
     E(1, 3, None, None, None, None, None, {}, b"Dec 31 24:00:00 h tag: x")),
    ("ts-lowercase-month", b"<11>dec 31 23:00:00 h tag: x",
     E(1, 3, None, None, None, None, None, {}, b"dec 31 23:00:00 h tag: x")),
    ("ts-fraction-not-bsd", b"<11>Dec 31 23:00:00.123 h tag: x",
     E(1, 3, None, None, None, None, None, {},
       b"Dec 31 23:00:00.123 h tag: x")),
    ("ts-double-space-host", b"<13>Nov 26 10:00:00  host app: x",
     E(1, 5, "Nov 26 10:00:00", None, None, None, None, {}, b" host app: x")),
    ("bsd-bom-kept", b"<13>Nov 26 10:00:00 host app: " + BOM + b"x",
     E(1, 5, "Nov 26 10:00:00", "host", "app", None, None, {}, BOM + b"x")),
    ("bsd-msg-binary", b"<13>Nov 26 10:00:00 host app: \x00\xff",
     E(1, 5, "Nov 26 10:00:00", "host", "app", None, None, {}, b"\x00\xff")),
    # ---- rsyslog forwarding format: RFC 3339 timestamp in a BSD message ----
    ("rsyslog-fwd", b"<30>2026-11-26T10:00:00.123456+01:00 web1 nginx[812]: "
     b"GET / 200",
     E(3, 6, "2026-11-26T10:00:00.123456+01:00", "web1", "nginx", "812", None,
       {}, b"GET / 200")),
    ("rsyslog-fwd-z", b"<86>2026-11-26T09:00:00Z web1 sudo: alice : TTY=pts/0",
     E(10, 6, "2026-11-26T09:00:00Z", "web1", "sudo", None, None, {},
       b"alice : TTY=pts/0")),
    ("rsyslog-fwd-no-host", b"<30>2026-11-26T10:00:00+01:00 nginx[812]: x",
     E(3, 6, "2026-11-26T10:00:00+01:00", None, "nginx", "812", None, {},
       b"x")),
    # ---- Python logging.handlers.SysLogHandler ----
    ("pyhandler-plain", b"<14>message",
     E(1, 6, None, None, None, None, None, {}, b"message")),
    ("pyhandler-words", b"<11>Something failed: disk full",
     E(1, 3, None, None, None, None, None, {}, b"Something failed: disk full")),
    ("pyhandler-name-formatter", b"<14>myapp.db: connection lost",
     E(1, 6, None, None, "myapp.db", None, None, {}, b"connection lost")),
    ("pyhandler-ident", b"<134>myapp[77]: started",
     E(16, 6, None, None, "myapp", "77", None, {}, b"started")),
    ("pyhandler-local7-debug", b"<191>debug text",
     E(23, 7, None, None, None, None, None, {}, b"debug text")),
    ("pyhandler-empty", b"<14>", E(1, 6, None, None, None, None, None, {}, b"")),
    ("pyhandler-utf8", "<14>héllo".encode(),
     E(1, 6, None, None, None, None, None, {}, "héllo".encode())),
    ("pyhandler-bom", b"<14>" + BOM + b"x",
     E(1, 6, None, None, None, None, None, {}, BOM + b"x")),
    ("cisco-seq", b"<189>123: *Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: x",
     E(23, 5, None, None, "123", None, None, {},
       b"*Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: x")),
    # ---- no PRI: user.notice (RFC 3164 4.3.3) ----
    ("nopri-bsd", b"Nov 26 10:00:00 host app[1]: x",
     E(1, 5, "Nov 26 10:00:00", "host", "app", "1", None, {}, b"x")),
    ("nopri-iso", b"2026-11-26T10:00:00Z host app: x",
     E(1, 5, "2026-11-26T10:00:00Z", "host", "app", None, None, {}, b"x")),
    ("nopri-text", b"hello world", E(1, 5, None, None, None, None, None, {},
                                      b"hello world")),
    ("nopri-tag-like", b"app: hello",
     E(1, 5, None, None, None, None, None, {}, b"app: hello")),
    ("nopri-5424-like", b"1 - h a - - - x",
     E(1, 5, None, None, None, None, None, {}, b"1 - h a - - - x")),
    ("nopri-empty", b"", E(1, 5, None, None, None, None, None, {}, b"")),
    ("nopri-space", b" <13>x", E(1, 5, None, None, None, None, None, {},
                                   b" <13>x")),
    ("nopri-binary", b"\x00\xff\xfe", E(1, 5, None, None, None, None, None, {},
                                         b"\x00\xff\xfe")),
    # ---- bad PRI: parse_error, whole input, user.notice ----
    ("pri-192", b"<192>Nov 26 10:00:00 host app: x",
     BAD(b"<192>Nov 26 10:00:00 host app: x")),
    ("pri-999", b"<999>x", BAD(b"<999>x")),
    ("pri-1000", b"<1000>x", BAD(b"<1000>x")),
    ("pri-alpha", b"<1a>x", BAD(b"<1a>x")),
    ("pri-empty", b"<>x", BAD(b"<>x")),
    ("pri-0001", b"<0001>x", BAD(b"<0001>x")),
    ("pri-00", b"<00>x", BAD(b"<00>x")),
    ("pri-013", b"<013>1 - h a - - - x", BAD(b"<013>1 - h a - - - x")),
    ("pri-negative", b"<-1>x", BAD(b"<-1>x")),
    ("pri-space", b"< 13>x", BAD(b"< 13>x")),
    ("pri-unclosed", b"<13", BAD(b"<13")),
    ("pri-unclosed-text", b"<13 hello", BAD(b"<13 hello")),
    ("pri-lt-only", b"<", BAD(b"<")),
    ("pri-html", b"<html>", BAD(b"<html>")),
    ("pri-5424-192", b"<192>1 - h a - - - x", BAD(b"<192>1 - h a - - - x")),
]


def test_table_size() -> None:
    assert len(CASES) >= 100
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(
    "raw,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_parse_table(raw: bytes, expected: tuple) -> None:
    assert fields(parse(raw)) == expected


def test_parse_accepts_bytearray() -> None:
    """Framer output is bytes, but a bytearray must not break the parser."""
    m = parse(bytearray(b"<13>Nov 26 10:00:00 host app: x"))
    assert (m.hostname, m.app_name, bytes(m.message)) == ("host", "app", b"x")


# --------------------------------------------------------------------------
# parse: properties
# --------------------------------------------------------------------------

_SYSLOGGY = st.lists(
    st.sampled_from(
        [
            b"<13>", b"<0>", b"<191>", b"<192>", b"<", b">", b"1 ", b"- ",
            b"2003-10-11T22:14:15.003Z ", b"Nov  6 10:00:00 ", b"host ",
            b"app", b"[", b"]", b"[id", b' a="', b'\\"', b"\\", b'"', b"=",
            b":", b" ", b"x", b"\xef\xbb\xbf", b"\xff", b"\x00", b"\n",
        ]
    ),
    max_size=25,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=300), _SYSLOGGY))
def test_parse_never_raises(raw: bytes) -> None:
    m = parse(raw)
    assert 0 <= m.facility <= 23 and 0 <= m.severity <= 7
    assert isinstance(m.message, bytes)
    # The message is always a suffix of the input (or the input itself).
    assert raw.endswith(m.message)
    if m.parse_error:
        assert m.message == raw
    m.facility_name, m.severity_name


@settings(max_examples=200, deadline=None)
@given(
    pri=st.integers(0, 191),
    host=st.from_regex(rb"\A[!-~]{1,20}\Z").filter(lambda b: b != b"-"),
    app=st.from_regex(rb"\A[!-~]{1,12}\Z").filter(lambda b: b != b"-"),
    value=st.text(max_size=20),
    msg=st.binary(max_size=40),
)
def test_parse_5424_roundtrip(
    pri: int, host: bytes, app: bytes, value: str, msg: bytes
) -> None:
    """A 5424 message built from parts parses back to those parts."""
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
    ).encode()
    raw = (
        b"<%d>1 2026-01-02T03:04:05.678Z " % pri
        + host + b" " + app + b' - - [x@1 v="' + escaped + b'"] ' + msg
    )
    m = parse(raw)
    assert not m.parse_error
    assert (m.facility, m.severity) == (pri >> 3, pri & 7)
    assert (m.hostname, m.app_name) == (host.decode(), app.decode())
    assert m.structured_data == {"x@1": {"v": value}}
    assert m.message == (msg[3:] if msg.startswith(BOM) else msg)


_PLAIN = st.sampled_from([b"a", b"]", b" ", b"=", b"[", b"\xc3\xa9", b"\n"])
_ESCAPE = st.sampled_from([b'\\"', b"\\\\", b"\\]", b"\\n", b"\\a", b"\\ ", b"\\["])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PLAIN, _ESCAPE), max_size=20))
def test_sd_unescape_follows_grammar(tokens: list[bytes]) -> None:
    """Backslashes pair left to right; only \\" \\\\ \\] lose theirs."""
    value = b"".join(tokens)
    expected = b"".join(
        t[1:] if t in (b'\\"', b"\\\\", b"\\]") else t for t in tokens
    )
    m = parse(b'<13>1 - h a - - [x v="' + value + b'"] m')
    assert not m.parse_error
    assert m.structured_data == {"x": {"v": expected.decode()}}
    assert m.message == b"m"
