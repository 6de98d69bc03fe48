"""
Fuzzers for everything in logd that parses hostile bytes:
L{tests.fuzz.mutation} (seeded mutation, C{python -m tests.fuzz}) and
L{tests.fuzz.guided} (coverage-guided by atheris, C{python -m
tests.fuzz.guided}).  Both run the checks of L{tests.fuzz.mutation}.

This package imports nothing of logd, so that the guided fuzzer can
instrument logd's modules as it imports them.
"""
