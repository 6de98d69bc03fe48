"""
Twisted's C{ssl:} endpoint on a default install (logd depends on
C{twisted[tls]}), with its key and certificate named relative to the
configuration file and twistd started from elsewhere.
"""

from __future__ import annotations

import os
import socket
import ssl

from tests.e2e.helpers import assertStopsOnSIGTERM, freePort, readRecords, waitFor
from tests.tls import makeServerCertificate


def test_ssl_listener_with_paths_beside_the_config(workdir: str, daemons) -> None:
    etc = os.path.join(workdir, "etc")  # twistd runs in workdir: tls/ is only beside the config
    _, certificate = makeServerCertificate(os.path.join(etc, "tls"))
    port = freePort()
    daemon = daemons(
        workdir,
        "sinks: {all: {type: file, path: ../all.log}}\n"
        f'listeners: [{{name: tls, endpoint: "ssl:{port}:interface=127.0.0.1:privateKey=tls/server.key:certKey=tls/server.pem", protocol: line, sinks: [all]}}]\n',
        config=os.path.join(etc, "logd.yaml"),
    )
    context = ssl.create_default_context(cafile=certificate)
    with socket.create_connection(("127.0.0.1", port)) as raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"over TLS\nsecond\n")
        tls.unwrap()
    log = os.path.join(workdir, "all.log")
    waitFor(lambda: len(readRecords(log)) == 2, 10, daemon.describe)
    assertStopsOnSIGTERM(daemon)
    assert [r.message for r in readRecords(log)] == [b"over TLS", b"second"]
