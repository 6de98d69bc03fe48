"""
Record fields: the named values that templates, filters and the JSON format
use beyond a record's time, listener, peer and message.

A syslog listener's batches carry a L{SyslogFields} sequence parallel to
their messages.  It parses lazily: a text sink that writes the messages as
received never pays for parsing; the first JSON sink, template or filter that
asks for a record's fields parses the whole batch, once, for all of them.
"""

from __future__ import annotations

import socket
from typing import Any, Iterator, Sequence

from logd.syslog import FACILITIES, SEVERITIES, SyslogMessage, parse, priority

try:
    from logd import _fastsyslog
except ImportError:  # built without a C compiler: the same answers, slower
    _fastsyslog = None  # type: ignore[assignment]

BASE_FIELDS = ("time", "listener", "peer", "tls_peer", "message")
SYSLOG_FIELDS = (
    "facility",
    "severity",
    "timestamp",
    "hostname",
    "app_name",
    "procid",
    "msgid",
    "structured_data",
    "parse_error",
)
RECORD_FIELDS = BASE_FIELDS + SYSLOG_FIELDS
"""Every field name a template may use."""

_LOCAL_HOSTNAME: str | None = None


def localHostname() -> str:
    """
    The name records from Unix sockets get when the message names no host:
    they come from this machine.
    """
    global _LOCAL_HOSTNAME
    if _LOCAL_HOSTNAME is None:
        _LOCAL_HOSTNAME = socket.gethostname()
    return _LOCAL_HOSTNAME


def peerHost(peer: str) -> str:
    """
    The host part of a formatted peer (C{1.2.3.4:514}, C{[::1]:514}), or this
    machine's name for C{-} (a Unix socket).
    """
    if peer == "-":
        return localHostname()
    host = peer.rpartition(":")[0]
    return host[1:-1] if host.startswith("[") else host


def syslogFields(parsed: SyslogMessage, fallbackHost: str) -> dict[str, Any]:
    """
    A parsed message as record fields, with the JSON keys the README lists;
    C{message} is the MSG part, as text.
    """
    fields: dict[str, Any] = {
        "facility": FACILITIES[parsed.facility],
        "severity": SEVERITIES[parsed.severity],
        "timestamp": parsed.timestamp,
        "hostname": parsed.hostname if parsed.hostname is not None else fallbackHost,
        "app_name": parsed.app_name,
        "procid": parsed.procid,
        "msgid": parsed.msgid,
        "structured_data": parsed.structured_data,
        "message": parsed.message.decode("utf-8", "backslashreplace"),
    }
    if parsed.parse_error:
        fields["parse_error"] = True
    return fields


class SyslogFields(Sequence[dict]):
    """
    The fields of each message of a syslog batch, parsed on first use.

    Filters and templates read the parsed messages themselves (L{parsed});
    the JSON format reads the field dicts, built from those on first use.
    """

    __slots__ = ("messages", "peer", "_parsed", "_some", "_dicts")

    def __init__(self, messages: Sequence[bytes], peer: str) -> None:
        self.messages = messages
        self.peer = peer
        self._parsed: list[SyslogMessage] | None = None
        self._some: dict[int, SyslogMessage] = {}
        self._dicts: list[dict] | None = None

    @property
    def fallbackHost(self) -> str:
        """The hostname of messages that name none."""
        return peerHost(self.peer)

    def parsed(self) -> list[SyslogMessage]:
        if self._parsed is None:
            some = self._some
            self._parsed = [some.get(index) or parse(message) for index, message in enumerate(self.messages)]
        return self._parsed

    def parsedAt(self, index: int) -> SyslogMessage:
        """
        One message, parsed once however many sinks ask: the C accelerator
        hands a formatter the few messages it leaves to Python one by one,
        and parsing the whole batch for those would undo its work.
        """
        if self._parsed is not None:
            return self._parsed[index]
        parsed = self._some.get(index)
        if parsed is None:
            parsed = self._some[index] = parse(self.messages[index])
        return parsed

    def priorities(self) -> bytes:
        """
        C{facility * 8 + severity} of each message, one byte each: all that
        severity and facility filters need, read off the PRI without a parse.
        """
        if self._parsed is not None:
            return bytes([m.facility * 8 + m.severity for m in self._parsed])
        if _fastsyslog is not None:
            return _fastsyslog.priorities(self.messages)
        return bytes(map(priority, self.messages))

    def _all(self) -> list[dict]:
        if self._dicts is None:
            host = self.fallbackHost
            self._dicts = [syslogFields(message, host) for message in self.parsed()]
        return self._dicts

    def __len__(self) -> int:
        return len(self.messages)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return self._all()[index]

    def __iter__(self) -> Iterator[dict]:
        return iter(self._all())

    def subset(self, indices: Sequence[int]) -> "SyslogFields":
        """
        The fields of some of the messages, still unparsed if nothing has
        asked for them yet (a C{match} filter decides without them).
        """
        subset = SyslogFields([self.messages[i] for i in indices], self.peer)
        if self._parsed is not None:
            subset._parsed = [self._parsed[i] for i in indices]
        elif self._some:
            some = self._some
            subset._some = {new: some[old] for new, old in enumerate(indices) if old in some}
        return subset
