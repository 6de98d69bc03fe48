"""
What twistd calls: C{twistd [-n] logd --config FILE}.

The configuration is loaded and checked while twistd parses its options,
before it daemonizes, binds or opens anything, so a bad config is reported
on the terminal that started it, with every problem, and exit status 1.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.python import usage

from logd.config import Config, ConfigError, load
from logd.errors import StartupError
from logd.service import LogdService, buildService

DEFAULT_CONFIG = "/etc/logd/logd.yaml"


class Options(usage.Options):
    synopsis = "[--config FILE]"
    longdesc = "Receive log lines on the listeners a YAML file configures and write them to its sinks."
    optParameters = [["config", "c", DEFAULT_CONFIG, "The YAML configuration file."]]

    config: Config

    def postOptions(self) -> None:
        try:
            self.config = load(self["config"])
        except ConfigError as e:
            for problem in e.problems:
                sys.stderr.write(f"logd: {problem}\n")
            sys.stderr.flush()
            # Still parsing options: twistd has not forked, so exiting is safe.
            raise SystemExit(1) from None


def _reportStartupError(kind: type, value: BaseException, tb: Any, _default: Any = sys.excepthook) -> None:
    """
    A listener or sink that cannot start is one line on the real standard
    error (twistd has replaced C{sys.stderr} by then), not a traceback.
    """
    if isinstance(value, StartupError):
        os.write(2, f"logd: {value}\n".encode("utf-8", "backslashreplace"))
    else:
        _default(kind, value, tb)


def makeService(options: Options) -> LogdService:
    from twisted.internet import reactor

    sys.excepthook = _reportStartupError
    return buildService(options.config, reactor)
