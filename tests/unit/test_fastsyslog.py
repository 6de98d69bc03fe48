"""
The C accelerator for syslog output (logd/_fastsyslog.pyx) against the
pure-Python path it stands in for: the same batch through both must give the
same bytes, for well-formed messages (which the accelerator writes itself)
and for everything else (which it hands back to Python), one by one and mixed
in one batch.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logd import fields
from logd.outputs import formats
from logd.fields import SyslogFields
from logd.filters import Filter
from logd.outputs.formats import Template, renderJSON
from logd.records import Batch
from logd.syslog import parse, priority
from tests.unit.test_syslog_parse import CASES

WHEN = 1764151200.25

TEMPLATES = [
    "{time} {hostname} {app_name}[{procid}]: {message}",
    "{facility}.{severity} {timestamp} {hostname} {app_name} {procid} {msgid} {structured_data} {parse_error} {message}",
    "{listener}|{peer}|{message}|{message}|{severity}",
    "{message}",
    "caf\u00e9 {{literal}} {hostname}",
    "{severity:>7} {app_name!r} {message}",  # a spec and a conversion: Python only
]
PEERS = ["192.0.2.7:514", "[2001:db8::1]:6514", "-"]


@contextmanager
def pythonOnly() -> Iterator[None]:
    """The pure-Python path, as on a machine where the extension was not built."""
    saved = formats._fastsyslog
    formats._fastsyslog = fields._fastsyslog = None  # type: ignore[assignment]
    try:
        yield
    finally:
        formats._fastsyslog = fields._fastsyslog = saved


def syslogBatch(messages: list[bytes], peer: str = PEERS[0]) -> Batch:
    return Batch(WHEN, "tcp-in", peer, messages, SyslogFields(messages, peer))


def bothWays(messages: list[bytes], peer: str = PEERS[0]) -> list[tuple[bytes, bytes]]:
    """(accelerated, pure Python) output of every template and of JSON."""
    fast = [Template(t)(syslogBatch(messages, peer)) for t in TEMPLATES] + [renderJSON(syslogBatch(messages, peer))]
    with pythonOnly():
        slow = [Template(t)(syslogBatch(messages, peer)) for t in TEMPLATES] + [renderJSON(syslogBatch(messages, peer))]
    return list(zip(fast, slow))


def assertSame(messages: list[bytes], peer: str = PEERS[0]) -> None:
    for fast, slow in bothWays(messages, peer):
        assert fast == slow


def test_extensionBuilt() -> None:
    """
    The install built the accelerator: without it logd still works, but
    parses syslog at a fraction of the speed the README promises.
    """
    assert formats._fastsyslog is not None, "logd._fastsyslog is missing: install with a C compiler (gcc) present"


@pytest.mark.parametrize("raw", [c[1] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("peer", PEERS)
def test_parseTableSameBothWays(raw: bytes, peer: str) -> None:
    assertSame([raw], peer)


def test_parseTableAsOneBatch() -> None:
    """Accelerated and handed-back messages interleaved keep their order."""
    assertSame([c[1] for c in CASES])


def program(template: str, base: dict[str, str] | None = None) -> tuple:
    return Template(template)._program(formats._Missing(base or {"time": "T", "listener": "L", "peer": "P"}))


def fallbacks(messages: list[bytes], json: bool = False) -> list[int]:
    """The indices the accelerator hands back to Python."""
    handedBack: list[int] = []

    def fallback(index: int) -> bytes:
        handedBack.append(index)
        return b"<python>\n"

    steps = formats._jsonProgram('{"time":"T",') if json else program("{hostname} {message}")
    formats._fastsyslog.render(messages, steps, json, b"peerhost", fallback)
    return handedBack


WELL_FORMED = [
    b"<165>1 2026-11-26T10:00:00.000000Z host app 1234 ID47 - bench L00000001",
    b"<13>1 - - - - - -",
    b"<0>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xef\xbb\xbf'su root' failed",
    b"<191>1 1985-04-12T23:20:50.52-04:00 h a p m - caf\xc3\xa9 \"quoted\" back\\slash \x01\t",
    b"<34>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time",
    b"<13>1 2016-12-31T23:59:60Z h a p m -",
    # structured data: logger's timeQuality, escapes, several elements
    b'<13>1 2026-11-26T10:00:00.5Z h logger - - [timeQuality tzKnown="1" isSynced="1" syncAccuracy="51500"] hi',
    b'<13>1 - h a - - [a@1 q="say \\"hi\\"" b="back\\\\slash" c="\\]" d="\\n stays"][e@2][f@3 x=""]',
    b'<13>1 - h a - - [a@1 x="1"]',
    # RFC 3164 in the forms real senders use
    b"<13>Nov 26 10:00:00 host app[1]: bsd",
    b"<13>Nov  6 10:00:00 host app: one space after the colon is the header's",
    b"<38>Nov 06 23:59:60 host sshd[42] no colon",
    b"<13>Nov 6 10:00:00 app[1]: local socket, no hostname",
    b"<13>2026-11-26T10:00:00.123+01:00 host postfix/smtpd[7]:  two spaces",
    b"<13>Nov 26 10:00:00 host",
    b"<13>Nov 26 10:00:00",
    b"<14>python: SysLogHandler with a name",
    b"<14>no tag at all",
    b"<13>2 - h a p m - a version that is not 1",
    b"Nov 26 10:00:00 host app: no PRI",
    b"plain text",
    b"",
]
HANDED_BACK = [
    b'<13>1 - h a p m [id x="1"][id y="2"] a repeated SD-ID (Python merges them)',
    b'<13>1 - h a p m [id x="1" x="2"] a repeated PARAM-NAME (the last wins in Python)',
    b'<13>1 - h a p m [id x="caf\xc3\xa9"] non-ASCII structured data',
    b'<13>1 - h a p m [id x="1"',
    b'<13>1 - h a p m [id x="1"]x',
    b'<13>1 - h a p m [x y="a\\\n\\\r\\\x00\\\x0c\\\xff"] an escaped byte that is not printable ASCII',
    b"<13>1 - h a p m [abc][ab",
    b'<13>Nov 26 10:00:00 "host" app: a quote in a header field',
    b"<13>Nov 26 10:00:00 host \\app: a backslash in a header field",
    b"<13>Nov 26 10:00:00 h\xc3\xa9 app: non-ASCII header field",
    b"<13>1 - h\\ost a p m - backslash in a header field",
    b'<13>1 - "h" a p m - quote in a header field',
    b"<13>1 - h\xc3\xa9 a p m - non-ASCII header field",
    b"<13>1 - h a p m - invalid UTF-8 \xff",
    b"<13>1 2026-13-01T00:00:00Z h a p m - month 13",
    b"<13>1 2026-01-01T00:00:00.1234567890Z h a p m - ten fraction digits",
    b"<192>1 - h a p m - x",
    b"<013>1 - h a p m - x",
    b"<13>1 - h a p m -x",
    b"<13>1 apple",
    b"<1a>Nov 26 10:00:00 host app: x",
    b"<",
]


@pytest.mark.parametrize("json", [False, True])
def test_wellFormedStayInC(json: bool) -> None:
    assert fallbacks(WELL_FORMED, json) == []


@pytest.mark.parametrize("json", [False, True])
def test_everythingElseHandedBack(json: bool) -> None:
    assert fallbacks(WELL_FORMED + HANDED_BACK, json) == list(range(len(WELL_FORMED), len(WELL_FORMED) + len(HANDED_BACK)))


def test_handedBackMessagesSameBothWays() -> None:
    assertSame(WELL_FORMED + HANDED_BACK)


def test_nonBytesMessageHandedBack() -> None:
    """A bytearray (no stream protocol makes one, a custom one could) is Python's."""
    messages = [bytearray(WELL_FORMED[0]), WELL_FORMED[0]]
    assert fallbacks(messages) == [0]  # type: ignore[arg-type]


