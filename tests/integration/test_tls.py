"""
TLS listeners with real certificates (made here by a CA of the tests' own)
and real clients: Python's ssl module, in a thread, as an application
would send.  The certificate matrix: no certificate, expired, another CA,
a name not permitted, a wildcard, a CN-only certificate, a fingerprint;
plain text on a TLS port; a handshake never finished; the identity in
every record (tls_peer) in JSON and templates; renewed files picked up.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from logd.inputs import tls
from tests.integration.helpers import Harness, boundAddress, readRecords, waitFor
from tests.tls import CertificateAuthority


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    ca = CertificateAuthority(str(tmp_path / "pki"))
    other = CertificateAuthority(str(tmp_path / "other"), "Other CA")
    made: dict[str, Any] = {"ca": ca, "other": other}
    made["server"] = ca.issue("server", dnsNames=("localhost",), ips=("127.0.0.1",))
    made["client1"] = ca.issue("client1", dnsNames=("client1.example.com",))
    made["wild"] = ca.issue("wild", dnsNames=("a.good.example.com",))
    made["deep"] = ca.issue("deep", dnsNames=("x.a.good.example.com",))
    made["cnonly"] = ca.issue("cnonly", commonName="client1.example.com")
    made["intruder"] = ca.issue("intruder", dnsNames=("intruder.example.com",))
    made["printed"] = ca.issue("printed", dnsNames=("printed.example.com",))
    made["expired"] = ca.issue("expired", dnsNames=("client1.example.com",), expired=True)
    made["ipsan"] = ca.issue("ipsan", ips=("192.0.2.10",), commonName="not-a-name")
    made["foreign"] = other.issue("foreign", dnsNames=("client1.example.com",))
    return made


def tlsListener(logd: Harness, pki: dict[str, Any], **settings: Any) -> dict[str, Any]:
    key, cert, _ = pki["server"]
    block = {"cert": cert, "key": key, "ca": pki["ca"].path, "client_cert": "required", **settings}
    return {"name": "tls", "endpoint": logd.endpoint("tcp"), "protocol": "line", "sinks": ["out", "json", "who"], "tls": block}


def sinks(logd: Harness) -> dict[str, Any]:
    return {
        "out": logd.fileSink(),
        "json": logd.fileSink("json", "json"),
        "who": {**logd.fileSink("who"), "template": "{tls_peer} {message}"},
    }


def send(port: int, ca: str, client: tuple[str, str, str] | None, data: bytes) -> str:
    """
    A blocking Python ssl client (run in a thread): connect, handshake,
    send, half-close, read until the server closes.  Returns how it ended.
    """
    context = ssl.create_default_context(cafile=ca)
    if client is not None:
        context.load_cert_chain(client[1], client[0])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(4096):
                    pass
        except (ssl.SSLError, OSError) as e:
            return f"error: {e}"
    return "ok"


def refused(service: Any) -> dict[str, int]:
    return service.listeners[0].factory.router.stats.refused


PERMITTED = ["client1.example.com", "*.good.example.com"]


@pytest_twisted.ensureDeferred
async def test_certificateMatrix(logd: Harness, pki: dict[str, Any]) -> None:
    permitted = PERMITTED + [pki["printed"][2], "192.0.2.10"]
    service = logd.start(sinks(logd), [tlsListener(logd, pki, permitted_peers=permitted)])
    port = boundAddress(service).port
    ca = pki["ca"].path
    cases = [
        ("client1", True),
        ("wild", True),
        ("cnonly", True),
        ("printed", True),
        ("ipsan", True),
        (None, False),
        ("expired", False),
        ("foreign", False),
        ("intruder", False),
        ("deep", False),
    ]
    for name, _ in cases:
        await deferToThread(send, port, ca, pki[name] if name else None, f"from {name}\n".encode())
    await waitFor(lambda: len(readRecords(logd.tmp / "out.log")) == 5, "the five permitted clients' records")
    await logd.stop(service)
    records = [json.loads(line) for line in (logd.tmp / "json.log").read_text().splitlines()]
    assert {(r["message"], r.get("tls_peer")) for r in records} == {
        ("from client1", "client1.example.com"),
        ("from wild", "a.good.example.com"),
        ("from cnonly", "client1.example.com"),
        ("from printed", "printed.example.com"),
        ("from ipsan", "192.0.2.10"),
    }
    assert sorted((logd.tmp / "who.log").read_text().splitlines()) == sorted(
        ["client1.example.com from client1", "a.good.example.com from wild", "client1.example.com from cnonly", "printed.example.com from printed", "192.0.2.10 from ipsan"]
    )
    assert refused(service) == {tls.NO_CERTIFICATE: 1, tls.UNTRUSTED: 2, tls.NOT_PERMITTED: 2}


@pytest_twisted.ensureDeferred
async def test_optionalClientCertificateAndNoPeerField(logd: Harness, pki: dict[str, Any]) -> None:
    """client_cert: optional: without a certificate a client is let in, with tls_peer "-" in templates and no key in JSON."""
    service = logd.start(sinks(logd), [tlsListener(logd, pki, client_cert="optional")])
    port = boundAddress(service).port
    assert await deferToThread(send, port, pki["ca"].path, None, b"anonymous\n") == "ok"
    assert await deferToThread(send, port, pki["ca"].path, pki["client1"], b"named\n") == "ok"
    await waitFor(lambda: len(readRecords(logd.tmp / "out.log")) == 2, "both records")
    await logd.stop(service)
    assert sorted((logd.tmp / "who.log").read_text().splitlines()) == ["- anonymous", "client1.example.com named"]
    records = {r["message"]: r for r in map(json.loads, (logd.tmp / "json.log").read_text().splitlines())}
    assert "tls_peer" not in records["anonymous"] and records["named"]["tls_peer"] == "client1.example.com"


@pytest_twisted.ensureDeferred
async def test_plainTextOnATLSPortAndAnUnfinishedHandshake(logd: Harness, pki: dict[str, Any]) -> None:
    service = logd.start(sinks(logd), [tlsListener(logd, pki, client_cert="none", handshake_timeout="300ms")])
    address = boundAddress(service)

    def plain() -> bytes:
        with socket.create_connection((address.host, address.port), timeout=10) as sock:
            sock.sendall(b"hello in plain text\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            return data

    def silent() -> bytes:
        """Connect and say nothing: closed (reset) at the handshake deadline."""
        with socket.create_connection((address.host, address.port), timeout=10) as sock:
            try:
                return sock.recv(4096)
            except ConnectionResetError:
                return b""

    await deferToThread(plain)
    assert await deferToThread(silent) == b""
    await logd.stop(service)
    assert readRecords(logd.tmp / "out.log") == []
    assert refused(service) == {tls.HANDSHAKE_FAILED: 1, tls.HANDSHAKE_TIMEOUT: 1}


@pytest_twisted.ensureDeferred
async def test_renewedCertificateIsPickedUp(logd: Harness, pki: dict[str, Any], tmp_path: Path) -> None:
    """
    The server's certificate renewed by rename, as certbot does: new
    connections get the new certificate within a second (here: after
    SIGHUP's reload, the same check), open ones carry on; a renewal that
    leaves a key that does not match keeps the old pair.
    """
    live = tmp_path / "live"
    live.mkdir()
    key, cert, _ = pki["server"]
    shutil.copy(key, live / "server.key")
    shutil.copy(cert, live / "server.pem")
    spec = tlsListener(logd, pki, client_cert="none")
    spec["tls"].update(cert=str(live / "server.pem"), key=str(live / "server.key"))
    service = logd.start(sinks(logd), [spec])
    port = boundAddress(service).port
    factory = service.listeners[0].factory

    def serverSerial() -> int:
        context = ssl.create_default_context(cafile=pki["ca"].path)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, context.wrap_socket(raw, server_hostname="localhost") as sock:
            return int(sock.getpeercert()["serialNumber"], 16)

    first = await deferToThread(serverSerial)
    newKey, newCert, _ = pki["ca"].issue("server2", dnsNames=("localhost",), ips=("127.0.0.1",))
    shutil.copy(newKey, live / "server.key.new")
    shutil.copy(newCert, live / "server.pem.new")
    os.replace(live / "server.key.new", live / "server.key")
    os.replace(live / "server.pem.new", live / "server.pem")
    service.reopen()  # SIGHUP; a handshake a second later would do the same
    second = await deferToThread(serverSerial)
    assert first != second
    # A broken renewal: a key from elsewhere.  The working pair stays.
    shutil.copy(pki["client1"][0], live / "server.key")
    factory.tls.reload()
    assert await deferToThread(serverSerial) == second
    await logd.stop(service)


@pytest_twisted.ensureDeferred
async def test_limitsComeBeforeTheHandshake(logd: Harness, pki: dict[str, Any]) -> None:
    """A sender outside allow is closed unread, before any TLS: one refusal, for its address, and no TLS one."""
    from logd.inputs.limits import NOT_ALLOWED

    spec = tlsListener(logd, pki)
    spec["allow"] = ["127.0.0.2"]
    service = logd.start(sinks(logd), [spec])
    outcome = await deferToThread(send, boundAddress(service).port, pki["ca"].path, pki["client1"], b"hi\n")
    await logd.stop(service)
    assert outcome.startswith("error")
    assert refused(service) == {NOT_ALLOWED: 1}
    assert readRecords(logd.tmp / "out.log") == []


@pytest_twisted.ensureDeferred
async def test_chainDeeperThanAllowed(logd: Harness, pki: dict[str, Any], tmp_path: Path) -> None:
    """
    verify_depth bounds the intermediates in a client's chain: through one
    intermediate a client is let in, through two it is not trusted.
    """
    ca = pki["ca"]
    one = CertificateAuthority(str(tmp_path / "one"), "Intermediate One", parent=ca)
    two = CertificateAuthority(str(tmp_path / "two"), "Intermediate Two", parent=one)
    shallow = one.issue("shallow", dnsNames=("shallow.example.com",))
    deep = two.issue("deep", dnsNames=("deep.example.com",))
    service = logd.start(sinks(logd), [tlsListener(logd, pki, verify_depth=1)])
    port = boundAddress(service).port
    await deferToThread(send, port, ca.path, shallow, b"through one\n")
    await deferToThread(send, port, ca.path, deep, b"through two\n")
    await waitFor(lambda: readRecords(logd.tmp / "out.log"), "the shallow client's record")
    await logd.stop(service)
    assert [r.message for r in readRecords(logd.tmp / "out.log")] == [b"through one"]
    assert refused(service) == {tls.UNTRUSTED: 1}
