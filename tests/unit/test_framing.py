"""
Framing (logd.inputs.framing): line splitting and telnet IAC removal.

A stream's messages must not depend on where the kernel happened to cut it
into reads, so every stream here is fed whole, cut at every single
boundary, byte by byte and (by hypothesis) cut anywhere, and compared to a
plain reference model of the issue's rules.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from logd.inputs.framing import MAX_SUBNEGOTIATION, LineSplitter, TelnetFilter, splitDatagram

from .helpers import PROPERTY, chunked, everySplit

# LineSplitter ------------------------------------------------------------------


def referenceLines(stream: bytes, maxLine: int) -> tuple[list[bytes], int]:
    """
    The issue's line rules on a whole stream: split on LF, drop a CR before
    the LF, skip empty lines, record the unterminated last line (its CR
    dropped as well: the LF that would have followed never came), and cut a
    line longer than maxLine into maxLine pieces, counting it.
    """
    *lines, last = stream.split(b"\n")
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    lines.append(last[:-1] if last.endswith(b"\r") else last)
    out: list[bytes] = []
    split = 0
    for line in lines:
        if len(line) > maxLine:
            split += 1
            out.extend(line[i : i + maxLine] for i in range(0, len(line), maxLine))
        elif line:
            out.append(line)
    return out, split


def splitChunks(chunks: list[bytes], maxLine: int) -> tuple[list[bytes], int]:
    """Feed the chunks to one LineSplitter, then finish: all messages and the split count."""
    splitter = LineSplitter(maxLine)
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    out.extend(splitter.finish())
    return out, splitter.splitLines


MAX = 8
STREAMS = {
    "lf": b"one\ntwo\nthree\n",
    "crlf": b"one\r\ntwo\r\nthree\r\n",
    "mixed": b"one\ntwo\r\nthree\n\r\nfour\r\n",
    "empty lines": b"\n\n\r\n\nx\n\r\n\n",
    "lone CRs": b"a\r\r\nb\rc\n\r\rd\n",
    "exactly maxLine": b"12345678\nabcdefgh\n",
    "maxLine+1": b"123456789\nabcdefghi\n",
    "exactly maxLine crlf": b"12345678\r\nabcdefgh\r\n",
    "maxLine+1 crlf": b"123456789\r\nabcdefghi\r\n",
    "maxLine-1 crlf": b"1234567\r\n",
    "long": b"x" * 30 + b"\n" + b"y" * 16 + b"\nz\n",
    "long crlf": b"x" * 30 + b"\r\n" + b"y" * 17 + b"\r\n",
    "unterminated": b"first\nfinal unterminated",
    "unterminated cr": b"first\r\nfinal cr\r",
    "unterminated exact cr": b"12345678\r",
    "unterminated long": b"a\n" + b"q" * 27,
    "long with CRs": b"abcdefgh\r\r\nabcdefg\r\r\n",
    "binary": bytes(range(256)) * 2,
    "empty": b"",
    "only LFs": b"\n" * 5,
}
STREAMS["everything"] = b"".join(STREAMS.values())


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_linesAtEveryBoundary(name: str) -> None:
    """
    The messages are the reference model's, whether the stream arrives in
    one piece, cut at any single boundary, or byte by byte.
    """
    stream = STREAMS[name]
    expected, _ = referenceLines(stream, MAX)
    for chunks in everySplit(stream):
        assert splitChunks(chunks, MAX)[0] == expected, chunks


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_splitCountAtEveryBoundary(name: str) -> None:
    """
    splitLines counts the lines longer than maxLine, once each, wherever
    the chunks fall: a line of exactly maxLine bytes whose CR arrives in
    the same read as its last byte is not a long line.
    """
    stream = STREAMS[name]
    _, expected = referenceLines(stream, MAX)
    for chunks in everySplit(stream):
        assert splitChunks(chunks, MAX)[1] == expected, chunks


def test_referenceModel() -> None:
    """The reference model itself, on a case worked by hand."""
    assert referenceLines(b"ab\r\n\ncdefghijk\r\nl\r", 4) == ([b"ab", b"cdef", b"ghij", b"k", b"l"], 1)


def test_exactlyMaxLineNotSplit() -> None:
    """A line of exactly maxLine bytes is one record and is not counted; maxLine+1 is two records, counted."""
    assert splitChunks([b"12345678\n"], MAX) == ([b"12345678"], 0)
    assert splitChunks([b"123456789\n"], MAX) == ([b"12345678", b"9"], 1)


def test_crBeforeChunkBoundary() -> None:
    """A CR at the end of one read and its LF at the start of the next are one line ending."""
    assert splitChunks([b"abc\r", b"\ndef\r", b"\n"], MAX) == ([b"abc", b"def"], 0)


def test_unterminatedLastLine() -> None:
    """The last line without LF is held until finish(), then recorded."""
    splitter = LineSplitter(MAX)
    assert splitter.feed(b"one\ntw") == [b"one"]
    assert splitter.feed(b"o") == []
    assert splitter.finish() == [b"two"]
    assert splitter.finish() == []


lineStreams = st.lists(
    st.one_of(
        st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\n", b"x", b"\xff"]),
        st.binary(max_size=12),
        st.integers(1, 40).map(lambda n: b"L" * n),
    ),
    max_size=30,
).map(b"".join)


@PROPERTY
@given(lineStreams, st.integers(1, 16), st.lists(st.integers(0, 400), max_size=20))
def test_linesProperty(stream: bytes, maxLine: int, cuts: list[int]) -> None:
    """Any stream, any maxLine, any chunking: the reference model's messages."""
    assert splitChunks(chunked(stream, cuts), maxLine)[0] == referenceLines(stream, maxLine)[0]


