"""
Output formats: a L{Batch} in, the bytes to append to a sink out.

A format turns a whole batch into one bytes object with one join, so a sink
writes once per batch.  Sinks that share a format share one formatter object,
which remembers the last batch it formatted: routing one batch to a file and
to stdout formats it once.
"""

from __future__ import annotations

from itertools import repeat
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Callable, Protocol

from logd.records import Batch, Lines, escape, escapeLines, formatTime


class Formatter(Protocol):
    def __call__(self, batch: Batch) -> bytes: ...


class _Memo:
    """
    Remember the output for the last batch: routing hands the same batch to
    every sink of a listener one after another.
    """

    def __init__(self, render: Callable[[Batch], bytes]) -> None:
        self._render = render
        self._last: Batch | None = None
        self._output = b""

    def __call__(self, batch: Batch) -> bytes:
        if batch is not self._last:
            self._output = self._render(batch)
            self._last = batch
        return self._output


def _escapedBody(messages) -> bytes:
    """
    The escaped messages joined by LF.  When no message holds an LF (the
    line protocol's guarantee, or checked in C by counting), the whole batch
    is escaped in one call.
    """
    if isinstance(messages, Lines):
        return escapeLines(messages.joined)
    joined = b"\n".join(messages)
    if joined.count(b"\n") == len(messages) - 1:
        return escapeLines(joined)
    return b"\n".join(map(escape, messages))


def renderText(batch: Batch) -> bytes:
    """
    C{TIME LISTENER PEER MESSAGE}, one LF-terminated line per record.
    """
    if not batch.messages:
        return b""
    prefix = f"{formatTime(batch.time)} {batch.listener} {batch.peer} ".encode()
    body = _escapedBody(batch.messages)
    return b"".join((prefix, body.replace(b"\n", b"\n" + prefix), b"\n"))


def _decode(messages) -> list[str]:
    if isinstance(messages, Lines):
        # An LF is never part of a UTF-8 sequence, nor of a \\xNN escape.
        return messages.joined.decode("utf-8", "backslashreplace").split("\n")
    return list(map(bytes.decode, messages, repeat("utf-8"), repeat("backslashreplace")))


def renderJSON(batch: Batch) -> bytes:
    """
    One JSON object per line.  Invalid UTF-8 becomes C{\\xNN} text; JSON's
    own escapes keep control characters off the line.
    """
    if not batch.messages:
        return b""
    head = (
        f'{{"time":"{formatTime(batch.time)}",'
        f'"listener":{encode_basestring(batch.listener)},'
        f'"peer":{encode_basestring(batch.peer)},'
    )
    if batch.fields is None:
        prefix = head + '"message":'
        body = ("}\n" + prefix).join(map(encode_basestring, _decode(batch.messages)))
        return (prefix + body + "}\n").encode("utf-8")
    lines = []
    for text, extra in zip(_decode(batch.messages), batch.fields):
        lines.append(head + '"message":' + encode_basestring(text) + _jsonFields(extra) + "}\n")
    return "".join(lines).encode("utf-8")


def _jsonFields(extra: dict) -> str:
    import json

    if not extra:
        return ""
    return "," + json.dumps(extra, ensure_ascii=False, separators=(",", ":"))[1:-1]


FORMATS: dict[str, Callable[[Batch], bytes]] = {"text": renderText, "json": renderJSON}


def makeFormatter(name: str) -> Formatter:
    return _Memo(FORMATS[name])
