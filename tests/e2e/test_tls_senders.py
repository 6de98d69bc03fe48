"""
The syslog daemons people forward with, over TLS to logd (RFC 5425): rsyslog's
omfwd with its OpenSSL stream driver (C{StreamDriver="ossl"},
C{StreamDriverAuthMode="x509/name"}) and syslog-ng's syslog() destination with
C{transport("tls")}, both presenting a client certificate from the tests' own
CA and checking logd's.  Each message arrives parsed, with the sender's
verified identity as tls_peer.
"""

from __future__ import annotations

import os

from tests.e2e.helpers import Listener
from tests.e2e.test_syslog_senders import (  # noqa: F401 - fixtures
    HOST,
    IPV4_PEER,
    ISO_TIMESTAMP,
    SD_ARGS,
    SD_WITH_TQ,
    Peers,
    assertRecords,
    logger,
    peers,
    rsyslogArgv,
    startLogd,
    startPeer,
    startedPeers,
    stopAndRead,
    syslogNgArgv,
    syslogRecord,
    waitForJSON,
)
from tests.tls import CertificateAuthority


def tlsListener(workdir: str) -> tuple[Listener, CertificateAuthority]:
    ca = CertificateAuthority(os.path.join(workdir, "tls"))
    key, cert, _ = ca.issue("server", dnsNames=("localhost", "127.0.0.1"), ips=("127.0.0.1",), commonName="127.0.0.1")
    tls = {"cert": cert, "key": key, "ca": ca.path, "client_cert": "required", "permitted_peers": ["*.example.com"]}
    return Listener("fwd", "tcp", protocol="syslog", tls=tls), ca


def expected(pids: list[int], texts: list[str], facility: str, severity: str, sender: str) -> list[dict]:
    records = []
    for pid, text in zip(pids, texts):
        record = syslogRecord(
            listener="fwd", peer=IPV4_PEER, facility=facility, severity=severity, timestamp=ISO_TIMESTAMP, hostname=HOST,
            app_name="relayed", procid=str(pid), msgid="ID47", structured_data=SD_WITH_TQ, message=text,
        )  # fmt: skip
        record["tls_peer"] = sender
        records.append(record)
    return records


RSYSLOG_TLS_CONFIG = """\
global(workDirectory="{directory}" net.enableDNS="off"
       DefaultNetstreamDriverCAFile="{ca}" DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{inputPort}" ruleset="forward")
ruleset(name="forward") {{
  action(type="omfwd" target="127.0.0.1" port="{logdPort}" protocol="tcp" TCP_Framing="octet-counted"
         StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="127.0.0.1"
         template="RSYSLOG_SyslogProtocol23Format")
}}
"""


def test_rsyslog_omfwd_over_tls(logd, peers: Peers, workdir: str, startedPeers) -> None:
    listener, ca = tlsListener(workdir)
    daemon = startLogd(logd, listener)
    key, cert, _ = ca.issue("rsyslog", dnsNames=("rsyslog.example.com",))

    def argv(directory: str, port: int) -> list[str]:
        config = os.path.join(directory, "rsyslog.conf")
        with open(config, "w") as f:
            f.write(RSYSLOG_TLS_CONFIG.format(directory=directory, ca=ca.path, cert=cert, key=key, inputPort=port, logdPort=daemon.port("fwd")))
        return rsyslogArgv(peers, directory, config)

    rsyslog, port = startPeer(workdir, "rsyslogd", argv, None, startedPeers)
    texts = ["hello through rsyslog over TLS", "a second message"]
    pids = [logger("-n", "127.0.0.1", "-P", str(port), "-d", "--rfc5424", "--msgid", "ID47", *SD_ARGS, "-p", "local5.alert", "-t", "relayed", "-i", t) for t in texts]
    waitForJSON(daemon, "fwd", len(texts))
    assert rsyslog.stop() == 0, rsyslog.describe()
    assertRecords(stopAndRead(daemon, "fwd"), expected(pids, texts, "local5", "alert", "rsyslog.example.com"), f"rsyslog's output:\n{rsyslog.output()}")


SYSLOG_NG_TLS_CONFIG = """\
@version: {version}
options {{ use-dns(no); use-fqdn(no); dns-cache(no); stats-freq(0); keep-hostname(yes); }};
source s_in {{ syslog(ip("127.0.0.1") port({inputPort}) transport("udp")); }};
destination d_logd {{
  syslog("127.0.0.1" port({logdPort}) transport("tls")
         tls(ca-file("{ca}") cert-file("{cert}") key-file("{key}") peer-verify(required-trusted)));
}};
log {{ source(s_in); destination(d_logd); }};
"""


def test_syslog_ng_tls_destination(logd, peers: Peers, workdir: str, startedPeers) -> None:
    listener, ca = tlsListener(workdir)
    daemon = startLogd(logd, listener)
    key, cert, _ = ca.issue("syslog-ng", dnsNames=("syslog-ng.example.com",))
    env = dict(os.environ, LD_LIBRARY_PATH=peers.syslogNgLibs)

    def argv(directory: str, port: int) -> list[str]:
        config = os.path.join(directory, "syslog-ng.conf")
        with open(config, "w") as f:
            f.write(SYSLOG_NG_TLS_CONFIG.format(version=peers.syslogNgVersion, ca=ca.path, cert=cert, key=key, inputPort=port, logdPort=daemon.port("fwd")))
        return syslogNgArgv(peers, directory, config)

    syslogNg, port = startPeer(workdir, "syslog-ng", argv, env, startedPeers)
    texts = ["hello through syslog-ng over TLS", "a second message"]
    pids = [logger("-n", "127.0.0.1", "-P", str(port), "-d", "--rfc5424", "-p", "ftp.notice", "-t", "relayed", "-i", "--msgid", "ID47", *SD_ARGS, t) for t in texts]
    waitForJSON(daemon, "fwd", len(texts))
    assert syslogNg.stop() == 0, syslogNg.describe()
    assertRecords(stopAndRead(daemon, "fwd"), expected(pids, texts, "ftp", "notice", "syslog-ng.example.com"), f"syslog-ng's output:\n{syslogNg.output()}")