@PROPERTY
@example(stream=b"12345678\r\n", maxLine=8, cuts=[9])
@given(lineStreams, st.integers(1, 16), st.lists(st.integers(0, 400), max_size=20))
def test_splitCountProperty(stream: bytes, maxLine: int, cuts: list[int]) -> None:
    """Any stream, any maxLine, any chunking: the reference model's count of long lines."""
    assert splitChunks(chunked(stream, cuts), maxLine)[1] == referenceLines(stream, maxLine)[1]


def test_memoryBounded() -> None:
    """
    10 MB without an LF: the held partial line never exceeds maxLine, the
    data comes out as full maxLine pieces as it arrives, counted as one
    long line, and nothing is lost.
    """
    maxLine = 65536
    chunk = (bytes(range(256)) * 256).replace(b"\n", b"-")  # 64 KiB: every byte value but LF
    total = 160 * len(chunk)  # 10 MiB
    splitter = LineSplitter(maxLine)
    pieces: list[bytes] = []
    for _ in range(160):
        pieces.extend(splitter.feed(chunk))
        assert len(splitter._partial) <= maxLine
    assert all(len(piece) == maxLine for piece in pieces)
    assert len(pieces) >= total // maxLine - 1
    pieces.extend(splitter.finish())
    assert splitter.splitLines == 1
    assert sum(map(len, pieces)) == total
    assert b"".join(pieces) == chunk * 160


def test_memoryBoundedInOneRead() -> None:
    """10 MB without an LF in a single read is cut up right away too."""
    splitter = LineSplitter(65536)
    pieces = splitter.feed(b"z" * (10 * 1024 * 1024))
    assert len(splitter._partial) <= 65536
    assert len(pieces) == 10 * 16 - 1
    assert pieces + splitter.finish() == [b"z" * 65536] * 160


def test_splitDatagram() -> None:
    """A datagram's last line needs no LF; long lines are split and counted."""
    assert splitDatagram(b"a\nb\r\n\nc", 8) == ([b"a", b"b", b"c"], 0)
    assert splitDatagram(b"x" * 20 + b"\ny", 8) == ([b"x" * 8, b"x" * 8, b"x" * 4, b"y"], 1)
    assert splitDatagram(b"", 8) == ([], 0)


# TelnetFilter ------------------------------------------------------------------

