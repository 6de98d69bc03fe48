"""
Records, batches and the byte-exact escaping that keeps one record on one line.

A record is (arrival time, listener, peer, message bytes).  Everything read
from one chunk of one connection arrives at the same time from the same peer,
so records travel in L{Batch}es that share those three fields: the hot path
then pays for time formatting, routing and sink dispatch once per chunk, not
once per line.
"""

from __future__ import annotations

import re
import time
from typing import Iterator, NamedTuple, Sequence, overload

from twisted.internet.interfaces import IAddress
from twisted.internet.address import IPv4Address, IPv6Address


class Batch(NamedTuple):
    """
    Records that arrived together: one chunk from one connection, or one
    datagram.  (A named tuple: one is made per read, and a tuple is the
    cheapest immutable record Python builds.)

    @ivar time: arrival time, seconds since the epoch.
    @ivar listener: the configured name of the listener that read them.
    @ivar peer: the peer as formatted by L{formatPeer} (C{"-"} if none).
    @ivar messages: one entry per record, the exact bytes received.
    @ivar fields: optional per-record parsed fields (for example syslog
        headers), parallel to C{messages}, or L{None} for plain records.
    @ivar tlsPeer: the verified identity of a TLS client that presented a
        certificate (the matching SAN DNS name or CN), else L{None}.
    """

    time: float
    listener: str
    peer: str
    messages: Sequence[bytes]
    fields: Sequence[dict] | None = None
    tlsPeer: str | None = None


class Lines(Sequence[bytes]):
    """
    Messages that hold no LF, kept LF-joined just as they arrived.

    The line protocol's fast path hands these on without ever splitting
    them: a text sink escapes and prefixes the whole run with a few bytes
    methods.  Anything that wants the messages one by one (JSON, a
    C{lineReceived} override) gets them split, once, on first use.
    """

    __slots__ = ("joined", "_split", "_count")

    def __init__(self, joined: bytes) -> None:
        self.joined = joined
        self._split: list[bytes] | None = None
        self._count = -1

    def _list(self) -> list[bytes]:
        if self._split is None:
            self._split = self.joined.split(b"\n")
        return self._split

    def __len__(self) -> int:
        # Counting is several times cheaper than splitting, and a caller
        # that only counts (the listener's and each sink's tallies) never
        # needs the list; counted once, however many tallies ask.
        if self._count < 0:
            self._count = self.joined.count(b"\n") + 1 if self._split is None else len(self._split)
        return self._count

    def __bool__(self) -> bool:
        return bool(self.joined)

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...
    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return self._list()[index]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (Lines, list, tuple)) else NotImplemented

    def __repr__(self) -> str:
        return f"Lines({self.joined!r})"


def formatPeer(address: IAddress | None) -> str:
    """
    Format a transport address the way every output format shows it:
    C{host:port}, C{[v6host]:port}, or C{-} for anything else: Unix sockets,
    whose peers are unnamed or named by a path the client chose (Twisted
    gives a Unix datagram's sender as that path, a plain string, which must
    never reach the output: it could hold a newline and a forged record).
    """
    if isinstance(address, IPv4Address):
        return f"{address.host}:{address.port}"
    if isinstance(address, IPv6Address):
        return f"[{address.host}]:{address.port}"
    if isinstance(address, tuple) and len(address) >= 2:
        # Datagram protocols get plain (host, port[, flow, scope]) tuples.
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return "-"


_secondCache: tuple[int, str] = (-1, "")


def formatTime(when: float) -> str:
    """
    RFC 3339 UTC with microseconds.  The seconds part is cached because a busy
    listener formats the same second thousands of times.
    """
    global _secondCache
    # Rounded as datetime rounds: the fraction alone (exact), then scaled.
    whole = int(when)
    micros = round((when - whole) * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    if _secondCache[0] != whole:
        _secondCache = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_secondCache[1]}.{micros:06d}Z"


# Escaping ------------------------------------------------------------------
#
# The escaped form is: backslash -> \\, TAB/CR/LF -> \t \r \n, any other byte
# below 0x20 and 0x7f -> \xNN, bytes that are not valid UTF-8 -> \xNN, valid
# UTF-8 unchanged.  Python's "backslashreplace" decode error handler writes
# invalid bytes exactly as \xNN (lowercase), so after doubling backslashes the
# whole job is one decode, one translate and one encode, all in C.

def _controlTable(keepLF: bool) -> dict[int, str]:
    table = {c: f"\\x{c:02x}" for c in list(range(0x20)) + [0x7F]}
    table.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
    if keepLF:
        del table[0x0A]
    return table


_TABLE = _controlTable(keepLF=False)
_TABLE_KEEP_LF = _controlTable(keepLF=True)
_SAFE = bytes(b for b in range(256) if (0x20 <= b <= 0x7E and b != 0x5C) or b >= 0x80)
_SAFE_KEEP_LF = _SAFE + b"\n"
# Deleting every byte that needs no escape leaves nothing when there is
# nothing to escape.  bytes.translate does that in C at over a gigabyte a
# second, several times faster than a regular expression search.


def _isUTF8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _escape(data: bytes, safe: bytes, table: dict[int, str]) -> bytes:
    if not data.translate(None, safe) and _isUTF8(data):
        return data
    text = data.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")
    return text.translate(table).encode("utf-8")


def escape(message: bytes) -> bytes:
    """
    Escape one message so that it is one line that cannot be mistaken for
    another record, and so that L{unescape} gives back the exact bytes.
    """
    return _escape(message, _SAFE, _TABLE)


def escapeLines(joined: bytes) -> bytes:
    """
    Escape several LF-joined messages at once, leaving the LFs that join them.

    Escaping is byte-local (an LF is never part of a UTF-8 sequence), so this
    equals escaping each message and joining, at the cost of one call.
    """
    return _escape(joined, _SAFE_KEEP_LF, _TABLE_KEEP_LF)


_UNESCAPE = re.compile(rb"\\(x[0-9a-f]{2}|[\\tnr])")
_SIMPLE = {b"\\": b"\\", b"t": b"\t", b"n": b"\n", b"r": b"\r"}


def unescape(escaped: bytes) -> bytes:
    """
    Invert L{escape}: the exact bytes that were received.
    """

    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        return _SIMPLE[code]

    return _UNESCAPE.sub(one, escaped)
