"""
Framing: turning a byte stream into messages, chunk by chunk.

These classes know nothing of Twisted; the protocols feed them whatever the
transport read.  They work on whole chunks with bytes methods (find, split,
replace) so that a 64 KiB read of short lines costs a handful of C calls,
and give the same messages wherever the chunk boundaries fall.
"""

from __future__ import annotations

from typing import Sequence

from logd.records import Lines

IAC = 0xFF
_IAC = b"\xff"
_SB = 0xFA
_SE = 0xF0
_IAC_SE = b"\xff\xf0"
_WILL, _WONT, _DO, _DONT = 0xFB, 0xFC, 0xFD, 0xFE

MAX_SUBNEGOTIATION = 1024
"""
A subnegotiation longer than this is not a real telnet client talking: it is
abandoned and its bytes kept as data, so an unterminated C{IAC SB} cannot
swallow a stream.
"""


class TelnetFilter:
    """
    Remove telnet command sequences (RFC 854) so that a real C{telnet}
    client can talk to a line listener.  C{IAC IAC} is a literal 0xff, and
    so is an 0xff followed by a byte that is no telnet command (below 240),
    which only a client that is not telnet sends.

    A sequence cut by a chunk boundary is held back until the next chunk;
    L{finish} gives back whatever is still held when the connection ends, so
    no byte is lost.
    """

    def __init__(self) -> None:
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        if self._held:
            data = self._held + data
            self._held = b""
        if _IAC not in data:
            return data
        out: list[bytes] = []
        start = 0
        end = len(data)
        while True:
            i = data.find(_IAC, start)
            if i < 0:
                out.append(data[start:])
                break
            out.append(data[start:i])
            if i + 1 >= end:
                self._held = data[i:]
                break
            command = data[i + 1]
            if command == IAC:
                out.append(_IAC)
                start = i + 2
            elif _WILL <= command <= _DONT:
                if i + 2 >= end:
                    self._held = data[i:]
                    break
                start = i + 3
            elif command == _SB:
                close = data.find(_IAC_SE, i + 2)
                if close >= 0 and close - i <= MAX_SUBNEGOTIATION:
                    start = close + 2
                elif close < 0 and end - i <= MAX_SUBNEGOTIATION + 1:
                    # Still short enough that an IAC SE in the next chunk
                    # (its IAC possibly this chunk's last byte) would fit.
                    self._held = data[i:]
                    break
                else:
                    # Abandoned: keep IAC SB as data and carry on after it.
                    out.append(data[i : i + 2])
                    start = i + 2
            elif command >= _SE:
                # NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, SE: two bytes.
                start = i + 2
            else:
                # Not a telnet command at all: a literal 0xff from a client
                # that is not telnet.  Keep it, and read on from the next byte.
                out.append(_IAC)
                start = i + 1
        return b"".join(out)

    def finish(self) -> bytes:
        held, self._held = self._held, b""
        return held


def _mayHoldLongLine(data: bytes, maxLine: int) -> bool:
    """
    Whether C{data} may hold a line longer than C{maxLine}, without
    splitting it: a run of at least C{2h - 1} bytes with no LF contains a
    whole aligned block of C{h} bytes with no LF, so with C{h = maxLine // 2}
    a few C{find} calls over aligned blocks rule long lines out.  A C{True}
    only means "look closer".
    """
    size = len(data)
    if size <= maxLine:
        return False
    block = maxLine // 2
    if block < 256:
        return True
    for start in range(0, size - block + 1, block):
        if data.find(b"\n", start, start + block) < 0:
            return True
    return False


