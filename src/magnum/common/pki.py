# SPDX-License-Identifier: Apache-2.0
"""Per-bay TLS: a CA per bay, server certificates for nodes, client certificates for
the conductor and for tenants (CSR signing), and private keys encrypted at rest.

Everything is PEM bytes in and out so that callers can keep the material in JSON
(the bay's driver state). Keys are EC P-256: small, fast, and accepted by Go's TLS
stack (dockerd) and by OpenSSL (docker-py, the docker CLI).
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import pathlib
import secrets
from collections.abc import MutableMapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from magnum.common import exceptions

# Where drivers keep a bay's credentials in the bay's driver state (task.state).
STATE_KEY = "pki"

CA_DAYS = 3650
CERT_DAYS = 1825
# Certificates are back-dated a little so that a clock a few minutes behind still accepts them.
_SKEW = datetime.timedelta(minutes=5)

_KEY_USAGE_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


class InvalidCsr(exceptions.InvalidParameterValue):
    template = "Received invalid csr {csr}."


class ExtensionNotAllowed(exceptions.InvalidParameterValue):
    template = "Extension '{extension}' not allowed"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClusterCredentials:
    """A bay's CA and the conductor's client certificate; keys are encrypted PEM."""

    ca_cert: bytes
    ca_key: bytes
    client_cert: bytes
    client_key: bytes

    def to_state(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name).decode() for f in dataclasses.fields(self)}

    @classmethod
    def from_state(cls, data: dict[str, str]) -> ClusterCredentials:
        return cls(**{f.name: data[f.name].encode() for f in dataclasses.fields(cls)})


def new_cluster_credentials(*, cluster_uuid: str, secret: bytes) -> ClusterCredentials:
    ca_key, ca_cert = new_ca(common_name=f"magnum bay {cluster_uuid}")
    client_key, client_cert = issue_client_cert(ca_key, ca_cert, common_name="magnum-conductor")
    return ClusterCredentials(
        ca_cert=ca_cert,
        ca_key=encrypt_key(ca_key, secret),
        client_cert=client_cert,
        client_key=encrypt_key(client_key, secret),
    )


# --- keys -------------------------------------------------------------------
def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("expected an EC private key")
    return key


def encrypt_key(pem: bytes, secret: bytes) -> bytes:
    """Re-encode an unencrypted PEM private key as encrypted PKCS#8."""
    key = serialization.load_pem_private_key(pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )


def decrypt_key(pem: bytes, secret: bytes) -> bytes:
    """The unencrypted PEM of a key made by `encrypt_key`. Raises ValueError on a wrong secret."""
    key = serialization.load_pem_private_key(pem, password=secret)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def key_secret(conf: Any) -> bytes:
    """The secret that encrypts bay keys: [certificates] key_secret, else a file secret."""
    configured: str | None = conf.certificates.key_secret
    if configured:
        return configured.encode()
    return file_secret(pathlib.Path(conf.state_path) / "pki.secret")


def ensure_cluster_credentials(
    state: MutableMapping[str, Any], *, cluster_uuid: str, secret: bytes
) -> ClusterCredentials:
    """The bay's credentials kept in `state`, made on first use."""
    if STATE_KEY not in state:
        state[STATE_KEY] = new_cluster_credentials(
            cluster_uuid=cluster_uuid, secret=secret
        ).to_state()
    return ClusterCredentials.from_state(state[STATE_KEY])