IAC, SB, SE = b"\xff", b"\xff\xfa", b"\xff\xf0"
WILL, WONT, DO, DONT = b"\xff\xfb", b"\xff\xfc", b"\xff\xfd", b"\xff\xfe"


def filterChunks(chunks: list[bytes]) -> bytes:
    """Feed the chunks to one TelnetFilter, then finish: everything it passed on."""
    telnet = TelnetFilter()
    return b"".join(telnet.feed(chunk) for chunk in chunks) + telnet.finish()


# A real telnet client's opening negotiation (linux netkit telnet): DO
# SUPPRESS-GO-AHEAD, WILL TERMINAL-TYPE, NAWS, TSPEED, LFLOW, LINEMODE,
# NEW-ENVIRON, DO STATUS, then the NAWS and TTYPE subnegotiations.
NEGOTIATION = (
    DO + b"\x03" + WILL + b"\x18" + WILL + b"\x1f" + WILL + b"\x20" + WILL + b"\x21" + WILL + b"\x22"
    + WILL + b"\x27" + DO + b"\x05"
    + SB + b"\x1f\x00\x50\x00\x18" + SE
    + SB + b"\x18\x00XTERM-256COLOR" + SE
)
LONG_PAYLOAD = b"p" * 2000

TELNET_CASES = {
    "IAC IAC": (b"a\xff\xffb", b"a\xffb"),
    "IAC IAC twice": (b"\xff\xff\xff\xff", b"\xff\xff"),
    "WILL": (b"a" + WILL + b"\x01b", b"ab"),
    "WONT": (b"a" + WONT + b"\x01b", b"ab"),
    "DO": (b"a" + DO + b"\x01b", b"ab"),
    "DONT": (b"a" + DONT + b"\x01b", b"ab"),
    "option 255": (b"a" + DO + b"\xffb", b"ab"),
    "Ctrl-C": (b"abc\xff\xf4\xff\xfd\x06def\r\n", b"abcdef\r\n"),
    "two-byte commands": (b"a" + b"".join(IAC + bytes([c]) for c in range(0xF0, 0xFA)) + b"b", b"ab"),
    "subnegotiation": (b"a" + SB + b"\x18\x01" + SE + b"b", b"ab"),
    "subnegotiation with IAC IAC": (b"a" + SB + b"\x18\xff\xff\x01" + SE + b"b", b"ab"),
    "negotiation": (NEGOTIATION + b"hello\r\n", b"hello\r\n"),
    "not a command": (b"a\xff\x41b", b"a\xffAb"),
    "not a command 0": (b"\xff\x00", b"\xff\x00"),
    "not a command 239": (b"\xff\xef\xff\xff", b"\xff\xef\xff"),
    "plain": (b"no commands here\r\n", b"no commands here\r\n"),
    "unterminated long subnegotiation": (b"x" + SB + LONG_PAYLOAD + b"\nnext\n", b"x" + SB + LONG_PAYLOAD + b"\nnext\n"),
}


@pytest.mark.parametrize("name", sorted(TELNET_CASES))
def test_telnetAtEveryBoundary(name: str) -> None:
    """Each command sequence is handled the same whole, cut at any boundary, and byte by byte."""
    data, expected = TELNET_CASES[name]
    for chunks in everySplit(data):
        assert filterChunks(chunks) == expected, [c[:20] for c in chunks]


def test_longSubnegotiationKeepsItsBytes() -> None:
    """
    A subnegotiation whose IAC SE comes too late is abandoned: its IAC SB
    and payload are data, so a line listener records them instead of
    swallowing the stream.
    """
    out = filterChunks([b"x" + SB + LONG_PAYLOAD + SE + b"after\n"])
    assert out.startswith(b"x" + SB + LONG_PAYLOAD)
    assert out.endswith(b"after\n")


