"""
Configuration for syslog (issue 4): C{protocol: syslog} on every listener
kind, sink templates and sink filters, as C{logd.config.load} checks them
and C{logd check} shows them.

As in test_config, every rejected config is a real file and every problem
is asserted with its file, line and key: that is what a user reads to fix
the config.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from logd import cli
from logd.config import load
from logd.fields import RECORD_FIELDS
from logd.filters import Filter
from logd.syslog import FACILITIES, SEVERITIES

from .helpers import assertProblem, onlyProblem, problemsOf, writeConfig

TEMPLATE = "{time} {hostname} {app_name}[{procid}]: {message}"


def templateConfig(tmp_path: Path, template: str, extra: str = "") -> Path:
    """
    A config whose sink C{s} has C{template} on line 5 (C{extra}, if any,
    is a further sink key on line 6).
    """
    return writeConfig(
        tmp_path,
        f"""
        sinks:
          s:
            type: file
            path: s.log
            template: {template}
            {extra}
        listeners:
          - {{name: a, endpoint: "tcp:0", protocol: syslog, sinks: [s]}}
        """,
    )


def filterConfig(tmp_path: Path, filterLines: str) -> Path:
    """
    A config whose sink C{s} has C{filter:} on line 4 and the filter's keys,
    one per line, from line 5; listeners C{a} (syslog over TCP) and C{b}
    (syslog over UDP) use it.
    """
    body = "\n".join("      " + line for line in textwrap.dedent(filterLines).strip().splitlines())
    return writeConfig(
        tmp_path,
        "sinks:\n"
        "  s:\n"
        "    type: stdout\n"
        "    filter:\n"
        f"{body}\n"
        "listeners:\n"
        '  - {name: a, endpoint: "tcp:0", protocol: syslog, sinks: [s]}\n'
        '  - {name: b, endpoint: "udp:0", protocol: syslog, sinks: [s]}\n',
    )


# protocol: syslog ------------------------------------------------------------


def test_syslogOnEveryListenerKind(tmp_path: Path) -> None:
    """
    C{protocol: syslog} is accepted on stream (TCP, Unix) and datagram (UDP,
    Unix datagram) listeners alike.
    """
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: stdout}
        listeners:
          - {name: t, endpoint: "tcp:0:interface=127.0.0.1", protocol: syslog, sinks: [all]}
          - {name: u, endpoint: "udp:0:interface=127.0.0.1", protocol: syslog, sinks: [all]}
          - {name: s, endpoint: "unix:s.sock", protocol: syslog, sinks: [all]}
          - {name: d, endpoint: "unixgram:d.dgram", protocol: syslog, sinks: [all]}
        """,
    )
    listeners = load(str(path)).listeners
    assert [(l.name, l.kind, l.protocol) for l in listeners] == [
        ("t", "stream", "syslog"),
        ("u", "udp", "syslog"),
        ("s", "stream", "syslog"),
        ("d", "unixgram", "syslog"),
    ]
    assert all(l.protocolClass is None for l in listeners)


def test_syslogProtocolNamedInUnknownProtocolError(tmp_path: Path) -> None:
    """A misspelt protocol lists syslog among the choices."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          all: {type: stdout}
        listeners:
          - {name: t, endpoint: "tcp:0", protocol: sylog, sinks: [all]}
        """,
    )
    assertProblem([onlyProblem(path)], path, 4, "listeners[0].protocol", "'sylog'", "syslog")


# Templates -------------------------------------------------------------------


def test_templateLoads(tmp_path: Path) -> None:
    """A template with known fields is kept as written, on a text sink."""
    path = templateConfig(tmp_path, f'"{TEMPLATE}"')
    sink = load(str(path)).sinks["s"]
    assert (sink.template, sink.format) == (TEMPLATE, "text")


def test_templateMayUseEveryRecordField(tmp_path: Path) -> None:
    """Every record field the issue lists may appear in a template."""
    assert set(RECORD_FIELDS) >= {
        "time", "listener", "peer", "message", "facility", "severity", "timestamp",
        "hostname", "app_name", "procid", "msgid", "structured_data", "parse_error",
    }
    template = " ".join("{%s}" % name for name in RECORD_FIELDS)
    path = templateConfig(tmp_path, f'"{template}"', extra="format: text")
    assert load(str(path)).sinks["s"].template == template


@pytest.mark.parametrize("field", ["host", "app", "MESSAGE", "message.upper", "0", ""])
def test_templateUnknownField(tmp_path: Path, field: str) -> None:
    """
    An unknown field name is an error on the template's line naming the
    field (attribute access, positional and empty fields are not fields).
    """
    path = templateConfig(tmp_path, f'"{{time}} {{{field}}}"')
    assertProblem([onlyProblem(path)], path, 5, "sinks.s.template", f"{{{field}}}")


