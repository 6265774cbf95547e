"""TLS for `--tls`: the server's `ssl.SSLContext`, and a certificate for localhost when the
user brings none.

Without `--cert/--key` the server makes these files once in `--cert-dir` (by default
`~/.cache/protocol-lab`, outside the repository) and reuses them while they are valid:

    ca.pem              the certificate authority to trust (`--cafile`, `curl --cacert`)
    localhost.pem       the server's certificate for localhost, 127.0.0.1 and ::1
    localhost-key.pem   its private key (mode 0600)

Why a CA and a separate server certificate rather than one self-signed certificate: strict
verifiers (Python 3.13's default `VERIFY_X509_STRICT`, browsers) want a trust anchor that is
a CA and a server certificate that is not. The CA is made safe to trust: its private key is
thrown away once it has signed, and it is name-constrained to localhost, 127.0.0.1 and ::1,
so even a browser that trusts it accepts it for this server only, never for another site.

Memory: under `--loop asyncio` each TLS connection holds asyncio's 256 KiB read buffer
(`asyncio.sslproto.SSLProtocol.max_size`, allocated whole per connection; there is no public
way to make it smaller for one server, and changing the class attribute would change every
asyncio program in the process). uvloop's TLS, the default, costs about 42 KiB per idle
connection; docs/security.md says so to users.
"""

import datetime as dt
import ipaddress
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server.settings import Settings

logger = logging.getLogger(__name__)

LOCAL_DNS_NAMES = ("localhost",)
LOCAL_IPS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
VALIDITY = dt.timedelta(days=397)  # the longest any browser accepts for a server certificate
RENEW_BEFORE = dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class LocalCertificate:
    """The files `ensure_local_certificate` made or found."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def in_folder(cls, folder: Path) -> "LocalCertificate":
        """Where the files live inside `folder`."""
        return cls(folder / "ca.pem", folder / "localhost.pem", folder / "localhost-key.pem")


@dataclass(frozen=True, slots=True)
class TlsSetup:
    """The server's TLS context, and the CA file to trust when the server made its own."""

    context: ssl.SSLContext
    trust: Path | None


def tls_setup(settings: Settings) -> TlsSetup | None:
    """The TLS context for `settings` (None without `--tls`); raises `OSError` on bad files."""
    if not settings.tls:
        return None
    if settings.cert is not None and settings.key is not None:
        try:
            return TlsSetup(server_context(settings.cert, settings.key), trust=None)
        except ssl.SSLError as exc:  # OpenSSL's own words say little: name the files
            raise ssl.SSLError(
                f"--cert {settings.cert} and --key {settings.key} are not a usable PEM "
                f"certificate and matching key ({exc.reason or exc})"
            ) from None
    local = ensure_local_certificate(settings.cert_dir)
    return TlsSetup(server_context(local.cert, local.key), trust=local.ca)


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 or later, HTTP/1.1 offered by ALPN."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    # aiohttp speaks HTTP/1.1 only; saying so lets clients skip an h2 attempt.
    context.set_alpn_protocols(["http/1.1"])
    return context


def ensure_local_certificate(folder: Path, now: dt.datetime | None = None) -> LocalCertificate:
    """Reuse the localhost certificate in `folder` if it is still good, else make a new one.

    Reusing matters: a user who told a browser or a script to trust `ca.pem` keeps that
    trust across restarts.
    """
    now = now or dt.datetime.now(dt.UTC)
    files = LocalCertificate.in_folder(folder)
    if _still_good(files, now):
        logger.info("TLS: reusing the localhost certificate in %s", folder)
        return files
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _make_ca(ca_key, now)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _make_server_certificate(key, ca_cert, ca_key, now)
    _write(
        files.key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private=True,
    )
    _write(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    _write(files.ca, ca_cert.public_bytes(serialization.Encoding.PEM))
    # `ca_key` goes out of scope here, never written: the CA can sign nothing else, ever.
    logger.info("TLS: made a localhost certificate and its CA in %s", folder)
    return files


def _still_good(files: LocalCertificate, now: dt.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    same_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    covers = set(names.get_values_for_type(x509.DNSName)) >= set(LOCAL_DNS_NAMES) and set(
        names.get_values_for_type(x509.IPAddress)
    ) >= set(LOCAL_IPS)
    fresh = cert.not_valid_before_utc <= now < cert.not_valid_after_utc - RENEW_BEFORE
    return same_key and covers and fresh


def _make_ca(ca_key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Protocol Lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Protocol Lab local CA"),
        ]
    )
    permitted: list[x509.GeneralName] = [x509.DNSName(n) for n in LOCAL_DNS_NAMES]
    permitted += [x509.IPAddress(ipaddress.ip_network(ip)) for ip in LOCAL_IPS]
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate a little clock skew
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _make_server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
) -> x509.Certificate:
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in LOCAL_DNS_NAMES]
    names += [x509.IPAddress(ip) for ip in LOCAL_IPS]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write `path` whole or not at all; a private key is never readable by others."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)  # O_CREAT keeps the mode of a file that already exists
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(temporary, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(temporary, path)
