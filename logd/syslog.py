"""
Syslog: parsing RFC 5424 and RFC 3164 messages (their framing on streams is
L{logd.inputs.syslogframing}'s).

Pure Python, no Twisted: the protocols hand this module the bytes they read.
Everything here runs once per message on the hot path, so the parsers are a
few compiled regular expressions matched against the whole message; no Python
loop walks characters (except over structured data, when a message carries
some).

L{parse} accepts any bytes whatsoever without raising:
a syslog port is open to the network, and one malformed sender must not cost
the daemon the messages of everybody else.

Decisions where the RFCs leave room, in one place:

  - Facility names for codes 12 to 15 are rsyslog's (C{ntp}, C{audit},
    C{alert}, C{clock}: RFC 5424 table 1 calls them NTP, log audit, log alert
    and clock daemon), not C{security}/C{console}/C{solaris-cron}: glibc and
    util-linux C{logger} already use C{security} as an alias of C{auth} (4),
    so naming 13 that would make one word mean two facilities.
  - A message with no PRI at all is not a parse error: RFC 3164 4.3.3 tells a
    relay to give it PRI 13 (user.notice).  A malformed PRI (C{<192>},
    C{<1a>}, C{<>}, C{<01>}, C{<} with no C{>}) is one.
  - A message that starts like RFC 5424 (C{<PRI>1 } then C{"- "} or
    C{YYYY-}) but breaks the grammar later is a parse error, not a BSD
    message whose text happens to start with "1 ": a truncated or mangled
    5424 header is far more likely than a BSD sender whose text starts that
    way.  Such a message keeps the facility and severity of its (valid) PRI.
    After C{<PRI>}, anything else (C{"1 apple"}, C{"2 - ..."}, an unknown
    VERSION) is read as RFC 3164.
  - RFC 5424 header fields should be printable US-ASCII.  Any byte other than
    space and the C0/DEL control characters is accepted, and the fields are
    decoded as UTF-8 with C{errors="backslashreplace"}: a sender with a
    non-ASCII hostname is misconfigured, but its messages are still worth
    keeping with their header, and nothing can fail to decode.  The field
    length limits (255/48/128/32) are not enforced, for the same reason.
  - RFC 5424 timestamps are checked for shape (ranges of each number, leap
    second C{:60}, upper-case C{T} and C{Z}, numeric offset) but not for
    calendar validity, and are kept as sent.  Up to 9 fraction digits are
    accepted (the RFC says 6) because Go's RFC3339Nano and others send 9.
  - Repeated SD-IDs are merged; a repeated PARAM-NAME (allowed by RFC 5424)
    keeps its last value.  A C{]} inside a quoted value is accepted even
    unescaped, since the quotes already delimit the value.
  - The UTF-8 BOM is removed from RFC 5424 MSG only; in a BSD message it has
    no defined meaning and the bytes are kept exactly.
  - BSD timestamps: C{Mmm dd hh:mm:ss} with the day space-padded, zero-padded
    or bare (C{Nov  6}, C{Nov 06}, C{Nov 6}); an RFC 3339 timestamp (rsyslog's
    forwarding format) is accepted in its place.
  - After the timestamp, a token followed by a space is the HOSTNAME unless
    it ends with C{:} or contains C{[}: then it is the TAG of a local-socket
    message (glibc C{syslog()}, C{logger -u}), which carries no hostname.  A
    lone token at the very end is message text, not a hostname.
  - The TAG is only recognised as C{TAG:} followed by a space or the end, or
    as C{TAG[PID]} followed by C{:}, a space or the end (one space after the
    colon is dropped): a first word of free text is not taken for a program
    name.  A TAG is any run of non-space bytes without C{:}, C{[} and C{]}
    (C{postfix/smtpd}, C{org.gnome.Shell.desktop}: the RFC's 32
    alphanumerics are not enforced), a PID any without C{]}.
  - With a PRI but no timestamp (Python's C{SysLogHandler} sends
    C{<14>text}), the TAG is still recognised, so a C{"%(name)s: %(message)s"}
    formatter gives C{app_name}; no HOSTNAME is looked for there.  Without
    PRI and without timestamp, the whole input is the message: there is no
    sign that it is syslog at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "FACILITIES",
    "SEVERITIES",
    "SyslogMessage",
    "parse",
    "priority",
]

FACILITIES: tuple[str, ...] = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "audit",
    "alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
"""Facility keywords indexed by code (rsyslog's names; see module docstring)."""

SEVERITIES: tuple[str, ...] = (
    "emerg",
    "alert",
    "crit",
    "err",
    "warning",
    "notice",
    "info",
    "debug",
)
"""Severity keywords indexed by code."""


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    """
    One parsed syslog message.

    Text fields are C{None} when the message does not carry them (or carries
    the NILVALUE C{-}), so the caller can tell "absent" from any value and fill
    in, for example, the peer's name for a missing hostname.  C{message} stays
    bytes: the MSG of a syslog message may be in any encoding, and the sinks
    decide what to do with it.
    """

    facility: int
    severity: int
    timestamp: str | None
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    structured_data: dict[str, dict[str, str]]
    message: bytes
    parse_error: bool

    @property
    def facility_name(self) -> str:
        """The facility keyword, e.g. C{"local0"}."""
        return FACILITIES[self.facility]

    @property
    def severity_name(self) -> str:
        """The severity keyword, e.g. C{"err"}."""
        return SEVERITIES[self.severity]


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------

# PRI is 0..191 written without leading zeros (RFC 5424 6.2.1); matching the
# range in the pattern saves a comparison and rejects <192> for free.
_PRI = rb"<(0|[1-9][0-9]?|1[0-8][0-9]|19[01])>"

# RFC 3339 as profiled by RFC 5424 6.2.3 (upper-case T and Z, leap second).
_ISO_TS = (
    rb"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    rb"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)"
    rb"(?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_BSD_TS = (
    rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    rb" (?:[ 0]?[1-9]|[12][0-9]|3[01])"
    rb" (?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)"
)
# A header token: anything but space and control characters (see module
# docstring for why non-ASCII is accepted).
_TOKEN = rb"([^\x00-\x20\x7f]+)"

