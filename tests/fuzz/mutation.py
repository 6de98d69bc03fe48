"""
A mutation fuzzer for everything in logd that parses hostile bytes: the
syslog parser, the C accelerator (against the pure-Python path it stands
in for), escaping, and the line and RFC 6587 framers.

Inputs start from the parse table's real-world messages and are mutated
(bytes flipped, inserted, deleted, spliced between messages, the bytes
that matter to the grammars sprinkled in, truncated) or are random.  Each
batch of inputs is checked:

  - C{parse} and C{priority} never raise, and agree on the PRI;
  - the accelerator and the pure-Python path write the same bytes for three
    templates and JSON;
  - escaping round-trips, and an escaped message is one line;
  - the framers give the same frames and counters whatever the chunking.

A bounded slice runs in CI (C{tests/unit/test_fuzz.py}: 100,000 inputs);
a long run is manual:

    .venv/bin/python -m tests.fuzz --count 10000000 --seed 1

It prints progress, and each failure (the input as a Python literal) as it
finds it; the exit status is 1 if there was any.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Iterator

from logd import fields as fieldsModule
from logd.fields import SyslogFields
from logd.inputs.framing import LineSplitter
from logd.inputs.syslogframing import SyslogFramer
from logd.outputs import formats
from logd.outputs.formats import Template, renderJSON
from logd.records import Batch, escape, unescape
from logd.syslog import parse, priority

TEMPLATES = (
    "{time} {hostname} {app_name}[{procid}]: {message}",
    "{facility}.{severity} {timestamp} {msgid} {structured_data} {parse_error} {message}",
    "{tls_peer} {peer} {message}",
)
SPICE = [
    b"<", b">", b"[", b"]", b'"', b"\\", b"=", b" ", b"-", b":", b"1 ", b"<13>", b"<191>", b"<192>", b"\x00",
    b"\n", b"\r", b"\r\n", b"\xff", b"\xef\xbb\xbf", b"\xc3", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xed\xa0\x80",
    b"2026-12-02T10:00:00Z", b"2026-12-02T10:00:00.123456+01:00", b"Dec  2 10:00:00", b"[a b=\"c\"]", b"[x@1 k=\"\\]\"]",
    b"9 ", b"999999999 ", b"0 ", b"\x7f", b"\t",
]
BATCH = 50


@dataclass
class Report:
    inputs: int = 0
    failures: list[str] = field(default_factory=list)


def seeds() -> list[bytes]:
    from tests.unit.test_syslog_parse import CASES

    return [raw for _, raw, _ in CASES]


def mutate(rng: random.Random, corpus: list[bytes]) -> bytes:
    choice = rng.random()
    if choice < 0.05:
        return rng.randbytes(rng.randrange(0, 120))
    data = bytearray(rng.choice(corpus))
    for _ in range(rng.randrange(1, 5)):
        op = rng.random()
        position = rng.randrange(0, len(data) + 1)
        if op < 0.3:
            data[position:position] = rng.choice(SPICE)
        elif op < 0.5 and data:
            data[min(position, len(data) - 1)] = rng.randrange(256)
        elif op < 0.65 and data:
            del data[position : position + rng.randrange(1, 8)]
        elif op < 0.8:
            other = rng.choice(corpus)
            cut = rng.randrange(0, len(other) + 1)
            data[position:] = other[cut:]
        elif op < 0.9:
            del data[position:]
        else:
            data[position:position] = rng.randbytes(rng.randrange(1, 6))
    return bytes(data)


def _pythonOnly(render: Callable[[], list[bytes]]) -> list[bytes]:
    saved = formats._fastsyslog
    formats._fastsyslog = fieldsModule._fastsyslog = None  # type: ignore[assignment]
    try:
        return render()
    finally:
        formats._fastsyslog = fieldsModule._fastsyslog = saved


def checkBatch(messages: list[bytes], rng: random.Random) -> Iterator[str]:
    for message in messages:
        try:
            parsed = parse(message)
            pri = priority(message)
        except Exception as e:  # noqa: BLE001 - the point: nothing may raise
            yield f"parse/priority raised {e!r} on {message!r}"
            continue
        if pri != parsed.facility * 8 + parsed.severity:
            yield f"priority {pri} but parse gives {parsed.facility}.{parsed.severity} for {message!r}"
        escaped = escape(message)
        if b"\n" in escaped or unescape(escaped) != message:
            yield f"escaping does not round-trip {message!r}"
    peer = rng.choice(["192.0.2.7:514", "[2001:db8::1]:6514", "-"])
    tlsPeer = rng.choice([None, "client1.example.com"])

    def render() -> list[bytes]:
        batch = lambda: Batch(1764151200.25, "fuzz", peer, messages, SyslogFields(messages, peer), tlsPeer)  # noqa: E731
        return [Template(t)(batch()) for t in TEMPLATES] + [renderJSON(batch())]

    try:
        fast = render()
        slow = _pythonOnly(render)
    except Exception as e:  # noqa: BLE001
        yield f"formatting raised {e!r} on {messages!r}"
        return
    for name, a, b in zip([*TEMPLATES, "json"], fast, slow):
        if a != b:
            culprits = [m for m in messages if _differs(name, m, peer)]
            yield f"C and Python differ for {name!r} on {culprits[:1] or messages!r}"
    yield from checkFramers(messages, rng)


def _differs(name: str, message: bytes, peer: str) -> bool:
    """Whether this one message alone comes out differently, to name the culprit."""

    def render() -> list[bytes]:
        batch = Batch(1.0, "f", peer, [message], SyslogFields([message], peer))
        return [renderJSON(batch) if name == "json" else Template(name)(batch)]

    return render() != _pythonOnly(render)


def checkFramers(messages: list[bytes], rng: random.Random) -> Iterator[str]:
    """The same frames and counters whatever the chunking, for a stream of these messages."""
    stream = b"".join(
        (b"%d %s" % (len(m), m)) if rng.random() < 0.5 else m + rng.choice([b"\n", b"\x00", b"\r\n"]) for m in messages
    )
    maxFrame = rng.choice([16, 64, 1024])
    results = []
    for chunked in (False, True):
        framer, splitter = SyslogFramer(maxFrame), LineSplitter(maxFrame)
        frames: list[bytes] = []
        lines: list[bytes] = []
        position = 0
        while position < len(stream):
            size = rng.randrange(1, 40) if chunked else len(stream)
            chunk = stream[position : position + size]
            position += size
            frames += framer.feed(chunk)
            lines += list(splitter.feed(chunk))
        frames += framer.finish()
        lines += splitter.finish()
        results.append((frames, framer.split_frames, framer.skipped_bytes, framer.bad_length_prefixes, lines, splitter.splitLines))
    if results[0] != results[1]:
        yield f"the framers depend on chunking for the stream {stream!r} (max {maxFrame})"


def run(count: int, seed: int, progress: Callable[[int, int], None] | None = None) -> Report:
    rng = random.Random(seed)
    corpus = seeds()
    report = Report()
    while report.inputs < count:
        messages = [mutate(rng, corpus) for _ in range(min(BATCH, count - report.inputs))]
        report.inputs += len(messages)
        report.failures.extend(checkBatch(messages, rng))
        if progress is not None:
            progress(report.inputs, len(report.failures))
    return report
