"""
Small helpers shared by the unit tests.

The protocol classes at the bottom are here so that configuration tests can
name them as custom protocols (C{"tests.unit.helpers:CustomLine"}): the
config loader imports them for real.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterable, Sequence

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from twisted.internet.protocol import DatagramProtocol, Protocol

from logd.config import ConfigError, load

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""Settings for property tests: enough examples to matter, no per-example deadline."""

# Bytes that exercise the rules: controls, backslashes, fragments of escapes,
# valid UTF-8 of every length, and invalid sequences (truncated, overlong,
# surrogates, stray continuation bytes, bytes never valid).
TRICKY = [
    b"\\", b"\\x41", b"\\n", b"\t", b"\r", b"\n", b"\r\n", b"\x00", b"\x1b", b"\x7f", b"\x0b",
    b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
    b"\xc0\x80", b"\xed\xa0\x80", b"\x80", b"\xbf", b"\xfe", b"\xff", b"\xf4\x90\x80\x80",
]
messages = st.one_of(
    st.binary(max_size=40),
    st.lists(
        st.one_of(st.sampled_from(TRICKY), st.text(max_size=6).map(str.encode), st.binary(max_size=4)),
        max_size=12,
    ).map(b"".join),
)
"""Messages: arbitrary bytes, and bytes built from pieces that exercise escaping."""


# Configuration files -------------------------------------------------------


def writeConfig(directory: Path, text: str, name: str = "logd.yaml") -> Path:
    """
    Write a YAML config (dedented, so tests can indent it naturally) and
    return its path.  Line 1 of the file is the first line of C{text} after
    a leading newline is dropped, so line numbers in tests match the text.
    """
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def sinkConfig(directory: Path, sink: str) -> Path:
    """
    A config whose sink C{s} is on line 2, used by a listener on line 4.
    """
    return writeConfig(
        directory,
        f"""
        sinks:
          s: {sink}
        listeners:
          - {{name: a, endpoint: "tcp:0", protocol: line, sinks: [s]}}
        """,
    )


def listenerConfig(tmp_path: Path, listener: str, sinks: str = "all: {type: stdout}") -> Path:
    """
    A config with one sink (line 2) and one flow-style listener on line 4.
    """
    return writeConfig(
        tmp_path,
        f"""
        sinks:
          {sinks}
        listeners:
          - {listener}
        """,
    )


def problemsOf(path: Path | str) -> list[str]:
    """
    The problems C{load} reports for a config that must be rejected.
    """
    try:
        load(str(path))
    except ConfigError as e:
        assert str(e) == "\n".join(e.problems)
        return e.problems
    raise AssertionError(f"{path} loaded although it should have been rejected")


def onlyProblem(path: Path | str) -> str:
    """
    The single problem of a config that has exactly one thing wrong: a
    second, spurious complaint is a bug too.
    """
    problems = problemsOf(path)
    assert len(problems) == 1, f"expected exactly one problem, got {problems}"
    return problems[0]


def assertProblem(problems: Sequence[str], path: Path | str, line: int, key: str, *words: str) -> str:
    """
    Assert that exactly one problem is reported as C{PATH:LINE: KEY: ...}
    and that its message mentions every one of C{words}; return it.
    """
    prefix = f"{path}:{line}: {key}: "
    matching = [p for p in problems if p.startswith(prefix)]
    assert len(matching) == 1, f"expected one problem starting {prefix!r}, got {list(problems)}"
    message = matching[0][len(prefix) :]
    for word in words:
        assert word in message, f"{word!r} not in {matching[0]!r}"
    return matching[0]


# Chunking ------------------------------------------------------------------


def everySplit(data: bytes) -> Iterable[list[bytes]]:
    """
    The stream whole, cut at every single boundary, and byte by byte.
    """
    yield [data]
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]
    yield [data[i : i + 1] for i in range(len(data))]


def chunked(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """
    C{data} cut at the given offsets (any order, out-of-range ones clamped).
    """
    points = sorted({min(max(c, 0), len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


# Custom protocol classes for configuration tests ----------------------------


class NotAProtocol:
    """A class, importable, but no Twisted protocol."""


class CustomLine(Protocol):
    """A custom stream protocol, as a user would write one."""


class CustomDatagram(DatagramProtocol):
    """A custom datagram protocol."""
