"""
Fixtures for the integration tests: the harness (with a short socket
directory and guaranteed clean-up) and a twisted.logger event recorder.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest
import pytest_twisted
from twisted.logger import globalLogPublisher

from tests.integration.helpers import Harness


@pytest.fixture
def logd(tmp_path: Path) -> Iterator[Harness]:
    """
    A harness whose services are stopped, and sockets and fds closed, when
    the test ends, whatever happened in it.
    """
    sockets = Path(tempfile.mkdtemp(prefix="logd-", dir="/tmp"))
    harness = Harness(tmp_path, sockets)
    try:
        yield harness
    finally:
        try:
            pytest_twisted.blockon(harness.cleanup())
        finally:
            shutil.rmtree(sockets, ignore_errors=True)


@pytest.fixture
def logEvents() -> Iterator[list[dict[str, Any]]]:
    """
    Every twisted.logger event emitted during the test.
    """
    events: list[dict[str, Any]] = []
    observer = events.append
    globalLogPublisher.addObserver(observer)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(observer)


@pytest.fixture(autouse=True)
def noUnhandledErrors(request: pytest.FixtureRequest) -> Iterator[None]:
    """
    Fail any test during which Twisted logged a traceback (an exception that
    escaped a protocol, a sink or a Deferred): whatever a client sends, logd
    must never crash a listener.

    A test of what happens when a custom protocol's own code raises marks
    itself C{@pytest.mark.raisesIn.with_args(ExceptionType)}: tracebacks of that type
    are then expected (at least one), and any other still fails the test.
    """
    marker = request.node.get_closest_marker("raisesIn")
    expected = marker.args[0] if marker is not None else None
    failures: list[dict[str, Any]] = []

    def observer(event: dict[str, Any]) -> None:
        if "log_failure" in event:
            failures.append(event)

    globalLogPublisher.addObserver(observer)
    try:
        yield
    finally:
        globalLogPublisher.removeObserver(observer)
    if expected is not None:
        raised = [e for e in failures if e["log_failure"].check(expected)]
        assert raised, f"the test expected a logged {expected.__name__}"
        failures = [e for e in failures if e not in raised]
    if failures:
        from twisted.logger import formatEvent

        details = "\n".join(
            f"{formatEvent(e)}\n{e['log_failure'].getTraceback()}" for e in failures[:3]
        )
        pytest.fail(f"{len(failures)} unhandled error(s) logged during the test:\n{details}", pytrace=False)