_RFC5424_RE = re.compile(
    _PRI
    + rb"1 (-|"
    + _ISO_TS
    + rb") "
    + _TOKEN  # HOSTNAME
    + rb" "
    + _TOKEN  # APP-NAME
    + rb" "
    + _TOKEN  # PROCID
    + rb" "
    + _TOKEN  # MSGID
    + rb" "
)
# What commits a message to RFC 5424 once the full header did not match.
_LOOKS_5424_RE = re.compile(rb"1 (?:- |[0-9]{4}-)")

_SD_NAME = rb"[^\x00-\x20=\]\"\x7f]+"
_SD_VALUE = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
# The whole STRUCTURED-DATA is checked by one match, then cut into SD-IDs and
# params by one findall (safe once the grammar is checked: each token is
# consumed whole, and only " " and "]" lie between tokens).  A param is
# matched with the space before it: a PARAM-NAME may itself start with "[",
# and must not be read as an SD-ID.
_SD_RE = re.compile(
    rb"(?:\[" + _SD_NAME + rb"(?: " + _SD_NAME + rb"=" + _SD_VALUE + rb")*\])+",
    re.DOTALL,
)
_SD_TOKEN_RE = re.compile(
    rb"\[(" + _SD_NAME + rb")| (" + _SD_NAME + rb')="([^"\\]*(?:\\.[^"\\]*)*)"',
    re.DOTALL,
)

# RFC 3164 after the PRI: optional timestamp, then (only after a timestamp)
# an optional HOSTNAME, then an optional TAG.  The hostname alternative
# refuses a token containing "[" or ending with ":" (that is a TAG), and
# needs a following space.  Groups: timestamp, host, tag, pid.
_RFC3164_BODY = (
    rb"(?:(" + _BSD_TS + rb"|" + _ISO_TS + rb")(?: |\Z)"
    rb"(?:([^\x00-\x20\[\x7f]*[^\x00-\x20\[:\x7f]) )?)?"
    rb"(?:([^\x00-\x20:\[\]\x7f]+)"
    rb"(?:\[([^\x00-\x20\]\x7f]+)\](?:: ?| |\Z)|:(?: |\Z)))?"
)
# With PRI (group 1 is the PRI, the others follow), and without.
_RFC3164_RE = re.compile(_PRI + _RFC3164_BODY)
_RFC3164_NOPRI_RE = re.compile(_RFC3164_BODY)

