"""
Escaping, peers and times (logd.records).

Escaping is what keeps one record on one line and makes the text format
byte-exact, so it is checked against an independent reference model written
here from the issue's rules, and by round trip, over arbitrary bytes.
"""

from __future__ import annotations

import datetime
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress

from logd.records import escape, escapeLines, formatPeer, formatTime, unescape

from .helpers import PROPERTY, messages

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


def referenceEscape(data: bytes) -> bytes:
    """
    The issue's rules, one character at a time: a valid UTF-8 sequence is
    the only way a byte can start a character (UTF-8 is prefix-free, so at
    most one length decodes); anything else is one invalid byte.
    """
    out = []
    i = 0
    while i < len(data):
        for n in range(1, 5):
            try:
                char = data[i : i + n].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(char) == 1:
                break
        else:
            out.append(b"\\x%02x" % data[i])
            i += 1
            continue
        code = ord(char)
        if char == "\\":
            out.append(b"\\\\")
        elif char in "\t\r\n":
            out.append({"\t": b"\\t", "\r": b"\\r", "\n": b"\\n"}[char])
        elif code < 0x20 or code == 0x7F:
            out.append(b"\\x%02x" % code)
        else:
            out.append(data[i : i + n])
        i += n
    return b"".join(out)


@pytest.mark.parametrize(
    "raw, escaped",
    [
        (b"plain text, punctuation ~!@#$%^&*()", b"plain text, punctuation ~!@#$%^&*()"),
        (b"", b""),
        (b"back\\slash", b"back\\\\slash"),
        (b"tab\there", b"tab\\there"),
        (b"cr\rlf\n", b"cr\\rlf\\n"),
        (b"\x00\x01\x1f", b"\\x00\\x01\\x1f"),
        (b"\x0b\x0c\x1b[31m", b"\\x0b\\x0c\\x1b[31m"),
        (b"del\x7f", b"del\\x7f"),
        (b"\xab\xcd\xef", b"\\xab\\xcd\\xef"),
        (b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "café € 😀".encode()),
        (b"\xf0\x9f\x98", b"\\xf0\\x9f\\x98"),
        (b"\xc3(", b"\\xc3("),
        (b"\xc0\x80", b"\\xc0\\x80"),
        (b"\xed\xa0\x80", b"\\xed\\xa0\\x80"),
        (b"\xf4\x90\x80\x80", b"\\xf4\\x90\\x80\\x80"),
        (b"\\x41", b"\\\\x41"),
        (b"\x80\xc3\xa9", b"\\x80\xc3\xa9"),
    ],
)
def test_escapeRules(raw: bytes, escaped: bytes) -> None:
    """Each rule of the issue: backslash, tab/CR/LF, other controls and DEL, invalid UTF-8 as lowercase \\xNN, valid UTF-8 unchanged."""
    assert escape(raw) == escaped
    assert referenceEscape(raw) == escaped


@PROPERTY
@given(messages)
def test_escapeMatchesReference(data: bytes) -> None:
    """escape agrees with the reference model on arbitrary bytes."""
    assert escape(data) == referenceEscape(data)


@PROPERTY
@given(messages)
def test_escapeRoundTrip(data: bytes) -> None:
    """Unescaping gives back the exact bytes received."""
    assert unescape(escape(data)) == data


@PROPERTY
@given(st.binary(max_size=200))
def test_escapeRoundTripUniformBytes(data: bytes) -> None:
    """The round trip holds for uniformly random bytes too."""
    assert unescape(escape(data)) == data


@PROPERTY
@given(messages)
def test_escapedIsOneLineOfText(data: bytes) -> None:
    """Escaped output has no LF (nor CR, nor other control byte) and is valid UTF-8: one record, one line."""
    escaped = escape(data)
    assert b"\n" not in escaped
    assert not re.search(rb"[\x00-\x1f\x7f]", escaped)
    escaped.decode("utf-8")


@PROPERTY
@given(st.lists(messages.map(lambda m: m.replace(b"\n", b"")), max_size=10))
def test_escapeLinesEqualsPerMessage(batch: list[bytes]) -> None:
    """Escaping LF-joined messages at once equals escaping each and joining."""
    assert escapeLines(b"\n".join(batch)) == b"\n".join(map(escape, batch))


def test_escapeLinesKeepsOnlyJoiningLFs() -> None:
    """escapeLines leaves the joining LFs and escapes everything else, broken UTF-8 at a message's end included."""
    assert escapeLines(b"a\\\tb\n\xe2\x82\nc\r") == b"a\\\\\\tb\n\\xe2\\x82\nc\\r"


# Peers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, text",
    [
        (IPv4Address("TCP", "127.0.0.1", 5555), "127.0.0.1:5555"),
        (IPv4Address("UDP", "10.1.2.3", 0), "10.1.2.3:0"),
        (IPv6Address("TCP", "::1", 5555), "[::1]:5555"),
        (IPv6Address("UDP", "fe80::1", 65535), "[fe80::1]:65535"),
        (UNIXAddress("/run/logd.sock"), "-"),
        (UNIXAddress(None), "-"),
        (UNIXAddress(b"/run/logd.sock"), "-"),
        (("127.0.0.1", 5140), "127.0.0.1:5140"),
        (("::1", 5140, 0, 0), "[::1]:5140"),
        (None, "-"),
        ("/tmp/client.sock", "-"),
        (b"", "-"),
    ],
)
def test_formatPeer(address: object, text: str) -> None:
    """host:port for IPv4, [host]:port for IPv6, - for Unix sockets and no address."""
    assert formatPeer(address) == text


# Times -------------------------------------------------------------------------

RFC3339_MICRO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")


def expectedTime(micros: int) -> str:
    """The RFC 3339 UTC text of a whole number of microseconds since the epoch, by datetime."""
    return (EPOCH + datetime.timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize("micro", [0, 1, 123456, 123457, 500000, 999999])
def test_formatTimeIssueExample(micro: int) -> None:
    """The issue's example instant, 2026-11-26T09:04:41.123456Z, and its neighbours format to the microsecond."""
    when = datetime.datetime(2026, 11, 26, 9, 4, 41, micro, tzinfo=UTC)
    assert formatTime(when.timestamp()) == f"2026-11-26T09:04:41.{micro:06d}Z"


@PROPERTY
@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**6 - 1))
def test_formatTimeWholeMicroseconds(micros: int) -> None:
    """A time that is a whole number of microseconds (as near as a float gets) shows exactly that microsecond."""
    assert formatTime(micros / 1e6) == expectedTime(micros)


@PROPERTY
@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False, allow_infinity=False))
def test_formatTimeMatchesDatetime(when: float) -> None:
    """Any time formats as datetime shows it (RFC 3339, UTC, microseconds, Z)."""
    text = formatTime(when)
    assert RFC3339_MICRO.match(text), text
    assert text == datetime.datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, 4_102_444_799), st.sampled_from([0.0, 0.125, 0.25, 0.5, 0.75])), min_size=1, max_size=20))
def test_formatTimeSecondCache(times: list[tuple[int, float]]) -> None:
    """
    Times in any order, repeating seconds and jumping back, format right:
    the cached seconds part never leaks from one second into another.
    (The fractions are exact in binary, so this holds whatever the rounding.)
    """
    for seconds, fraction in times:
        assert formatTime(seconds + fraction) == expectedTime(seconds * 10**6 + int(fraction * 10**6))
