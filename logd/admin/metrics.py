"""
Prometheus metrics: L{LogdCollector} turns a L{logd.admin.stats.snapshot}
into metric families at each scrape, for C{prometheus_client}'s registry
and text exposition.  Names follow Prometheus' conventions: C{logd_}
prefix, C{_total} for counters, base units (bytes, seconds); the README
lists each one.
"""

from __future__ import annotations

from typing import Any, Iterator

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from logd.admin.stats import buildInfo, snapshot


class LogdCollector:
    """A C{prometheus_client} collector reading a live L{logd.service.LogdService}."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def describe(self) -> list[Metric]:
        # Families are made per scrape from live objects: nothing to
        # describe up front (and no scrape at registration).
        return []

    def collect(self) -> Iterator[Metric]:
        figures = snapshot(self.service)
        yield InfoMetricFamily("logd_build", "The running logd's version, and Twisted's and Python's.", value=buildInfo())
        yield _gauge("logd_start_time_seconds", "When logd started, in seconds since the epoch.", [], [([], figures["started"])])
        yield _gauge(
            "logd_ready",
            "1 while logd is running its configuration; 0 while starting, reloading or draining.",
            [],
            [([], 1 if figures["phase"] == "running" else 0)],
        )
        yield _counter(
            "logd_reloads",
            "Configuration reloads, by result (success, failure).",
            ["result"],
            [([result], count) for result, count in sorted(figures["reloads"].items())],
        )
        yield _gauge(
            "logd_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully (at start, or by a reload).",
            [],
            [([], figures["last_reload_success"] or 0)],
        )
        yield _counter(
            "logd_log_lines_dropped",
            "Lines of logd's own log dropped because its standard output was not being read (twistd -n).",
            [],
            [([], figures["log_lines_dropped"])],
        )
        yield from _listenerMetrics(figures["listeners"])
        yield from _sinkMetrics(figures["sinks"])


def _listenerMetrics(listeners: dict[str, Any]) -> Iterator[Metric]:
    def each(key: str) -> list[tuple[list[str], float]]:
        return [([name], figures[key]) for name, figures in listeners.items()]

    def bySink(key: str) -> list[tuple[list[str], float]]:
        return [([name, sink], n) for name, figures in listeners.items() for sink, n in figures[key].items()]

    yield _gauge("logd_listener_connections_open", "Stream connections open now.", ["listener"], each("connections_open"))
    yield _gauge(
        "logd_listener_connections_paused",
        "Stream connections not being read now (a full sink, or a sender over its rate limit).",
        ["listener"],
        each("connections_paused"),
    )
    yield _counter("logd_listener_connections_accepted", "Stream connections accepted.", ["listener"], each("connections_accepted"))
    yield _counter(
        "logd_listener_connections_closed_idle",
        "Stream connections closed for sending nothing for idle_timeout.",
        ["listener"],
        each("connections_closed_idle"),
    )
    yield _counter(
        "logd_listener_refused",
        "Connections (datagrams, on a datagram listener) refused at the edge, by reason.",
        ["listener", "reason"],
        [([name, reason], n) for name, figures in listeners.items() for reason, n in sorted(figures["refused"].items())],
    )
    yield _counter("logd_listener_bytes_received", "Bytes received.", ["listener"], each("bytes_received"))
    yield _counter(
        "logd_listener_records_received",
        "Records framed from what was received (before a rate limit's drops).",
        ["listener"],
        each("records_received"),
    )
    yield _counter(
        "logd_listener_records_delivered",
        "Records handed to each sink (after its filter), whether written yet or not.",
        ["listener", "sink"],
        bySink("delivered"),
    )
    yield _counter(
        "logd_listener_records_filtered",
        "Records a sink's filter did not select.",
        ["listener", "sink"],
        bySink("filtered"),
    )
    dropped = _counter(
        "logd_listener_records_dropped",
        "Records dropped, by reason: sink_full (a when_full: drop sink, or any sink of a datagram listener), "
        "sink_error (a sink could not format them), rate_limit (the sender was over its rate limit; sink is empty).",
        ["listener", "sink", "reason"],
        [],
    )
    for name, figures in listeners.items():
        dropped.add_metric([name, "", "rate_limit"], figures["dropped_rate_limit"])
        for reason, key in (("sink_full", "dropped_sink_full"), ("sink_error", "dropped_sink_error")):
            for sink, n in figures[key].items():
                dropped.add_metric([name, sink, reason], n)
    yield dropped
    yield _counter("logd_listener_lines_split", "Lines (or syslog frames) over max_line, split into pieces.", ["listener"], each("lines_split"))
    yield _counter(
        "logd_listener_frame_bytes_skipped",
        "Bytes of octet-counted syslog frames beyond max_line, skipped (the frame's start is kept).",
        ["listener"],
        each("frame_bytes_skipped"),
    )
    yield _counter(
        "logd_listener_malformed_octet_counts",
        "Syslog frames whose octet count was malformed (framed by LF or NUL instead; nothing is dropped).",
        ["listener"],
        each("malformed_octet_counts"),
    )
    yield _counter(
        "logd_listener_lines_cut_early",
        "Unfinished lines recorded before their end, to keep what is held under max_partial_bytes.",
        ["listener"],
        each("lines_cut_early"),
    )
    yield _counter(
        "logd_listener_kernel_drops",
        "Datagrams the kernel dropped because the socket's receive buffer was full (UDP listeners).",
        ["listener"],
        [([name], figures["kernel_drops"]) for name, figures in listeners.items() if "kernel_drops" in figures],
    )


def _sinkMetrics(sinks: dict[str, Any]) -> Iterator[Metric]:
    def each(key: str, convert: Any = float) -> list[tuple[list[str], float]]:
        return [([name], convert(figures[key])) for name, figures in sinks.items()]

    def byListener(key: str) -> list[tuple[list[str], float]]:
        return [([name, listener], n) for name, figures in sinks.items() for listener, n in figures[key].items()]

    yield _counter("logd_sink_records_written", "Records written out, by the listener they came from.", ["sink", "listener"], byListener("records_written"))
    yield _gauge("logd_sink_records_buffered", "Records taken and not yet written.", ["sink", "listener"], byListener("records_buffered"))
    yield _counter(
        "logd_sink_records_discarded",
        "Records taken but never written: left in the buffer when the sink stopped (at shutdown or reload).",
        ["sink", "listener"],
        byListener("records_discarded"),
    )
    yield _counter("logd_sink_bytes_written", "Bytes written.", ["sink"], each("bytes_written"))
    yield _gauge("logd_sink_buffer_bytes", "Bytes waiting in the sink's buffer.", ["sink"], each("buffer_bytes"))
    yield _gauge("logd_sink_buffer_limit_bytes", "The sink's buffer limit (its buffer setting).", ["sink"], each("buffer_limit_bytes"))
    yield _gauge("logd_sink_full", "1 while the sink's buffer is over its limit (pausing its listeners, or dropping).", ["sink"], each("full"))
    yield _gauge("logd_sink_failing", "1 while the sink's writes fail (it keeps its buffer and retries).", ["sink"], each("failing", bool))
    yield _counter("logd_sink_write_errors", "Writes that failed.", ["sink"], each("write_errors"))
    yield _counter("logd_sink_rotations", "Files rotated (max_bytes).", ["sink"], each("rotations"))
    yield _counter("logd_sink_files_mended", "Files found ending inside a record and given an LF first.", ["sink"], each("files_mended"))


def _counter(name: str, documentation: str, labels: list[str], samples: list[tuple[list[str], float]]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _gauge(name: str, documentation: str, labels: list[str], samples: list[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(values, float(value))
    return family


def makeRegistry(service: Any) -> CollectorRegistry:
    """logd's metrics, and the process's (CPU, memory, descriptors) and Python's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LogdCollector(service))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry
