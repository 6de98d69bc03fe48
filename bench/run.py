#!/usr/bin/env python3
"""
logd's side-by-side benchmark against rsyslog, syslog-ng and the textbook
Twisted LineReceiver logger (issue 3), with syslog workloads (issue 4).

Run it from the repository with

    bench/run                       # the full run: 3 runs of every workload
    bench/run --quick               # 200,000 lines, 1 run, small idle/latency/UDP loads
    bench/run --daemons logd,rsyslog --workloads tcp-1,tcp-16 --runs 5
    bench/run --report-only         # redraw results.md and throughput.png from results.json

Each daemon runs in the foreground with its own config, pid file and work
directory under bench/work/, on loopback ports, with the same job: a TCP
(and, for the UDP workload, UDP) listener, every line appended to a file
with the receive time, the peer address and the message.  In the syslog
workloads the lines are RFC 5424 messages, and the job is to parse them and
write C{TIME HOSTNAME APP-NAME[PROCID]: MSG} (logd also writes them as
received, and as JSON).  rsyslog and syslog-ng are Debian's packages,
unpacked by tests/e2e/peers.sh into .venv/peers (never installed: they
conflict, and no system log daemon is started); their shared libraries
come from apt.  twisted-bare is a ceiling, not a peer: Twisted
writing the chunks it reads, unparsed.

Every workload is measured end to end: from the first byte the load
generator sends until the daemon's output file holds every line; then the
file is checked: each line is well formed, and each of the sent ids is
there exactly once.  CPU is the daemon's utime+stime from /proc/PID/stat,
peak RSS its VmHWM; a fresh daemon serves every run.

Results go to bench/results/ (results.json, results.md, throughput.png),
or with --quick to bench/work/quick-results/ unless --out says otherwise.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "work"
PEERS = Path(os.environ.get("LOGD_PEERS") or REPO / ".venv" / "peers")
"""Where tests/e2e/peers.sh unpacks rsyslog and syslog-ng: the end-to-end tests' directory (same LOGD_PEERS override)."""
PEERS_SH = REPO / "tests" / "e2e" / "peers.sh"
RESULTS = BENCH / "results"
PYTHON = sys.executable
LOADGEN = BENCH / "loadgen.py"

sys.path.insert(0, str(BENCH))
import loadgen  # noqa: E402  (the line format is shared)

CLK_TCK = os.sysconf("SC_CLK_TCK")
NOFILE = 65536
MAX_CONNECTIONS = 12000
"""The peers' connection limits (rsyslog MaxSessions, syslog-ng max-connections): above the 10,000 idle connections."""

SYSLOG_NG_WINDOW = 1000
"""syslog-ng's per-connection flow-control window, in messages (log-iw-size is this times max-connections)."""

SYSLOG_NG_FETCH = 1000
"""syslog-ng's log-fetch-limit: messages read from one connection per poll iteration (default 10)."""

LINE_RE = re.compile(rb"bench L(\d{8}) C\d{5} " + re.escape(loadgen.FILL) + rb"\n")
"""A plain line's id, wherever it is in the output line (the daemons put different things before it)."""

TIME_RE = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"
"""An RFC 3339 receive time, as every daemon writes it."""


def syslogLineRe(mode: str, before: bytes, after: bytes = b"") -> re.Pattern[bytes]:
    """
    A whole output line of the syslog workloads in line format C{mode}
    (C{syslog}: RFC 5424, C{bsd}: RFC 3164): C{before} (a regex), the
    message's MSG part with its id, then C{after}: so a line counts only if
    the daemon put the parsed fields where its template says.
    """
    fill = loadgen.FORMATS[mode][1]
    return re.compile(rb"(?m)^" + before + rb"bench L(\d{8}) C\d{5} " + re.escape(fill) + after + rb"\n")


SYSLOG_MODES = ("syslog", "bsd")
TEMPLATE_RES = {mode: syslogLineRe(mode, TIME_RE + rb" host app\[1234\]: ") for mode in SYSLOG_MODES}
"""C{TIME HOSTNAME APP[PROCID]: MSG}: logd's template sink, rsyslog's and syslog-ng's templates of the syslog workloads."""
LATENCY_RE = re.compile(rb"bench L(\d{8}) C00000 T(\d+) ")


def log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


# --------------------------------------------------------------------------
# /proc


def cpuSeconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for row in f:
            if row.startswith(("VmRSS:", "VmHWM:")):
                key, value = row.split(":")
                out[key] = int(value.split()[0])
    return out


