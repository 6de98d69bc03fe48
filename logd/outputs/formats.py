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
from typing import Any, Callable, Protocol, Sequence

from logd.fields import RECORD_FIELDS, SYSLOG_FIELDS, SyslogFields, syslogFields
from logd.records import Batch, Lines, escape, escapeLines, formatTime
from logd.syslog import FACILITIES, SEVERITIES, SyslogMessage

try:
    from logd import _fastsyslog
except ImportError:  # built without a C compiler: the same output, slower
    _fastsyslog = None  # type: ignore[assignment]


class Formatter(Protocol):
    def pieces(self, batch: Batch) -> Sequence[bytes]:
        """
        The output, as pieces a sink writes with one C{writev}, unjoined:
        joining them would copy every byte once more.
        """

    def __call__(self, batch: Batch) -> bytes:
        """The output, joined."""


class _Memo:
    """
    Remember the output for the last batch: routing hands the same batch to
    every sink of a listener one after another.
    """

    def __init__(self, render: Callable[[Batch], Sequence[bytes]]) -> None:
        self._render = render
        self._last: Batch | None = None
        self._output: Sequence[bytes] = ()

    def pieces(self, batch: Batch) -> Sequence[bytes]:
        if batch is not self._last:
            self._output = self._render(batch)
            self._last = batch
        return self._output

    def __call__(self, batch: Batch) -> bytes:
        return b"".join(self.pieces(batch))


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


def textPieces(batch: Batch) -> Sequence[bytes]:
    """
    C{TIME LISTENER PEER MESSAGE}, one LF-terminated line per record: the
    first prefix, every message with the following ones, and the last LF.
    """
    if not batch.messages:
        return ()
    prefix = f"{formatTime(batch.time)} {batch.listener} {batch.peer} ".encode()
    body = _escapedBody(batch.messages)
    return (prefix, body.replace(b"\n", b"\n" + prefix), b"\n")


def renderText(batch: Batch) -> bytes:
    return b"".join(textPieces(batch))


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
    if batch.tlsPeer is not None:
        head += f'"tls_peer":{encode_basestring(batch.tlsPeer)},'
    if batch.fields is None:
        prefix = head + '"message":'
        body = ("}\n" + prefix).join(map(encode_basestring, _decode(batch.messages)))
        return (prefix + body + "}\n").encode("utf-8")
    if isinstance(batch.fields, SyslogFields):
        # Syslog fields carry their own "message": the MSG part.
        return _syslogJSON(head, batch.fields)
    # Fields a custom protocol attached: the message as received, unless the
    # fields give their own.
    return "".join(
        [_withFields(head, {"message": text, **fields}) for text, fields in zip(_decode(batch.messages), batch.fields)]
    ).encode("utf-8")


def _syslogJSON(head: str, fields: SyslogFields) -> bytes:
    host = fields.fallbackHost
    if _fastsyslog is None:
        return "".join([_withFields(head, record) for record in fields]).encode("utf-8")

    def one(index: int) -> bytes:
        return _withFields(head, syslogFields(fields.parsedAt(index), host)).encode("utf-8")

    return _fastsyslog.render(fields.messages, _jsonProgram(head), True, encode_basestring(host).encode("utf-8"), one)


def _jsonProgram(head: str) -> tuple[bytes | int, ...]:
    """
    The JSON line of a syslog record for L{_fastsyslog.render}: the keys and
    their order are those of L{syslogFields} (C{parse_error} never appears:
    the accelerator takes only messages that parse).
    """
    f = _fastsyslog
    return (
        (head + '"facility":"').encode("utf-8"), f.FACILITY,
        b'","severity":"', f.SEVERITY,
        b'","timestamp":', f.TIMESTAMP,
        b',"hostname":', f.HOSTNAME,
        b',"app_name":', f.APP_NAME,
        b',"procid":', f.PROCID,
        b',"msgid":', f.MSGID,
        b',"structured_data":', f.STRUCTURED_DATA,
        b',"message":"', f.MESSAGE,
        b'"}\n',
    )  # fmt: skip


def _withFields(head: str, fields: dict) -> str:
    """
    C{head} (ending in a comma) and the fields, as one JSON object line.
    """
    return head + _encode(fields)[1:] + "\n" if fields else head[:-1] + "}\n"


def _jsonDefault(value: Any) -> Any:
    """
    Whatever a custom protocol put in its fields still becomes JSON: bytes
    as text (invalid UTF-8 as \\xNN), anything else as its str().
    """
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_jsonDefault).encode
"""One encoder for every record: json.dumps with options builds a new one per call."""


