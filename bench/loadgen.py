#!/usr/bin/env python3
"""
The benchmark's load generator and its discard sink.

Every line is 100 bytes and carries a unique id, so the harness can check
that each line arrived exactly once and intact:

    bench L00000042 C00003 <filler to 99 bytes>\\n

C{L} is the line's global number (0 .. total-1), C{C} the connection that
sent it.  With C{--format syslog} (C{blast} only) each line is an RFC 5424
message of the same 100 bytes, LF-terminated (RFC 6587 non-transparent
framing), whose MSG part carries the id:

    <165>1 2026-11-26T10:00:00.000000Z host app 1234 ID47 - bench L00000042 C00003 <filler>\\n
  Latency lines also carry their send time (C{T}, CLOCK_MONOTONIC in
ns, which every process on the machine shares).

Subcommands (each prints one JSON object on stdout when done; times are
C{time.monotonic()} seconds):

- C{blast}: N connections, TOTAL lines split evenly; buffers are built
  before the first byte and sent from non-blocking sockets in large chunks.
- C{idle}: open N connections, print C{{"event": "ready"}}, hold them
  until stdin closes (or C{--hold} seconds pass).
- C{latency}: one connection, lines at a steady rate.
- C{udp}: one datagram per line at a steady rate.
- C{discard}: a TCP server that throws away everything it is sent
  (C{recv(MSG_TRUNC)}: the kernel drops the bytes without copying them), to
  show how fast C{blast} can push when the receiver costs nothing.

Every loop is bounded by a deadline.
"""

from __future__ import annotations

import argparse
import json
import resource
import select
import selectors
import socket
import struct
import sys
import time

LINE_SIZE = 100
FILLER = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" * 4
PREFIX_SIZE = len(b"bench L00000000 C00000 ")
FILL = FILLER[: LINE_SIZE - PREFIX_SIZE - 1]
CHUNK = 1 << 20

SYSLOG_HEADER = b"<165>1 2026-11-26T10:00:00.000000Z host app 1234 ID47 - "
"""RFC 5424 header of the syslog workloads: local4.notice, no structured data."""
SYSLOG_FILL = FILLER[: LINE_SIZE - len(SYSLOG_HEADER) - PREFIX_SIZE - 1]
BSD_HEADER = b"<38>Nov 26 10:00:00 host app[1234]: "
"""RFC 3164 header of the bsd workloads (the traditional format rsyslog forwards by default): auth.info, TAG[PID]."""
BSD_FILL = FILLER[: LINE_SIZE - len(BSD_HEADER) - PREFIX_SIZE - 1]
FORMATS = {"plain": (b"", FILL), "syslog": (SYSLOG_HEADER, SYSLOG_FILL), "bsd": (BSD_HEADER, BSD_FILL)}
"""Line format name -> (what precedes C{bench L...}, the filler after the connection number)."""


def raiseNoFile(want: int = 1 << 20) -> int:
    """Raise RLIMIT_NOFILE as far as the hard limit allows (root may lift it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in (want, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(target, want)), max(hard, min(target, want))))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def line(lineId: int, conn: int, format: str = "plain") -> bytes:
    header, fill = FORMATS[format]
    return b"%sbench L%08d C%05d %s\n" % (header, lineId, conn, fill)


def connectionBuffer(conn: int, first: int, count: int, format: str = "plain") -> bytes:
    """One connection's whole stream: lines first .. first+count-1."""
    header, fill = FORMATS[format]
    head = header + b"bench L"
    tail = b" C%05d %s\n" % (conn, fill)
    return b"".join([head + b"%08d" % i + tail for i in range(first, first + count)])


def buildBuffers(conns: int, total: int, format: str = "plain") -> list[bytes]:
    per, extra = divmod(total, conns)
    buffers = []
    first = 0
    for c in range(conns):
        count = per + (1 if c < extra else 0)
        buffers.append(connectionBuffer(c, first, count, format))
        first += count
    return buffers