@pytest.mark.parametrize("extra", range(-3, 4))
def test_subnegotiationLimitAtEveryBoundary(extra: int) -> None:
    """
    Subnegotiations right around the 1 KiB limit are kept or dropped the
    same way wherever the stream is cut (whole, at every single boundary,
    byte by byte).
    """
    payload = b"s" * (MAX_SUBNEGOTIATION - 2 + extra)
    data = b"<" + SB + payload + SE + b">"
    whole = filterChunks([data])
    for chunks in everySplit(data):
        assert filterChunks(chunks) == whole, [len(c) for c in chunks]


def test_subnegotiationLimit() -> None:
    """A 1 KiB subnegotiation is still a subnegotiation; a much longer one is data."""
    short = b"<" + SB + b"s" * (MAX_SUBNEGOTIATION - 10) + SE + b">"
    assert filterChunks([short]) == b"<>"
    long = b"<" + SB + b"s" * (MAX_SUBNEGOTIATION + 10) + SE + b">"
    assert filterChunks([long]).startswith(b"<" + SB + b"s" * (MAX_SUBNEGOTIATION + 10))


@pytest.mark.parametrize(
    "data, passed, held",
    [
        (b"abc\xff", b"abc", b"\xff"),
        (b"abc" + WILL, b"abc", WILL),
        (b"abc" + SB + b"\x18\x01", b"abc", SB + b"\x18\x01"),
        (b"abc" + SB + b"\x18\x01\xff", b"abc", SB + b"\x18\x01\xff"),
    ],
)
def test_finishReturnsHeldBytes(data: bytes, passed: bytes, held: bytes) -> None:
    """A sequence cut off by the end of the connection is given back by finish(), then nothing is held."""
    telnet = TelnetFilter()
    assert telnet.feed(data) == passed
    assert telnet.finish() == held
    assert telnet.finish() == b""


def test_heldBytesCompleteLater() -> None:
    """A held partial sequence completes with the next read."""
    telnet = TelnetFilter()
    assert telnet.feed(b"abc\xff") == b"abc"
    assert telnet.feed(b"\xf4\xff") == b""
    assert telnet.feed(b"\xfd\x06def") == b"def"
    assert telnet.finish() == b""


telnetStreams = st.lists(
    st.one_of(
        st.sampled_from([IAC, SB, SE, WILL, DO, b"\xff\xf4", b"\xff\xff", b"\x06", b"\r\n", NEGOTIATION]),
        st.binary(max_size=8),
    ),
    max_size=40,
).map(b"".join)


@PROPERTY
@example(data=b"<" + SB + b"s" * (MAX_SUBNEGOTIATION - 2) + SE + b">", cuts=[MAX_SUBNEGOTIATION + 2])
@given(telnetStreams, st.lists(st.integers(0, 600), max_size=30))
def test_telnetProperty(data: bytes, cuts: list[int]) -> None:
    """Any bytes, any chunking: no exception, and the same output as the whole stream gives."""
    assert filterChunks(chunked(data, cuts)) == filterChunks([data])


@PROPERTY
@given(st.binary(max_size=300).map(lambda b: b.replace(b"\xff", b"")), st.lists(st.integers(0, 300), max_size=10))
def test_telnetPassesPlainData(data: bytes, cuts: list[int]) -> None:
    """Data without IAC passes through untouched."""
    assert filterChunks(chunked(data, cuts)) == data


def test_lineSplitterRelease() -> None:
    """An unfinished line given up early: all but its last byte now, the rest with the next piece."""
    from logd.inputs.framing import LineSplitter

    splitter = LineSplitter(100)
    assert list(splitter.feed(b"hello wor")) == [] and splitter.held == 9
    assert splitter.release() == [b"hello wo"] and splitter.held == 1
    assert list(splitter.feed(b"ld\nnext\n")) == [b"rld", b"next"]
    assert splitter.splitLines == 0


def test_lineSplitterReleaseKeepsACRForItsLF() -> None:
    from logd.inputs.framing import LineSplitter

    splitter = LineSplitter(100)
    splitter.feed(b"abc\r")
    assert splitter.release() == [b"abc"]
    assert list(splitter.feed(b"\nd\n")) == [b"d"], "the CR before the LF is dropped, not recorded"
    assert splitter.release() == [] and splitter.held == 0
