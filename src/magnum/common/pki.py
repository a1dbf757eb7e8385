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
import re
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
    """A bay's CA and the conductor's client certificate; keys are encrypted PEM.

    `ca_cert` is the trust bundle: the signing CA first (the CA whose key is `ca_key`),
    then any CA still trusted while a CA rotation is under way. `crl` holds one CRL per CA
    of the bundle (the certificates revoked by a credentials rotation): what a node loads
    to verify its clients is `trust` (both).
    """

    ca_cert: bytes
    ca_key: bytes
    client_cert: bytes
    client_key: bytes
    crl: bytes = b""

    def to_state(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name).decode() for f in dataclasses.fields(self)}

    @classmethod
    def from_state(cls, data: dict[str, str]) -> ClusterCredentials:
        # `crl` came later: credentials made before it have none (see ensure_cluster_credentials)
        return cls(
            **{f.name: data[f.name].encode() for f in dataclasses.fields(cls) if f.name in data}
        )

    @property
    def signing_ca(self) -> bytes:
        """The CA that signs (the first of the bundle)."""
        return split_certs(self.ca_cert)[0]

    @property
    def trust(self) -> bytes:
        """What a node verifies its clients against: every trusted CA and its CRL."""
        return self.ca_cert + self.crl


def new_cluster_credentials(*, cluster_uuid: str, secret: bytes) -> ClusterCredentials:
    ca_key, ca_cert = new_ca(common_name=f"magnum bay {cluster_uuid}")
    client_key, client_cert = issue_client_cert(ca_key, ca_cert, common_name="magnum-conductor")
    return ClusterCredentials(
        ca_cert=ca_cert,
        ca_key=encrypt_key(ca_key, secret),
        client_cert=client_cert,
        client_key=encrypt_key(client_key, secret),
        crl=new_crl(ca_key, ca_cert),
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
    """The bay's credentials kept in `state`, made on first use; credentials made before
    CRLs existed get an empty CRL for their CA here."""
    if STATE_KEY not in state:
        state[STATE_KEY] = new_cluster_credentials(
            cluster_uuid=cluster_uuid, secret=secret
        ).to_state()
    creds = ClusterCredentials.from_state(state[STATE_KEY])
    if not creds.crl:
        crl = new_crl(decrypt_key(creds.ca_key, secret), creds.signing_ca)
        creds = dataclasses.replace(creds, crl=crl)
        state[STATE_KEY] = creds.to_state()
    return creds


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


def new_ca(*, common_name: str, unit: str | None = None) -> tuple[bytes, bytes]:
    """A self-signed CA: (key PEM, certificate PEM). `unit` (an OU) tells CAs of the same
    common name apart: a rotation's new CA differs from the old one by subject, so chains
    and CRLs never leave a verifier to guess between them."""
    key = _new_key()
    name = _name(common_name)
    if unit is not None:
        name = x509.Name([*name, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit)])
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


