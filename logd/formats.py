"""
Output formats: a L{Batch} in, the bytes to append to a sink out.

A format turns a whole batch into one bytes object with one join, so a sink
writes once per batch.  Sinks that share a format share one formatter object,
which remembers the last batch it formatted: routing one batch to a file and
to stdout formats it once.
"""

from __future__ import annotations

import json
import string
from itertools import repeat
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, Callable, Protocol

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
    # Records with parsed fields: "message" is theirs (a syslog MSG part).
    head = head[:-1]
    return "".join(head + _jsonFields(extra) + "}\n" for extra in batch.fields).encode("utf-8")


def _jsonFields(fields: dict) -> str:
    public = {key: value for key, value in fields.items() if key[0] != "_"}
    return "," + json.dumps(public, ensure_ascii=False, separators=(",", ":"))[1:-1]


class Template:
    """
    A sink's C{template}, such as C{"{time} {hostname} {app_name}[{procid}]: {message}"},
    compiled when the configuration loads.  Every value is escaped like a
    text-format message, so a template still writes one line per record;
    a field the record does not have (a syslog field of a plain line
    record, a NILVALUE) is written C{-}.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self.names = tuple(
            name for _, name, _, _ in string.Formatter().parse(template) if name is not None
        )

    def __call__(self, batch: Batch) -> bytes:
        if not batch.messages:
            return b""
        base = {"time": formatTime(batch.time), "listener": batch.listener, "peer": batch.peer}
        fields = batch.fields if batch.fields is not None else repeat(None)
        out = []
        for message, extra in zip(batch.messages, fields):
            values = dict(base)
            values["message"] = escape(message).decode("utf-8")
            if extra is not None:
                for key, value in extra.items():
                    values[key] = _templateValue(value)
                if "_message" in extra:
                    values["message"] = escape(extra["_message"]).decode("utf-8")
            out.append(self.template.format_map(_Missing(values)))
        return ("\n".join(out) + "\n").encode("utf-8")


def _templateValue(value: Any) -> str:
    if value is None or value == {}:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return escape(str(value).encode("utf-8", "surrogateescape")).decode("utf-8")


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "-"


FORMATS: dict[str, Callable[[Batch], bytes]] = {"text": renderText, "json": renderJSON}


def makeFormatter(name: str, template: str | None = None) -> Formatter:
    return _Memo(Template(template) if template is not None else FORMATS[name])
