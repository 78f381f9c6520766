"""OCES3 system certificates: read from a PKCS#12 file, checked, and made
into the TLS context that every Serviceplatformen call uses.

An authority gets its certificate as a .p12 file with a passphrase. What is
shown of it is its subject, serial number and expiry; the key never leaves
this module except inside an ssl.SSLContext.
"""

import os
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

# The PKCS#7 data content type, which every PKCS#12 file wraps its bags in.
_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")
EXPIRY_WARNING = timedelta(days=30)


class CertificateProblem(StrEnum):
    NOT_PKCS12 = "not_pkcs12"
    WRONG_PASSPHRASE = "wrong_passphrase"
    NO_KEY = "no_key"
    EXPIRED = "expired"
    EXPIRES_SOON = "expires_soon"
    NOT_YET_VALID = "not_yet_valid"


class CertificateError(ValueError):
    def __init__(self, problem: CertificateProblem):
        self.problem = problem
        super().__init__(problem.value)


@dataclass(frozen=True)
class Certificate:
    """A system certificate with its key, as loaded from PKCS#12."""

    subject: str
    serial: str
    not_before: datetime
    not_after: datetime
    cvr: str | None  # the organization's CVR, where the certificate names one
    certificate_pem: bytes = field(repr=False)
    chain_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)

    def __repr__(self):
        return f"Certificate(subject={self.subject!r}, serial={self.serial!r}, not_after={self.not_after:%Y-%m-%d})"

    def expires_within(self, delta: timedelta, now: datetime | None = None) -> bool:
        return self.not_after - (now or datetime.now(timezone.utc)) < delta

    @property
    def use_key(self) -> str:
        """The certificate as the token service's UseKey wants it: base64 of
        the DER, on one line."""
        lines = self.certificate_pem.decode("ascii").strip().splitlines()
        return "".join(lines[1:-1])

    def bundle(self) -> str:
        """Key, certificate and chain as one PEM text, for storing encrypted
        (load_bundle() reads it back)."""
        return (self.key_pem + self.certificate_pem + self.chain_pem).decode("ascii")

    def ssl_context(self, cafile: str | None = None) -> ssl.SSLContext:
        """A client TLS context that presents this certificate; the server is
        checked against cafile (the sandbox's CA) or the system's CAs."""
        context = ssl.create_default_context(cafile=cafile)
        # load_cert_chain reads files: the key is written to a private file
        # for the moment it takes, and the file is gone before this returns.
        with tempfile.TemporaryDirectory(prefix="postbud-cert-") as folder:
            path = os.path.join(folder, "client.pem")
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(self.key_pem + self.certificate_pem + self.chain_pem)
            context.load_cert_chain(path)
        return context


def _cvr_of(certificate: x509.Certificate) -> str | None:
    """OCES3 names the organization as organizationIdentifier NTRDK-<CVR>;
    OCES2 put CVR:<CVR>-UID:… in serialNumber."""
    for attribute in certificate.subject:
        value = str(attribute.value)
        if attribute.oid == NameOID.ORGANIZATION_IDENTIFIER and value.upper().startswith("NTRDK-"):
            return value[6:]
        if attribute.oid == NameOID.SERIAL_NUMBER and value.upper().startswith("CVR:"):
            return value[4:].split("-", 1)[0]
    return None


def load_pkcs12(data: bytes, passphrase: str, now: datetime | None = None) -> Certificate:
    """The certificate in a .p12 file, or CertificateError saying what is wrong:
    not PKCS#12, a wrong passphrase, no key, expired, or expiring within 30 days."""
    if not data or data[:1] != b"\x30" or _PKCS7_DATA_OID not in data[:200]:
        raise CertificateError(CertificateProblem.NOT_PKCS12)
    try:
        key, certificate, extra = pkcs12.load_key_and_certificates(data, (passphrase or "").encode() or None)
    except ValueError:
        # The file is PKCS#12 (checked above): what fails is its passphrase.
        raise CertificateError(CertificateProblem.WRONG_PASSPHRASE) from None
    except Exception:  # a structure cryptography cannot read at all
        raise CertificateError(CertificateProblem.NOT_PKCS12) from None
    if key is None or certificate is None:
        raise CertificateError(CertificateProblem.NO_KEY)
    now = now or datetime.now(timezone.utc)
    if certificate.not_valid_after_utc <= now:
        raise CertificateError(CertificateProblem.EXPIRED)
    if certificate.not_valid_before_utc > now:
        raise CertificateError(CertificateProblem.NOT_YET_VALID)
    if certificate.not_valid_after_utc - now < EXPIRY_WARNING:
        raise CertificateError(CertificateProblem.EXPIRES_SOON)
    return _certificate(key, certificate, extra or ())


def load_bundle(text: str) -> Certificate:
    """A certificate stored by Certificate.bundle(), as it was checked when
    it was uploaded (its expiry is for the integration page to warn about)."""
    data = text.encode("ascii")
    key = serialization.load_pem_private_key(data, None)
    certificates = x509.load_pem_x509_certificates(data)
    return _certificate(key, certificates[0], certificates[1:])


def _certificate(key, certificate: x509.Certificate, extra) -> Certificate:
    pem = serialization.Encoding.PEM
    return Certificate(
        subject=certificate.subject.rfc4514_string({NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier"}),
        serial=format(certificate.serial_number, "X"),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        cvr=_cvr_of(certificate),
        certificate_pem=certificate.public_bytes(pem),
        chain_pem=b"".join(c.public_bytes(pem) for c in extra),
        key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