@pytest.mark.parametrize(
    "template",
    ['"{time"', '"time}"', '"{time} }"', '"{message!z}"', '"{time:%Y}"', '"{"'],
    ids=["unclosed", "lone-close", "stray-close", "bad-conversion", "bad-spec", "lone-open"],
)
def test_templateBadSyntax(tmp_path: Path, template: str) -> None:
    """Bad braces, conversions or format specs are reported on the template's line."""
    path = templateConfig(tmp_path, template)
    assertProblem([onlyProblem(path)], path, 5, "sinks.s.template", "template")


@pytest.mark.parametrize("template", ['""', "5", "[a, b]"], ids=["empty", "number", "list"])
def test_templateNotAString(tmp_path: Path, template: str) -> None:
    """A template must be a non-empty string."""
    path = templateConfig(tmp_path, template)
    assertProblem([onlyProblem(path)], path, 5, "sinks.s.template")


def test_templateEscapedBracesAllowed(tmp_path: Path) -> None:
    """Doubled braces are literal braces, not fields."""
    path = templateConfig(tmp_path, '"{{{message}}}"')
    assert load(str(path)).sinks["s"].template == "{{{message}}}"


def test_templateWithJSONFormat(tmp_path: Path) -> None:
    """A template writes text: asking for json too is an error on the template's line."""
    path = templateConfig(tmp_path, f'"{TEMPLATE}"', extra="format: json")
    assertProblem([onlyProblem(path)], path, 5, "sinks.s.template", "json")


def test_templateOnStdoutSink(tmp_path: Path) -> None:
    """Templates are not file-only."""
    path = writeConfig(
        tmp_path,
        f"""
        sinks:
          s: {{type: stdout, template: "{TEMPLATE}"}}
        listeners:
          - {{name: a, endpoint: "udp:0", protocol: syslog, sinks: [s]}}
        """,
    )
    assert load(str(path)).sinks["s"].template == TEMPLATE


# Filters ---------------------------------------------------------------------


def test_filterLoads(tmp_path: Path) -> None:
    """Every filter key, turned into codes and a compiled bytes pattern."""
    path = filterConfig(
        tmp_path,
        """
        severity: warning
        facility: [auth, authpriv, local7]
        listener: [a, b]
        match: "fail(ed|ure)"
        """,
    )
    f = load(str(path)).sinks["s"].filter
    assert isinstance(f, Filter)
    assert f.severity == SEVERITIES.index("warning") == 4
    assert f.facilities == frozenset({4, 10, 23})
    assert f.listeners == frozenset({"a", "b"})
    assert f.match is not None and f.match.pattern == b"fail(ed|ure)"


def test_filterSingleNames(tmp_path: Path) -> None:
    """A lone facility or listener name needs no list."""
    path = filterConfig(tmp_path, "facility: kern\nlistener: b")
    f = load(str(path)).sinks["s"].filter
    assert (f.severity, f.facilities, f.listeners, f.match) == (None, frozenset({0}), frozenset({"b"}), None)


def test_filterAllKeywords(tmp_path: Path) -> None:
    """Every RFC 5424 severity and facility keyword is accepted, at its code."""
    for code, name in enumerate(SEVERITIES):
        path = filterConfig(tmp_path, f"severity: {name}")
        assert load(str(path)).sinks["s"].filter.severity == code
    path = filterConfig(tmp_path, f"facility: [{', '.join(FACILITIES)}]")
    assert load(str(path)).sinks["s"].filter.facilities == frozenset(range(24))


def test_noFilter(tmp_path: Path) -> None:
    """A sink without a filter has none (the fast path)."""
    path = templateConfig(tmp_path, f'"{TEMPLATE}"')
    assert load(str(path)).sinks["s"].filter is None


@pytest.mark.parametrize(
    "filterLines, line, key, words",
    [
        ("listener: a\nseverity: warn", 6, "severity", ["'warn'", "warning"]),
        ("severity: err\nfacility: [auth, local8]", 6, "facility", ["'local8'"]),
        ('listener: a\nmatch: "fail(ed"', 6, "match", ["regular expression"]),
        ("severity: err\nlevel: err", 6, "level", ["unknown key"]),
    ],
    ids=["severity", "facility", "bad-regex", "unknown-key"],
)
def test_filterProblemAtItsKey(tmp_path: Path, filterLines: str, line: int, key: str, words: list[str]) -> None:
    """
    A bad filter setting is reported like every other nested key: on the
    line of the offending key, as C{sinks.s.filter.KEY} (as
    C{sinks.s.filter.listener} is), so a block-style filter points at the
    exact line to fix.
    """
    path = filterConfig(tmp_path, filterLines)
    assertProblem([onlyProblem(path)], path, line, f"sinks.s.filter.{key}", *words)


