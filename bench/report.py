"""
Turn results.json into results.md (tables, settings, machine) and
throughput.png (a bar chart).  Also run by itself: C{bench/run --report-only}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

THROUGHPUT = [
    ("tcp-1", "1 connection"),
    ("tcp-16", "16 connections"),
    ("tcp-1000", "1,000 connections"),
    ("syslog-1", "syslog RFC 5424, 1 connection"),
    ("syslog-16", "syslog RFC 5424, 16 connections"),
    ("bsd-1", "syslog RFC 3164, 1 connection"),
    ("bsd-16", "syslog RFC 3164, 16 connections"),
    ("tls-1", "TLS, 1 connection"),
    ("tls-16", "TLS, 16 connections"),
]
PLAIN = [k for k, _ in THROUGHPUT if k.startswith("tcp-")]
SYSLOG = [k for k, _ in THROUGHPUT if k.startswith(("syslog-", "bsd-"))]
PARSED = [("logd-syslog-template", "template"), ("logd-syslog-json", "JSON")]
"""logd's syslog variants that parse every message (issue 4: they must beat rsyslog)."""


def _n(v: float | None, fmt: str = "{:,.0f}") -> str:
    return "–" if v is None else fmt.format(v)


def _bg(r: dict[str, Any]) -> str:
    """The most CPU other processes used during the run(s), in cores."""
    if "runs" in r:
        values = [x.get("background_cores") for x in r["runs"] if x.get("background_cores") is not None]
        return f"{max(values):.2f}" if values else "–"
    return _n(r.get("background_cores"), "{:.2f}")


