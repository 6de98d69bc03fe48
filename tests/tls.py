"""
Real certificates for the tests, made on the spot with C{cryptography}
(which logd's C{twisted[tls]} dependency brings): a self-signed server
certificate for 127.0.0.1 and its key, as PEM files.
"""

from __future__ import annotations

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def makeServerCertificate(directory: str, name: str = "server") -> tuple[str, str]:
    """
    Write C{DIRECTORY/NAME.key} and C{DIRECTORY/NAME.pem} and return their
    paths: a P-256 key and a certificate valid for an hour, for the name
    C{localhost} and the address 127.0.0.1.
    """
    os.makedirs(directory, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    keyPath = os.path.join(directory, f"{name}.key")
    certPath = os.path.join(directory, f"{name}.pem")
    with open(keyPath, "wb") as f:
        f.write(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    with open(certPath, "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))
    return keyPath, certPath


class CertificateAuthority:
    """
    A CA of the tests' own, and certificates it (or nobody) signs: server
    and client certificates with the names, lifetimes and extensions the
    certificate matrix needs.
    """

    def __init__(self, directory: str, name: str = "Test CA", parent: "CertificateAuthority | None" = None) -> None:
        """
        A root CA, or (with C{parent}) an intermediate one that C{parent}
        signs: its certificates then carry the chain up to (not including)
        the root.
        """
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(parent.name if parent else self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(parent.key if parent else self.key, hashes.SHA256())
        )
        self.chain: list[x509.Certificate] = ([self.certificate] + parent.chain) if parent else []
        """The intermediates between this CA's certificates and the root, nearest first."""
        self.path = os.path.join(directory, f"{name.replace(' ', '-').lower()}.pem")
        with open(self.path, "wb") as f:
            f.write(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue(
        self,
        name: str,
        dnsNames: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        expired: bool = False,
        commonName: str | None = None,
    ) -> tuple[str, str, str]:
        """
        Write C{NAME.key} and C{NAME.pem} (the certificate, then this CA's);
        return their paths and the certificate's SHA-256 fingerprint as
        C{sha256:AA:BB:...}.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = (now - datetime.timedelta(days=3), now - datetime.timedelta(days=2)) if expired else (now - datetime.timedelta(minutes=5), now + datetime.timedelta(hours=2))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, commonName or name)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
        )
        alternatives = [x509.DNSName(d) for d in dnsNames] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if alternatives:
            builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        keyPath = os.path.join(self.directory, f"{name}.key")
        certPath = os.path.join(self.directory, f"{name}.pem")
        with open(keyPath, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        with open(certPath, "wb") as f:
            chain = self.chain if self.chain else [self.certificate]
            f.write(certificate.public_bytes(serialization.Encoding.PEM) + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
        fingerprint = certificate.fingerprint(hashes.SHA256()).hex().upper()
        return keyPath, certPath, "sha256:" + ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2))