def test_programFoldsBatchConstants() -> None:
    """Time, listener and peer are part of the literal text, fields are steps."""
    f = formats._fastsyslog
    assert program("[{time}] {listener} {hostname}: {message} ({peer})") == (
        b"[T] L ",
        f.HOSTNAME,
        b": ",
        f.MESSAGE,
        b" (P)\n",
    )


def test_specOrConversionUsesPython() -> None:
    assert Template("{severity:>7} {message}")._steps is None
    assert Template("{app_name!r}")._steps is None
    assert Template("{severity} {message}")._steps is not None


# --------------------------------------------------------------------------
# Every timestamp digit at every value: the ranges are checked the same way.
# --------------------------------------------------------------------------

_ISO = b"2026-11-26T10:00:00.123+05:30"
_BSD = b"Nov 26 23:59:60"


def _variants(timestamp: bytes) -> list[bytes]:
    """The timestamp with each byte replaced, in turn, by each of a set of likely ones."""
    variants = []
    for i, c in enumerate(timestamp):
        for replacement in b"0123456789Z-+:.T NDOvo":
            if replacement != c:
                variants.append(timestamp[:i] + bytes([replacement]) + timestamp[i + 1 :])
    return variants


@pytest.mark.parametrize(
    "timestamp,form",
    [(_ISO, b"<13>1 %s h a p m - x"), (_ISO, b"<13>%s h app: x"), (_BSD, b"<13>%s h app: x"), (_BSD, b"%s h app: x")],
    ids=["5424", "3164-iso", "3164-bsd", "3164-bsd-no-pri"],
)
def test_everyTimestampVariantSameBothWays(timestamp: bytes, form: bytes) -> None:
    messages = [form % ts for ts in _variants(timestamp)]
    assertSame(messages)
    # And over a hundred of them were decided in C, not all handed back.
    assert len(fallbacks(messages)) < len(messages) - 100


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

