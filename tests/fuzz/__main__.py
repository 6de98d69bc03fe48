"""C{python -m tests.fuzz --count N --seed S}: a long fuzzing run (see L{tests.fuzz.mutation})."""

from __future__ import annotations

import argparse
import sys
import time

from tests.fuzz.mutation import run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz")
    parser.add_argument("--count", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    started = time.monotonic()
    last = [started]

    def progress(done: int, failures: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 10 or done == args.count:
            last[0] = now
            print(f"{done:,} inputs, {failures} failures, {done / (now - started):,.0f}/s", file=sys.stderr)

    report = run(args.count, args.seed, progress)
    for failure in report.failures[:50]:
        print(failure)
    print(f"seed {args.seed}: {report.inputs:,} inputs, {len(report.failures)} failures in {time.monotonic() - started:.0f}s")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
