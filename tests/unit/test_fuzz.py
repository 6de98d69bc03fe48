"""
The bounded CI slice of the fuzzer (L{tests.fuzz}): 100,000 mutated and
random inputs through the parser, the accelerator against Python,
escaping and the framers.  Long runs are manual: C{python -m tests.fuzz}.
"""

from __future__ import annotations

import zlib

from logd.outputs import formats
from tests import fuzz


def test_fuzzSlice() -> None:
    # A different seed every day, the same all day: a failure can be rerun.
    import datetime

    seed = zlib.crc32(datetime.date.today().isoformat().encode())
    report = fuzz.run(100_000, seed)
    assert report.inputs == 100_000
    assert not report.failures, f"seed {seed}: " + "\n".join(report.failures[:5])


def test_fuzzerFindsAnAcceleratorThatDiffers(monkeypatch) -> None:
    """The fuzzer can fail: an accelerator that mangles one byte is caught within a few thousand inputs."""
    import logd._fastsyslog as accelerator

    class Mangling:
        def __getattr__(self, name: str) -> object:
            return getattr(accelerator, name)

        @staticmethod
        def render(*args: object) -> bytes:
            return accelerator.render(*args).replace(b"a", b"b", 1)

    monkeypatch.setattr(formats, "_fastsyslog", Mangling())
    report = fuzz.run(2_000, 7)
    assert any("C and Python differ" in failure for failure in report.failures)
