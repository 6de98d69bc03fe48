"""
The bounded CI slice of the fuzzer (L{tests.fuzz}): 100,000 mutated and
random inputs through the parser, the accelerator against Python,
escaping and the framers.  Long runs are manual: C{python -m tests.fuzz}.
"""

from __future__ import annotations

import zlib

from logd.outputs import formats
from tests.fuzz import mutation as fuzz

import logd._fastsyslog as accelerator


class Mangling:
    """An accelerator that mangles one byte of what it renders: a bug the fuzzers must catch."""

    def __getattr__(self, name: str) -> object:
        return getattr(accelerator, name)

    @staticmethod
    def render(*args: object) -> bytes:
        return accelerator.render(*args).replace(b"a", b"b", 1)


def test_fuzzSlice() -> None:
    # A different seed every day, the same all day: a failure can be rerun.
    import datetime

    seed = zlib.crc32(datetime.date.today().isoformat().encode())
    report = fuzz.run(100_000, seed)
    assert report.inputs == 100_000
    assert not report.failures, f"seed {seed}: " + "\n".join(report.failures[:5])


def test_fuzzerFindsAnAcceleratorThatDiffers(monkeypatch) -> None:
    """The fuzzer can fail: an accelerator that mangles one byte is caught within a few thousand inputs."""
    monkeypatch.setattr(formats, "_fastsyslog", Mangling())
    report = fuzz.run(2_000, 7)
    assert any("C and Python differ" in failure for failure in report.failures)


def test_guidedSlice(tmp_path) -> None:
    """A bounded atheris run over the instrumented parsers: it must find coverage, keep inputs and fail nothing."""
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.guided", "--corpus", str(corpus), "-runs=4000", "-max_len=2048", "-seed=1", str(corpus)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    done = [line for line in result.stderr.splitlines() if "DONE" in line]
    assert done, result.stderr[-3000:]
    coverage = int(done[-1].split("cov: ")[1].split()[0])
    assert coverage > 200, done[-1]  # the parsers' branches are instrumented, not just the harness
    assert len(list(corpus.iterdir())) > 150  # the seeds, plus inputs kept for new coverage


def test_guidedHarnessFailsOnADifference(monkeypatch) -> None:
    """The guided harness raises (so libFuzzer saves the input) when C and Python differ."""
    import pytest

    from tests.fuzz import guided

    guided.testOneInput(b"\x00<13>Dec  2 10:00:00 host app: a message")
    monkeypatch.setattr(formats, "_fastsyslog", Mangling())
    with pytest.raises(guided.FuzzFailure, match="C and Python differ"):
        guided.testOneInput(b"\x00<13>Dec  2 10:00:00 host app: a message")