_DIGITS = st.text("0123456789", min_size=1, max_size=3)
_TIMESTAMPS = st.one_of(
    st.just("-"),
    st.builds(
        "{}-{}-{}T{}:{}:{}{}{}".format,
        st.text("0123456789", min_size=4, max_size=4),
        _DIGITS,
        _DIGITS,
        _DIGITS,
        _DIGITS,
        _DIGITS,
        st.one_of(st.just(""), st.text("0123456789", min_size=0, max_size=11).map(lambda d: "." + d)),
        st.one_of(st.sampled_from(["Z", "z", ""]), st.builds("{}{}:{}".format, st.sampled_from("+-"), _DIGITS, _DIGITS)),
    ),
).map(str.encode)
_TOKENS = st.one_of(
    st.just(b"-"),
    st.from_regex(rb"\A[!-~]{1,8}\Z"),
    st.binary(min_size=1, max_size=6),
)
_MSG = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b" ", b"\xef\xbb\xbf", b"\xef\xbb\xbfx", b'"\\', b"\x7f\x00\x1b", b"\r\n\t\x08\x0c"]),
)
def _structuredData(names: list[bytes], values: list[bytes]) -> st.SearchStrategy[bytes]:
    """SD-ELEMENTs of these names (for SD-IDs and PARAM-NAMEs) and pieces of values."""
    param = st.tuples(st.sampled_from(names), st.lists(st.sampled_from(values), max_size=5).map(b"".join))
    element = st.tuples(st.sampled_from(names), st.lists(param, max_size=3))
    return st.lists(element, min_size=1, max_size=3).map(
        lambda elements: b"".join(
            b"[" + sdId + b"".join(b" " + k + b'="' + v + b'"' for k, v in params) + b"]" for sdId, params in elements
        )
    )