def _label(results: dict[str, Any], name: str) -> str:
    return results["daemons"].get(name, {}).get("label", name)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    par = results["parameters"]
    w = results["workloads"]
    out = [
        "# logd benchmark results",
        "",
        f"Produced by `{results['command'].strip()}` on {results['started']} (wall time {results['wall_seconds'] / 60:.1f} min).",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, {m['os']}; "
        f"Python {m['python']}, Twisted {m['twisted']}.",
        "",
        f"Lines are {par['line_bytes']} bytes with a unique id; every run's output file was checked for every id exactly once. "
        f"Throughput is end to end: from the first byte sent until the output file holds all {par['lines']:,} lines. "
        f"Median of {par['runs']} run(s), min–max in brackets. CPU is the daemon's utime+stime (/proc/PID/stat) over the run; "
        "peak RSS is its VmHWM; each run starts a fresh daemon. "
        "This machine is shared: *other load* is the CPU that processes other than the benchmark's used during the run "
        "(the most over the runs), in cores out of the machine's cores; before each run the harness waits up to "
        f"{par.get('wait_quiet', 5):g} s for it to drop under 0.25.",
        "",
    ]
    names = list(results["daemons"])
    syslogNoted = False
    for key, title in THROUGHPUT:
        if key not in w:
            continue
        if key in SYSLOG and not syslogNoted:
            syslogNoted = True
            example = par.get("syslog_example", "").rstrip("\n")
            bsd = par.get("bsd_example", "").rstrip("\n")
            out += [
                "## Syslog workloads",
                "",
                f"Each line is a syslog message of {par['line_bytes']} bytes, LF-terminated (RFC 6587 non-transparent framing), "
                f"its id in the MSG part: RFC 5424 `{example}` (syslog-*) or RFC 3164 `{bsd}` (bsd-*, the traditional "
                "format rsyslog forwards by default). rsyslog and syslog-ng parse it and write "
                "`TIME HOSTNAME APP-NAME[PROCID]: MSG` (settings below). logd runs three ways: **text** writes the message as received "
                "(`TIME LISTENER PEER MESSAGE`); logd parses lazily and this sink asks for no field, so it measures the framing only "
                "(*unparsed output*); **template** (`{time} {hostname} {app_name}[{procid}]: {message}`) parses every message and "
                "writes the same line as the peers; **JSON** parses every message and writes all its fields. Every output line was "
                "checked against the whole line its format must give (hostname, app-name, procid and, in JSON, every field in place).",
                "",
            ]
        out += [f"## Throughput, {title}", "", "| daemon | lines/s (median) | min–max | CPU s | µs CPU/line | peak RSS MiB | lost lines | exactly once | other load (cores) |", "|---|---:|---:|---:|---:|---:|---:|:---:|---:|"]
        for n in names:
            s = w[key].get(n)
            if not s:
                continue
            if not s.get("runs"):
                out.append(f"| {_label(results, n)} | failed: {'; '.join(s.get('errors', []))[:120]} | | | | | | | |")
                continue
            rss = s["max_peak_rss_kib"]
            out.append(
                f"| {_label(results, n)} | {_n(s['median_lines_per_s'])} | {_n(s['min_lines_per_s'])}–{_n(s['max_lines_per_s'])} "
                f"| {_n(s['median_cpu_s'], '{:.2f}')} | {_n(s['median_cpu_us_per_line'], '{:.2f}')} | {_n(rss / 1024 if rss else None, '{:.1f}')} "
                f"| {s['total_loss']} | {'yes' if s['all_exactly_once'] else 'NO'} | {_bg(s)} |"
            )
        cap = results.get("capacity", {}).get(key)
        if cap and cap.get("median_lines_per_s"):
            best = max((w[key][n].get("median_lines_per_s") or 0 for n in w[key]), default=0)
            ratio = f" ({cap['median_lines_per_s'] / best:.1f}× the fastest daemon)" if best else ""
            out.append("")
            out.append(f"Load generator into a discard sink, same workload: {_n(cap['median_lines_per_s'])} lines/s{ratio}.")
        out.append("")
    if "idle" in w:
        out += [f"## {par['idle_conns']:,} idle connections", "", "| daemon | descriptors added | RSS before MiB | RSS with MiB | KiB per connection | peak RSS MiB | closed by daemon | other load (cores) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for n in names:
            r = w["idle"].get(n)
            if not r:
                continue
            if "error" in r:
                out.append(f"| {_label(results, n)} | failed: {r['error'][:120]} | | | | | | |")
                continue
            out.append(
                f"| {_label(results, n)} | {r['accepted']:,} | {r['rss_before_kib'] / 1024:.1f} | {r['rss_with_kib'] / 1024:.1f} "
                f"| {r['kib_per_conn']:.2f} | {r['peak_rss_kib'] / 1024:.1f} | {r['closed_by_server']} | {_bg(r)} |"
            )
        out.append("")
    if "latency" in w:
        out += [
            f"## Latency at {par['latency_rate']:,} lines/s for {par['latency_seconds']:g} s (send → visible in the file, file polled every 1 ms)",
            "",
            "| daemon | p50 ms | p99 ms | max ms | lines | lost | CPU s | other load (cores) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n in names:
            r = w["latency"].get(n)
            if not r:
                continue
            if "error" in r:
                out.append(f"| {_label(results, n)} | failed: {r['error'][:120]} | | | | | | |")
                continue
            out.append(
                f"| {_label(results, n)} | {_n(r['p50_ms'], '{:.2f}')} | {_n(r['p99_ms'], '{:.2f}')} | {_n(r['max_ms'], '{:.2f}')} "
                f"| {r['lines']:,} | {r['loss']} | {r['cpu_s']:.2f} | {_bg(r)} |"
            )
        out.append("")
    if "udp" in w:
        out += [
            f"## UDP at {par['udp_rate']:,} datagrams/s for {par['udp_seconds']:g} s (net.core.rmem_default = {m['udp_rmem_default']:,}; logd asks for an 8 MiB receive buffer, the others keep the default)",
            "",
            "| daemon | sent | achieved rate/s | received | loss % | CPU s | µs CPU/datagram | peak RSS MiB | other load (cores) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n in names:
            r = w["udp"].get(n)
            if not r:
                continue
            if "error" in r:
                out.append(f"| {_label(results, n)} | failed: {r['error'][:120]} | | | | | | | |")
                continue
            out.append(
                f"| {_label(results, n)} | {r['sent']:,} | {r['achieved_rate']:,.0f} | {r['received']:,} | {r['loss_pct']:.2f} "
                f"| {r['cpu_s']:.2f} | {_n(r['cpu_us_per_line'], '{:.2f}')} | {r['peak_rss_kib'] / 1024:.1f} | {_bg(r)} |"
            )
        out.append("")
    out += targets(results)
    out += ["## Settings", ""]
    for n, d in results["daemons"].items():
        out.append(f"**{d['label']}** ({d['version']})")
        out.append("")
        out += [f"- {s}" for s in d["settings"]]
        out.append("")
    out += [
        "Load generator: `bench/loadgen.py` (Python), buffers built before the first byte, non-blocking `send` of up to 1 MiB per call; "
        "latency lines carry their CLOCK_MONOTONIC send time; UDP is paced in 1 ms ticks. All traffic is on 127.0.0.1.",
        "",
        f"No system log daemon was running before or after the run (`pgrep -x rsyslogd`, `pgrep -x syslog-ng`: "
        f"{'none' if not results.get('pgrep_before') and not results.get('pgrep_after') else results.get('pgrep_before', []) + results.get('pgrep_after', [])}).",
        "",
    ]
    return "\n".join(out)


def targets(results: dict[str, Any]) -> list[str]:
    """Issue 3's targets for logd, checked against this run's figures."""
    w = results["workloads"]

    def rate(key: str, name: str) -> float | None:
        return (w.get(key, {}).get(name) or {}).get("median_lines_per_s")

    def cpu(key: str, name: str) -> float | None:
        return (w.get(key, {}).get(name) or {}).get("median_cpu_us_per_line")

    rows = []
    titles = dict(THROUGHPUT)
    for key, title in THROUGHPUT[:2]:
        a, b = rate(key, "logd"), rate(key, "rsyslog")
        if a and b:
            rows.append((f"lines/s ≥ 2× rsyslog's, {title}", f"{a / b:.2f}×", a / b >= 2))
    a = rate("tcp-1000", "logd")
    peers = [(n, rate("tcp-1000", n)) for n in ("rsyslog", "syslog-ng") if rate("tcp-1000", n)]
    if a and peers:
        best = max(v for _, v in peers)
        rows.append(("lines/s ahead of both peers, 1,000 connections", f"{a / best:.2f}× the faster peer", a > best))
    for key, title in THROUGHPUT:
        a, b = cpu(key, "logd"), cpu(key, "rsyslog")
        if a and b:
            rows.append((f"CPU per line ≤ ½ rsyslog's, {title}", f"{a:.2f} vs {b:.2f} µs ({a / b:.2f}×)", a <= b / 2))
    idle = (w.get("idle") or {}).get("logd")
    if idle and "error" not in idle:
        rows.append(("≤ 2 KiB RSS per idle connection", f"{idle['kib_per_conn']:.2f} KiB", idle["kib_per_conn"] <= 2))
    lat = (w.get("latency") or {}).get("logd")
    if lat and "error" not in lat and lat.get("p99_ms") is not None:
        rows.append(("p99 latency < 100 ms at 1,000 lines/s", f"{lat['p99_ms']:.2f} ms", lat["p99_ms"] < 100))
    for key in SYSLOG:
        b = rate(key, "rsyslog")
        for name, what in PARSED:
            a = rate(key, name)
            if a and b:
                where = titles[key].removeprefix("syslog ")
                rows.append((f"parsed syslog ({what}) lines/s > rsyslog's (issue 4), {where}", f"{a / b:.2f}×", a > b))
    logds = ["logd"] + [n for n in results["daemons"] if n.startswith("logd-syslog-")]
    losses = [
        (w[k][n].get("total_loss"), w[k][n].get("all_exactly_once"))
        for k, _ in THROUGHPUT for n in logds if n in w.get(k, {}) and w[k][n].get("runs")
    ]
    if lat and "error" not in lat:
        losses.append((lat["loss"] + lat["duplicates"], lat["loss"] + lat["duplicates"] == 0))
    if losses:
        total = sum(l or 0 for l, _ in losses)
        rows.append(("zero loss over TCP, every workload (and every line exactly once)", f"{total} lost", total == 0 and all(ok for _, ok in losses)))
    if not rows:
        return []
    out = ["## logd against the targets of issues 3 and 4 (this run)", "", "| target | measured | met |", "|---|---:|:---:|"]
    out += [f"| {t} | {m} | {'yes' if ok else 'no'} |" for t, m, ok in rows]
    return out + [""]


COLORS = {
    "logd": "#2a7ab9",
    "logd-syslog-text": "#9cc7e8",
    "logd-syslog-template": "#2a7ab9",
    "logd-syslog-json": "#1b4f78",
    "rsyslog": "#d9822b",
    "syslog-ng": "#5a9e4b",
    "twisted-linereceiver": "#9b59b6",
    "twisted-bare": "#bbbbbb",
}


def chart(results: dict[str, Any], path: Path) -> None:
    """
    One row of two panels (lines/s, CPU µs per line) for the plain-line
    workloads and one for the syslog workloads, each with the daemons that ran them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = results["workloads"]
    titles = dict(THROUGHPUT)
    rows = []
    for group, heading in ((PLAIN, "plain lines"), (SYSLOG, "syslog")):
        keys = [k for k in group if k in w]
        names = [n for n in results["daemons"] if any((w[k].get(n) or {}).get("runs") for k in keys)]
        if keys and names:
            rows.append((keys, names, heading))
    if not rows:
        return
    fig, axes = plt.subplots(len(rows), 2, figsize=(14, 5.2 * len(rows)), gridspec_kw={"width_ratios": [3, 2]}, squeeze=False)
    par = results["parameters"]
    for (keys, names, heading), (ax, ax2) in zip(rows, axes):
        width = 0.8 / len(names)
        for i, n in enumerate(names):
            med, lo, hi, cpu = [], [], [], []
            for k in keys:
                s = w[k].get(n) or {}
                m = (s.get("median_lines_per_s") or 0) / 1e6
                med.append(m)
                lo.append(m - (s.get("min_lines_per_s") or 0) / 1e6 if s.get("min_lines_per_s") else 0)
                hi.append((s.get("max_lines_per_s") or 0) / 1e6 - m if s.get("max_lines_per_s") else 0)
                cpu.append(s.get("median_cpu_us_per_line") or 0)
            xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(keys))]
            label = results["daemons"][n]["label"]
            hatch = "//" if n == "twisted-bare" else None
            bars = ax.bar(xs, med, width, yerr=[lo, hi], capsize=3, label=label, color=COLORS.get(n), hatch=hatch, edgecolor="white" if hatch else None)
            ax.bar_label(bars, labels=[f"{v:.2f}" if v else "" for v in med], fontsize=7, padding=2)
            bars2 = ax2.bar(xs, cpu, width, label=label, color=COLORS.get(n), hatch=hatch, edgecolor="white" if hatch else None)
            ax2.bar_label(bars2, labels=[f"{v:.2f}" if v else "" for v in cpu], fontsize=7, padding=2)
        for a in (ax, ax2):
            a.set_xticks(range(len(keys)))
            a.set_xticklabels([titles[k].removeprefix("syslog ").replace(", ", ",\n") for k in keys])
            a.grid(axis="y", alpha=0.3)
        ax.set_ylabel("million lines/s (median, min–max bars)")
        ax.set_title(f"End-to-end throughput, {heading}: {par['lines']:,} lines of {par['line_bytes']} B")
        ax2.set_ylabel("µs of daemon CPU per line (median)")
        ax2.set_title(f"CPU per line, {heading} (lower is better)")
        ax.set_ylim(top=ax.get_ylim()[1] * 1.3)  # room for the legend above the bars
        ax.legend(fontsize=8, loc="upper left", ncol=2)
    m = results["machine"]
    fig.suptitle(f"{m['cpu_model']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}, Twisted {m['twisted']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(markdown(results))
    chart(results, out / "throughput.png")