class LineSplitter:
    """
    Split a stream into LF-delimited lines: a CR before the LF is dropped,
    empty lines are skipped, and a line longer than C{maxLine} becomes
    C{maxLine}-sized pieces (counted in C{splitLines}; nothing is lost).

    A partial line is held until its LF arrives, but never more than
    C{maxLine} bytes of it: a client sending 10 MB with no newline costs
    C{maxLine} bytes of memory, not 10 MB.
    """

    def __init__(self, maxLine: int) -> None:
        self.maxLine = maxLine
        self.splitLines = 0
        self._partial = b""
        self._emitted = 0
        """Bytes of the current, unfinished line already emitted as pieces."""

    def feed(self, data: bytes) -> Sequence[bytes]:
        """
        The lines completed by C{data}.  In the common case (no empty line,
        no line too long) they come back as one L{Lines} run, unsplit.
        """
        if self._partial:
            data = self._partial + data
        last = data.rfind(b"\n")
        if last < 0:
            self._partial = data
            return self._pieces() if len(data) > self.maxLine else []
        self._partial = data[last + 1 :]
        complete = data[:last]
        if b"\r" in complete:
            complete = (complete + b"\n").replace(b"\r\n", b"\n")[:-1]
        carried = self._lineEnded(complete)
        lines: Sequence[bytes]
        if (
            complete[:1] == b"\n"
            or complete[-1:] == b"\n"
            or b"\n\n" in complete
            or _mayHoldLongLine(complete, self.maxLine)
        ):
            lines = self._splitLong(complete.split(b"\n"), countFirst=not carried)
        elif complete:
            lines = Lines(complete)
        else:
            lines = []
        if len(self._partial) > self.maxLine:
            lines = [*lines, *self._pieces()]
        return lines

    @property
    def held(self) -> int:
        """Bytes of the unfinished line held."""
        return len(self._partial)

    def release(self) -> list[bytes]:
        """
        Give up the unfinished line now, as a piece of its own (see
        L{logd.inputs.partials}), but for its last byte: it may be a CR whose LF
        has not arrived.
        """
        data = self._partial
        if len(data) <= 1:
            return []
        self._partial = data[-1:]
        self._emitted += len(data) - 1
        return [data[:-1]]

    def finish(self) -> list[bytes]:
        """
        The unterminated last line, when the connection ends.
        """
        partial, self._partial = self._partial, b""
        if partial.endswith(b"\r"):
            partial = partial[:-1]
        carried = self._lineEnded(partial)
        return self._splitLong([partial], countFirst=not carried)

    def _lineEnded(self, rest: bytes) -> int:
        """
        The current line ends within C{rest}: count it as split if the pieces
        already emitted and its rest make it longer than C{maxLine}.  Returns
        how much of it had been emitted.
        """
        carried, self._emitted = self._emitted, 0
        if carried:
            end = rest.find(b"\n")
            if carried + (len(rest) if end < 0 else end) > self.maxLine:
                self.splitLines += 1
        return carried

    def _pieces(self) -> list[bytes]:
        """
        Emit the held partial line in full C{maxLine} pieces, always keeping
        at least one byte back so that a final CR is still seen before its LF.
        """
        size = self.maxLine
        data = self._partial
        cut = ((len(data) - 1) // size) * size
        self._partial = data[cut:]
        self._emitted += cut
        return [data[i : i + size] for i in range(0, cut, size)]

    def _splitLong(self, lines: list[bytes], countFirst: bool = True) -> list[bytes]:
        """
        Skip empty lines and cut long ones into pieces.  C{countFirst} is
        false when the first line continues one already counted by
        L{_lineEnded}.
        """
        size = self.maxLine
        out: list[bytes] = []
        for index, line in enumerate(lines):
            if len(line) > size:
                if index or countFirst:
                    self.splitLines += 1
                out.extend(line[i : i + size] for i in range(0, len(line), size))
            elif line:
                out.append(line)
        return out


def splitDatagram(data: bytes, maxLine: int) -> tuple[Sequence[bytes], int]:
    """
    Lines of one datagram (or of several joined by LFs), which is complete
    in itself: its last line needs no LF.  Returns the lines and how many
    were split for being too long.
    """
    splitter = LineSplitter(maxLine)
    lines = splitter.feed(data + b"\n")
    return lines, splitter.splitLines