_BOM = b"\xef\xbb\xbf"

# Building the frozen dataclass through its __init__ costs one
# object.__setattr__ call per field, about half of a whole parse; setting the
# slots through their descriptors on a bare instance is twice as fast and
# gives the same object.
_new = object.__new__
(
    _set_facility,
    _set_severity,
    _set_timestamp,
    _set_hostname,
    _set_app_name,
    _set_procid,
    _set_msgid,
    _set_structured_data,
    _set_message,
    _set_parse_error,
) = (
    SyslogMessage.facility.__set__,  # type: ignore[attr-defined]
    SyslogMessage.severity.__set__,  # type: ignore[attr-defined]
    SyslogMessage.timestamp.__set__,  # type: ignore[attr-defined]
    SyslogMessage.hostname.__set__,  # type: ignore[attr-defined]
    SyslogMessage.app_name.__set__,  # type: ignore[attr-defined]
    SyslogMessage.procid.__set__,  # type: ignore[attr-defined]
    SyslogMessage.msgid.__set__,  # type: ignore[attr-defined]
    SyslogMessage.structured_data.__set__,  # type: ignore[attr-defined]
    SyslogMessage.message.__set__,  # type: ignore[attr-defined]
    SyslogMessage.parse_error.__set__,  # type: ignore[attr-defined]
)


def _message(
    pri: int,
    timestamp: str | None,
    hostname: str | None,
    app_name: str | None,
    procid: str | None,
    msgid: str | None,
    structured_data: dict[str, dict[str, str]],
    message: bytes,
    parse_error: bool,
) -> SyslogMessage:
    """C{SyslogMessage(...)} without the cost of the frozen C{__init__}."""
    m = _new(SyslogMessage)
    _set_facility(m, pri >> 3)
    _set_severity(m, pri & 7)
    _set_timestamp(m, timestamp)
    _set_hostname(m, hostname)
    _set_app_name(m, app_name)
    _set_procid(m, procid)
    _set_msgid(m, msgid)
    _set_structured_data(m, structured_data)
    _set_message(m, message)
    _set_parse_error(m, parse_error)
    return m


def _error(raw: bytes, pri: int = 13) -> SyslogMessage:
    """A message that fits neither RFC: keep every byte of it."""
    return _message(pri, None, None, None, None, None, {}, raw, True)


def _unescape(value: bytes) -> bytes:
    """
    Undo the escapes of a PARAM-VALUE: C{\\"}, C{\\\\} and C{\\]} lose their
    backslash, any other backslash stays (RFC 5424 6.3.3).

    Splitting on the escaped backslashes first pairs backslashes left to
    right exactly as the grammar does, so what is left in each piece are
    single backslashes, each escaping the byte after it; bytes.replace then
    does the rest at C speed (a re.sub template costs a microsecond a match).
    """
    if b"\\\\" not in value:
        return value.replace(b'\\"', b'"').replace(b"\\]", b"]")
    return b"\\".join(
        [
            piece.replace(b'\\"', b'"').replace(b"\\]", b"]")
            for piece in value.split(b"\\\\")
        ]
    )


def _parse_sd(raw: bytes, pos: int) -> tuple[dict[str, dict[str, str]], int]:
    """
    Parse the SD-ELEMENTs starting at C{raw[pos] == "["}.

    @return: the structured data and the index just past it, or C{({}, -1)}
        if the elements do not follow the grammar.
    """
    m = _SD_RE.match(raw, pos)
    if m is None:
        return {}, -1
    sd: dict[str, dict[str, str]] = {}
    params: dict[str, str] = {}
    for sd_id, name, value in _SD_TOKEN_RE.findall(m.group()):
        if sd_id:
            params = sd.setdefault(sd_id.decode("utf-8", "backslashreplace"), {})
            continue
        if b"\\" in value:
            value = _unescape(value)
        params[name.decode("utf-8", "backslashreplace")] = value.decode(
            "utf-8", "backslashreplace"
        )
    return sd, m.end()


