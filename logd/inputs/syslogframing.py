"""
RFC 6587 stream framing for syslog over TCP and Unix streams, and the one
rule for datagrams (L{datagram_frame}).

Pure Python, no Twisted: the syslog protocols hand it the bytes they read.
The framer works on whole chunks with C{bytes.find}/C{split}; no Python
loop walks characters.  It accepts any bytes whatsoever without raising: a
syslog port is open to the network, and one malformed sender must not cost
the daemon the messages of everybody else.
"""

from __future__ import annotations

import re

_START, _DIGITS, _OCTETS, _SKIP, _LINE = range(5)

# A run of messages all ended by LF (or all by NUL) stops at a message that
# starts with a digit: it may be octet-counted.  (One literal then a class:
# the regex engine scans for the literal fast; "\n[0-9]|\x00" is 10x slower.)
_LF_DIGIT_RE = re.compile(rb"\n[0-9]")
_NUL_DIGIT_RE = re.compile(rb"\x00[0-9]")
_OCTET_COUNT_RE = re.compile(rb"([1-9][0-9]{0,8}) ")
_LENGTH_RE = re.compile(rb"[0-9]{1,10}")
_DELIMITERS_RE = re.compile(rb"[\n\x00]+")


class SyslogFramer:
    """
    RFC 6587 stream framing, detected per message as rsyslog does.

    A message starting with C{LEN SP} (1 to 9 digits, no leading zero) is
    octet-counted: the next C{LEN} bytes are the frame, whatever they contain.
    Any other message is non-transparent: it ends at LF or NUL (Python's
    C{SysLogHandler} over TCP ends messages with NUL alone), a CR before the
    LF is dropped, and empty frames are skipped.  A message that starts with
    digits that are not a valid length prefix counts in C{bad_length_prefixes}
    and is framed by LF/NUL, digits included.

    Memory stays bounded by about C{max_frame} plus one chunk: a longer
    non-transparent message is cut into C{max_frame}-sized frames
    (C{split_frames} counts the cuts), and of a longer octet-counted one only
    the first C{max_frame} bytes are kept (C{skipped_bytes} counts the rest).

    A CR is dropped only right before an LF: before a NUL, or at the end of
    the stream, it is content.  L{finish} turns what is held at the close
    (an unterminated message, a truncated octet-counted frame, a lone
    length prefix) into a last frame.

    The frames and counters are the same wherever chunk boundaries fall.

    @ivar split_frames: cuts made in over-long non-transparent messages.
    @ivar skipped_bytes: bytes of over-long octet-counted frames discarded.
    @ivar bad_length_prefixes: messages starting with digits that were not a
        valid C{LEN SP} prefix.
    @ivar octet_frames: octet-counted frames emitted (only they can end with
        an LF, which some senders put inside the count).
    """

    def __init__(self, max_frame: int = 65536) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be at least 1")
        self.max_frame = max_frame
        self.split_frames = 0
        self.skipped_bytes = 0
        self.bad_length_prefixes = 0
        self.octet_frames = 0
        self._state = _START
        # Pending bytes: the digits of a length prefix cut by a chunk
        # boundary, the start of an octet-counted frame, or the start of a
        # non-transparent message (at most max_frame + 1 bytes).
        self._buf = bytearray()
        self._need = 0  # octets still to read into the frame
        self._skip = 0  # octets of the frame still to discard

    def _cut(self, frame: bytes, out: list[bytes]) -> None:
        """Emit a complete non-transparent C{frame}, cut to C{max_frame}."""
        mf = self.max_frame
        if len(frame) <= mf:
            if frame:
                out.append(frame)
            return
        pieces = [frame[k : k + mf] for k in range(0, len(frame), mf)]
        self.split_frames += len(pieces) - 1
        out.extend(pieces)

    def _run(
        self, data: bytes, i: int, lf: int, nul: int, out: list[bytes]
    ) -> int:
        """
        Fast path at a message start that is neither a digit nor a delimiter,
        C{lf} and C{nul} being the first LF and NUL at or after C{i} (or
        C{len(data)}): emit every message of the run of messages ended by
        the same delimiter as the first one, up to the first other delimiter
        or the first message that starts with a digit.  Runs of LF lines, and
        of NUL-ended messages as Python's C{SysLogHandler} sends over TCP,
        cost a handful of C calls per chunk.

        @return: the start of the first message after the run.
        """
        if lf < nul:
            stop = _LF_DIGIT_RE.search(data, lf, nul)
            last = data.rfind(b"\n", lf, nul if stop is None else stop.start() + 1)
            run = data[i:last]
            if b"\r" in run:
                # Only a CR right before an LF goes; "\r\r\n" keeps one.
                run = run.replace(b"\r\n", b"\n")
                if run[-1:] == b"\r":
                    run = run[:-1]
            frames = run.split(b"\n")
        else:
            stop = _NUL_DIGIT_RE.search(data, nul, lf)
            last = data.rfind(b"\x00", nul, lf if stop is None else stop.start() + 1)
            run = data[i:last]
            frames = run.split(b"\x00")
        if len(run) > self.max_frame and max(map(len, frames)) > self.max_frame:
            for frame in frames:
                self._cut(frame, out)
        else:
            out.extend(filter(None, frames))
        return last + 1

    def feed(self, data: bytes) -> list[bytes]:
        """
        Take the next chunk read from the connection.

        @return: the frames completed by this chunk, in order (maybe none).
        """
        if type(data) is not bytes:
            data = bytes(data)
        out: list[bytes] = []
        buf = self._buf
        mf = self.max_frame
        if self._state == _DIGITS:
            # A length prefix cut by the previous chunk boundary: at most 9
            # bytes, so starting again from the message start costs nothing.
            data = bytes(buf) + data
            buf.clear()
            self._state = _START
        n = len(data)
        i = 0
        # The first LF and NUL at or after i (n: none left in this chunk),
        # searched again only once i has passed them: each byte of the chunk
        # is searched once, whatever the mix of messages.
        lf = nul = -1
        while i < n:
            state = self._state
            if state == _START:
                c = data[i]
                if c == 0x0A or c == 0x00:
                    i += 1  # an empty frame; skip a run of them at once
                    if i < n and (data[i] == 0x0A or data[i] == 0x00):
                        m = _DELIMITERS_RE.match(data, i)
                        i = m.end()  # type: ignore[union-attr]
                    continue
                if 0x31 <= c <= 0x39:  # 1-9: maybe an octet count
                    m = _OCTET_COUNT_RE.match(data, i)
                    if m is not None:
                        length = int(m.group(1))
                        i = m.end()
                        if length <= mf and i + length <= n:
                            # The whole frame is here: no state change.
                            self.octet_frames += 1
                            out.append(data[i : i + length])
                            i += length
                            continue
                        if length > mf:
                            self._need = mf
                            self._skip = length - mf
                        else:
                            self._need = length
                            self._skip = 0
                        self._state = _OCTETS
                        continue
                    # Not a complete valid prefix: cut by the chunk end, or bad.
                    k = _LENGTH_RE.match(data, i).end()  # type: ignore[union-attr]
                    if k == n and k - i <= 9:
                        buf += data[i:]
                        self._state = _DIGITS
                        return out
                    self.bad_length_prefixes += 1
                elif c == 0x30:  # leading zero: never a valid count
                    self.bad_length_prefixes += 1
                else:
                    if lf < i:
                        lf = data.find(b"\n", i)
                        if lf < 0:
                            lf = n
                    if nul < i:
                        nul = data.find(b"\x00", i)
                        if nul < 0:
                            nul = n
                    if lf != nul:  # both n when neither is left
                        i = self._run(data, i, lf, nul, out)
                        continue
                self._state = _LINE
                continue
            if state == _LINE:
                if lf < i:
                    lf = data.find(b"\n", i)
                    if lf < 0:
                        lf = n
                if nul < i:
                    nul = data.find(b"\x00", i)
                    if nul < 0:
                        nul = n
                j = nul if nul < lf else lf
                if j == n:
                    buf += data[i:]
                    if len(buf) > mf + 1:
                        # Keep at most max_frame + 1 bytes: with the byte
                        # after, that decides a trailing CR + LF.
                        cut = (len(buf) - 2) // mf * mf
                        self._cut(bytes(buf[:cut]), out)
                        self.split_frames += 1
                        del buf[:cut]
                    return out
                if buf:
                    buf += data[i:j]
                    frame = bytes(buf)
                    buf.clear()
                else:
                    frame = data[i:j]
                if j == lf and frame[-1:] == b"\r":
                    frame = frame[:-1]
                self._cut(frame, out)
                i = j + 1
                self._state = _START
                continue
            if state == _OCTETS:
                need = self._need
                if not buf and n - i >= need:
                    out.append(data[i : i + need])
                    i += need
                else:
                    take = data[i : i + need - len(buf)]
                    buf += take
                    i += len(take)
                    if len(buf) < need:
                        return out
                    out.append(bytes(buf))
                    buf.clear()
                self.octet_frames += 1
                self._state = _SKIP if self._skip else _START
                continue
            # _SKIP
            s = min(self._skip, n - i)
            self._skip -= s
            self.skipped_bytes += s
            i += s
            if not self._skip:
                self._state = _START
        return out

    @property
    def held(self) -> int:
        """Bytes of an unfinished message held."""
        return len(self._buf)

    def release(self) -> list[bytes]:
        """
        Give up the unfinished message held now, as a frame of its own (see
        L{logd.inputs.partials}); its rest becomes the next frame.  Of an
        LF-framed message the last byte stays (it may be a CR whose LF has
        not arrived); an octet-counted frame goes on counting its octets.
        """
        buf = self._buf
        if self._state == _LINE and len(buf) > 1:
            piece = bytes(buf[:-1])
            del buf[:-1]
            return [piece]
        if self._state == _OCTETS and buf:
            piece = bytes(buf)
            self._need -= len(buf)
            buf.clear()
            return [piece]
        return []

    def finish(self) -> list[bytes]:
        """
        The connection is closed: whatever was held (a message without its
        delimiter, a truncated octet-counted frame, a lone length prefix) is
        the last frame.  The framer is then ready for a new stream.
        """
        out: list[bytes] = []
        buf = self._buf
        state = self._state
        if state == _DIGITS:
            self.bad_length_prefixes += 1
        if buf:
            if state == _OCTETS:
                self.octet_frames += 1
                out.append(bytes(buf))
            else:
                self._cut(bytes(buf), out)
        buf.clear()
        self._state = _START
        self._need = self._skip = 0
        return out


def datagram_frame(data: bytes) -> bytes:
    """
    The message in one datagram: trailing LF and NUL removed, and a CR that
    preceded a removed LF.  Senders differ in what they append (nothing, LF,
    CRLF, NUL); none of it is part of the message.
    """
    end = len(data)
    while end and (data[end - 1] == 0x0A or data[end - 1] == 0x00):
        if data[end - 1] == 0x0A and end >= 2 and data[end - 2] == 0x0D:
            end -= 2
        else:
            end -= 1
    return data if end == len(data) else data[:end]