def _syslogGetter(name: str) -> Callable[[SyslogMessage, str], str]:
    """
    How a template reads field C{name} straight off a parsed syslog
    message, without building the JSON format's dict.
    """
    if name == "facility":
        return lambda parsed, host: FACILITIES[parsed.facility]
    if name == "severity":
        return lambda parsed, host: SEVERITIES[parsed.severity]
    if name == "hostname":
        return lambda parsed, host: host if parsed.hostname is None else _templateValue(parsed.hostname)
    if name == "message":
        return lambda parsed, host: escape(parsed.message).decode("utf-8")
    if name == "parse_error":
        # As in JSON, where the key appears only when true.
        return lambda parsed, host: "true" if parsed.parse_error else "-"
    return lambda parsed, host: _templateValue(getattr(parsed, name))


class Template:
    """
    A sink's C{template}, such as C{"{time} {hostname} {app_name}[{procid}]: {message}"},
    compiled when the configuration loads.  Every value is escaped like a
    text-format message (C{message} byte-exact), so a template still writes
    one line per record; a field the record does not have (a syslog field of
    a plain line record, a NILVALUE) is written C{-}.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        parts = list(string.Formatter().parse(template))
        self.names = tuple(dict.fromkeys(name for _, name, _, _ in parts if name is not None))
        self._syslog = [(name, _syslogGetter(name)) for name in self.names if name in SYSLOG_FIELDS or name == "message"]
        # The accelerator writes record fields as they are: not with a format
        # spec or a conversion ("{severity:>7}", "{app_name!r}").
        self._steps = (
            None
            if _fastsyslog is None
            or any(spec or conversion for _, _, spec, conversion in parts)
            or not set(self.names) <= set(RECORD_FIELDS)
            else [(literal, name) for literal, name, _, _ in parts]
        )

    def __call__(self, batch: Batch) -> bytes:
        if not batch.messages:
            return b""
        base = _Missing(
            time=formatTime(batch.time),
            listener=batch.listener,
            peer=batch.peer,
            tls_peer="-" if batch.tlsPeer is None else escape(batch.tlsPeer.encode("utf-8")).decode("utf-8"),
        )
        fields = batch.fields
        if isinstance(fields, SyslogFields):
            return self._syslogLines(base, fields)
        render = self.template.format_map
        out = []
        for message, extra in zip(batch.messages, fields if fields is not None else repeat(None)):
            values = base.copy()
            values["message"] = escape(message).decode("utf-8")
            if extra:
                values.update((key, _templateValue(value)) for key, value in extra.items())
            out.append(render(values))
        return ("\n".join(out) + "\n").encode("utf-8")

    def _syslogLines(self, base: "_Missing", fields: SyslogFields) -> bytes:
        host = fields.fallbackHost
        if self._steps is None:
            return ("\n".join([self._line(base, parsed, host) for parsed in fields.parsed()]) + "\n").encode("utf-8")

        def one(index: int) -> bytes:
            return (self._line(base, fields.parsedAt(index), host) + "\n").encode("utf-8")

        return _fastsyslog.render(fields.messages, self._program(base), False, host.encode("utf-8"), one)

    def _line(self, base: "_Missing", parsed: SyslogMessage, host: str) -> str:
        values = base.copy()
        for name, get in self._syslog:
            values[name] = get(parsed, host)
        return self.template.format_map(values)

    def _program(self, base: "_Missing") -> tuple[bytes | int, ...]:
        """
        This template for L{_fastsyslog.render}: the batch's time, listener
        and peer are part of the literal text, syslog fields are steps.
        """
        program: list[bytes | int] = []
        literal = ""
        for text, name in self._steps or ():
            literal += text
            if name is None:
                continue
            if name in base:
                literal += base[name]
                continue
            if literal:
                program.append(literal.encode("utf-8"))
                literal = ""
            program.append(getattr(_fastsyslog, name.upper()))
        program.append((literal + "\n").encode("utf-8"))
        return tuple(program)


def _templateValue(value: Any) -> str:
    if isinstance(value, str) and value.isascii() and value.isprintable() and "\\" not in value:
        # Most header fields: nothing to escape (and the parser's header
        # tokens hold no control characters at all).
        return value
    if value is None or value == {}:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        value = _encode(value)
    return escape(str(value).encode("utf-8", "surrogateescape")).decode("utf-8")


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "-"

    def copy(self) -> "_Missing":
        return _Missing(self)


def _whole(render: Callable[[Batch], bytes]) -> Callable[[Batch], Sequence[bytes]]:
    return lambda batch: (render(batch),)


FORMATS: dict[str, Callable[[Batch], Sequence[bytes]]] = {"text": textPieces, "json": _whole(renderJSON)}


def makeFormatter(name: str, template: str | None = None) -> Formatter:
    return _Memo(_whole(Template(template)) if template is not None else FORMATS[name])
