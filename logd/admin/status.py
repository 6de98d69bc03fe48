"""
C{logd status}: the running daemon's figures (its admin endpoint's C{/stats}
and C{/healthz}) as a table a person reads at a glance.  Exit status: 0
healthy, 1 unhealthy (a sink failing, or not ready), 2 unreachable.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
from typing import Any, TextIO
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:9140"


def urlFor(endpoint: str) -> str:
    """The URL of an admin endpoint string: C{tcp:9140:interface=127.0.0.1} -> C{http://127.0.0.1:9140}."""
    parts = endpoint.split(":")
    kind = parts[0]
    if kind == "unix":
        path = next((p[len("address="):] for p in parts[1:] if p.startswith("address=")), parts[1] if len(parts) > 1 else "")
        return "http+unix://" + path.replace("/", "%2F")
    named = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    port = next((p for p in parts[1:] if "=" not in p), named.get("port", "9140"))
    host = named.get("interface", "127.0.0.1" if kind != "tcp6" else "::1").replace("\\", "")
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def fetch(url: str, path: str, timeout: float = 5.0) -> tuple[int, Any]:
    parts = urlsplit(url)
    if parts.scheme == "http+unix":
        connection: http.client.HTTPConnection = _UnixConnection(parts.netloc.replace("%2F", "/"), timeout)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip(), file=out)
        if index == 0:
            print("  ".join("-" * w for w in widths), file=out)


def render(stats: dict[str, Any], health: dict[str, Any], out: TextIO) -> None:
    uptime = int(stats["uptime_seconds"])
    reloads = stats["reloads"]
    print(
        f"logd {stats['version']} (pid {stats['pid']}): {stats['phase']}, up {uptime // 3600}h{uptime // 60 % 60:02d}m{uptime % 60:02d}s, "
        f"reloads {reloads['success']} ok / {reloads['failure']} failed; health: {health.get('status', '?')}",
        file=out,
    )
    rows = [["listener", "endpoint", "conns", "paused", "records", "rec/s 10s", "rec/s 1m", "dropped", "refused"]]
    for name, listener in stats["listeners"].items():
        dropped = listener["dropped_rate_limit"] + sum(listener["dropped_sink_full"].values()) + sum(listener["dropped_sink_error"].values())
        rates = listener.get("rates", {})
        rows.append(
            [
                name,
                listener["endpoint"],
                str(listener["connections_open"]),
                str(listener["connections_paused"]),
                str(listener["records_received"]),
                f"{rates.get('10s', 0):.0f}",
                f"{rates.get('1m', 0):.0f}",
                str(dropped),
                str(sum(listener["refused"].values())),
            ]
        )
    print(file=out)
    _table(rows, out)
    rows = [["sink", "written", "rec/s 10s", "bytes", "buffer", "state"]]
    for name, sink in stats["sinks"].items():
        state = f"FAILING: {sink['failing']}" if sink["failing"] else ("full" if sink["full"] else "ok")
        rates = sink.get("rates", {})
        rows.append(
            [
                name,
                str(sum(sink["records_written"].values())),
                f"{rates.get('10s', 0):.0f}",
                _size(sink["bytes_written"]),
                f"{_size(sink['buffer_bytes'])} / {_size(sink['buffer_limit_bytes'])}",
                state,
            ]
        )
    print(file=out)
    _table(rows, out)


def status(url: str, out: TextIO = sys.stdout) -> int:
    try:
        _, stats = fetch(url, "/stats")
        code, health = fetch(url, "/healthz")
    except (OSError, ValueError, http.client.HTTPException) as e:
        print(f"logd status: cannot reach the admin endpoint at {url}: {e}", file=sys.stderr)
        return 2
    render(stats, health, out)
    return 0 if code == 200 and stats["phase"] == "running" else 1
