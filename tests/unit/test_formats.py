"""
Output formats (logd.outputs.formats): a batch in, the bytes a sink appends out.

Batch times here are exact in binary (whole seconds plus .5 and the like),
so these tests are about the formats, not about time rounding, which
test_records covers.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logd.outputs.formats import makeFormatter, renderJSON, renderText
from logd.records import Batch, escape, unescape

from .helpers import PROPERTY, messages

WHEN = 1795683881.5  # 2026-11-26T09:04:41.500000Z
WHEN_TEXT = "2026-11-26T09:04:41.500000Z"
PREFIX = f"{WHEN_TEXT} tcp1 127.0.0.1:5555 ".encode()

batches = st.lists(messages, max_size=12)


def batch(messageList: list[bytes], peer: str = "127.0.0.1:5555", listener: str = "tcp1") -> Batch:
    return Batch(WHEN, listener, peer, messageList)


# text --------------------------------------------------------------------------


def test_textLines() -> None:
    """TIME LISTENER PEER MESSAGE, one LF-terminated line per record, in order."""
    out = renderText(batch([b"hello", b"wor\tld", b"\xff\x00", "é".encode()]))
    assert out == (
        PREFIX + b"hello\n"
        + PREFIX + b"wor\\tld\n"
        + PREFIX + b"\\xff\\x00\n"
        + PREFIX + "é".encode() + b"\n"
    )


@pytest.mark.parametrize("peer", ["[::1]:40000", "-"])
def test_textPeers(peer: str) -> None:
    """The peer field is written as given: [v6]:port, or - for Unix sockets."""
    assert renderText(Batch(WHEN, "local", peer, [b"x"])) == f"{WHEN_TEXT} local {peer} x\n".encode()


def test_textEmptyBatch() -> None:
    """An empty batch writes nothing."""
    assert renderText(batch([])) == b""


def test_textEmptyMessages() -> None:
    """An empty message is still a record: its line ends right after the peer's separator."""
    assert renderText(batch([b"", b""])) == PREFIX + b"\n" + PREFIX + b"\n"


def test_textRawMessagesWithLFs() -> None:
    """Raw records holding LFs (as raw listeners produce) are still one line each."""
    out = renderText(batch([b"a\nb", b"c\r\n", b"\n", b"d"]))
    assert out == PREFIX + b"a\\nb\n" + PREFIX + b"c\\r\\n\n" + PREFIX + b"\\n\n" + PREFIX + b"d\n"


@PROPERTY
@given(batches)
def test_textProperty(messageList: list[bytes]) -> None:
    """
    For any messages: exactly one LF-terminated line per record, each the
    prefix plus the escaped message, which unescapes to the exact bytes.
    """
    out = renderText(batch(messageList))
    if not messageList:
        assert out == b""
        return
    assert out.endswith(b"\n")
    lines = out.split(b"\n")[:-1]
    assert len(lines) == len(messageList)
    for line, message in zip(lines, messageList):
        assert line == PREFIX + escape(message)
        assert unescape(line[len(PREFIX) :]) == message


# json --------------------------------------------------------------------------


def jsonLines(out: bytes) -> list[dict]:
    assert out.endswith(b"\n")
    return [json.loads(line) for line in out.split(b"\n")[:-1]]


def test_jsonLines() -> None:
    """One object per line, keys time, listener, peer, message in that order."""
    out = renderJSON(batch([b"hello", b"second"], peer="[::1]:7"))
    objects = jsonLines(out)
    assert objects == [
        {"time": WHEN_TEXT, "listener": "tcp1", "peer": "[::1]:7", "message": "hello"},
        {"time": WHEN_TEXT, "listener": "tcp1", "peer": "[::1]:7", "message": "second"},
    ]
    assert all(list(o) == ["time", "listener", "peer", "message"] for o in objects)


def test_jsonControlCharacters() -> None:
    """Control characters use JSON's own escapes, so nothing breaks the line."""
    out = renderJSON(batch([b"a\tb\nc\rd\x00e\x1f"]))
    assert out.count(b"\n") == 1
    assert not re.search(rb"[\x00-\x1f]", out[:-1])
    assert b'"a\\tb\\nc\\rd\\u0000e\\u001f"' in out
    assert jsonLines(out)[0]["message"] == "a\tb\nc\rd\x00e\x1f"


def test_jsonInvalidUTF8() -> None:
    """Bytes that are not valid UTF-8 become \\xNN text; valid UTF-8 stays text."""
    out = renderJSON(batch([b"bad \xff\xc3 good \xc3\xa9"]))
    assert jsonLines(out)[0]["message"] == "bad \\xff\\xc3 good é"


def test_jsonEmptyBatch() -> None:
    """An empty batch writes nothing."""
    assert renderJSON(batch([])) == b""


@PROPERTY
@given(batches)
def test_jsonProperty(messageList: list[bytes]) -> None:
    """
    For any messages: one valid JSON object per line, UTF-8, no raw control
    bytes, message equal to the text with invalid bytes as \\xNN.
    """
    out = renderJSON(batch(messageList, peer="-"))
    if not messageList:
        assert out == b""
        return
    out.decode("utf-8")
    assert not re.search(rb"[\x00-\x09\x0b-\x1f]", out)
    objects = jsonLines(out)
    assert len(objects) == len(messageList)
    for obj, message in zip(objects, messageList):
        assert obj == {
            "time": WHEN_TEXT,
            "listener": "tcp1",
            "peer": "-",
            "message": message.decode("utf-8", "backslashreplace"),
        }


# makeFormatter -----------------------------------------------------------------


@pytest.mark.parametrize("name, render", [("text", renderText), ("json", renderJSON)])
def test_formatterMemo(name: str, render) -> None:
    """
    A formatter renders a batch once for all the sinks it feeds: the same
    batch object gives the very same pieces, and another batch, even one
    equal to an earlier one, is rendered afresh and correctly.
    """
    formatter = makeFormatter(name)
    first = batch([b"one", b"two"])
    second = batch([b"three"])
    pieces = formatter.pieces(first)
    assert b"".join(pieces) == render(first)
    assert formatter.pieces(first) is pieces
    assert formatter(first) == render(first)
    assert formatter(second) == render(second)
    again = batch([b"one", b"two"])
    assert formatter(again) == render(first)
    assert formatter(first) == render(first)


def test_formatterEmptyBatch() -> None:
    """An empty batch formats to nothing through the memo too."""
    assert makeFormatter("text")(batch([])) == b""
    assert makeFormatter("json")(batch([])) == b""