_SD = st.one_of(
    # well formed (repeated names aside), so that C writes many of them
    _structuredData([b"id", b"x@1", b"timeQuality", b"a", b"syncAccuracy"], [b"v", b" ", b"]", b'\\"', b"\\]", b"\\\\", b"\\n", b"="]),
    # and anything
    _structuredData([b"id", b"i\\d", b"\xc3\xa9", b"n=", b""], [b"v", b"\\", b"\xff", b"\t", b'"', b"\xc3\xa9"]),
)
"""STRUCTURED-DATA elements, valid or not: names and values with escapes, repeats, non-ASCII."""
_5424 = st.builds(
    lambda pri, ts, host, app, procid, msgid, sd, sep, msg: b"<"
    + pri
    + b">1 "
    + ts
    + b" "
    + b" ".join([host, app, procid, msgid, sd])
    + sep
    + msg,
    st.one_of(st.integers(0, 200).map(lambda n: str(n).encode()), st.sampled_from([b"", b"01", b"1a", b"007"])),
    _TIMESTAMPS,
    _TOKENS,
    _TOKENS,
    _TOKENS,
    _TOKENS,
    st.one_of(
        st.sampled_from([b"-", b"-x", b"", b"[]", b"[id]", b"[id a=1]", b'[id a="1"][id b="2"]', b'[id a="1" a="2"]']),
        _SD,
    ),    st.sampled_from([b" ", b"", b"  "]),
    _MSG,
)
_BSD_PIECES = st.sampled_from(
    [
        b"<13>", b"<0>", b"<191>", b"<192>", b"<01>", b"Nov", b"Jan", b"nov", b" ", b"  ", b"6", b"06", b"16",
        b"31", b"32", b"0", b"10:00:00", b"23:59:60", b"24:00:00", b"2026-11-26T10:00:00Z", b"host", b"h:",
        b"app", b"[", b"]", b"[1]", b":", b": ", b"x", b'"', b"\\", b"\xc3\xa9", b"\xff", b"\t", b"\x7f",
    ]
)
_3164 = st.builds(
    lambda pri, ts, rest: pri + ts + rest,
    st.sampled_from([b"", b"<13>", b"<165>", b"<7>"]),
    st.sampled_from([b"", b"Nov 26 10:00:00 ", b"Nov  6 10:00:00 ", b"Feb 06 23:59:60", b"2026-11-26T10:00:00.5+01:00 "]),
    st.lists(_BSD_PIECES, max_size=12).map(b"".join),
)
_ANY = st.one_of(_5424, _3164, st.binary(max_size=80))


@settings(max_examples=500, deadline=None)
@given(st.lists(_ANY, min_size=1, max_size=6), st.sampled_from(PEERS))
def test_anyBatchSameBothWays(messages: list[bytes], peer: str) -> None:
    assertSame(messages, peer)


@settings(max_examples=200, deadline=None)
@given(st.lists(_5424, min_size=1, max_size=6))
def test_acceptedMessagesParseCleanly(messages: list[bytes]) -> None:
    """What C writes itself, Python parses without error."""
    handedBack = set(fallbacks(messages))
    for index, raw in enumerate(messages):
        if index not in handedBack:
            assert not parse(raw).parse_error


@settings(max_examples=400, deadline=None)
@given(st.lists(_SD, min_size=1, max_size=6), st.sampled_from([b"", b" msg", b" \xef\xbb\xbfmsg", b"x"]))
def test_structuredDataSameBothWays(elements: list[bytes], msg: bytes) -> None:
    """Behind a header that is fine, every kind of structured data: JSON and templates agree."""
    assertSame([b"<13>1 - h a - - " + sd + msg for sd in elements])


def test_structuredDataStrategyReachesC() -> None:
    """The property above is worth something only if C takes many of its messages."""
    taken = []
    for sd in [b'[id a="v"]', b'[x@1 syncAccuracy="\\]" b=""][timeQuality]', b'[i\\d a="1"]', b'[id n=="1"]']:
        taken.append(not fallbacks([b"<13>1 - h a - - " + sd + b" msg"], json=True))
    assert taken == [True, True, False, False]