@pytest.mark.parametrize(
    "flow, words",
    [
        ("{severity: warn}", ["warn"]),
        ("{severity: 4}", ["4"]),
        ("{facility: [nope]}", ["nope"]),
        ("{facility: []}", ["facility"]),
        ('{match: "("}', ["regular expression"]),
        ("{match: 5}", ["regular expression"]),
        ("{sevrity: err}", ["sevrity"]),
        ("warning", ["mapping"]),
    ],
)
def test_flowFilterProblemOnItsLine(tmp_path: Path, flow: str, words: list[str]) -> None:
    """
    A flow-style filter on one line: every problem is on that line, under
    the sink's filter key, with the bad value or key in the message.
    """
    path = writeConfig(
        tmp_path,
        f"""
        sinks:
          s: {{type: stdout, filter: {flow}}}
        listeners:
          - {{name: a, endpoint: "tcp:0", protocol: syslog, sinks: [s]}}
        """,
    )
    problem = onlyProblem(path)
    assert problem.startswith(f"{path}:2: sinks.s.filter"), problem
    for word in words:
        assert word in problem


def test_everyFilterProblemReported(tmp_path: Path) -> None:
    """
    Like everything else in a config, every bad filter key is reported in
    one run, each on its own line: not only the first one found.
    """
    path = filterConfig(tmp_path, "severity: warn\nfacility: [nope]\nmatch: \"(\"")
    problems = problemsOf(path)
    assert len(problems) == 3, problems
    assertProblem(problems, path, 5, "sinks.s.filter.severity", "'warn'")
    assertProblem(problems, path, 6, "sinks.s.filter.facility", "'nope'")
    assertProblem(problems, path, 7, "sinks.s.filter.match", "regular expression")


def test_filterUnknownListener(tmp_path: Path) -> None:
    """
    A filter naming a listener that the config does not define is an error
    on the listener key's line, one problem per unknown name.
    """
    path = filterConfig(tmp_path, "severity: err\nlistener: [a, ghost, b, phantom]")
    assert sorted(problemsOf(path)) == [
        f"{path}:6: sinks.s.filter.listener: unknown listener 'ghost'",
        f"{path}:6: sinks.s.filter.listener: unknown listener 'phantom'",
    ]


def test_filterListenerDefinedLater(tmp_path: Path) -> None:
    """
    Sinks come before listeners in the file, yet a filter may name any
    listener of the config; a listener that is itself broken is still a
    name the filter may use (one problem: the broken listener's).
    """
    path = writeConfig(
        tmp_path,
        """
        sinks:
          s: {type: stdout, filter: {listener: [late, broken]}}
        listeners:
          - {name: late, endpoint: "tcp:0", protocol: syslog, sinks: [s]}
          - {name: broken, endpoint: "tcp:x", protocol: syslog, sinks: [s]}
        """,
    )
    assertProblem([onlyProblem(path)], path, 5, "listeners[1].endpoint")


def test_severalSyslogProblemsAtOnce(tmp_path: Path) -> None:
    """One run reports the template, the filter and the listener reference problems together."""
    path = writeConfig(
        tmp_path,
        """
        sinks:
          t: {type: stdout, template: "{time} {host}"}
          j: {type: stdout, format: json, template: "{message}"}
          f: {type: stdout, filter: {listener: [nobody]}}
        listeners:
          - {name: a, endpoint: "tcp:0", protocol: syslog, sinks: [t, j, f]}
        """,
    )
    problems = problemsOf(path)
    assert len(problems) == 3, problems
    assertProblem(problems, path, 2, "sinks.t.template", "{host}")
    assertProblem(problems, path, 3, "sinks.j.template", "json")
    assertProblem(problems, path, 4, "sinks.f.filter.listener", "'nobody'")


# logd check --------------------------------------------------------------------


def test_checkDescribesTemplatesAndFilters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """
    logd check shows a sink's template as written and says which sinks are
    filtered; a plain sink shows its format and no filter; syslog listeners
    show their protocol.
    """
    path = writeConfig(
        tmp_path,
        f"""
        sinks:
          tpl: {{type: file, path: t.log, template: "{TEMPLATE}"}}
          auth: {{type: file, path: a.log, format: json, filter: {{severity: warning, facility: [auth, authpriv]}}}}
          plain: {{type: stdout}}
        listeners:
          - {{name: sys, endpoint: "udp:0:interface=127.0.0.1", protocol: syslog, sinks: [tpl, auth, plain]}}
        """,
    )
    assert cli.main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"{path}: OK"
    described = {re.match(r"\s*(?:sink|listener) '([^']+)'", line).group(1): line for line in lines[1:]}
    assert set(described) == {"tpl", "auth", "plain", "sys"}
    assert repr(TEMPLATE) in described["tpl"]
    assert "filter" not in described["tpl"]
    assert "json" in described["auth"] and "filter" in described["auth"]
    assert "text" in described["plain"] and "filter" not in described["plain"]
    assert "(syslog)" in described["sys"]


def test_checkReportsSyslogProblems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """logd check exits 1 and prints the template problem with its line."""
    path = templateConfig(tmp_path, '"{time} {nope}"')
    assert cli.main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{path}:5: sinks.s.template: unknown field {{nope}}" in err
