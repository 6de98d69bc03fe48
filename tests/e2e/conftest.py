"""
Fixtures for the end-to-end tests: a short temporary directory (Unix socket
paths must stay under 107 bytes, and pytest's tmp_path can be longer) and a
factory that starts logd daemons and always kills them afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable, Iterator, Sequence

import pytest

from tests.e2e.helpers import TWISTD, Daemon, Listener, startDaemon


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


@pytest.fixture
def daemons() -> Iterator[Callable[..., Daemon]]:
    """
    C{start(directory, configText, twistdOptions)}: write the config, run
    C{twistd -n OPTIONS --pidfile= logd --config ...} and wait until it has
    started; killed at the end whatever happens.
    """
    started: list[Daemon] = []

    def start(
        directory: str,
        text: str,
        options: Sequence[str] = (),
        config: str | None = None,
        env: dict[str, str] | None = None,
        passFds: Sequence[int] = (),
        wrapper: Sequence[str] = (),
        ready: bool = True,
    ) -> Daemon:
        """
        C{config}: where to write the configuration (default
        C{DIRECTORY/logd.yaml}); twistd runs in C{directory}.  C{wrapper}
        goes before twistd's argv (C{systemd-socket-activate ...}); with
        C{ready=False} the caller waits for the start itself (the wrapper
        may exec twistd only once a client comes).
        """
        config = config or os.path.join(directory, "logd.yaml")
        with open(config, "w") as f:
            f.write(text)
        os.chmod(config, 0o644)
        command = [*wrapper, TWISTD, "-n", *options, "--pidfile=", "logd", "--config", config]
        daemon = Daemon(directory, {}, config, command, env=env, passFds=tuple(passFds))
        started.append(daemon)
        daemon.launch()
        if ready:
            assert daemon.waitReady(), daemon.describe()
        return daemon

    try:
        yield start
    finally:
        for daemon in started:
            daemon.kill()