def cpuSelf() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def acceptQueue(port: int) -> tuple[int, int] | None:
    """
    The accept queue of the TCP socket listening on 127.0.0.1:C{port}: (queued,
    backlog), from the kernel's sock_diag netlink interface (what C{ss -lt}
    shows as Recv-Q and Send-Q).  Only listening sockets are dumped, so this is
    cheap however many connections are open.
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)  # NETLINK_SOCK_DIAG
    try:
        # inet_diag_req_v2: family, protocol, ext, pad, states (LISTEN), sockid (zeros)
        req = struct.pack("=BBBxI", socket.AF_INET, socket.IPPROTO_TCP, 0, 1 << 10) + bytes(48)
        hdr = struct.pack("=IHHII", 16 + len(req), 20, 0x1 | 0x300, 1, 0)  # SOCK_DIAG_BY_FAMILY, REQUEST|DUMP
        sock.sendto(hdr + req, (0, 0))
        for _ in range(100):
            data = sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, off)
                if kind == 3 or kind == 2:  # NLMSG_DONE, NLMSG_ERROR
                    return None
                # inet_diag_msg: family, state, timer, retrans, sport (BE) ... rqueue, wqueue after the 48-byte id + expires
                sport = struct.unpack_from("!H", data, off + 16 + 4)[0]
                if sport == port:
                    rqueue, wqueue = struct.unpack_from("=II", data, off + 16 + 4 + 48 + 4)
                    return rqueue, wqueue
                off += (length + 3) & ~3
    finally:
        sock.close()
    return None


def connectMany(host: str, port: int, n: int, deadline: float) -> list[socket.socket]:
    """
    Open C{n} connections one after another, never more than half the
    server's listen backlog ahead of its accepting: a full accept queue makes
    the kernel drop SYNs (a 1 s retransmit each) or the handshake's last ACK
    (a connection the client thinks is open and the server has not got).
    """
    socks = []
    step = 8
    while len(socks) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"loadgen: connected only {len(socks)} of {n} before the deadline")
        if len(socks) % step == 0:
            for _ in range(100_000):
                q = acceptQueue(port)
                if q is None or q[0] + step <= max(q[1] // 2, 1) or time.monotonic() > deadline:
                    break
                time.sleep(0.0005)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5.0)
        try:
            s.connect((host, port))
        except ConnectionRefusedError:
            s.close()
            raise SystemExit(f"loadgen: connection refused after {len(socks)} connections")
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        socks.append(s)
    return socks


def wrapTLS(socks: list[socket.socket], caFile: str) -> list[socket.socket]:
    """
    TLS on every connection, the handshakes done (blocking) before the
    clock starts: the workload measures the records, not the handshakes.
    """
    import ssl

    context = ssl.create_default_context(cafile=caFile)
    wrapped = []
    for s in socks:
        s.setblocking(True)
        t = context.wrap_socket(s, server_hostname="localhost")
        t.setblocking(False)
        wrapped.append(t)
    return wrapped


def blast(args: argparse.Namespace) -> dict:
    raiseNoFile()
    buffers = buildBuffers(args.conns, args.total, args.format)
    totalBytes = sum(map(len, buffers))
    deadline = time.monotonic() + args.timeout
    socks = connectMany(args.host, args.port, args.conns, deadline)
    if args.tls:
        socks = wrapTLS(socks, args.tls)
    wouldBlock: tuple[type[BaseException], ...] = (BlockingIOError, InterruptedError)
    if args.tls:
        import ssl

        wouldBlock += (ssl.SSLWantWriteError, ssl.SSLWantReadError)
    tConnected = time.monotonic()
    sel = selectors.DefaultSelector()
    state = {}
    for s, buf in zip(socks, buffers):
        state[s.fileno()] = [s, memoryview(buf), 0]
        sel.register(s, selectors.EVENT_WRITE, s.fileno())
    cpu0 = cpuSelf()
    tFirst = None
    remaining = len(state)
    sends = 0
    while remaining:
        if time.monotonic() > deadline:
            raise SystemExit(f"loadgen: timed out with {remaining} connections still sending")
        for key, _ in sel.select(timeout=1.0):
            entry = state[key.data]
            s, view, off = entry
            if tFirst is None:
                tFirst = time.monotonic()
            try:
                sent = s.send(view[off : off + CHUNK])
            except wouldBlock:
                continue
            sends += 1
            off += sent
            entry[2] = off
            if off >= len(view):
                sel.unregister(s)
                s.shutdown(socket.SHUT_WR)
                remaining -= 1
    tLast = time.monotonic()
    for s in socks:
        if args.tls:
            # Read what the server sent (TLS 1.3 session tickets): closing a
            # socket with unread data resets the connection, and a reset
            # makes the server drop what it has not read yet.
            try:
                while s.recv(65536):
                    pass
            except wouldBlock:
                pass
            except OSError:
                pass
        s.close()
    return {
        "mode": "blast",
        "format": args.format,
        "conns": args.conns,
        "lines": args.total,
        "bytes": totalBytes,
        "t_connected": tConnected,
        "t_first_byte": tFirst,
        "t_last_byte": tLast,
        "send_calls": sends,
        "cpu_s": cpuSelf() - cpu0,
    }


def idle(args: argparse.Namespace) -> dict:
    limit = raiseNoFile()
    t0 = time.monotonic()
    socks = connectMany(args.host, args.port, args.conns, t0 + args.timeout)
    print(json.dumps({"event": "ready", "connected": len(socks), "seconds": time.monotonic() - t0, "nofile": limit}), flush=True)
    # Hold until the harness closes our stdin (bounded by --hold).
    select.select([sys.stdin], [], [], args.hold)
    # Anything the server closed on us meanwhile shows up as a readable EOF.
    closed = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    for s in socks:
        s.close()
    return {"mode": "idle", "conns": len(socks), "closed_by_server": closed}


def latency(args: argparse.Namespace) -> dict:
    s = socket.create_connection((args.host, args.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    total = int(args.rate * args.seconds)
    fill = FILLER[: LINE_SIZE - len(b"bench L00000000 C00000 T0000000000000000 ") - 1]
    interval = 1.0 / args.rate
    t0 = time.monotonic()
    tFirst = None
    i = 0
    deadline = t0 + args.seconds + 10
    while i < total and time.monotonic() < deadline:
        due = t0 + i * interval
        now = time.monotonic()
        if now < due:
            time.sleep(min(due - now, 0.01))
            continue
        batch = []
        while i < total and t0 + i * interval <= now:
            batch.append(b"bench L%08d C00000 T%016d %s\n" % (i, time.monotonic_ns(), fill))
            i += 1
        if tFirst is None:
            tFirst = time.monotonic()
        s.sendall(b"".join(batch))
    tLast = time.monotonic()
    s.shutdown(socket.SHUT_WR)
    s.close()
    return {"mode": "latency", "lines": i, "t_first_byte": tFirst, "t_last_byte": tLast, "achieved_rate": i / (tLast - t0)}


def udp(args: argparse.Namespace) -> dict:
    total = int(args.rate * args.seconds)
    datagrams = [b"bench L%08d C00000 %s" % (i, FILL) for i in range(total)]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.connect((args.host, args.port))
    send = s.send
    tick = 0.001
    perTick = args.rate * tick
    t0 = time.monotonic()
    deadline = t0 + args.seconds + 10
    i = 0
    errors = 0
    cpu0 = cpuSelf()
    while i < total:
        now = time.monotonic()
        if now > deadline:
            break
        due = min(total, int((now - t0) / tick * perTick) + 1)
        while i < due:
            try:
                send(datagrams[i])
            except (BlockingIOError, ConnectionRefusedError, OSError):
                errors += 1
            i += 1
        nextTick = t0 + (int((now - t0) / tick) + 1) * tick
        delay = nextTick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    tLast = time.monotonic()
    s.close()
    return {
        "mode": "udp",
        "sent": i,
        "send_errors": errors,
        "seconds": tLast - t0,
        "achieved_rate": i / (tLast - t0),
        "t_first_byte": t0,
        "t_last_byte": tLast,
        "cpu_s": cpuSelf() - cpu0,
    }


def discard(args: argparse.Namespace) -> dict:
    """
    Accept connections and throw their bytes away until C{--expect-bytes}
    have arrived; report when the last byte did.
    """
    raiseNoFile()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.host, args.port))
    server.listen(4096)
    server.setblocking(False)
    print(json.dumps({"event": "listening", "port": server.getsockname()[1]}), flush=True)
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ, None)
    buf = bytearray(CHUNK)
    received = 0
    tFirst = tLast = None
    deadline = time.monotonic() + args.timeout
    cpu0 = cpuSelf()
    while received < args.expect_bytes and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            if key.data is None:
                for _ in range(1000):
                    try:
                        c, _ = server.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, c)
                continue
            c = key.data
            try:
                # MSG_TRUNC on TCP: the kernel drops the bytes without copying them out.
                n = c.recv_into(buf, CHUNK, socket.MSG_TRUNC)
            except BlockingIOError:
                continue
            if n == 0:
                sel.unregister(c)
                c.close()
                continue
            if tFirst is None:
                tFirst = time.monotonic()
            received += n
            tLast = time.monotonic()
    return {"mode": "discard", "bytes": received, "t_first": tFirst, "t_last_byte": tLast, "cpu_s": cpuSelf() - cpu0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--host", default="127.0.0.1")
    common.add_argument("--port", type=int, required=True)
    common.add_argument("--timeout", type=float, default=300.0)
    b = sub.add_parser("blast", parents=[common])
    b.add_argument("--conns", type=int, default=1)
    b.add_argument("--total", type=int, default=2_000_000)
    b.add_argument("--format", choices=sorted(FORMATS), default="plain", help="plain lines, or RFC 5424 syslog messages (LF-terminated)")
    b.add_argument("--tls", metavar="CAFILE", help="send over TLS, checking the server's certificate against CAFILE")
    i = sub.add_parser("idle", parents=[common])
    i.add_argument("--conns", type=int, default=10_000)
    i.add_argument("--hold", type=float, default=120.0)
    lat = sub.add_parser("latency", parents=[common])
    lat.add_argument("--rate", type=float, default=1000)
    lat.add_argument("--seconds", type=float, default=10)
    u = sub.add_parser("udp", parents=[common])
    u.add_argument("--rate", type=float, default=100_000)
    u.add_argument("--seconds", type=float, default=5)
    d = sub.add_parser("discard", parents=[common])
    d.add_argument("--expect-bytes", type=int, required=True)
    args = p.parse_args()
    result = {"blast": blast, "idle": idle, "latency": latency, "udp": udp, "discard": discard}[args.mode](args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
