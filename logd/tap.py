"""
What twistd calls: C{twistd [-n] logd --config FILE}.

The configuration is loaded and checked while twistd parses its options,
before it daemonizes, binds or opens anything, so a bad config is reported
on the terminal that started it, with every problem, and exit status 1.
"""

from __future__ import annotations

import os
import pwd
import sys
from typing import Any

from twisted.python import usage

from logd import __version__
from logd.config import Config, ConfigError, load
from logd.errors import StartupError
from logd.files import RunAs
from logd.service import LogdService, buildService

DEFAULT_CONFIG = "/etc/logd/logd.yaml"


class Options(usage.Options):
    synopsis = "[--config FILE]"
    longdesc = "Receive log lines on the listeners a YAML file configures and write them to its sinks."
    optParameters = [["config", "c", DEFAULT_CONFIG, "The YAML configuration file."]]

    config: Config

    def opt_version(self) -> None:
        """Print logd's version (and Twisted's) and exit."""
        from twisted import version

        print(f"logd {__version__} (Twisted {version.short()})")
        raise SystemExit(0)

    def postOptions(self) -> None:
        try:
            self.config = load(self["config"])
        except ConfigError as e:
            for problem in e.problems:
                sys.stderr.write(f"logd: {problem}\n")
            sys.stderr.flush()
            # Still parsing options: twistd has not forked, so exiting is safe.
            raise SystemExit(1) from None


def _quietStartupError(kind: type, value: BaseException, tb: Any, _default: Any = sys.excepthook) -> None:
    """
    A listener or sink that cannot start has been reported where it
    happened (L{LogdService._reportStartupError}): no traceback after it.
    """
    if not isinstance(value, StartupError):
        _default(kind, value, tb)


def runAs(twistdOptions: Any) -> RunAs | None:
    """
    Whom twistd will run as after binding, by the same rules twistd applies
    (C{-u} alone means that user's group), if it is going to switch at all.
    """
    if twistdOptions is None or os.getuid() != 0:
        return None
    uid, gid = twistdOptions.get("uid"), twistdOptions.get("gid")
    if uid is None and gid is None:
        return None
    if uid is None:
        uid = os.getuid()
    if gid is None:
        gid = pwd.getpwuid(uid).pw_gid
    return RunAs(uid, gid)


def makeService(options: Options) -> LogdService:
    from twisted.internet import reactor

    sys.excepthook = _quietStartupError
    from logd.admin.notify import Notifier

    from logd.admin.daemonlog import install

    twistdOptions = getattr(options, "parent", None)
    service = buildService(options.config, reactor, runAs=runAs(twistdOptions), notifier=Notifier())
    service.daemonLog = install(reactor, twistdOptions)
    # Taken now, before twistd daemonizes and points fd 2 at /dev/null.
    service.reportTo = os.dup(2)
    return service
