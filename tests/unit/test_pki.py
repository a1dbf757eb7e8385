# SPDX-License-Identifier: Apache-2.0
"""Per-bay PKI: issued certificates chain to the bay CA with the right names and usages,
tenant CSRs are checked and filtered, keys round-trip through encryption."""

from __future__ import annotations

import base64
import ipaddress
import pathlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from magnum.common import exceptions, pki

SECRET = b"test-secret"


@pytest.fixture(scope="module")
def ca() -> tuple[bytes, bytes]:
    return pki.new_ca(common_name="test bay")


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _csr(*extensions: tuple[x509.ExtensionType, bool], cn: str = "tenant") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    for value, critical in extensions:
        builder = builder.add_extension(value, critical=critical)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _chains(cert: x509.Certificate, ca_cert: bytes) -> None:
    cert.verify_directly_issued_by(_cert(ca_cert))


def test_ca_is_a_ca(ca: tuple[bytes, bytes]) -> None:
    cert = _cert(ca[1])
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_server_cert_names_the_node(ca: tuple[bytes, bytes]) -> None:
    _, pem = pki.issue_server_cert(*ca, hostname="bay-x-master-0", address="10.250.0.2")
    cert = _cert(pem)
    _chains(cert, ca[1])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("10.250.0.2"),
        ipaddress.ip_address("127.0.0.1"),
    }
    assert "bay-x-master-0" in san.get_values_for_type(x509.DNSName)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_server_cert_names_extra_addresses(ca: tuple[bytes, bytes]) -> None:
    """A master's certificate also names the bay's API front (the gateway address)."""
    _, pem = pki.issue_server_cert(
        *ca, hostname="bay-x-master-1", address="10.250.0.3", extra_addresses=("10.250.0.1",)
    )
    san = _cert(pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("10.250.0.3"),
        ipaddress.ip_address("10.250.0.1"),
        ipaddress.ip_address("127.0.0.1"),
    }


def test_client_cert_is_for_clients(ca: tuple[bytes, bytes]) -> None:
    _, pem = pki.issue_client_cert(*ca, common_name="magnum-conductor")
    cert = _cert(pem)
    _chains(cert, ca[1])
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_keys_are_encrypted_at_rest(ca: tuple[bytes, bytes]) -> None:
    encrypted = pki.encrypt_key(ca[0], SECRET)
    assert b"ENCRYPTED" in encrypted
    assert pki.decrypt_key(encrypted, SECRET).strip().startswith(b"-----BEGIN PRIVATE KEY")
    with pytest.raises(ValueError):
        pki.decrypt_key(encrypted, b"wrong")


def test_bay_credentials_round_trip_through_state() -> None:
    creds = pki.new_cluster_credentials(cluster_uuid="b1", secret=SECRET)
    again = pki.ClusterCredentials.from_state(creds.to_state())
    assert again == creds
    key = pki.decrypt_key(again.client_key, SECRET)
    _chains(_cert(again.client_cert), again.ca_cert)
    assert key


def test_sign_csr_gives_a_client_cert(ca: tuple[bytes, bytes]) -> None:
    csr = _csr((x509.BasicConstraints(ca=True, path_length=None), True))
    cert = _cert(pki.sign_csr(*ca, csr.decode()))
    _chains(cert, ca[1])
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "tenant"
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def _usage(*on: str) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{n: n in on for n in names})


CLIENT_USAGE = _usage("digital_signature", "key_encipherment")


@pytest.mark.parametrize(
    "asked",
    [
        _usage("key_cert_sign"),
        _usage("crl_sign"),
        _usage("key_cert_sign", "crl_sign"),
        _usage("digital_signature", "key_encipherment", "key_cert_sign", "crl_sign"),
        _usage("content_commitment", "data_encipherment"),
        _usage("key_agreement", "encipher_only"),
        _usage("key_agreement", "key_cert_sign", "crl_sign", "decipher_only"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("critical", [True, False])
def test_sign_csr_never_copies_key_usage(
    ca: tuple[bytes, bytes], asked: x509.KeyUsage, critical: bool
) -> None:
    """Whatever a CSR asks, the certificate is a client certificate: it cannot sign
    certificates or CRLs (keyCertSign and cRLSign were copied), and is no CA."""
    csr = _csr((asked, critical), (x509.BasicConstraints(ca=True, path_length=None), True))
    cert = _cert(pki.sign_csr(*ca, csr))
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value == CLIENT_USAGE
    assert not ku.value.key_cert_sign and not ku.value.crl_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_sign_csr_without_extensions_is_a_client_cert(ca: tuple[bytes, bytes]) -> None:
    cert = _cert(pki.sign_csr(*ca, _csr()))
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value == CLIENT_USAGE
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_sign_csr_drops_non_critical_unknown_extensions(ca: tuple[bytes, bytes]) -> None:
    san = x509.SubjectAlternativeName([x509.DNSName("evil.example")])
    cert = _cert(pki.sign_csr(*ca, _csr((san, False))))
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_sign_csr_refuses_critical_unknown_extension(ca: tuple[bytes, bytes]) -> None:
    san = x509.SubjectAlternativeName([x509.DNSName("evil.example")])
    with pytest.raises(pki.ExtensionNotAllowed, match="Extension 'subjectAltName' not allowed"):
        pki.sign_csr(*ca, _csr((san, True)))


def test_sign_csr_refuses_server_auth(ca: tuple[bytes, bytes]) -> None:
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    with pytest.raises(pki.ExtensionNotAllowed, match="Extension 'extendedKeyUsage' not allowed"):
        pki.sign_csr(*ca, _csr((eku, False)))


@pytest.mark.parametrize(
    "csr",
    [
        "",
        "garbage",
        "-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n",
    ],
)
def test_sign_csr_refuses_invalid_csr(ca: tuple[bytes, bytes], csr: str) -> None:
    with pytest.raises(pki.InvalidCsr) as info:
        pki.sign_csr(*ca, csr)
    assert info.value.message == f"Received invalid csr {csr}."
    assert isinstance(info.value, exceptions.InvalidParameterValue)
    assert info.value.status == 400


def test_sign_csr_refuses_a_bad_signature(ca: tuple[bytes, bytes]) -> None:
    good = x509.load_pem_x509_csr(_csr())
    other = ec.generate_private_key(ec.SECP256R1())
    # Same subject, but signed by a key that is not the one in the request.
    forged = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(good.subject)
        .sign(other, hashes.SHA256())
    )
    der = bytearray(forged.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # corrupt the signature
    pem = (
        b"-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.encodebytes(bytes(der))
        + b"-----END CERTIFICATE REQUEST-----\n"
    )
    with pytest.raises(pki.InvalidCsr):
        pki.sign_csr(*ca, pem)


def test_file_secret_is_made_once(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "sub" / "secret"
    first = pki.file_secret(path)
    assert first == pki.file_secret(path)
    assert path.stat().st_mode & 0o777 == 0o600


def test_sign_csr_refuses_an_unparsable_extension(ca: tuple[bytes, bytes]) -> None:
    """A known extension whose value does not parse is a bad CSR (400), not a 500."""
    garbage = x509.UnrecognizedExtension(ExtensionOID.AUTHORITY_INFORMATION_ACCESS, b"\5\0")
    with pytest.raises(pki.InvalidCsr):
        pki.sign_csr(*ca, _csr((garbage, False)))
