"""
RFC 5425 syslog over TLS to C{twistd -n logd}, sent by a real TLS client,
C{openssl s_client}, with a client certificate from the tests' own CA:
octet-counted frames, parsed, each record carrying the client's identity.
"""

from __future__ import annotations

import json
import os
import subprocess

from tests.e2e.helpers import LOGD, assertStopsOnSIGTERM, freePort, readFile, run, tool, waitFor
from tests.tls import CertificateAuthority


def test_openssl_s_client_sends_rfc5425_syslog(workdir: str, daemons) -> None:
    ca = CertificateAuthority(os.path.join(workdir, "tls"))
    ca.issue("server", dnsNames=("localhost",), ips=("127.0.0.1",))
    clientKey, clientCert, fingerprint = ca.issue("client1", dnsNames=("client1.example.com",))
    port = freePort()
    daemon = daemons(
        workdir,
        f"""
sinks:
  json: {{type: file, path: all.json, format: json}}
listeners:
  - name: syslog-tls
    endpoint: "tcp:{port}:interface=127.0.0.1"
    protocol: syslog
    sinks: [json]
    tls:
      cert: tls/server.pem
      key: tls/server.key
      ca: tls/test-ca.pem
      client_cert: required
      permitted_peers: ["{fingerprint}"]
""",
    )
    checked = run([LOGD, "check", daemon.config]).stdout.decode()
    assert "TLS, client certificates required" in checked
    messages = [b"<165>1 2026-12-02T10:00:00Z host app 42 ID47 - over TLS", b"<38>Dec  2 10:00:01 host sshd[7]: second"]
    framed = b"".join(b"%d %s" % (len(m), m) for m in messages)
    result = subprocess.run(
        [tool("openssl"), "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", ca.path, "-cert", clientCert, "-key", clientKey,
         "-verify_return_error", "-quiet", "-no_ign_eof"],
        input=framed,
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result
    path = os.path.join(workdir, "all.json")
    waitFor(lambda: readFile(path).count(b"\n") == 2, 10, daemon.describe)
    assertStopsOnSIGTERM(daemon)
    records = [json.loads(line) for line in readFile(path).splitlines()]
    assert [(r["app_name"], r["message"], r["tls_peer"]) for r in records] == [
        ("app", "over TLS", "client1.example.com"),
        ("sshd", "second", "client1.example.com"),
    ]


def test_logd_send_over_mutual_tls(workdir: str, daemons) -> None:
    """The shipped client talks to a TLS listener: --tls-ca checks the server, --tls-cert/--tls-key identify it."""
    ca = CertificateAuthority(os.path.join(workdir, "tls"))
    ca.issue("server", dnsNames=("localhost",), ips=("127.0.0.1",))
    clientKey, clientCert, _ = ca.issue("sender", dnsNames=("sender.example.com",))
    port = freePort()
    daemon = daemons(
        workdir,
        "sinks: {all: {type: file, path: all.log, template: '{tls_peer} {message}'}}\n"
        f'listeners: [{{name: t, endpoint: "tcp:{port}:interface=127.0.0.1", protocol: line, sinks: [all], '
        "tls: {cert: tls/server.pem, key: tls/server.key, ca: tls/test-ca.pem, client_cert: required}}]\n",
    )
    lines = b"".join(b"line %d\n" % i for i in range(500))
    run([LOGD, "send", "--to", f"tcp:127.0.0.1:{port}", "--tls-ca", ca.path, "--tls-cert", clientCert, "--tls-key", clientKey], input=lines)
    # Without a client certificate: refused by the listener, whatever the client makes of it.
    subprocess.run([LOGD, "send", "--to", f"tcp:127.0.0.1:{port}", "--tls-ca", ca.path], input=b"anonymous\n", capture_output=True, timeout=30)
    waitFor(lambda: "TLS: no client certificate" in daemon.stdout(), 10, daemon.describe)
    assertStopsOnSIGTERM(daemon)
    written = readFile(os.path.join(workdir, "all.log")).splitlines()
    assert written == [b"sender.example.com line %d" % i for i in range(500)]
