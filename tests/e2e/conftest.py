"""
Fixtures for the end-to-end tests: a short temporary directory (Unix socket
paths must stay under 107 bytes, and pytest's tmp_path can be longer) and a
factory that starts logd daemons and always kills them afterwards.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Callable, Iterator, Sequence

import pytest

from tests.e2e.helpers import Daemon, Listener, startDaemon


@pytest.fixture
def workdir() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="logd-e2e-", dir="/tmp")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def logd(workdir: str) -> Iterator[Callable[..., Daemon]]:
    """
    C{logd(listeners, reactor=None, rotate=None)} starts C{twistd -n logd}
    in C{workdir} and returns it once every listener is bound.
    """
    daemons: list[Daemon] = []

    def start(listeners: Sequence[Listener], reactor: str | None = None, rotate: dict | None = None, **kwargs) -> Daemon:
        return startDaemon(workdir, listeners, reactor=reactor, rotate=rotate, onStart=daemons.append, **kwargs)

    try:
        yield start
    finally:
        for daemon in daemons:
            daemon.kill()
