# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""
The syslog hot path in C: parse the RFC 5424 header of every message of a
batch and write the batch's output (a template's text, or JSON lines) into
one buffer, with no Python object made per message.

Pure Python pays about 5 microseconds a message to parse and format (the
header regex alone is 1.4), which kept parsed syslog at a sixth of rsyslog's
rate; this module does the same job in a small fraction of that.

It is an accelerator, not a second specification.  L{logd.syslog.parse} and
L{logd.outputs.formats} define the output; this module handles only the messages
whose output it can write byte for byte the same way, and hands every other
message to the caller's C{fallback}, which renders it with that Python code:

  - messages that L{logd.syslog.parse} reads without error: RFC 5424, or
    RFC 3164 in all the forms it accepts (BSD or ISO timestamp, HOSTNAME,
    TAG and PID, each optional; no PRI);
  - whose header fields are printable ASCII without C{"} and C{\\}
    (nothing to escape in either output), and whose STRUCTURED-DATA, if
    any, is printable ASCII with no SD-ID or PARAM-NAME repeated (Python
    merges those) and is not shown by a template (C{{structured_data}}
    there is JSON escaped again as text: Python's job);
  - whose MSG is ASCII, or valid UTF-8 (checked by CPython's own decoder).

Anything else (a broken header, repeated or non-ASCII structured data,
invalid UTF-8) goes to C{fallback}.  Where this module's grammar and the regular expressions in
logd.syslog could disagree, it declines rather than decides.  The
differential tests (tests/unit/test_fastsyslog.py) feed both paths the same
messages, valid and hostile, and require the same bytes.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy

# What a program step writes.  A program is a tuple of these codes and bytes
# literals; logd.outputs.formats builds one per batch (see there for the layouts).
cdef enum Step:
    LITERAL = -1
    S_FACILITY, S_SEVERITY, S_TIMESTAMP, S_HOSTNAME, S_APP_NAME, S_PROCID, S_MSGID, S_STRUCTURED_DATA, S_MESSAGE, S_PARSE_ERROR

FACILITY = S_FACILITY
SEVERITY = S_SEVERITY
TIMESTAMP = S_TIMESTAMP
HOSTNAME = S_HOSTNAME
APP_NAME = S_APP_NAME
PROCID = S_PROCID
MSGID = S_MSGID
STRUCTURED_DATA = S_STRUCTURED_DATA
MESSAGE = S_MESSAGE
PARSE_ERROR = S_PARSE_ERROR

cdef tuple _FACILITIES = (
    b"kern", b"user", b"mail", b"daemon", b"auth", b"syslog", b"lpr", b"news",
    b"uucp", b"cron", b"authpriv", b"ftp", b"ntp", b"audit", b"alert", b"clock",
    b"local0", b"local1", b"local2", b"local3", b"local4", b"local5", b"local6", b"local7",
)
cdef tuple _SEVERITIES = (b"emerg", b"alert", b"crit", b"err", b"warning", b"notice", b"info", b"debug")


cdef struct Header:
    int pri
    # [start, end) of each field in the message, start -1 for a field the
    # message does not carry (an RFC 5424 NILVALUE, a BSD message's MSGID).
    Py_ssize_t ts0, ts1, host0, host1, app0, app1, proc0, proc1, msgid0, msgid1
    Py_ssize_t sd0, sd1  # the SD-ELEMENTs, "[" to the last "]"; -1: none
    Py_ssize_t msg0  # MSG runs from here to the end (an RFC 5424 BOM skipped)


cdef struct Buffer:
    char *data
    Py_ssize_t length
    Py_ssize_t capacity


cdef int reserve(Buffer *b, Py_ssize_t more) except -1:
    cdef Py_ssize_t need = b.length + more
    cdef Py_ssize_t capacity
    cdef char *data
    if need <= b.capacity:
        return 0
    capacity = b.capacity * 2
    if capacity < need:
        capacity = need
    data = <char *>realloc(b.data, capacity)
    if data == NULL:
        raise MemoryError()
    b.data = data
    b.capacity = capacity
    return 0


cdef inline int put(Buffer *b, const char *data, Py_ssize_t n) except -1:
    if b.length + n > b.capacity:
        reserve(b, n)
    memcpy(b.data + b.length, data, n)
    b.length += n
    return 0


cdef inline int putBytes(Buffer *b, bytes data) except -1:
    return put(b, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef inline bint digit(unsigned char c) noexcept nogil:
    return c >= 48 and c <= 57


cdef inline int number(const unsigned char *p, Py_ssize_t i, Py_ssize_t n, int width) noexcept nogil:
    """The decimal of C{width} digits at C{p[i]}, or -1."""
    cdef int value = 0
    cdef int k
    if i + width > n:
        return -1
    for k in range(width):
        if not digit(p[i + k]):
            return -1
        value = value * 10 + p[i + k] - 48
    return value


cdef inline bint inRange(int value, int low, int high) noexcept nogil:
    return value >= low and value <= high


cdef Py_ssize_t timestamp(const unsigned char *p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """
    The end of the RFC 3339 timestamp at C{p[i]}, or -1: logd.syslog._ISO_TS,
    number ranges included (a leap second :60, up to 9 fraction digits).
    """
    cdef Py_ssize_t k
    if number(p, i, n, 4) < 0 or i + 19 > n:
        return -1
    if p[i + 4] != 45 or p[i + 7] != 45 or p[i + 10] != 84 or p[i + 13] != 58 or p[i + 16] != 58:
        return -1  # - - T : :
    if not (inRange(number(p, i + 5, n, 2), 1, 12) and inRange(number(p, i + 8, n, 2), 1, 31)
            and inRange(number(p, i + 11, n, 2), 0, 23) and inRange(number(p, i + 14, n, 2), 0, 59)
            and inRange(number(p, i + 17, n, 2), 0, 60)):
        return -1
    i += 19
    if i < n and p[i] == 46:  # .
        k = i + 1
        while k < n and k - i <= 9 and digit(p[k]):
            k += 1
        if k == i + 1:
            return -1
        i = k
    if i < n and p[i] == 90:  # Z
        return i + 1
    if i < n and (p[i] == 43 or p[i] == 45):  # + -
        if i + 6 > n or p[i + 3] != 58:
            return -1
        if inRange(number(p, i + 1, n, 2), 0, 23) and inRange(number(p, i + 4, n, 2), 0, 59):
            return i + 6
    return -1


cdef inline bint plain(unsigned char c) noexcept nogil:
    """A header byte both outputs write as it is: printable ASCII but " and \\."""
    return c > 32 and c < 127 and c != 34 and c != 92


cdef Py_ssize_t token(const unsigned char *p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """
    The end of the header token at C{p[i]}, which must be followed by a space,
    or -1.  Only plain bytes: a token that needs escaping goes to fallback.
    """
    cdef Py_ssize_t start = i
    while i < n and plain(p[i]):
        i += 1
    if i == start or i >= n or p[i] != 32:
        return -1
    return i


cdef int priority(const unsigned char *p, Py_ssize_t n, Py_ssize_t *end) noexcept nogil:
    """
    The PRI at the start of a message (and where it ends), or -1 if there is
    no valid one: logd.syslog._PRI, "<" 1 to 3 digits ">", no leading zero
    but "0" itself, at most 191.
    """
    cdef Py_ssize_t i = 1
    cdef int pri = 0
    if n < 3 or p[0] != 60:  # <
        return -1
    while i < n and i <= 3 and digit(p[i]):
        pri = pri * 10 + p[i] - 48
        i += 1
    if i == 1 or i >= n or p[i] != 62 or pri > 191 or (p[1] == 48 and i > 2):
        return -1
    end[0] = i + 1
    return pri


cdef bint nil(const unsigned char *p, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    return end - start == 1 and p[start] == 45  # -


cdef inline bint sdName(unsigned char c) noexcept nogil:
    """A byte of an SD-ID or PARAM-NAME (logd.syslog._SD_NAME), printable ASCII only."""
    return c > 32 and c < 127 and c != 61 and c != 93 and c != 34 and c != 92  # = ] " \


cdef bint sameName(const unsigned char *p, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """Whether the names starting at C{p[a]} and C{p[b]} are the same bytes."""
    while sdName(p[a]) and p[a] == p[b]:
        a += 1
        b += 1
    return not sdName(p[a]) and not sdName(p[b])


cdef Py_ssize_t structuredData(const unsigned char *p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """
    The end of the SD-ELEMENTs at C{p[i] == "["}, or -1: logd.syslog._SD_RE
    (names, then quoted values where a backslash escapes any byte), for
    elements of printable ASCII whose SD-IDs, and each element's
    PARAM-NAMEs, are all different.  Python merges repeated ones; this
    module leaves them to it.
    """
    cdef Py_ssize_t ids[64]
    cdef Py_ssize_t params[64]
    cdef int idCount = 0
    cdef int paramCount
    cdef int k
    cdef Py_ssize_t start
    while i < n and p[i] == 91:  # [
        i += 1
        start = i
        while i < n and sdName(p[i]):
            i += 1
        if i == start or i >= n or idCount == 64:
            return -1
        for k in range(idCount):
            if sameName(p, ids[k], start):
                return -1
        ids[idCount] = start
        idCount += 1
        paramCount = 0
        while i < n and p[i] == 32:
            i += 1
            start = i
            while i < n and sdName(p[i]):
                i += 1
            if i == start or paramCount == 64 or i + 1 >= n or p[i] != 61 or p[i + 1] != 34:  # ="
                return -1
            for k in range(paramCount):
                if sameName(p, params[k], start):
                    return -1
            params[paramCount] = start
            paramCount += 1
            i += 2
            while i < n and p[i] != 34:
                if p[i] < 32 or p[i] > 126:
                    return -1
                if p[i] == 92:  # the escaped byte must be printable ASCII too
                    if i + 1 < n and (p[i + 1] < 32 or p[i + 1] > 126):
                        return -1
                    i += 1
                i += 1
            if i >= n:
                return -1
            i += 1  # the closing quote
        if i >= n or p[i] != 93:  # ]
            return -1
        i += 1
    return i


cdef bint parse5424(const unsigned char *p, Py_ssize_t n, Py_ssize_t i, Header *h) noexcept nogil:
    """
    Fill C{h} from an RFC 5424 message with no structured data, C{i} just
    past its "<PRI>1 "; false for any message left to the Python parser.
    """
    h.ts0 = i
    if i < n and p[i] == 45:  # -
        i += 1
    else:
        i = timestamp(p, i, n)
        if i < 0:
            return False
    if i >= n or p[i] != 32:
        return False
    h.ts1 = i
    h.host0 = i + 1
    h.host1 = token(p, h.host0, n)
    if h.host1 < 0:
        return False
    h.app0 = h.host1 + 1
    h.app1 = token(p, h.app0, n)
    if h.app1 < 0:
        return False
    h.proc0 = h.app1 + 1
    h.proc1 = token(p, h.proc0, n)
    if h.proc1 < 0:
        return False
    h.msgid0 = h.proc1 + 1
    h.msgid1 = token(p, h.msgid0, n)
    if h.msgid1 < 0:
        return False
    i = h.msgid1 + 1
    # STRUCTURED-DATA, then the end or " MSG".
    h.sd0 = -1
    if i < n and p[i] == 45:  # -
        i += 1
    elif i < n and p[i] == 91:  # [
        h.sd0 = i
        i = structuredData(p, i, n)
        if i < 0:
            return False
        h.sd1 = i
    else:
        return False
    if i < n:
        if p[i] != 32:
            return False
        i += 1
        if i + 3 <= n and p[i] == 0xEF and p[i + 1] == 0xBB and p[i + 2] == 0xBF:
            i += 3
    h.msg0 = i
    if nil(p, h.ts0, h.ts1):
        h.ts0 = -1
    if nil(p, h.host0, h.host1):
        h.host0 = -1
    if nil(p, h.app0, h.app1):
        h.app0 = -1
    if nil(p, h.proc0, h.proc1):
        h.proc0 = -1
    if nil(p, h.msgid0, h.msgid1):
        h.msgid0 = -1
    return True


cdef const char *_MONTHS = b"JanFebMarAprMayJunJulAugSepOctNovDec"


cdef Py_ssize_t bsdTimestamp(const unsigned char *p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """
    The end of the BSD timestamp (C{Mmm dd hh:mm:ss}) at C{p[i]}, or -1:
    logd.syslog._BSD_TS, whose day is " 6", "06", "6" or 10 to 31.
    """
    cdef int month
    cdef Py_ssize_t d
    if i + 5 > n:
        return -1
    for month in range(12):
        if p[i] == _MONTHS[3 * month] and p[i + 1] == _MONTHS[3 * month + 1] and p[i + 2] == _MONTHS[3 * month + 2]:
            break
    else:
        return -1
    if p[i + 3] != 32:
        return -1
    d = i + 4
    if (p[d] == 32 or p[d] == 48) and d + 1 < n and p[d + 1] >= 49 and p[d + 1] <= 57:
        d += 2  # " 6", "06"
    elif p[d] >= 49 and p[d] <= 57 and d + 1 < n and p[d + 1] == 32:
        d += 1  # "6"
    elif (p[d] == 49 or p[d] == 50) and d + 1 < n and digit(p[d + 1]):
        d += 2  # 10 to 29
    elif p[d] == 51 and d + 1 < n and (p[d + 1] == 48 or p[d + 1] == 49):
        d += 2  # 30, 31
    else:
        return -1
    if d + 9 > n or p[d] != 32 or p[d + 3] != 58 or p[d + 6] != 58:
        return -1
    if (inRange(number(p, d + 1, n, 2), 0, 23) and inRange(number(p, d + 4, n, 2), 0, 59)
            and inRange(number(p, d + 7, n, 2), 0, 60)):
        return d + 9
    return -1


# What a BSD header scan found: the field, no such field, or a byte that
# only the Python parser may judge.
cdef enum:
    ABSENT = -1
    DECLINE = -2


cdef inline bint control(unsigned char c) noexcept nogil:
    return c <= 32 or c == 127


cdef Py_ssize_t bsdHostname(const unsigned char *p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """
    The end of a BSD HOSTNAME at C{p[i]}: a token with no "[" that does not
    end with ":", followed by a space (else it is the TAG, or message text).
    """
    cdef Py_ssize_t j = i
    while j < n and not control(p[j]) and p[j] != 91:  # [
        if not plain(p[j]):
            return DECLINE
        j += 1
    if j == i or j >= n or p[j] != 32 or p[j - 1] == 58:  # :
        return ABSENT
    return j


cdef Py_ssize_t bsdTag(const unsigned char *p, Py_ssize_t i, Py_ssize_t n, Header *h) noexcept nogil:
    """
    Where the MSG starts after a BSD C{TAG[PID]:}, C{TAG[PID]} or C{TAG:} at
    C{p[i]} (then followed by a space or the end; one space after the colon
    is part of the header), filling in the TAG and PID.
    """
    cdef Py_ssize_t j = i
    cdef Py_ssize_t k
    while j < n and not control(p[j]) and p[j] != 58 and p[j] != 91 and p[j] != 93:  # : [ ]
        if not plain(p[j]):
            return DECLINE
        j += 1
    if j == i or j >= n:
        return ABSENT
    if p[j] == 58:  # TAG:
        if j + 1 < n and p[j + 1] != 32:
            return ABSENT
        h.app0, h.app1 = i, j
        return j + 2 if j + 1 < n else n
    if p[j] != 91:
        return ABSENT
    k = j + 1
    while k < n and not control(p[k]) and p[k] != 93:
        if not plain(p[k]):
            return DECLINE
        k += 1
    if k == j + 1 or k >= n or p[k] != 93:
        return ABSENT
    h.app0, h.app1 = i, j
    h.proc0, h.proc1 = j + 1, k
    k += 1
    if k == n:
        return n
    if p[k] == 58:  # TAG[PID]: and maybe one space
        return k + 2 if k + 1 < n and p[k + 1] == 32 else k + 1
    if p[k] == 32:
        return k + 1
    h.app0 = h.proc0 = -1
    return ABSENT


cdef bint parse3164(const unsigned char *p, Py_ssize_t n, Py_ssize_t i, bint hasPRI, Header *h) noexcept nogil:
    """
    Fill C{h} from a BSD message, C{i} just past its PRI (if it has one):
    logd.syslog._RFC3164_RE's optional timestamp, then (only after one) an
    optional HOSTNAME, then an optional TAG.  Without PRI and timestamp the
    whole input is the message.
    """
    cdef Py_ssize_t k
    h.ts0 = h.host0 = h.app0 = h.proc0 = h.msgid0 = h.sd0 = -1
    k = bsdTimestamp(p, i, n)
    if k < 0:
        k = timestamp(p, i, n)
    if k >= 0 and (k == n or p[k] == 32):
        h.ts0, h.ts1 = i, k
        i = k + 1 if k < n else n
        k = bsdHostname(p, i, n)
        if k == DECLINE:
            return False
        if k >= 0:
            h.host0, h.host1 = i, k
            i = k + 1
    elif not hasPRI:
        h.msg0 = 0
        return True
    k = bsdTag(p, i, n, h)
    if k == DECLINE:
        return False
    h.msg0 = i if k == ABSENT else k
    return True


cdef bint parseHeader(const unsigned char *p, Py_ssize_t n, Header *h) noexcept nogil:
    """
    Fill C{h} as L{logd.syslog.parse} would, for a message it parses without
    error whose header fields need no escaping; false for anything else
    (left to the Python parser).
    """
    cdef Py_ssize_t i = 0
    h.pri = priority(p, n, &i)
    if h.pri < 0:
        if n > 0 and p[0] == 60:  # a broken PRI: a parse error
            return False
        h.pri = 13  # none: user.notice
        return parse3164(p, n, 0, False, h)
    if i + 2 <= n and p[i] == 49 and p[i + 1] == 32:  # "1 "
        return parse5424(p, n, i + 2, h)
    return parse3164(p, n, i, True, h)


cdef bint ascii(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] >= 128:
            return False
    return True


cdef bint validUTF8(const char *p, Py_ssize_t n):
    try:
        PyUnicode_DecodeUTF8(p, n, NULL)
    except UnicodeDecodeError:
        return False
    return True


# Escaping: one table per output, from byte to its escape (length 0: the byte
# stands for itself).  The tables are read off the reference escapers
# themselves, for every ASCII byte (bytes from 0x80 up only ever reach them
# as valid UTF-8, which both leave alone), so they cannot drift apart.
cdef enum Escaping:
    TEXT = 0
    JSON = 1

cdef const char *_escapes[2][256]
cdef unsigned char _escapeLengths[2][256]
cdef list _escapeBytes = []  # keeps the table's strings alive


cdef void _fillTable(int table, escapeOne):
    cdef int c
    cdef bytes escaped
    for c in range(256):
        _escapeLengths[table][c] = 0
        if c < 128:
            escaped = escapeOne(c)
            if escaped != bytes([c]):
                _escapeBytes.append(escaped)
                _escapes[table][c] = PyBytes_AS_STRING(escaped)
                _escapeLengths[table][c] = len(escaped)


def _textEscape(int c) -> bytes:
    from logd.records import escape

    return escape(bytes([c]))


def _jsonEscape(int c) -> bytes:
    from json.encoder import encode_basestring

    return encode_basestring(chr(c))[1:-1].encode("ascii")


_fillTable(TEXT, _textEscape)
_fillTable(JSON, _jsonEscape)


cdef int putEscaped(Buffer *b, const unsigned char *p, Py_ssize_t n, int table) except -1:
    """
    The message escaped as logd.records.escape (TEXT) or json's
    encode_basestring with ensure_ascii off (JSON) would, for ASCII or valid
    UTF-8 input: runs of plain bytes copied whole, the others replaced.
    """
    cdef const unsigned char *lengths = _escapeLengths[table]
    cdef Py_ssize_t i
    cdef Py_ssize_t run = 0
    reserve(b, n)
    for i in range(n):
        if lengths[p[i]] == 0:
            continue
        put(b, <const char *>p + run, i - run)
        put(b, _escapes[table][p[i]], lengths[p[i]])
        run = i + 1
    put(b, <const char *>p + run, n - run)
    return 0


cdef Py_ssize_t putKey(Buffer *b, const unsigned char *p, Py_ssize_t i, bint first) except -1:
    """
    The SD-ID or PARAM-NAME at C{p[i]} as a JSON key (C{"name":}, after a
    comma unless it is the C{first}); where the name ends.
    """
    cdef Py_ssize_t start = i
    while sdName(p[i]):
        i += 1
    if not first:
        put(b, b",", 1)
    put(b, b'"', 1)
    put(b, <const char *>p + start, i - start)
    put(b, b'":', 2)
    return i


cdef int putStructuredData(Buffer *b, const unsigned char *p, Py_ssize_t i, Py_ssize_t end) except -1:
    """
    The SD-ELEMENTs from C{p[i]} to C{end} as the JSON object
    logd.fields.syslogFields gives (C{{"id":{"name":"value"}}}), values
    unescaped as logd.syslog._unescape does (C{\\"}, C{\\\\} and
    C{\\]} lose their backslash, any other stays) and escaped again for JSON.
    """
    cdef bint firstElement = True
    cdef bint firstParam
    cdef Py_ssize_t run
    put(b, b"{", 1)
    while i < end:  # at "["
        i = putKey(b, p, i + 1, firstElement)
        firstElement = False
        put(b, b"{", 1)
        firstParam = True
        while p[i] == 32:
            i = putKey(b, p, i + 1, firstParam)
            firstParam = False
            put(b, b'"', 1)
            i += 2  # ="
            # \" and \\ are already what JSON writes for " and \; \] loses
            # its backslash; any other backslash is itself, so JSON's \\.
            run = i
            while p[i] != 34:
                if p[i] != 92:
                    i += 1
                elif p[i + 1] == 34 or p[i + 1] == 92:
                    i += 2
                else:
                    put(b, <const char *>p + run, i - run)
                    if p[i + 1] == 93:
                        i += 1
                    else:
                        put(b, b"\\\\", 2)
                        i += 1
                    run = i
            put(b, <const char *>p + run, i - run)
            put(b, b'"', 1)
            i += 1
        put(b, b"}", 1)
        i += 1  # "]"
    return put(b, b"}", 1)


cdef int putField(Buffer *b, const char *p, Py_ssize_t start, Py_ssize_t end, bint json, bytes missing) except -1:
    """
    A header field: one the message does not carry is C{missing} (given),
    C{-} (text) or C{null} (JSON); a value is written as it is, quoted in
    JSON.
    """
    if start < 0:
        if missing is not None:
            return putBytes(b, missing)
        if json:
            return put(b, b"null", 4)
        return put(b, b"-", 1)
    if json:
        put(b, b'"', 1)
        put(b, p + start, end - start)
        return put(b, b'"', 1)
    return put(b, p + start, end - start)


cdef int putFallback(Buffer *b, fallback, Py_ssize_t index) except -1:
    chunk = fallback(index)
    if type(chunk) is not bytes:
        raise TypeError(f"fallback({index}) returned {type(chunk).__name__}, not bytes")
    return putBytes(b, chunk)


def render(messages, tuple program, bint json, bytes fallbackHost, fallback):
    """
    The output for a batch of syslog messages: for each message, the
    C{program}'s steps in order (bytes written as they are, field codes
    replaced by the message's field), or C{fallback(index)} for a message
    this module does not handle.

    @param json: write fields as JSON values (quoted, C{null}, C{{}}) and the
        message JSON-escaped; otherwise as a template does (C{-}, the
        message escaped like a text record).
    @param fallbackHost: what C{HOSTNAME} writes for a NILVALUE host,
        already in the output's form.
    """
    cdef Buffer b
    cdef Header h
    cdef Py_ssize_t count = len(program)
    cdef Py_ssize_t index, step, n
    cdef const char *p
    cdef object message, item
    cdef int code
    cdef bint templateSD = False
    cdef int *codes = <int *>malloc((count or 1) * sizeof(int))
    if codes == NULL:
        raise MemoryError()
    b.data = NULL
    b.length = 0
    b.capacity = 0
    try:
        # For a literal step the program tuple holds its bytes.
        for step in range(count):
            item = program[step]
            codes[step] = LITERAL if isinstance(item, bytes) else <int>item
            templateSD = templateSD or (codes[step] == S_STRUCTURED_DATA and not json)
        reserve(&b, 4096)
        for index in range(len(messages)):
            message = messages[index]
            if type(message) is not bytes:
                putFallback(&b, fallback, index)
                continue
            p = PyBytes_AS_STRING(message)
            n = PyBytes_GET_SIZE(message)
            if (not parseHeader(<const unsigned char *>p, n, &h)
                    # A template's {structured_data} is JSON escaped like text: Python's.
                    or (h.sd0 >= 0 and templateSD)
                    or (not ascii(<const unsigned char *>p + h.msg0, n - h.msg0) and not validUTF8(p + h.msg0, n - h.msg0))):
                putFallback(&b, fallback, index)
                continue
            for step in range(count):
                code = codes[step]
                if code == LITERAL:
                    putBytes(&b, <bytes>program[step])
                elif code == S_MESSAGE:
                    putEscaped(&b, <const unsigned char *>p + h.msg0, n - h.msg0, JSON if json else TEXT)
                elif code == S_FACILITY:
                    putBytes(&b, <bytes>_FACILITIES[h.pri >> 3])
                elif code == S_SEVERITY:
                    putBytes(&b, <bytes>_SEVERITIES[h.pri & 7])
                elif code == S_TIMESTAMP:
                    putField(&b, p, h.ts0, h.ts1, json, None)
                elif code == S_HOSTNAME:
                    putField(&b, p, h.host0, h.host1, json, fallbackHost)
                elif code == S_APP_NAME:
                    putField(&b, p, h.app0, h.app1, json, None)
                elif code == S_PROCID:
                    putField(&b, p, h.proc0, h.proc1, json, None)
                elif code == S_MSGID:
                    putField(&b, p, h.msgid0, h.msgid1, json, None)
                elif code == S_STRUCTURED_DATA:
                    if h.sd0 >= 0:  # (JSON only: a template taking it has gone to fallback)
                        putStructuredData(&b, <const unsigned char *>p, h.sd0, h.sd1)
                    elif json:
                        put(&b, b"{}", 2)
                    else:
                        put(&b, b"-", 1)
                elif code == S_PARSE_ERROR:
                    # Only well-formed messages get here.  JSON writes the
                    # key only when true, so a JSON program has no such step.
                    put(&b, b"-", 1)
                else:
                    raise ValueError(f"unknown program step {code}")
        return PyBytes_FromStringAndSize(b.data, b.length)
    finally:
        free(b.data)
        free(codes)


def priorities(messages) -> bytes:
    """
    C{facility * 8 + severity} of each message, one byte each, as
    L{logd.syslog.parse} gives them: the PRI the message starts with, or 13
    (user.notice) if it has no valid one, whatever follows.  Severity and
    facility filters need nothing else, so they need no parse.
    """
    cdef Py_ssize_t count = len(messages)
    cdef Py_ssize_t index
    cdef Py_ssize_t end = 0
    cdef int pri
    cdef bytes message
    cdef bytes out = PyBytes_FromStringAndSize(NULL, count)
    cdef char *o = PyBytes_AS_STRING(out)
    for index in range(count):
        item = messages[index]
        message = item if type(item) is bytes else bytes(item)
        pri = priority(<const unsigned char *>PyBytes_AS_STRING(message), PyBytes_GET_SIZE(message), &end)
        o[index] = <char>(13 if pri < 0 else pri)
    return out
