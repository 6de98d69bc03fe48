"""
The twistd plugin: C{twistd logd}.  The work is in L{logd.tap}.
"""

from twisted.application.service import ServiceMaker

logd = ServiceMaker(
    "logd",
    "logd.tap",
    "Receive log lines over TCP, UDP and Unix sockets and write them to files.",
    "logd",
)
