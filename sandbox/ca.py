"""The sandbox's own certificate authority: OCES3-like test certificates.

It issues what KOMBIT's test environment would need: a system certificate
for an authority (organizationIdentifier NTRDK-<CVR>, in a .p12 file with a
passphrase) and a server certificate for the sandbox's SF1601 port, which
asks every client for a certificate this authority issued.
"""

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_PEM = serialization.Encoding.PEM


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key) -> bytes:
    return key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@dataclass
class TestAuthority:
    __test__ = False  # not a test class

    key: object
    certificate: x509.Certificate

    @classmethod
    def create(cls, name: str = "Postbud sandbox test CA") -> "TestAuthority":
        key = _key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @classmethod
    def load_or_create(cls, folder: Path) -> "TestAuthority":
        """The authority kept in folder (instance/ for ./bin/run), made once."""
        key_path, cert_path = folder / "sandbox-ca-key.pem", folder / "sandbox-ca.pem"
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            return cls(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
        authority = cls.create()
        key_path.touch(mode=0o600)
        key_path.write_bytes(_key_pem(authority.key))
        cert_path.write_bytes(authority.pem)
        return authority

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(_PEM)

    def _issue(self, subject: x509.Name, key, not_before: datetime, not_after: datetime, usage, san=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def system_certificate(
        self, cvr: str | None, organization: str, passphrase: str, days: int = 365, valid_from_days: int = -1
    ) -> bytes:
        """An authority's OCES3-like system certificate, as a .p12 file."""
        key = _key()
        names = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DK"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} - Postbud"),
        ]
        if cvr:
            names.insert(2, x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRDK-{cvr}"))
        now = datetime.now(timezone.utc)
        start = now + timedelta(days=valid_from_days)
        certificate = self._issue(
            x509.Name(names), key, start, now + timedelta(days=days), ExtendedKeyUsageOID.CLIENT_AUTH
        )
        return pkcs12.serialize_key_and_certificates(
            b"postbud",
            key,
            certificate,
            [self.certificate],
            serialization.BestAvailableEncryption(passphrase.encode()),
        )

    def server_certificate(self, host: str = "127.0.0.1") -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for the sandbox's TLS port."""
        key = _key()
        now = datetime.now(timezone.utc)
        try:
            san = [x509.IPAddress(ipaddress.ip_address(host))]
        except ValueError:
            san = [x509.DNSName(host)]
        certificate = self._issue(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]),
            key,
            now - timedelta(days=1),
            now + timedelta(days=825),
            ExtendedKeyUsageOID.SERVER_AUTH,
            san,
        )
        return certificate.public_bytes(_PEM), _key_pem(key)
