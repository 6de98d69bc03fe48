"""
TLS on any stream listener (tcp, tcp6, unix, systemd; every protocol): RFC
5425 syslog over TLS when the protocol is syslog, with optional or required
client certificates checked against a CA and, by name or fingerprint,
against C{permitted_peers}.

The handshake and the encryption are OpenSSL's, through Twisted's
C{TLSMemoryBIOFactory}: logd adds no Python call per record.  What logd
adds is at the edges of a connection: the verified client's identity
(L{peerIdentity}), which every record of the connection carries as
C{tls_peer}; a handshake deadline, so that half-open connections cannot
hold slots; refusals counted by reason (L{classifyFailure}); and renewed
certificate files picked up by themselves (L{ServerTLS}).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from zope.interface import implementer

from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory

from logd.config import TLSConfig

NO_CERTIFICATE = "TLS: no client certificate"
UNTRUSTED = "TLS: client certificate not trusted"
NOT_PERMITTED = "TLS: client not in permitted_peers"
HANDSHAKE_FAILED = "TLS: handshake failed"
HANDSHAKE_TIMEOUT = "TLS: handshake timed out"

CHECK_SECONDS = 1.0
"""How often, at most, a handshake looks whether the certificate, key or CA files changed."""

_VERSIONS = {"1.2": SSL.TLS1_2_VERSION, "1.3": SSL.TLS1_3_VERSION}
_VERIFY = {
    "none": SSL.VERIFY_NONE,
    "optional": SSL.VERIFY_PEER,
    "required": SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
}
_VERIFY_ERRORS = {
    2: "unable to get issuer certificate",
    7: "certificate signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in chain",
    20: "issuer not among the trusted CAs",
    21: "unable to verify the first certificate",
    22: "certificate chain too long",
    24: "invalid CA certificate",
    26: "unsupported certificate purpose",
}


def makeContext(config: TLSConfig) -> SSL.Context:
    """
    An OpenSSL server context for C{config}.  Raises L{SSL.Error} (or
    L{OSError}) for files that do not load or a key that does not match.
    """
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(_VERSIONS[config.minVersion])
    context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE)
    context.use_certificate_chain_file(config.cert)
    context.use_privatekey_file(config.key)
    context.check_privatekey()
    if config.ca is not None:
        context.load_verify_locations(config.ca)
    context.set_verify(_VERIFY[config.clientCert], _noteVerifyError)
    context.set_verify_depth(config.verifyDepth)
    # Session resumption with client certificates needs a context id.
    context.set_session_id(b"logd")
    return context


def _noteVerifyError(connection: SSL.Connection, certificate: Any, errno: int, depth: int, ok: int) -> bool:
    """
    OpenSSL's own verdict stands; a failure's reason is kept on the TLS
    protocol, for the refusal's log line.
    """
    if not ok:
        protocol = connection.get_app_data()
        if protocol is not None and getattr(protocol, "verifyError", None) is None:
            protocol.verifyError = _VERIFY_ERRORS.get(errno, f"verify error {errno}")
    return bool(ok)


def checkFiles(cert: str, key: str, ca: str | None) -> list[tuple[str, str]]:
    """
    What is wrong with these files, as (key, problem) pairs for the
    configuration's report: each file loaded on its own, then the pair.
    """
    problems = []
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    for name, path, load in (
        ("cert", cert, context.use_certificate_chain_file),
        ("key", key, context.use_privatekey_file),
        ("ca", ca, context.load_verify_locations),
    ):
        if path is None:
            continue
        try:
            load(path)
        except (SSL.Error, OSError) as e:
            if "mismatch" in _describe(e):
                problems.append(("key", f"{key} is not the key of the certificate in {cert}"))
            else:
                problems.append((name, f"cannot load {path}: {_describe(e)}"))
    if not problems:
        try:
            context.check_privatekey()
        except SSL.Error:
            problems.append(("key", f"{key} is not the key of the certificate in {cert}"))
    return problems


def _describe(error: BaseException) -> str:
    if isinstance(error, SSL.Error) and error.args and isinstance(error.args[0], list):
        return "; ".join(reason for _, _, reason in error.args[0] if reason) or "not PEM"
    return getattr(error, "strerror", None) or str(error)


@implementer(IOpenSSLServerConnectionCreator)
class ServerTLS:
    """
    Hands each new connection the current context.  Certificates are
    renewed by rename or symlink swap (certbot, cert-manager): at most once
    a second, at a handshake, the files are looked at, and a change builds a
    new context for the connections that follow (open ones keep theirs).  A
    renewal that leaves files that do not load, or do not match, keeps the
    old context, and says why once.
    """

    log = Logger()
    monotonic: Callable[[], float] = staticmethod(time.monotonic)  # type: ignore[assignment]

    def __init__(self, config: TLSConfig, listener: str) -> None:
        self.config = config
        self.listener = listener
        self._context = makeContext(config)
        self._signature = self._files()
        self._checked = self.monotonic()
        self._refused: tuple | None = None

    def reconfigure(self, config: TLSConfig, listener: str) -> None:
        """
        New settings from a reload, for the connections that follow (open
        ones keep theirs).  Raises if the files do not load: the reload
        checked them, so that is a file changed since.
        """
        context = makeContext(config)
        self.config, self.listener, self._context = config, listener, context
        self._signature, self._refused, self._checked = self._files(), None, self.monotonic()

    def serverConnectionForTLS(self, protocol: Any) -> SSL.Connection:
        if self.monotonic() - self._checked >= CHECK_SECONDS:
            self.reload()
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(protocol)
        return connection

    def reload(self) -> None:
        """Look at the files now (a handshake, or SIGHUP); rebuild the context if they changed."""
        self._checked = self.monotonic()
        signature = self._files()
        if signature == self._signature:
            return
        try:
            context = makeContext(self.config)
        except (SSL.Error, OSError) as e:
            if self._refused != signature:
                self._refused = signature
                self.log.error(
                    "listener {listener!r}: the renewed TLS files do not load ({error}); keeping the previous certificate",
                    listener=self.listener,
                    error=_describe(e),
                )
            return
        self._context, self._signature, self._refused = context, signature, None
        self.log.info("listener {listener!r}: TLS certificate files changed; new connections get the new ones", listener=self.listener)

    def _files(self) -> tuple:
        signature = []
        for path in (self.config.cert, self.config.key, self.config.ca):
            try:
                st = os.stat(path) if path else None
            except OSError:
                st = None
            signature.append(None if st is None else (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(signature)


class TLSListenerFactory(TLSMemoryBIOFactory):
    """
    Twisted's TLS wrapping, for a listener factory that may refuse a
    connection (its limits): then there is no protocol, and Twisted closes
    the connection unread, before any handshake.
    """

    def buildProtocol(self, addr: Any) -> Any:
        wrapped = self.wrappedFactory.buildProtocol(addr)
        return None if wrapped is None else self.protocol(self, wrapped)


def peerIdentity(certificate: Any, permitted: Iterable[str]) -> tuple[str | None, bool]:
    """
    The verified client's name (its first SAN DNS name, else its first SAN
    IP address, else its CN; the matching one when C{permitted} names it) and whether C{permitted} (if
    any) lets it in, by a name (C{*.example.com} matches one label) or by
    its SHA-256 fingerprint.
    """
    cert = certificate.to_cryptography()
    try:
        alternatives = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names: list[str] = []
    else:
        names = [name.lower() for name in alternatives.get_values_for_type(x509.DNSName)]
        names += [str(address) for address in alternatives.get_values_for_type(x509.IPAddress)]
    names += [str(attribute.value).lower() for attribute in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    permitted = tuple(permitted)
    first = names[0] if names else None
    if not permitted:
        return first, True
    fingerprint = "sha256:" + cert.fingerprint(hashes.SHA256()).hex()
    if fingerprint in permitted:
        return first or fingerprint, True
    for name in names:
        if any(_nameMatches(pattern, name) for pattern in permitted):
            return name, True
    return first, False


def _nameMatches(pattern: str, name: str) -> bool:
    if pattern.startswith("sha256:"):
        return False
    if pattern.startswith("*."):
        head, dot, rest = name.partition(".")
        return bool(head) and dot == "." and rest == pattern[2:]
    return pattern == name


def classifyFailure(reason: Any, tlsTransport: Any) -> tuple[str, str]:
    """
    Why a TLS connection ended before its handshake did: the refusal's
    reason (for the count) and its detail (for the log line).
    """
    verifyError = getattr(tlsTransport, "verifyError", None)
    if verifyError is not None:
        return UNTRUSTED, verifyError
    error = getattr(reason, "value", None)
    text = _describe(error) if isinstance(error, SSL.Error) else ""
    if "peer did not return a certificate" in text or "certificate required" in text:
        return NO_CERTIFICATE, text
    if isinstance(error, SSL.Error):
        return HANDSHAKE_FAILED, text or "TLS error"
    return HANDSHAKE_FAILED, "closed before the handshake completed"