def issue_cert(
    ca_key: bytes,
    ca_cert: bytes,
    *,
    common_name: str,
    organizations: Sequence[str] = (),
    client: bool = False,
    server_names: Sequence[str] = (),
    server_addresses: Sequence[str] = (),
) -> tuple[bytes, bytes]:
    """A certificate for a COE component: subject CN (and an O per `organizations`, which
    Kubernetes reads as groups), a client certificate if `client`, and a server one valid
    for `server_names` and `server_addresses` if either is given (both purposes may be
    asked). Returns (key PEM, certificate PEM)."""
    key = _new_key()
    subject = x509.Name(
        [
            *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    purposes = []
    builder = _builder(subject, _issuer(ca_cert), CERT_DAYS).add_extension(
        _key_usage(digital_signature=True, key_encipherment=True), critical=True
    )
    if server_names or server_addresses:
        purposes.append(ExtendedKeyUsageOID.SERVER_AUTH)
        names: list[x509.GeneralName] = [
            *(x509.DNSName(n) for n in server_names),
            *(x509.IPAddress(ipaddress.ip_address(a)) for a in server_addresses),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if client:
        purposes.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    if not purposes:
        raise ValueError("a certificate must be a client or a server certificate")
    builder = builder.add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
    return _key_pem(key), _issue(ca_key, ca_cert, builder, key.public_key())


def new_key_pair() -> tuple[bytes, bytes]:
    """An EC key pair (private PEM, public PEM), e.g. to sign service-account tokens."""
    key = _new_key()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _key_pem(key), public


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


# --- bundles, revocation and rotation -----------------------------------------
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.S)


def _blocks(bundle: bytes, label: bytes) -> list[bytes]:
    """The PEM blocks of kind `label` in `bundle`, each ending in a newline, duplicates
    dropped (first kept)."""
    found: list[bytes] = []
    for match in _PEM_BLOCK.finditer(bundle):
        if match.group(1) == label:
            block = match.group(0).rstrip(b"\r\n") + b"\n"
            if block not in found:
                found.append(block)
    return found


def split_certs(bundle: bytes) -> list[bytes]:
    """The certificates of a PEM bundle, in order."""
    return _blocks(bundle, b"CERTIFICATE")


def split_crls(bundle: bytes) -> list[bytes]:
    return _blocks(bundle, b"X509 CRL")


def issued_by(cert_pem: bytes, ca_cert_pem: bytes) -> bool:
    """Whether the (first) certificate of `cert_pem` was signed by the CA of `ca_cert_pem`."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_cert_pem)
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def serial(cert_pem: bytes) -> int:
    return x509.load_pem_x509_certificate(cert_pem).serial_number


def revoked_serials(crl_pem: bytes) -> set[int]:
    return {r.serial_number for r in x509.load_pem_x509_crl(crl_pem)}


def _crl_of(ca_cert_pem: bytes, crls: bytes) -> bytes | None:
    """The CRL in `crls` that the CA of `ca_cert_pem` signed, if any."""
    ca = x509.load_pem_x509_certificate(ca_cert_pem)
    public_key = ca.public_key()
    for block in split_crls(crls):
        crl = x509.load_pem_x509_crl(block)
        if crl.issuer == ca.subject and crl.is_signature_valid(public_key):  # type: ignore[arg-type]
            return block
    return None


def new_crl(ca_key: bytes, ca_cert: bytes, revoked: Sequence[int] = ()) -> bytes:
    """A CRL of the CA (key decrypted) listing `revoked` serial numbers; valid as long as a
    CA is (nodes refuse a client whose issuer's CRL expired)."""
    key = _load_key(ca_key)
    ca = x509.load_pem_x509_certificate(ca_cert)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(now - _SKEW)
        .next_update(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
        .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), False)
    )
    for number in sorted(set(revoked)):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(number).revocation_date(now).build()
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def revoke(ca_key: bytes, ca_cert: bytes, crls: bytes, serials: Sequence[int] = ()) -> bytes:
    """The CA's CRL from `crls` (a bundle) with `serials` added: a new CRL signed by the CA
    (key decrypted). The CA has an empty one if `crls` holds none of its own."""
    current = _crl_of(ca_cert, crls)
    listed = revoked_serials(current) if current is not None else set()
    return new_crl(ca_key, ca_cert, sorted(listed | set(serials)))


def _merge(*bundles: bytes) -> bytes:
    certs = [c for b in bundles for c in split_certs(b)]
    crls = [c for b in bundles for c in split_crls(b)]
    return b"".join(dict.fromkeys(certs)) + b"".join(dict.fromkeys(crls))


def next_credentials(*, cluster_uuid: str, secret: bytes) -> ClusterCredentials:
    """The credentials a CA rotation moves to: a new CA (with an empty CRL) and a new
    conductor client certificate it signed."""
    ca_key, ca_cert = new_ca(common_name=f"magnum bay {cluster_uuid}", unit=f"CA {_stamp()}")
    client_key, client_cert = issue_client_cert(ca_key, ca_cert, common_name="magnum-conductor")
    return ClusterCredentials(
        ca_cert=ca_cert,
        ca_key=encrypt_key(ca_key, secret),
        client_cert=client_cert,
        client_key=encrypt_key(client_key, secret),
        crl=new_crl(ca_key, ca_cert),
    )


def _stamp() -> str:
    now = datetime.datetime.now(datetime.UTC)
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond:06d}Z {secrets.token_hex(4)}"


def overlap(old: ClusterCredentials, new: ClusterCredentials, *, signer: str) -> ClusterCredentials:
    """The credentials while a rotation has nodes trust both CAs: every CA of `old` and
    `new` is trusted (with its CRL), the conductor uses the new client certificate, and the
    old CA (signer "old") or the new one (signer "new") signs tenants' CSRs."""
    if signer not in ("old", "new"):
        raise ValueError(f"signer is old or new, not {signer!r}")
    first, second = (old, new) if signer == "old" else (new, old)
    return ClusterCredentials(
        ca_cert=b"".join(dict.fromkeys(split_certs(first.ca_cert) + split_certs(second.ca_cert))),
        ca_key=first.ca_key,
        client_cert=new.client_cert,
        client_key=new.client_key,
        crl=b"".join(dict.fromkeys(split_crls(first.crl) + split_crls(second.crl))),
    )


def union_trust(*creds: ClusterCredentials) -> bytes:
    """What nodes trust while both credentials' CAs are: every CA and CRL, once."""
    return _merge(*(c.trust for c in creds))


def new_client(current: ClusterCredentials, *, secret: bytes) -> ClusterCredentials:
    """The credentials with a new conductor client certificate (and key) from the signing
    CA, the previous one revoked in that CA's CRL (nodes refuse it once they load it)."""
    ca_key = decrypt_key(current.ca_key, secret)
    signing = current.signing_ca
    client_key, client_cert = issue_client_cert(ca_key, signing, common_name="magnum-conductor")
    own = revoke(ca_key, signing, current.crl, [serial(current.client_cert)])
    others = [c for c in split_crls(current.crl) if c != _crl_of(signing, current.crl)]
    return dataclasses.replace(
        current,
        client_cert=client_cert,
        client_key=encrypt_key(client_key, secret),
        crl=own + b"".join(others),
    )