def fdCount(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def listening(port: int, kind: str) -> bool:
    """Whether something is bound to 127.0.0.1:port (TCP: in LISTEN state)."""
    want = f"0100007F:{port:04X}"
    with open(f"/proc/net/{kind}") as f:
        next(f)
        for row in f:
            parts = row.split()
            if parts[1] == want and (kind == "udp" or parts[3] == "0A"):
                return True
    return False


def freePort(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raiseNoFile() -> None:
    """preexec_fn for daemons: room for 10,000 connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, max(hard, NOFILE)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def machineBusy() -> float:
    """CPU seconds the whole machine has been busy (user, nice, system, irq, softirq) since boot."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    user, nice, system, idle, iowait, irq, softirq = map(int, fields)
    return (user + nice + system + irq + softirq) / CLK_TCK


def ourCpu() -> float:
    """CPU seconds of this harness and of the children it has waited for (daemons, load generators)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Background:
    """
    CPU used by processes that are not ours while a run goes on (this
    machine is shared, and a run that competed for its 2 cores says so): the
    machine's busy time less ours, so processes that came and went count
    too.  Read it only once our children have been waited for.
    """

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.busy0 = machineBusy()
        self.ours0 = ourCpu()

    def cores(self, live: float = 0.0) -> float:
        """C{live}: CPU our still-running children used meanwhile (they are not in RUSAGE_CHILDREN yet)."""
        other = (machineBusy() - self.busy0) - (ourCpu() - self.ours0) - live
        return max(other, 0.0) / max(time.monotonic() - self.t0, 1e-3)


def waitQuiet(maxSeconds: float) -> float:
    """
    Wait (at most maxSeconds) until other processes use under 0.25 of a core;
    return the load seen last, in cores.
    """
    deadline = time.monotonic() + maxSeconds
    while True:
        b = Background()
        time.sleep(0.5)
        load = b.cores()
        if load < 0.25 or time.monotonic() >= deadline:
            return load


def listenOverflows() -> int:
    """The kernel's count of connections dropped because an accept queue was full."""
    with open("/proc/net/netstat") as f:
        rows = f.read().splitlines()
    for names, values in zip(rows[::2], rows[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", 0))
    return 0


def udpReceiveBufferErrors() -> int:
    """The kernel's count of datagrams dropped because a socket's receive buffer was full."""
    with open("/proc/net/snmp") as f:
        rows = f.read().splitlines()
    for names, values in zip(rows[::2], rows[1::2]):
        if names.startswith("Udp:"):
            return int(dict(zip(names.split()[1:], values.split()[1:])).get("RcvbufErrors", 0))
    return 0


def systemLogDaemons() -> list[str]:
    found = []
    for name in ("rsyslogd", "syslog-ng"):
        r = subprocess.run(["pgrep", "-a", "-x", name], capture_output=True, text=True)
        found += [row for row in r.stdout.splitlines() if row.strip()]
    return found


# --------------------------------------------------------------------------
# setting up the peers


def setupPeers(names: list[str]) -> None:
    """
    rsyslog and syslog-ng, unpacked (never installed) by the end-to-end
    tests' tests/e2e/peers.sh into PEERS, which the tests share; it installs
    their shared libraries with apt when ldd finds some missing, and checks
    the modules the benchmark loads (rsyslog: imtcp, imudp and the netstream
    modules, omfile is built in; syslog-ng: afsocket, affile, syslogformat).
    """
    if not {"rsyslog", "syslog-ng"} & set(names):
        return
    log(f"tests/e2e/peers.sh {PEERS}")
    r = subprocess.run([str(PEERS_SH), str(PEERS)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench: tests/e2e/peers.sh {PEERS} failed ({r.returncode}):\n{r.stderr}")


def rsyslogModules() -> Path:
    found = sorted(PEERS.glob("usr/lib/*-linux-*/rsyslog"))
    if not found:
        raise RuntimeError(f"no rsyslog module directory under {PEERS}/usr/lib")
    return found[0]


def syslogNgModules() -> Path:
    """DIR/usr/lib/syslog-ng/VERSION (its name is the config's @version)."""
    found = sorted(PEERS.glob("usr/lib/syslog-ng/[0-9]*.[0-9]*"))
    if not found:
        raise RuntimeError(f"no syslog-ng module directory under {PEERS}/usr/lib/syslog-ng")
    return found[-1]


# --------------------------------------------------------------------------
# the daemons


class Daemon:
    """One daemon under test: writes its config, starts in the foreground, stops."""

    name = ""
    label = ""
    modes: tuple[str, ...] = ("plain",)
    """The line formats it serves: C{plain} (tcp-*, idle, latency, udp), C{syslog} (syslog-*: RFC 5424), C{bsd} (bsd-*: RFC 3164)."""
    tcpOnly = False
    """Only the tcp-* throughput workloads (no UDP listener; not in idle or latency)."""
    servesTLS = False
    """Whether it takes the tls-* workloads (a TLS listener, the server certificate from L{certificates})."""
    tls = False

    def __init__(self) -> None:
        self.dir = WORK / "daemons" / self.name
        self.out = self.dir / "out.log"
        self.proc: subprocess.Popen | None = None
        self.config = ""
        self.mode = self.modes[0]

    def serves(self, workload: str) -> bool:
        if workload in TLS_WORKLOADS and not self.servesTLS:
            return False
        mode = THROUGHPUT[workload][1] if workload in THROUGHPUT else "plain"
        if mode not in self.modes:
            return False
        return workload in THROUGHPUT or not self.tcpOnly

    # what subclasses say
    def writeConfig(self, tcpPort: int, udpPort: int) -> None:
        """Write the config for C{self.mode}."""
        raise NotImplementedError

    def lineRe(self) -> re.Pattern[bytes]:
        """What a line of the output holds, for C{self.mode}; group 1 is the id."""
        return LINE_RE

    def writesPeer(self) -> bool:
        """Whether its lines carry the peer address, for C{self.mode} (checked: C{peer_127})."""
        return True

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def version(self) -> str:
        return ""

    def settings(self) -> list[str]:
        return []

    # lifecycle
    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, mode: str = "plain", tls: bool = False) -> None:
        assert mode in self.modes, (self.name, mode)
        self.mode = mode
        self.tls = tls
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.tcpPort = freePort()
        self.udpPort = freePort(socket.SOCK_DGRAM)
        self.writeConfig(self.tcpPort, self.udpPort)
        self.logFile = open(self.dir / "daemon.log", "wb")
        self.proc = subprocess.Popen(
            self.argv(), cwd=self.dir, env=self.env(), stdin=subprocess.DEVNULL,
            stdout=self.logFile, stderr=subprocess.STDOUT, preexec_fn=raiseNoFile,
        )
        deadline = time.monotonic() + 30
        while not (listening(self.tcpPort, "tcp") and (self.tcpOnly or listening(self.udpPort, "udp"))):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start ({self.proc.returncode}): {self.tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not listen within 30 s: {self.tail()}")
            time.sleep(0.02)
        time.sleep(0.3)  # let it finish starting (threads, queues) before we measure

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.logFile.close()
        self.proc = None

    def tail(self) -> str:
        try:
            return (self.dir / "daemon.log").read_text(errors="replace")[-1500:]
        except OSError:
            return ""


class Logd(Daemon):
    name = "logd"
    label = "logd"
    protocol = "line"
    sink = "format: text"
    """The sink's keys after C{type} and C{path}, as YAML flow-map entries."""
    servesTLS = True
    limits = ""
    """The TCP listener's limit keys, as YAML flow-map entries (see L{LogdLimits})."""

    def writeConfig(self, tcpPort: int, udpPort: int) -> None:
        tls = ""
        if self.tls:
            key, cert = certificates()
            tls = f", tls: {{cert: {cert}, key: {key}}}"
        self.config = (
            "sinks:\n"
            f"  out: {{type: file, path: {self.out}, {self.sink}}}\n"
            "listeners:\n"
            f'  - {{name: tcp, endpoint: "tcp:{tcpPort}:interface=127.0.0.1", protocol: {self.protocol}, sinks: [out]{tls}{self.limits}}}\n'
            f'  - {{name: udp, endpoint: "udp:{udpPort}:interface=127.0.0.1", protocol: {self.protocol}, sinks: [out]}}\n'
        )
        (self.dir / "logd.yaml").write_text(self.config)

    def argv(self) -> list[str]:
        return [str(Path(PYTHON).parent / "twistd"), "-n", "--pidfile=", "logd", "--config", str(self.dir / "logd.yaml")]

    def version(self) -> str:
        r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "logd", "twisted"], capture_output=True, text=True)
        return f"git {r.stdout.strip()}{' + uncommitted changes in logd/' if dirty.stdout.strip() else ''}"

    def settings(self) -> list[str]:
        return [
            "`twistd -n --pidfile= logd --config logd.yaml` (epoll reactor)",
            "listener `tcp:PORT:interface=127.0.0.1`, protocol `line` (defaults: max line 64 KiB, telnet filtering on)",
            "listener `udp:PORT:interface=127.0.0.1`, protocol `line`",
            "sink `file`, format `text` (`TIME LISTENER PEER MESSAGE`, full escaping), default buffer (16 MiB)",
        ]


class LogdLimits(Logd):
    """
    logd with every edge limit on (none of them binding): what the checks
    cost on the plain workloads, beside C{logd} without them.
    """

    name = "logd-limits"
    label = "logd, limits on"
    servesTLS = False
    limits = (
        ', allow: ["127.0.0.0/8"], max_connections: 20000, max_connections_per_peer: 20000, idle_timeout: 5m, '
        "rate_limit: {records: 1000000000, per: 1s}"
    )

    def settings(self) -> list[str]:
        return [*super().settings()[:2], f"and on the TCP listener: `{self.limits.lstrip(', ')}`", *super().settings()[2:]]


class LogdAdmin(Logd):
    """
    logd with its admin endpoint on and scraped every second (Prometheus
    scrapes every 15 s by default: this is harsher), beside C{logd}: what
    the counters and the endpoint cost (issue 9's target: within 3 %).
    """

    name = "logd-admin"
    label = "logd, admin on"
    servesTLS = False
    SCRAPE_SECONDS = 1.0

    def writeConfig(self, tcpPort: int, udpPort: int) -> None:
        super().writeConfig(tcpPort, udpPort)
        self.adminPort = freePort()
        self.config += f'admin: {{endpoint: "tcp:{self.adminPort}:interface=127.0.0.1"}}\n'
        (self.dir / "logd.yaml").write_text(self.config)

    def start(self, mode: str = "plain", tls: bool = False) -> None:
        super().start(mode, tls)
        self.scrapes = 0
        self._stopScraping = threading.Event()
        self._scraper = threading.Thread(target=self._scrape, daemon=True)
        self._scraper.start()

    def _scrape(self) -> None:
        url = f"http://127.0.0.1:{self.adminPort}/metrics"
        while not self._stopScraping.wait(self.SCRAPE_SECONDS):
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    response.read()
                self.scrapes += 1
            except OSError:
                pass

    def stop(self) -> None:
        if getattr(self, "_scraper", None) is not None:
            self._stopScraping.set()
            self._scraper.join(10)
            self._scraper = None
        super().stop()

    def settings(self) -> list[str]:
        return [*super().settings(), f"`admin: {{endpoint: tcp:PORT}}`, `/metrics` fetched every {self.SCRAPE_SECONDS:g} s during every run"]


class LogdSyslog(Logd):
    servesTLS = False
    """
    logd with C{protocol: syslog} listeners and one file sink, for the
    syslog workloads; the subclasses differ in the sink only.
    """

    modes = SYSLOG_MODES
    protocol = "syslog"
    sinkSetting = ""

    def settings(self) -> list[str]:
        return [
            "`twistd -n --pidfile= logd --config logd.yaml` (epoll reactor)",
            "listeners `tcp:PORT:interface=127.0.0.1` and `udp:PORT:interface=127.0.0.1`, protocol `syslog` (RFC 6587 framing detected per message; max line 64 KiB)",
            f"sink `file` with `{self.sink}`: {self.sinkSetting}; default buffer (16 MiB)",
        ]


class LogdSyslogText(LogdSyslog):
    name = "logd-syslog-text"
    label = "logd syslog → text (unparsed output)"
    sink = "format: text"
    sinkSetting = "`TIME LISTENER PEER MESSAGE` with MESSAGE the syslog message as received; logd parses lazily and this sink asks for no field, so this measures the framing only"

    def lineRe(self) -> re.Pattern[bytes]:
        return syslogLineRe(self.mode, TIME_RE + rb" tcp 127\.0\.0\.1:\d+ " + re.escape(loadgen.FORMATS[self.mode][0]))


class LogdSyslogTemplate(LogdSyslog):
    name = "logd-syslog-template"
    label = "logd syslog → template (parsed)"
    sink = 'template: "{time} {hostname} {app_name}[{procid}]: {message}"'
    sinkSetting = "every message parsed (RFC 5424/3164), the fields escaped like the text format"

    def lineRe(self) -> re.Pattern[bytes]:
        return TEMPLATE_RES[self.mode]

    def writesPeer(self) -> bool:
        return False


JSON_FIELDS = {
    "syslog": b'"facility":"local4","severity":"notice","timestamp":"2026-11-26T10:00:00.000000Z","hostname":"host",'
    b'"app_name":"app","procid":"1234","msgid":"ID47","structured_data":{}',
    "bsd": b'"facility":"auth","severity":"info","timestamp":"Nov 26 10:00:00","hostname":"host",'
    b'"app_name":"app","procid":"1234","msgid":null,"structured_data":{}',
}
"""The parsed fields of the syslog workloads' messages, as logd's JSON writes them."""


class LogdSyslogJSON(LogdSyslog):
    name = "logd-syslog-json"
    label = "logd syslog → JSON (parsed, all fields)"
    sink = "format: json"
    sinkSetting = "every message parsed, one JSON object per line with time, listener, peer and every syslog field"

    def lineRe(self) -> re.Pattern[bytes]:
        fields = JSON_FIELDS[self.mode]
        return syslogLineRe(
            self.mode,
            rb'\{"time":"' + TIME_RE + rb'","listener":"tcp","peer":"127\.0\.0\.1:\d+",' + re.escape(fields) + rb',"message":"',
            rb'"\}',
        )



RSYSLOG_CONFIG = """\
global(workDirectory="{dir}" net.enableDNS="off" maxMessageSize="64k"{tlsGlobal})
module(load="imtcp" MaxSessions="{maxSessions}"{tlsModule})
module(load="imudp")
template(name="bench" type="string" string="{template}")
ruleset(name="bench") {{
  action(type="omfile" file="{out}" template="bench")
}}
input(type="imtcp" port="{tcp}" address="127.0.0.1" ruleset="bench")
input(type="imudp" port="{udp}" address="127.0.0.1" ruleset="bench")
"""

RSYSLOG_TEMPLATES = {
    "plain": "%timegenerated:::date-rfc3339% %fromhost-ip% %rawmsg%\\n",
    "syslog": "%timegenerated:::date-rfc3339% %hostname% %app-name%[%procid%]: %msg%\\n",
    "bsd": "%timegenerated:::date-rfc3339% %hostname% %app-name%[%procid%]:%msg:::sp-if-no-1st-sp%%msg%\\n",
}


class SyslogPeer(Daemon):
    """
    rsyslog or syslog-ng: plain lines written with the peer address, syslog
    messages parsed and written with the template line logd's template sink
    writes too.
    """

    modes = ("plain", *SYSLOG_MODES)

    def lineRe(self) -> re.Pattern[bytes]:
        return TEMPLATE_RES.get(self.mode, LINE_RE)

    def writesPeer(self) -> bool:
        return self.mode == "plain"


class Rsyslog(SyslogPeer):
    name = "rsyslog"
    label = "rsyslog"
    servesTLS = True

    def writeConfig(self, tcpPort: int, udpPort: int) -> None:
        tlsGlobal = tlsModule = ""
        if self.tls:
            key, cert = certificates()
            tlsGlobal = f' DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}"'
            tlsModule = ' StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon"'
        self.config = RSYSLOG_CONFIG.format(
            dir=self.dir, maxSessions=MAX_CONNECTIONS, template=RSYSLOG_TEMPLATES[self.mode], out=self.out, tcp=tcpPort, udp=udpPort,
            tlsGlobal=tlsGlobal, tlsModule=tlsModule,
        )
        (self.dir / "rsyslog.conf").write_text(self.config)

    def argv(self) -> list[str]:
        return [
            str(PEERS / "usr/sbin/rsyslogd"), "-n", "-f", str(self.dir / "rsyslog.conf"),
            "-i", str(self.dir / "rsyslogd.pid"), "-M", str(rsyslogModules()),
        ]

    def version(self) -> str:
        r = subprocess.run([str(PEERS / "usr/sbin/rsyslogd"), "-v"], capture_output=True, text=True)
        return " ".join(r.stdout.splitlines()[0].split(" compiled")[0].split()) if r.stdout else "?"

    def settings(self) -> list[str]:
        return [
            "`rsyslogd -n -f rsyslog.conf -i PIDFILE -M MODDIR` (Debian package unpacked, not installed)",
            f"`imtcp` with `MaxSessions=\"{MAX_CONNECTIONS}\"` (default 200), `imudp`, both on a ruleset with one `omfile` action (defaults otherwise: main queue, 4 KiB I/O buffer, flush at end of batch)",
            f"plain lines: template `{RSYSLOG_TEMPLATES['plain']}`: `%rawmsg%` because the default RFC 3164 parser takes the first two words of a line that is not syslog-formatted as hostname and tag, so `%msg%` would drop them",
            f"syslog workloads: template `{RSYSLOG_TEMPLATES['syslog']}` (parsed properties; default parser chain, RFC 5424 then RFC 3164): the same line as logd's template sink. "
            "Not `%syslogtag%%msg%`: for an RFC 5424 message rsyslog makes the tag `APP-NAME[PROCID]` with no colon, and `%msg%` has no leading space, so that writes `app[1234]bench ...`",
            f"bsd (RFC 3164) workloads: template `{RSYSLOG_TEMPLATES['bsd']}`: for a BSD message `%msg%` keeps the space after `TAG[PID]:`, and `sp-if-no-1st-sp` is rsyslog's own way (its RSYSLOG_TraditionalFileFormat) to write exactly one",
            "`net.enableDNS=\"off\"`, `maxMessageSize=\"64k\"`; control characters escaped on receive (default)",
        ]


SYSLOG_NG_CONFIG = """\
@version: {version}
options {{ use-dns(no); use-fqdn(no); dns-cache(no); stats-freq(0); frac-digits(6);{options} }};
source s_tcp {{ network(ip("127.0.0.1") port({tcp}) transport("{transport}"){flags}{tls}
                max-connections({maxConnections}) log-iw-size({iw}) log-fetch-limit({fetch})); }};
source s_udp {{ network(ip("127.0.0.1") port({udp}) transport("udp"){flags}); }};
destination d_file {{ file("{out}" template("{template}") log-fifo-size({fifo})); }};
log {{ source(s_tcp); source(s_udp); destination(d_file); flags(flow-control); }};
"""

SYSLOG_NG_MODES = {
    # mode: (source flags, extra global options, file template)
    "plain": (" flags(no-parse)", "", "${R_ISODATE} ${SOURCEIP} ${MSG}\\n"),
    "syslog": (" flags(syslog-protocol)", " keep-hostname(yes);", "${R_ISODATE} ${HOST} ${PROGRAM}[${PID}]: ${MSG}\\n"),
    "bsd": ("", " keep-hostname(yes);", "${R_ISODATE} ${HOST} ${PROGRAM}[${PID}]: ${MSG}\\n"),
}


class SyslogNG(SyslogPeer):
    name = "syslog-ng"
    label = "syslog-ng"
    servesTLS = True

    def writeConfig(self, tcpPort: int, udpPort: int) -> None:
        iw = SYSLOG_NG_WINDOW * MAX_CONNECTIONS
        flags, options, template = SYSLOG_NG_MODES[self.mode]
        tls = ""
        if self.tls:
            key, cert = certificates()
            tls = f' tls(key-file("{key}") cert-file("{cert}") peer-verify(optional-untrusted))'
        self.config = SYSLOG_NG_CONFIG.format(
            version=syslogNgModules().name, options=options, flags=flags, template=template,
            transport="tls" if self.tls else "tcp", tls=tls,
            tcp=tcpPort, udp=udpPort, maxConnections=MAX_CONNECTIONS, iw=iw, fetch=SYSLOG_NG_FETCH, out=self.out, fifo=100000,
        )
        (self.dir / "syslog-ng.conf").write_text(self.config)

    def argv(self) -> list[str]:
        return [
            str(PEERS / "usr/sbin/syslog-ng"), "-F", "-e", "--no-caps", "-f", str(self.dir / "syslog-ng.conf"),
            "-p", str(self.dir / "syslog-ng.pid"), "-R", str(self.dir / "syslog-ng.persist"), "-c", str(self.dir / "syslog-ng.ctl"),
            f"--module-path={syslogNgModules()}",
        ]

    def env(self) -> dict[str, str]:
        return dict(os.environ, LD_LIBRARY_PATH=str(PEERS / "usr/lib/syslog-ng"))

    def version(self) -> str:
        r = subprocess.run([*self.argv()[:1], "-V", f"--module-path={syslogNgModules()}"], capture_output=True, text=True, env=self.env())
        m = re.search(r"\(([\d.]+)\)", r.stdout)
        return f"syslog-ng {m.group(1)}" if m else "?"

    def settings(self) -> list[str]:
        plainFlags, _, plainTemplate = SYSLOG_NG_MODES["plain"]
        syslogFlags, syslogOptions, syslogTemplate = SYSLOG_NG_MODES["syslog"]
        return [
            "`syslog-ng -F -e --no-caps -f syslog-ng.conf -p PIDFILE -R PERSIST -c CTL --module-path=...` (Debian package unpacked, run with LD_LIBRARY_PATH)",
            f"`network(transport(\"tcp\") max-connections({MAX_CONNECTIONS}) log-fetch-limit({SYSLOG_NG_FETCH}) log-iw-size({SYSLOG_NG_WINDOW * MAX_CONNECTIONS}))`: defaults 10, 10 and 1000; the window is split between the connections, so each gets {SYSLOG_NG_WINDOW} messages; and `network(transport(\"udp\"))`",
            f"plain lines: both sources with `{plainFlags.strip()}`; `file(... template(\"{plainTemplate}\") log-fifo-size(100000))`",
            f"syslog workloads: both sources with `{syslogFlags.strip()}` (parse RFC 5424; with no flags, network() parses RFC 3164 only), `{syslogOptions.strip()}` (the message's HOSTNAME, as rsyslog and logd write it, not the sender's address); "
            f"`file(... template(\"{syslogTemplate}\") log-fifo-size(100000))`; bsd (RFC 3164) workloads: the same with no flags (network() parses RFC 3164 by default)",
            "`log { ...; flags(flow-control); }`; `use-dns(no) use-fqdn(no) dns-cache(no) stats-freq(0) frac-digits(6)`; threaded (the default)",
        ]


class Textbook(Daemon):
    name = "twisted-linereceiver"
    label = "Twisted LineReceiver"

    def writeConfig(self, tcpPort: int, udpPort: int) -> None:
        self.config = f"--port {tcpPort} --udp-port {udpPort} --out {self.out}"

    def argv(self) -> list[str]:
        return [PYTHON, str(BENCH / "textbook_logger.py"), *self.config.split()]

    def version(self) -> str:
        import twisted

        return f"Twisted {twisted.__version__}"

    def settings(self) -> list[str]:
        return [
            "`bench/textbook_logger.py`: `LineReceiver` with `delimiter = b\"\\n\"`, `lineReceived` writes "
            "`ISO-TIME PEER MESSAGE\\n` to a buffered file, flushed with `callLater(0)` after each read; a `DatagramProtocol` for UDP; epoll reactor, listen backlog 50 (Twisted's default)",
        ]


class Bare(Textbook):
    """The ceiling for reactor plus file writes: chunks written unparsed (issue 3)."""

    name = "twisted-bare"
    label = "Twisted bare dataReceived (ceiling, not a peer)"
    tcpOnly = True

    def writesPeer(self) -> bool:
        return False

    def writeConfig(self, tcpPort: int, udpPort: int) -> None:
        self.config = f"--port {tcpPort} --out {self.out}"

    def argv(self) -> list[str]:
        return [PYTHON, str(BENCH / "bare_logger.py"), *self.config.split()]

    def settings(self) -> list[str]:
        return [
            "`bench/bare_logger.py`, a ceiling, not a peer: `Protocol.dataReceived` appends each chunk read, unparsed (no lines, time, peer or escaping), "
            "to a buffered file flushed with `callLater(0)` (only up to the chunk's last LF: the rest waits for the connection's next chunk, so connections do not interleave mid-line); Twisted's defaults (epoll reactor, 64 KiB reads); tcp-* workloads only; "
            "its output is the byte stream as sent, so the check is the same (every id once, every line intact) minus the peer",
        ]


DAEMONS: dict[str, type[Daemon]] = {
    d.name: d for d in (Logd, LogdLimits, LogdAdmin, LogdSyslogText, LogdSyslogTemplate, LogdSyslogJSON, Rsyslog, SyslogNG, Textbook, Bare)
}


# --------------------------------------------------------------------------
# watching the output file


class Tail:
    """Follows a file that may not exist yet, counting complete lines."""

    def __init__(self, path: Path, keep: bool = False) -> None:
        self.path = path
        self.fd: int | None = None
        self.lines = 0
        self.size = 0
        self.keep = keep
        self.partial = b""

    def poll(self) -> list[bytes]:
        """Read what was appended; with keep=True return the new complete lines."""
        if self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return []
        new: list[bytes] = []
        for _ in range(1000):
            chunk = os.read(self.fd, 8 << 20)
            if not chunk:
                break
            self.size += len(chunk)
            self.lines += chunk.count(b"\n")
            if self.keep:
                chunk = self.partial + chunk
                cut = chunk.rfind(b"\n") + 1
                new += chunk[:cut].splitlines()
                self.partial = chunk[cut:]
        return new

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def keepForInspection(d: Daemon, workload: str) -> Path:
    """Copy a failed run's daemon directory, less its output file, to bench/work/failed/ (the next start wipes it)."""
    dest = WORK / "failed" / f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{workload}-{d.name}"
    shutil.copytree(d.dir, dest, ignore=shutil.ignore_patterns(d.out.name), dirs_exist_ok=True)
    return dest


def verify(path: Path, expected: int, lineRe: re.Pattern[bytes] = LINE_RE, writesPeer: bool = True) -> dict[str, Any]:
    """
    Every id 0..expected-1 exactly once, every line well formed (it matches
    C{lineRe}) and, if the daemon writes the peer, from 127.0.0.1.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    lines = data.count(b"\n")
    ids = lineRe.findall(data)
    unique = set(ids)
    top = b"%08d" % expected
    inRange = sum(1 for i in unique if i < top)
    return {
        "lines_in_file": lines,
        "well_formed": len(ids),
        "unique": inRange,
        "duplicates": len(ids) - len(unique),
        "missing": expected - inRange,
        "peer_127": data.count(b"127.0.0.1") >= lines if writesPeer else None,
        "exactly_once": lines == len(ids) == len(unique) == inRange == expected,
    }


def runLoadgen(args: list[str], **kw: Any) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, str(LOADGEN), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=raiseNoFile, **kw)


def loadgenResult(proc: subprocess.Popen, timeout: float) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    out, err = out or "", err or ""
    rows = [json.loads(r) for r in out.splitlines() if r.startswith("{")]
    if proc.returncode != 0 or not rows:
        raise RuntimeError(f"loadgen failed ({proc.returncode}): {(out + err).strip().splitlines()[-1:] or ''}")
    return rows[-1]


# --------------------------------------------------------------------------
# workloads


def certificates() -> tuple[str, str]:
    """
    The TLS workloads' server key and certificate (a CA of the benchmark's
    own, made once per run with the tests' helper): C{localhost} and
    127.0.0.1.  The load generator checks it against C{WORK/tls/bench-ca.pem}.
    """
    directory = WORK / "tls"
    key, cert = directory / "server.key", directory / "server.pem"
    if not cert.exists():
        sys.path.insert(0, str(REPO))
        from tests.tls import CertificateAuthority

        ca = CertificateAuthority(str(directory), "bench CA")
        ca.issue("server", dnsNames=("localhost",), ips=("127.0.0.1",))
    return str(key), str(cert)


def throughput(d: Daemon, conns: int, total: int, mode: str = "plain", tls: bool = False) -> dict[str, Any]:
    d.start(mode, tls)
    tail = Tail(d.out)
    try:
        cpu0 = cpuSeconds(d.pid)
        tlsArgs = ["--tls", str(WORK / "tls" / "bench-ca.pem")] if tls else []
        gen = runLoadgen(["blast", "--port", str(d.tcpPort), "--conns", str(conns), "--total", str(total), "--format", mode, *tlsArgs])
        deadline = time.monotonic() + 60 + total / 10_000
        lastGrowth = time.monotonic()
        done = None
        while time.monotonic() < deadline:
            before = tail.lines
            tail.poll()
            now = time.monotonic()
            if tail.lines >= total:
                done = now
                break
            if tail.lines != before:
                lastGrowth = now
            elif gen.poll() is not None and now - lastGrowth > 20:
                break  # the generator is done and nothing has arrived for 20 s
            if not d.alive():
                break
            time.sleep(0.005)
        alive = d.alive()
        cpu = cpuSeconds(d.pid) - cpu0 if alive else None
        mem = memory(d.pid) if alive else {}
        try:
            gen_ = loadgenResult(gen, 60)
        except RuntimeError as e:
            state = "alive" if alive else f"exited with {d.proc.returncode if d.proc else '?'}"
            raise RuntimeError(f"{e}; the daemon was {state}, its file held {tail.lines:,} lines") from None
    finally:
        tail.close()
        d.stop()
    check = verify(d.out, total, d.lineRe(), d.writesPeer())
    d.out.unlink(missing_ok=True)
    seconds = done - gen_["t_first_byte"] if done else None
    return {
        "lines": total,
        "conns": conns,
        "format": mode,
        "seconds": seconds,
        "lines_per_s": total / seconds if seconds else None,
        "cpu_s": cpu,
        "cpu_us_per_line": cpu / total * 1e6 if cpu is not None else None,
        "peak_rss_kib": mem.get("VmHWM"),
        "loss": check["missing"],
        "client_cpu_s": gen_["cpu_s"],
        "daemon_survived": alive,
        **{f"check_{k}": v for k, v in check.items()},
    }


def idleConnections(d: Daemon, n: int) -> dict[str, Any]:
    d.start()
    try:
        time.sleep(1.0)
        fds0 = fdCount(d.pid)
        rss0 = memory(d.pid)["VmRSS"]
        gen = runLoadgen(["idle", "--port", str(d.tcpPort), "--conns", str(n), "--hold", "180", "--timeout", "150"], stdin=subprocess.PIPE)
        ready, _, _ = select.select([gen.stdout], [], [], 170)
        if not ready:
            gen.kill()
            raise RuntimeError("idle loadgen did not connect in time")
        readyInfo = json.loads(gen.stdout.readline())
        deadline = time.monotonic() + 60
        while fdCount(d.pid) < fds0 + n and time.monotonic() < deadline:
            time.sleep(0.05)
        accepted = fdCount(d.pid) - fds0  # descriptors added: one per connection (syslog-ng adds one more)
        time.sleep(1.0)
        mem = memory(d.pid)
        result = loadgenResult(gen, 60)  # communicate() closes its stdin: that ends the hold
        alive = d.alive()
    finally:
        d.stop()
    return {
        "conns": n,
        "accepted": accepted,
        "connect_seconds": readyInfo["seconds"],
        "rss_before_kib": rss0,
        "rss_with_kib": mem["VmRSS"],
        "peak_rss_kib": mem["VmHWM"],
        "kib_per_conn": (mem["VmRSS"] - rss0) / max(min(accepted, n), 1),
        "closed_by_server": result["closed_by_server"],
        "daemon_survived": alive,
    }


def latency(d: Daemon, rate: float, seconds: float) -> dict[str, Any]:
    d.start()
    tail = Tail(d.out, keep=True)
    total = int(rate * seconds)
    latencies: list[float] = []
    seen: set[bytes] = set()
    dups = 0
    try:
        cpu0 = cpuSeconds(d.pid)
        gen = runLoadgen(["latency", "--port", str(d.tcpPort), "--rate", str(rate), "--seconds", str(seconds)])
        deadline = time.monotonic() + seconds + 30
        while len(seen) < total and time.monotonic() < deadline:
            lines = tail.poll()
            now = time.monotonic_ns()
            for row in lines:
                m = LATENCY_RE.search(row)
                if not m:
                    continue
                if m.group(1) in seen:
                    dups += 1
                    continue
                seen.add(m.group(1))
                latencies.append((now - int(m.group(2))) / 1e6)
            if gen.poll() is not None and time.monotonic() > deadline - 25:
                break  # 5 s after the generator finished: whatever is missing is lost
            time.sleep(0.001)
        cpu = cpuSeconds(d.pid) - cpu0
        mem = memory(d.pid)
        gen_ = loadgenResult(gen, 30)
    finally:
        tail.close()
        d.stop()
    d.out.unlink(missing_ok=True)
    latencies.sort()

    def pct(p: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else None

    return {
        "lines": gen_["lines"],
        "rate": rate,
        "achieved_rate": gen_["achieved_rate"],
        "received": len(seen),
        "loss": gen_["lines"] - len(seen),
        "duplicates": dups,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "max_ms": latencies[-1] if latencies else None,
        "cpu_s": cpu,
        "peak_rss_kib": mem["VmHWM"],
    }


def udp(d: Daemon, rate: float, seconds: float) -> dict[str, Any]:
    d.start()
    tail = Tail(d.out)
    try:
        cpu0 = cpuSeconds(d.pid)
        rcvbuf0 = udpReceiveBufferErrors()
        gen = runLoadgen(["udp", "--port", str(d.udpPort), "--rate", str(rate), "--seconds", str(seconds)])
        gen_ = loadgenResult(gen, seconds + 30)
        # Wait until the file stops growing (1 s of quiet, 20 s at most).
        deadline = time.monotonic() + 20
        quietSince = time.monotonic()
        while time.monotonic() < deadline:
            before = tail.lines
            tail.poll()
            if tail.lines != before:
                quietSince = time.monotonic()
            elif time.monotonic() - quietSince > 1.0:
                break
            time.sleep(0.02)
        cpu = cpuSeconds(d.pid) - cpu0
        mem = memory(d.pid)
        rcvbufErrors = udpReceiveBufferErrors() - rcvbuf0
    finally:
        tail.close()
        d.stop()
    check = verify(d.out, gen_["sent"])
    d.out.unlink(missing_ok=True)
    received = check["unique"]
    return {
        "sent": gen_["sent"],
        "achieved_rate": gen_["achieved_rate"],
        "send_errors": gen_["send_errors"],
        "received": received,
        "duplicates": check["duplicates"],
        "malformed": check["lines_in_file"] - check["well_formed"],
        "loss": gen_["sent"] - received,
        "loss_pct": 100.0 * (gen_["sent"] - received) / gen_["sent"],
        "kernel_rcvbuf_drops": rcvbufErrors,
        "cpu_s": cpu,
        "cpu_us_per_line": cpu / received * 1e6 if received else None,
        "peak_rss_kib": mem["VmHWM"],
    }


def discardCapacity(conns: int, total: int, mode: str = "plain") -> dict[str, Any]:
    """How fast the load generator pushes the same workload into a sink that reads and discards."""
    port = freePort()
    sink = runLoadgen(["discard", "--port", str(port), "--expect-bytes", str(total * loadgen.LINE_SIZE), "--timeout", "120"])
    ready, _, _ = select.select([sink.stdout], [], [], 10)
    if not ready:
        sink.kill()
        raise RuntimeError("discard sink did not start")
    sink.stdout.readline()
    gen = runLoadgen(["blast", "--port", str(port), "--conns", str(conns), "--total", str(total), "--format", mode])
    g = loadgenResult(gen, 180)
    s = loadgenResult(sink, 60)
    seconds = s["t_last_byte"] - g["t_first_byte"]
    return {"lines": total, "conns": conns, "bytes": s["bytes"], "seconds": seconds, "lines_per_s": total / seconds, "client_cpu_s": g["cpu_s"]}


# --------------------------------------------------------------------------
# the plan


THROUGHPUT = {
    "tcp-1": (1, "plain"),
    "tcp-16": (16, "plain"),
    "tcp-1000": (1000, "plain"),
    "syslog-1": (1, "syslog"),
    "syslog-16": (16, "syslog"),
    "bsd-1": (1, "bsd"),
    "bsd-16": (16, "bsd"),
    "tls-1": (1, "plain"),
    "tls-16": (16, "plain"),
}
"""Throughput workload -> (connections, line format)."""
TLS_WORKLOADS = {"tls-1", "tls-16"}
"""The plain-line workloads sent over TLS (logd's tls:, rsyslog's ossl driver, syslog-ng's transport("tls"))."""
WORKLOADS = ["tcp-1", "tcp-16", "tcp-1000", "syslog-1", "syslog-16", "bsd-1", "bsd-16", "tls-1", "tls-16", "idle", "latency", "udp"]


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["lines_per_s"] for r in runs if r.get("lines_per_s")]
    return {
        "runs": runs,
        "median_lines_per_s": median(rates),
        "min_lines_per_s": min(rates) if rates else None,
        "max_lines_per_s": max(rates) if rates else None,
        "median_cpu_s": median([r["cpu_s"] for r in runs]),
        "median_cpu_us_per_line": median([r["cpu_us_per_line"] for r in runs]),
        "max_peak_rss_kib": max((r["peak_rss_kib"] for r in runs if r.get("peak_rss_kib")), default=None),
        "total_loss": sum(r["loss"] for r in runs),
        "all_exactly_once": all(r["check_exactly_once"] for r in runs),
        "max_background_cores": max((r.get("background_cores", 0) for r in runs), default=0),
    }


def machine() -> dict[str, Any]:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for row in f:
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        memKiB = int(f.readline().split()[1])
    import twisted

    rmem = Path("/proc/sys/net/core/rmem_default").read_text().strip()
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gib": round(memKiB / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": platform.freedesktop_os_release().get("PRETTY_NAME", "?") if hasattr(platform, "freedesktop_os_release") else "?",
        "python": platform.python_version(),
        "twisted": twisted.__version__,
        "udp_rmem_default": int(rmem),
    }


def main() -> None:
    p = argparse.ArgumentParser(description="logd vs rsyslog vs syslog-ng vs Twisted LineReceiver", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help="200,000 lines, 1 run, 1,000 idle connections, 3 s latency, 2 s UDP")
    p.add_argument("--daemons", default=",".join(DAEMONS), help=f"comma-separated, of: {', '.join(DAEMONS)}")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, of: {', '.join(WORKLOADS)}, capacity (load generator into a discard sink)")
    p.add_argument("--runs", type=int, help="runs of each throughput workload (default 3; 1 with --quick)")
    p.add_argument("--lines", type=int, help="lines per throughput run (default 2,000,000; 200,000 with --quick)")
    p.add_argument("--idle-conns", type=int, help="idle connections (default 10,000; 1,000 with --quick)")
    p.add_argument("--latency-seconds", type=float, help="default 10 (3 with --quick)")
    p.add_argument("--udp-seconds", type=float, help="default 5 (2 with --quick)")
    p.add_argument("--wait-quiet", type=float, default=5.0, help="before each run, wait up to this many seconds for other processes to use under 0.25 cores (default 5); the load seen is recorded")
    p.add_argument("--out", type=Path, help="results directory (default bench/results, or bench/work/quick-results with --quick)")
    p.add_argument("--report-only", action="store_true", help="rewrite results.md and throughput.png from results.json")
    args = p.parse_args()

    out = args.out or (WORK / "quick-results" if args.quick else RESULTS)
    if args.report_only:
        import report

        report.write(json.loads((out / "results.json").read_text()), out)
        return

    runs = args.runs or (1 if args.quick else 3)
    lines = args.lines or (200_000 if args.quick else 2_000_000)
    idleConns = args.idle_conns or (1000 if args.quick else 10_000)
    latencySeconds = args.latency_seconds or (3 if args.quick else 10)
    udpSeconds = args.udp_seconds or (2 if args.quick else 5)
    names = [n.strip() for n in args.daemons.split(",") if n.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for n in names:
        if n not in DAEMONS:
            p.error(f"unknown daemon {n!r}")
    for w in workloads:
        if w not in WORKLOADS and w != "capacity":
            p.error(f"unknown workload {w!r}")
    if "capacity" not in workloads and any(w in THROUGHPUT for w in workloads):
        workloads.append("capacity")

    before = systemLogDaemons()
    if before:
        raise SystemExit("bench: a system log daemon is running; stop it first (this benchmark starts its own):\n" + "\n".join(before))
    raiseNoFile()
    daemons = {n: DAEMONS[n]() for n in names}
    unused = [n for n, d in daemons.items() if not any(d.serves(w) for w in workloads if w != "capacity")]
    if unused:
        log(f"not running {', '.join(unused)}: none of the workloads {', '.join(workloads)} is for them")
        daemons = {n: d for n, d in daemons.items() if n not in unused}
    if not daemons:
        p.error("no daemon serves these workloads (the logd-syslog-* daemons run syslog-* only; twisted-bare tcp-* only)")
    setupPeers(list(daemons))
    started = time.monotonic()
    results: dict[str, Any] = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "bench/run " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "parameters": {"runs": runs, "lines": lines, "line_bytes": loadgen.LINE_SIZE, "idle_conns": idleConns,
                        "syslog_example": loadgen.line(42, 3, "syslog").decode(),
                        "bsd_example": loadgen.line(42, 3, "bsd").decode(),
                        "latency_rate": 1000, "latency_seconds": latencySeconds, "udp_rate": 100_000, "udp_seconds": udpSeconds, "wait_quiet": args.wait_quiet},
        "daemons": {n: {"label": d.label, "version": d.version(), "settings": d.settings()} for n, d in daemons.items()},
        "workloads": {},
        "capacity": {},
    }

    def record(workload: str, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        loadBefore = waitQuiet(args.wait_quiet)
        overflows = listenOverflows()
        background = Background()
        try:
            r = fn()
        except Exception as e:  # one failing daemon must not sink the whole run
            daemons[name].stop()
            kept = keepForInspection(daemons[name], workload)
            log(f"  {name}: FAILED: {e} (its config and log: {kept})")
            r = {"error": str(e), "kept": str(kept)}
        r["background_cores"] = round(background.cores(), 3)
        r["background_cores_before"] = round(loadBefore, 3)
        r["listen_overflows"] = listenOverflows() - overflows
        if r["background_cores"] > 0.25:
            log(f"  (other processes used {r['background_cores']:.2f} cores meanwhile)")
        results["workloads"].setdefault(workload, {}).setdefault(name, []).append(r)
        return r

    def serving(w: str) -> dict[str, Daemon]:
        return {n: d for n, d in daemons.items() if d.serves(w)}

    for w in workloads:
        if w in THROUGHPUT:
            conns, mode = THROUGHPUT[w]
            for i in range(runs):
                for n, d in serving(w).items():
                    log(f"{w} ({conns} conns x {lines} {mode} lines total) run {i + 1}/{runs}: {n}")
                    r = record(w, n, lambda: throughput(d, conns, lines, mode, w in TLS_WORKLOADS))
                    if r and "error" not in r:
                        log(f"  {n}: {r['lines_per_s'] or 0:,.0f} lines/s, {r['cpu_us_per_line'] or 0:.2f} us CPU/line, "
                            f"peak RSS {(r['peak_rss_kib'] or 0) / 1024:.1f} MiB, loss {r['loss']}, exactly once: {r['check_exactly_once']}")
        elif w == "idle":
            for n, d in serving(w).items():
                log(f"idle: {idleConns} connections: {n}")
                r = record(w, n, lambda: idleConnections(d, idleConns))
                if r and "error" not in r:
                    log(f"  {n}: {r['accepted']} accepted, RSS {r['rss_before_kib']} -> {r['rss_with_kib']} KiB, {r['kib_per_conn']:.2f} KiB/conn")
        elif w == "latency":
            for n, d in serving(w).items():
                log(f"latency: 1,000 lines/s for {latencySeconds} s: {n}")
                r = record(w, n, lambda: latency(d, 1000, latencySeconds))
                if r and "error" not in r:
                    log(f"  {n}: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, loss {r['loss']}")
        elif w == "udp":
            for n, d in serving(w).items():
                log(f"udp: 100,000 datagrams/s for {udpSeconds} s: {n}")
                r = record(w, n, lambda: udp(d, 100_000, udpSeconds))
                if r and "error" not in r:
                    log(f"  {n}: sent {r['sent']} at {r['achieved_rate']:,.0f}/s, received {r['received']}, loss {r['loss_pct']:.2f} %")

    if "capacity" in workloads:
        for w, (conns, mode) in THROUGHPUT.items():
            if w not in workloads or w in TLS_WORKLOADS:  # the discard sink speaks no TLS
                continue
            caps = []
            for i in range(runs):
                try:
                    caps.append(discardCapacity(conns, lines, mode))
                except Exception as e:
                    log(f"capacity {w}: FAILED: {e}")
            rates = [c["lines_per_s"] for c in caps]
            results["capacity"][w] = {"runs": caps, "median_lines_per_s": median(rates)}
            if rates:
                log(f"load generator into a discard sink, {w}: {median(rates):,.0f} lines/s")

    for w, byDaemon in results["workloads"].items():
        if w in THROUGHPUT:
            for n, rs in byDaemon.items():
                ok = [r for r in rs if "error" not in r]
                byDaemon[n] = {**summarize(ok), "errors": [r["error"] for r in rs if "error" in r]} if ok else {"runs": [], "errors": [r["error"] for r in rs]}
        else:
            for n, rs in byDaemon.items():
                byDaemon[n] = rs[0]

    after = systemLogDaemons()
    results["pgrep_before"] = before
    results["pgrep_after"] = after
    results["wall_seconds"] = time.monotonic() - started
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    import report

    report.write(results, out)
    log(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'throughput.png'} in {results['wall_seconds'] / 60:.1f} min")
    if after:
        log("WARNING: log daemons still running after the benchmark: " + "; ".join(after))


if __name__ == "__main__":
    main()
