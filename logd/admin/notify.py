"""
systemd's notification protocol (sd_notify(3)): datagrams of C{KEY=VALUE}
lines to the Unix socket named by C{NOTIFY_SOCKET}, so that a
C{Type=notify} unit knows when logd is ready, reloading or stopping, what
it is doing (C{STATUS=}) and that it is alive (C{WATCHDOG=1}).  With no
C{NOTIFY_SOCKET} (not run by systemd) every call does nothing.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Callable, Mapping

from twisted.internet.task import LoopingCall
from twisted.logger import Logger


class Notifier:
    log = Logger()

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        path = environ.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if path.startswith("@"):
            self.address = "\0" + path[1:]  # an abstract socket
        elif path.startswith("/"):
            self.address = path
        self.watchdogSeconds: float | None = None
        usec = environ.get("WATCHDOG_USEC")
        pid = environ.get("WATCHDOG_PID")
        if usec and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdogSeconds = int(usec) / 1e6
        self._socket: socket.socket | None = None
        self._watchdog: LoopingCall | None = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: Any) -> None:
        """Send C{fields} in one datagram: C{notify(READY=1, STATUS="...")}."""
        if self.address is None:
            return
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode("utf-8", "replace")
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(message, self.address)
        except OSError as e:
            if not self._failed:
                self._failed = True
                self.log.warn("cannot notify systemd at {address}: {error}", address=self.address, error=e)

    def ready(self, status: str) -> None:
        self.notify(READY=1, STATUS=status)

    def reloading(self) -> None:
        self.notify(RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def stopping(self) -> None:
        self.notify(STOPPING=1)

    def startWatchdog(self, clock: Any, status: Callable[[], str]) -> None:
        """C{WATCHDOG=1} (with the current C{STATUS=}) at half of C{WATCHDOG_USEC}, as systemd asks."""
        if self.address is None or self.watchdogSeconds is None or self._watchdog is not None:
            return
        self._watchdog = LoopingCall(lambda: self.notify(WATCHDOG=1, STATUS=status()))
        self._watchdog.clock = clock
        self._watchdog.start(self.watchdogSeconds / 2, now=True)

    def stopWatchdog(self) -> None:
        if self._watchdog is not None and self._watchdog.running:
            self._watchdog.stop()
        self._watchdog = None

    def close(self) -> None:
        self.stopWatchdog()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