def file_secret(path: pathlib.Path) -> bytes:
    """A random secret kept in `path` (0600), made on first use."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its secret
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(value)
    return value


# --- certificates -----------------------------------------------------------
def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _key_usage(**on: bool) -> x509.KeyUsage:
    values = {name: on.get(name, False) for name in _KEY_USAGE_FIELDS}
    return x509.KeyUsage(**values, encipher_only=False, decipher_only=False)


def new_ca(*, common_name: str) -> tuple[bytes, bytes]:
    """A self-signed CA: (key PEM, certificate PEM)."""
    key = _new_key()
    name = _name(common_name)
    cert = (
        _builder(name, name, CA_DAYS)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def _issue(
    ca_key_pem: bytes,
    ca_cert_pem: bytes,
    builder: x509.CertificateBuilder,
    public_key: CertificatePublicKeyTypes,
) -> bytes:
    ca_key = _load_key(ca_key_pem)
    del ca_cert_pem  # the issuer name is already in `builder`
    cert = (
        builder.public_key(public_key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _issuer(ca_cert_pem: bytes) -> x509.Name:
    return x509.load_pem_x509_certificate(ca_cert_pem).subject


def issue_server_cert(
    ca_key: bytes,
    ca_cert: bytes,
    *,
    hostname: str,
    address: str,
    extra_addresses: Sequence[str] = (),
) -> tuple[bytes, bytes]:
    """A node's server certificate, valid for its address, its hostname, loopback and
    `extra_addresses` (a front address that forwards to the node)."""
    key = _new_key()
    names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(address)),
        *(x509.IPAddress(ipaddress.ip_address(a)) for a in extra_addresses),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName(hostname),
        x509.DNSName("localhost"),
    ]
    builder = (
        _builder(_name(hostname), _issuer(ca_cert), CERT_DAYS)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(_key_usage(digital_signature=True, key_encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    return _key_pem(key), _issue(ca_key, ca_cert, builder, key.public_key())


def issue_client_cert(ca_key: bytes, ca_cert: bytes, *, common_name: str) -> tuple[bytes, bytes]:
    key = _new_key()
    builder = (
        _builder(_name(common_name), _issuer(ca_cert), CERT_DAYS)
        .add_extension(_key_usage(digital_signature=True, key_encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    return _key_pem(key), _issue(ca_key, ca_cert, builder, key.public_key())


# --- tenant CSRs ------------------------------------------------------------
def _load_csr(csr_pem: str | bytes) -> x509.CertificateSigningRequest:
    raw = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
    try:
        csr = x509.load_pem_x509_csr(raw)
        valid = csr.is_signature_valid
        public_key = csr.public_key()
        csr.extensions  # noqa: B018 - parsed here: an unparsable or repeated one is invalid
    except (ValueError, TypeError, InvalidSignature, x509.DuplicateExtension):
        valid = False
    if not valid:
        raise InvalidCsr(csr=raw.decode(errors="replace"))
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise InvalidCsr(csr=raw.decode(errors="replace"))
    return csr


def _client_eku(ext: x509.ExtendedKeyUsage) -> x509.ExtendedKeyUsage:
    if any(oid != ExtendedKeyUsageOID.CLIENT_AUTH for oid in ext):
        raise ExtensionNotAllowed(extension="extendedKeyUsage")
    return x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])


def _client_extensions(
    csr: x509.CertificateSigningRequest,
) -> list[tuple[x509.ExtensionType, bool]]:
    """The extensions of a tenant's certificate: a client certificate's, whatever the CSR
    asks. Its key usage is always digitalSignature and keyEncipherment (never keyCertSign
    or cRLSign, which the CSR's would otherwise carry over), its extended key usage
    clientAuth (asking for any other purpose is refused), and _issue adds CA:FALSE. Other
    extensions are dropped; a critical one the signer cannot honour is refused."""
    for ext in csr.extensions:
        if isinstance(ext.value, x509.ExtendedKeyUsage):
            _client_eku(ext.value)
        elif isinstance(ext.value, x509.KeyUsage) or ext.oid == ExtensionOID.BASIC_CONSTRAINTS:
            continue  # replaced by the client certificate's own, whatever was asked
        elif ext.critical:
            name = getattr(ext.oid, "_name", None) or ext.oid.dotted_string
            raise ExtensionNotAllowed(extension=name)
    return [
        (_key_usage(digital_signature=True, key_encipherment=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
    ]


def sign_csr(
    ca_key: bytes, ca_cert: bytes, csr_pem: str | bytes, *, days: int = CERT_DAYS
) -> bytes:
    """Sign a tenant's CSR as a client certificate of the bay's CA.

    Only the subject and the public key come from the CSR; the extensions are a client
    certificate's (see _client_extensions). Raises InvalidCsr for anything that is not a
    well-signed PEM CSR, and ExtensionNotAllowed for a critical extension other than key
    usage or basic constraints, or an extended key usage other than clientAuth.
    """
    csr = _load_csr(csr_pem)
    public_key = csr.public_key()
    builder = _builder(csr.subject, _issuer(ca_cert), days)
    for value, critical in _client_extensions(csr):
        builder = builder.add_extension(value, critical=critical)
    return _issue(ca_key, ca_cert, builder, public_key)