def test_structuredDataInCUnlessATemplateShowsIt() -> None:
    """
    JSON writes structured data in C; so does a template that does not show
    it.  A template's {structured_data} (JSON escaped like text) is Python's.
    """
    messages = [WELL_FORMED[6], WELL_FORMED[7]]
    assert fallbacks(messages, json=True) == []
    assert fallbacks(messages) == []
    steps = program("{structured_data} {message}")
    handedBack: list[int] = []
    formats._fastsyslog.render(messages, steps, False, b"h", lambda index: handedBack.append(index) or b"")
    assert handedBack == [0, 1]


# --------------------------------------------------------------------------
# Priorities: what severity and facility filters read instead of a parse
# --------------------------------------------------------------------------


def parsedPriorities(messages: list[bytes]) -> bytes:
    return bytes([m.facility * 8 + m.severity for m in map(parse, messages)])


def test_prioritiesOfTheParseTable() -> None:
    messages = [c[1] for c in CASES]
    assert formats._fastsyslog.priorities(messages) == parsedPriorities(messages)
    assert bytes(map(priority, messages)) == parsedPriorities(messages)


def test_prioritiesOfNonBytes() -> None:
    assert formats._fastsyslog.priorities([bytearray(b"<34>x"), memoryview(b"<0>y")]) == bytes([34, 0])


@settings(max_examples=500, deadline=None)
@given(st.lists(_ANY, max_size=8))
def test_prioritiesAsParseGivesThem(messages: list[bytes]) -> None:
    assert formats._fastsyslog.priorities(messages) == parsedPriorities(messages)
    assert bytes(map(priority, messages)) == parsedPriorities(messages)


_FILTERS = st.builds(
    Filter,
    severity=st.one_of(st.none(), st.integers(0, 7)),
    facilities=st.one_of(st.none(), st.frozensets(st.integers(0, 23), max_size=4)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ANY, min_size=1, max_size=8), _FILTERS)
def test_filtersSameBothWays(messages: list[bytes], sinkFilter: Filter) -> None:
    """
    With or without the accelerator, a severity/facility filter keeps the
    records whose parsed fields pass it.
    """
    expected = [
        m for m in messages
        if (sinkFilter.severity is None or parse(m).severity <= sinkFilter.severity)
        and (sinkFilter.facilities is None or parse(m).facility in sinkFilter.facilities)
    ]  # fmt: skip
    fast = sinkFilter.select(syslogBatch(messages))
    with pythonOnly():
        slow = sinkFilter.select(syslogBatch(messages))
    for part in (fast, slow):
        assert (list(part.messages) if part is not None else []) == expected


# --------------------------------------------------------------------------
# Misuse gets a Python exception, not undefined behaviour
# --------------------------------------------------------------------------


def test_fallbackMustReturnBytes() -> None:
    with pytest.raises(TypeError, match="not bytes"):
        formats._fastsyslog.render([b"<13>1 - h a p m [x@1][x@1] sd"], (b"x",), False, b"h", lambda index: None)


def test_badProgramStep() -> None:
    with pytest.raises(TypeError):
        formats._fastsyslog.render([b"<13>x"], (b"a", "not a step"), False, b"h", lambda index: b"")


def test_emptyProgram() -> None:
    assert formats._fastsyslog.render([b"<13>x", b"<13>y"], (), False, b"h", lambda index: b"?") == b""


def test_unknownTemplateFieldWritesDash() -> None:
    """Configuration refuses it; built by hand, a Template still writes '-' for it."""
    assert Template("{foo} {message}")(syslogBatch([b"<13>x"])) == b"- x\n"


def test_emptyBatchPassesNoFilter() -> None:
    assert Filter(severity=3).select(syslogBatch([])) is None
