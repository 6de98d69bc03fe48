"""
The coverage-guided half of the fuzzers: atheris (libFuzzer for Python)
drives the same checks as the mutation fuzzer, but keeps the inputs that
reach new branches of logd's Python parsing code and mutates those.

The Python modules that parse hostile bytes are instrumented, so coverage
steers the search through the RFC 5424/3164 grammar, the structured-data
reader, escaping and both framers; the C accelerator is reached through the
differential check (every batch rendered by C and by Python must give the
same bytes), so a branch where the two disagree is found through the Python
side's coverage of it.

One input is a batch: its first byte seeds the framers' chunking, the rest
is cut into messages at 0x1e (a byte no grammar gives meaning to), so
libFuzzer's own splicing makes multi-message batches.  A failing check
raises, and libFuzzer writes the input to C{crash-*} for a rerun:

    .venv/bin/python -m tests.fuzz.guided --corpus CORPUS_DIR -runs=10000000 -max_len=4096 CORPUS_DIR
    .venv/bin/python -m tests.fuzz.guided crash-1234abcd    # rerun one input

Arguments are libFuzzer's (C{-runs}, C{-max_total_time}, C{-jobs} ...).  CI
runs a bounded slice (C{tests/unit/test_fuzz.py}).
"""

from __future__ import annotations

import random
import sys

import atheris

with atheris.instrument_imports(include=["logd"]):
    import logd.fields  # noqa: F401
    import logd.inputs.framing  # noqa: F401
    import logd.inputs.syslogframing  # noqa: F401
    import logd.outputs.formats  # noqa: F401
    import logd.records  # noqa: F401
    import logd.syslog  # noqa: F401

from tests.fuzz.mutation import checkBatch  # noqa: E402

SEPARATOR = b"\x1e"


class FuzzFailure(AssertionError):
    """A check of L{tests.fuzz.checkBatch} failed on this input."""


def testOneInput(data: bytes) -> None:
    if not data:
        return
    rng = random.Random(data[0])
    messages = data[1:].split(SEPARATOR)[:50]
    failures = list(checkBatch(messages, rng))
    if failures:
        raise FuzzFailure("\n".join(failures[:3]))


def writeCorpus(directory: str) -> None:
    """Start a corpus from the parse table's real-world messages, one per file and all in one."""
    import os

    from tests.fuzz.mutation import seeds

    messages = seeds()
    os.makedirs(directory, exist_ok=True)
    for number, message in enumerate(messages):
        with open(os.path.join(directory, f"seed-{number:03d}"), "wb") as f:
            f.write(b"\x00" + message)
    with open(os.path.join(directory, "seed-all"), "wb") as f:
        f.write(b"\x01" + SEPARATOR.join(messages))


def main(argv: list[str]) -> None:
    if len(argv) > 2 and argv[1] == "--corpus":
        writeCorpus(argv[2])
        del argv[1:3]
    atheris.Setup(argv, testOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
