"""
Tests for L{logd.inputs.syslogframing}: RFC 6587 framing, checked against a
simple byte-by-byte reference model for every way a stream can be cut in
chunks, and the datagram rule.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logd.inputs.syslogframing import SyslogFramer, datagram_frame


# --------------------------------------------------------------------------
# datagram_frame
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,expected",
    [
        (b"<14>message\x00", b"<14>message"),  # Python SysLogHandler, UDP
        (b"<14>message\n", b"<14>message"),
        (b"<14>message\r\n", b"<14>message"),
        (b"<14>message\r\n\x00", b"<14>message"),
        (b"<14>message\n\n", b"<14>message"),
        (b"<14>message", b"<14>message"),
        (b"<14>message\r", b"<14>message\r"),  # a CR alone is content
        (b"<14>message\r\x00", b"<14>message\r"),
        (b"<14>a\nb\n", b"<14>a\nb"),  # inner LF kept: one datagram, one message
        (b"", b""),
        (b"\n\x00\r\n", b""),
    ],
)
def test_datagram_frame(data: bytes, expected: bytes) -> None:
    assert datagram_frame(data) == expected


# --------------------------------------------------------------------------
# SyslogFramer: examples
# --------------------------------------------------------------------------


def frame_all(stream: bytes, max_frame: int = 65536, pieces=None) -> tuple:
    """Frames and counters for C{stream}, fed in C{pieces} (default: one)."""
    f = SyslogFramer(max_frame)
    out: list[bytes] = []
    for piece in pieces if pieces is not None else [stream]:
        out += f.feed(piece)
    out += f.finish()
    return out, f.split_frames, f.skipped_bytes, f.bad_length_prefixes


@pytest.mark.parametrize(
    "stream,max_frame,expected",
    [
        # non-transparent: LF, CRLF, NUL, empty frames
        (b"a\nb\r\nc\x00d", 100, ([b"a", b"b", b"c", b"d"], 0, 0, 0)),
        (b"\n\n\r\n\x00\x00a\n", 100, ([b"a"], 0, 0, 0)),
        (b"a\r\r\n", 100, ([b"a\r"], 0, 0, 0)),
        (b"a\r\x00", 100, ([b"a\r"], 0, 0, 0)),
        (b"a\r", 100, ([b"a\r"], 0, 0, 0)),  # CR kept at close: no LF
        (b"<14>x\x00<14>y\x00", 100, ([b"<14>x", b"<14>y"], 0, 0, 0)),
        # octet counting, frames containing LF/NUL, back to back, with LF
        (b"5 ab\ncd", 100, ([b"ab\ncd"], 0, 0, 0)),
        (b"3 abc3 def", 100, ([b"abc", b"def"], 0, 0, 0)),
        (b"3 abc\n3 def\n", 100, ([b"abc", b"def"], 0, 0, 0)),
        (b"3 \x00\n\r", 100, ([b"\x00\n\r"], 0, 0, 0)),
        (b"<1>x\n4 <2>y\n", 100, ([b"<1>x", b"<2>y"], 0, 0, 0)),
        (b"5 ab", 100, ([b"ab"], 0, 0, 0)),  # truncated at close
        (b"5 ", 100, ([], 0, 0, 0)),
        (b"999999999 x", 100, ([b"x"], 0, 0, 0)),
        # bad prefixes: framed by LF/NUL, digits included
        (b"12x\n", 100, ([b"12x"], 0, 0, 1)),
        (b"1234567890 abc\n", 100, ([b"1234567890 abc"], 0, 0, 1)),
        (b"0 abc\n", 100, ([b"0 abc"], 0, 0, 1)),
        (b"05 abcde\n", 100, ([b"05 abcde"], 0, 0, 1)),
        (b"2026-11-26 x\n", 100, ([b"2026-11-26 x"], 0, 0, 1)),
        (b"12", 100, ([b"12"], 0, 0, 1)),  # digits then close
        (b"12\n3 abc", 100, ([b"12", b"abc"], 0, 0, 1)),
        # over-long non-transparent: cut, nothing lost
        (b"abcdefghij\n", 4, ([b"abcd", b"efgh", b"ij"], 2, 0, 0)),
        (b"abcdefgh\n", 4, ([b"abcd", b"efgh"], 1, 0, 0)),
        (b"abcd\r\n", 4, ([b"abcd"], 0, 0, 0)),
        (b"abcde\r\n", 4, ([b"abcd", b"e"], 1, 0, 0)),
        (b"abcdefghij", 4, ([b"abcd", b"efgh", b"ij"], 2, 0, 0)),
        # over-long octet-counted: first max_frame bytes, rest skipped
        (b"10 abcdefghij3 xyz", 4, ([b"abcd", b"xyz"], 0, 6, 0)),
        (b"10 abcdefg", 4, ([b"abcd"], 0, 3, 0)),
        (b"10 ab", 4, ([b"ab"], 0, 0, 0)),
    ],
)
def test_framer_examples(stream: bytes, max_frame: int, expected: tuple) -> None:
    assert frame_all(stream, max_frame) == expected
    assert frame_all(stream, max_frame, [bytes([b]) for b in stream]) == expected


def test_framer_feed_returns_frames_as_they_complete() -> None:
    f = SyslogFramer()
    assert f.feed(b"<13>a\n<13>b") == [b"<13>a"]
    assert f.feed(b"c\n1") == [b"<13>bc"]
    assert f.feed(b"0 <13>hello") == []
    assert f.feed(b"!") == [b"<13>hello!"]
    assert f.finish() == []
    assert f.finish() == []


def test_framer_reusable_after_finish() -> None:
    f = SyslogFramer(8)
    assert f.feed(b"10 abc") == []
    assert f.finish() == [b"abc"]
    assert f.feed(b"x\n") == [b"x"]


def test_framer_python_syslog_handler_tcp() -> None:
    """SysLogHandler over TCP: NUL after each message, no LF."""
    stream = b"".join(b"<14>message %d\x00" % i for i in range(1000))
    frames, *counters = frame_all(stream)
    assert frames == [b"<14>message %d" % i for i in range(1000)]
    assert counters == [0, 0, 0]


def test_framer_many_lines_one_chunk() -> None:
    lines = [b"<13>Nov 26 10:00:00 host app[%d]: line %d" % (i, i) for i in range(5000)]
    stream = b"\n".join(lines) + b"\n"
    assert frame_all(stream)[0] == lines
    crlf = b"\r\n".join(lines) + b"\r\n"
    assert frame_all(crlf)[0] == lines


def test_framer_line_starting_with_digits_is_octet_counted() -> None:
    """Per-message detection holds inside a run of LF lines."""
    stream = b"<1>a\n<2>b\n6 <3>c\nd\n<4>e\n"
    assert frame_all(stream)[0] == [b"<1>a", b"<2>b", b"<3>c\nd", b"<4>e"]


def test_framer_memory_bounded_without_delimiters() -> None:
    f = SyslogFramer(1000)
    got = []
    for _ in range(100):
        got += f.feed(b"x" * 997)
    assert sum(map(len, got)) >= 99_000 - 1001
    assert all(len(g) == 1000 for g in got)
    got += f.finish()
    assert b"".join(got) == b"x" * 99_700
    assert f.split_frames == len(got) - 1


def test_framer_skip_spans_feeds() -> None:
    f = SyslogFramer(100)
    out = f.feed(b"1000000 ")
    for _ in range(1000):
        out += f.feed(b"y" * 1000)
    out += f.feed(b"<13>next\n")
    assert out == [b"y" * 100, b"<13>next"]
    assert f.skipped_bytes == 1_000_000 - 100


def test_framer_bad_max_frame() -> None:
    with pytest.raises(ValueError):
        SyslogFramer(0)


# --------------------------------------------------------------------------
# SyslogFramer: a byte-by-byte reference model, and properties
# --------------------------------------------------------------------------


def reference(stream: bytes, mf: int) -> tuple:
    """
    The framing rules written the obvious slow way, over the whole stream
    at once (the end of the stream is the connection's close).
    """
    frames: list[bytes] = []
    split = skipped = bad = 0
    n = len(stream)

    def emit_line(content: bytes) -> None:
        nonlocal split
        pieces = [content[k : k + mf] for k in range(0, len(content), mf)]
        split += max(0, len(pieces) - 1)
        frames.extend(pieces)

    i = 0
    while i < n:
        c = stream[i : i + 1]
        if c in (b"\n", b"\x00"):
            i += 1
            continue
        digits = re.match(rb"[0-9]*", stream[i:]).group()  # type: ignore[union-attr]
        if digits:
            valid = 1 <= len(digits) <= 9 and digits[:1] != b"0"
            end = i + len(digits)
            if valid and end < n and stream[end : end + 1] == b" ":
                length = int(digits)
                body = stream[end + 1 : end + 1 + length]
                if body:
                    frames.append(body[:mf])
                skipped += max(0, len(body) - mf)
                i = end + 1 + length
                continue
            bad += 1
        j = i
        while j < n and stream[j : j + 1] not in (b"\n", b"\x00"):
            j += 1
        content = stream[i:j]
        if j < n and stream[j : j + 1] == b"\n" and content.endswith(b"\r"):
            content = content[:-1]
        emit_line(content)
        i = j + 1
    return frames, split, skipped, bad


_FRAMEY = st.lists(
    st.sampled_from(
        [
            b"\n", b"\r", b"\x00", b" ", b"0", b"1", b"2", b"5", b"9", b"<",
            b"a", b"xyz", b"3 ", b"12 ", b"\r\n", b"<13>msg", b"1234567890",
        ]
    ),
    max_size=40,
).map(b"".join)

_STREAMS = st.one_of(st.binary(max_size=200), _FRAMEY)


@st.composite
def chunked(draw):
    stream = draw(_STREAMS)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    pieces = [stream[a:b] for a, b in zip([0] + cuts, cuts + [len(stream)])]
    return stream, pieces


@settings(max_examples=400, deadline=None)
@given(chunked(), st.sampled_from([1, 2, 3, 5, 8, 65536]))
def test_framer_matches_reference_and_chunking(data, mf: int) -> None:
    stream, pieces = data
    expected = reference(stream, mf)
    assert frame_all(stream, mf) == expected
    assert frame_all(stream, mf, pieces) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=50), max_size=10), st.integers(1, 20))
def test_framer_never_raises(chunks: list[bytes], mf: int) -> None:
    f = SyslogFramer(mf)
    total = 0
    for c in chunks:
        total += sum(map(len, f.feed(c)))
    total += sum(map(len, f.finish()))
    # Nothing is invented: frames and skipped bytes come out of the input.
    assert total + f.skipped_bytes <= sum(map(len, chunks))


# A stream built from known messages: expected frames, counters and the
# number of framing bytes (prefixes, delimiters, dropped CRs) are known.
_PAYLOAD = st.binary(max_size=30)
_NT_BODY = st.tuples(
    st.sampled_from([b"<", b"a", b"\r", b"\xff"]),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").replace(b"\x00", b"")),
).map(b"".join)


@st.composite
def built_stream(draw, mf: int):
    parts: list[bytes] = []
    frames: list[bytes] = []
    split = skipped = bad = overhead = 0
    kinds = st.lists(st.sampled_from(["oct", "nt", "bad", "empty"]), max_size=12)
    for kind in draw(kinds):
        if kind == "oct":
            body = draw(_PAYLOAD.filter(bool))
            prefix = b"%d " % len(body)
            parts.append(prefix + body)
            frames.append(body[:mf])
            skipped += max(0, len(body) - mf)
            overhead += len(prefix)
            continue
        if kind == "empty":
            d = draw(st.sampled_from([b"\n", b"\x00", b"\r\n"]))
            parts.append(d)
            overhead += len(d)
            continue
        if kind == "nt":
            body = draw(_NT_BODY)
        else:
            body = draw(st.sampled_from([b"12x", b"0 ", b"1234567890 ", b"07 "]))
            body += draw(_NT_BODY)
            bad += 1
        delim = draw(st.sampled_from([b"\n", b"\r\n", b"\x00"]))
        if delim == b"\n" and body.endswith(b"\r"):
            delim = b"\x00"  # keep the expected content simple
        parts.append(body + delim)
        overhead += len(delim)
        pieces = [body[k : k + mf] for k in range(0, len(body), mf)]
        split += max(0, len(pieces) - 1)
        frames += pieces
    return b"".join(parts), (frames, split, skipped, bad), overhead


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from([4, 7, 16, 65536]))
def test_framer_accounts_for_every_byte(data, mf: int) -> None:
    stream, expected, overhead = data.draw(built_stream(mf))
    got = frame_all(stream, mf)
    assert got == expected
    frames, _, skipped, _ = got
    assert sum(map(len, frames)) + skipped + overhead == len(stream)
    cut = data.draw(st.integers(0, len(stream)))
    assert frame_all(stream, mf, [stream[:cut], stream[cut:]]) == expected


_CORPUS = (
    b"<13>Nov 26 10:00:00 host app[1]: one\r\n"
    b"27 <13>1 - h a - - - counted\n"
    b"<14>python\x00"
    b"12x bad prefix\n"
    b"\n\n"
    b"40 <13>1 - h a - - - this one is too long!!"
    b"<13>a line that is much longer than the frame limit\n"
    b"1234567890 ten digits\n"
    b"0 zero\r\n"
    b"5 tail"
)


@pytest.mark.parametrize("mf", [16, 65536])
def test_framer_every_single_boundary(mf: int) -> None:
    expected = frame_all(_CORPUS, mf)
    assert expected == reference(_CORPUS, mf)
    for cut in range(len(_CORPUS) + 1):
        pieces = [_CORPUS[:cut], _CORPUS[cut:]]
        assert frame_all(_CORPUS, mf, pieces) == expected, cut
    one_byte = [_CORPUS[k : k + 1] for k in range(len(_CORPUS))]
    assert frame_all(_CORPUS, mf, one_byte) == expected


def test_framerReleaseOfAnLFMessage() -> None:
    from logd.inputs.syslogframing import SyslogFramer

    framer = SyslogFramer(100)
    assert framer.feed(b"<13>hello wor") == [] and framer.held == 13
    assert framer.release() == [b"<13>hello wo"] and framer.held == 1
    assert framer.feed(b"ld\n<14>b\n") == [b"rld", b"<14>b"]


def test_framerReleaseOfAnOctetCountedFrame() -> None:
    """The released piece is not counted as a whole frame; the frame's octets are still counted to its end."""
    from logd.inputs.syslogframing import SyslogFramer

    framer = SyslogFramer(100)
    assert framer.feed(b"11 hello") == [] and framer.held == 5
    assert framer.release() == [b"hello"] and framer.held == 0
    assert framer.feed(b" world5 again") == [b" world", b"again"]
    assert framer.release() == []