def _parse_5424(raw: bytes, m: re.Match[bytes]) -> SyslogMessage:
    """The rest of an RFC 5424 message whose header C{m} matched."""
    pri_s, ts, host, app, procid, msgid = m.groups()
    pri = int(pri_s)
    pos = m.end()
    sd_start = raw[pos : pos + 1]
    if sd_start == b"-":
        sd: dict[str, dict[str, str]] = {}
        pos += 1
    elif sd_start == b"[":
        sd, pos = _parse_sd(raw, pos)
        if pos < 0:
            return _error(raw, pri)
    else:
        return _error(raw, pri)
    if pos == len(raw):
        msg = b""
    elif raw[pos] == 0x20:
        msg = raw[pos + 1 :]
        if msg[:3] == _BOM:
            msg = msg[3:]
    else:
        return _error(raw, pri)
    return _message(
        pri,
        None if ts == b"-" else ts.decode("ascii"),
        None if host == b"-" else host.decode("utf-8", "backslashreplace"),
        None if app == b"-" else app.decode("utf-8", "backslashreplace"),
        None if procid == b"-" else procid.decode("utf-8", "backslashreplace"),
        None if msgid == b"-" else msgid.decode("utf-8", "backslashreplace"),
        sd,
        msg,
        False,
    )


def _parse_3164(raw: bytes, m: re.Match[bytes], pri: int) -> SyslogMessage:
    """An RFC 3164 message; C{m} matched its header fields (groups -4..-1)."""
    ts, host, tag, pid = m.groups()[-4:]
    return _message(
        pri,
        None if ts is None else ts.decode("ascii"),
        None if host is None else host.decode("utf-8", "backslashreplace"),
        None if tag is None else tag.decode("utf-8", "backslashreplace"),
        None if pid is None else pid.decode("utf-8", "backslashreplace"),
        None,
        {},
        raw[m.end() :],
        False,
    )


_PRI_RE = re.compile(_PRI)


def priority(raw: bytes) -> int:
    """
    C{facility * 8 + severity} as L{parse} gives them, without parsing the
    rest: the PRI C{raw} starts with, or 13 (user.notice) if it has no valid
    one, whatever follows (see L{parse}: every path keeps a valid PRI).
    """
    m = _PRI_RE.match(raw)
    return 13 if m is None else int(m.group(1))


def parse(raw: bytes) -> SyslogMessage:
    """
    Parse one syslog message (one frame or one datagram).

    RFC 5424 is tried when C{"1 "} follows the PRI, otherwise RFC 3164 as
    real senders write it (see the module docstring for every case).  Never
    raises: what fits neither RFC comes back with C{parse_error} set and the
    whole input as C{message}.
    """
    if raw[:1] != b"<":
        # No PRI: user.notice (RFC 3164 4.3.3), a BSD header if there is one.
        m = _RFC3164_NOPRI_RE.match(raw)
        if m is None or m.group(1) is None:
            return _message(13, None, None, None, None, None, {}, raw, False)
        return _parse_3164(raw, m, 13)
    gt = raw.find(b">", 1, 6)
    version = raw[gt + 1 : gt + 3] if gt > 0 else b""
    if version == b"1 ":
        m = _RFC5424_RE.match(raw)
        if m is not None:
            return _parse_5424(raw, m)
    m = _RFC3164_RE.match(raw)
    if m is None:
        return _error(raw)  # malformed PRI
    pri = int(m.group(1))
    if version == b"1 " and _LOOKS_5424_RE.match(raw, gt + 1) is not None:
        return _error(raw, pri)  # a broken RFC 5424 header
    return _parse_3164(raw, m, pri)
