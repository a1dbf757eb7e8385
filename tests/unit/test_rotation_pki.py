# SPDX-License-Identifier: Apache-2.0
"""The pieces of CA and credentials rotation: bundles, CRLs, the overlap credentials, and
the nodes' TLS front (magnum.drivers.infra.local.tlsfront) reloading what it trusts and
presents without dropping what it should keep, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
from cryptography import x509

from magnum.common import pki
from magnum.drivers.infra.local import tlsfront
from tests.functional.hostcheck import key_and_csr

SECRET = b"rotation-secret"


def _subject(pem: bytes) -> x509.Name:
    return x509.load_pem_x509_certificate(pem).subject


def test_a_rotation_s_new_ca_differs_by_subject_and_key() -> None:
    old = pki.new_cluster_credentials(cluster_uuid="u1", secret=SECRET)
    new = pki.next_credentials(cluster_uuid="u1", secret=SECRET)
    assert _subject(old.ca_cert) != _subject(new.ca_cert)
    assert pki.issued_by(new.client_cert, new.ca_cert)
    assert not pki.issued_by(new.client_cert, old.ca_cert)
    assert pki.revoked_serials(new.crl) == set()


def test_overlap_trusts_both_and_signs_with_the_chosen_ca() -> None:
    old = pki.new_cluster_credentials(cluster_uuid="u1", secret=SECRET)
    new = pki.next_credentials(cluster_uuid="u1", secret=SECRET)
    for signer, first in (("old", old), ("new", new)):
        both = pki.overlap(old, new, signer=signer)
        other = new if first is old else old
        assert pki.split_certs(both.ca_cert) == [first.ca_cert, other.ca_cert]
        assert both.signing_ca == first.ca_cert
        assert both.ca_key == first.ca_key
        assert both.client_cert == new.client_cert  # the conductor moves first
        assert len(pki.split_crls(both.crl)) == 2
        _, csr = _csr()
        signed = pki.sign_csr(pki.decrypt_key(both.ca_key, SECRET), both.signing_ca, csr)
        assert pki.issued_by(signed, first.ca_cert)
    with pytest.raises(ValueError):
        pki.overlap(old, new, signer="both")
    trust = pki.union_trust(old, new)
    assert len(pki.split_certs(trust)) == 2 and len(pki.split_crls(trust)) == 2
    # an overlap of an overlap (a rotation resumed) names every CA once
    again = pki.overlap(pki.overlap(old, new, signer="old"), new, signer="new")
    assert len(pki.split_certs(again.ca_cert)) == 2


def test_new_client_revokes_the_previous_one_in_the_signing_ca_crl() -> None:
    old = pki.new_cluster_credentials(cluster_uuid="u1", secret=SECRET)
    first = pki.new_client(old, secret=SECRET)
    second = pki.new_client(first, secret=SECRET)
    assert len({old.client_cert, first.client_cert, second.client_cert}) == 3
    assert pki.issued_by(second.client_cert, old.ca_cert)
    (crl,) = pki.split_crls(second.crl)
    assert pki.revoked_serials(crl) == {pki.serial(old.client_cert), pki.serial(first.client_cert)}
    assert second.ca_cert == old.ca_cert and second.ca_key == old.ca_key


def test_credentials_made_before_crls_get_one() -> None:
    made = pki.new_cluster_credentials(cluster_uuid="u1", secret=SECRET).to_state()
    del made["crl"]
    state = {pki.STATE_KEY: made}
    creds = pki.ensure_cluster_credentials(state, cluster_uuid="u1", secret=SECRET)
    (crl,) = pki.split_crls(creds.crl)
    assert pki.revoked_serials(crl) == set()
    assert state[pki.STATE_KEY]["crl"] == creds.crl.decode()
    assert x509.load_pem_x509_crl(crl).is_signature_valid(
        x509.load_pem_x509_certificate(creds.ca_cert).public_key()  # type: ignore[arg-type]
    )


def test_split_and_issued_by_ignore_what_they_do_not_hold() -> None:
    creds = pki.new_cluster_credentials(cluster_uuid="u1", secret=SECRET)
    assert pki.split_certs(creds.trust) == [creds.ca_cert]
    assert pki.split_crls(creds.trust) == [creds.crl]
    assert pki.split_certs(b"garbage") == []
    assert not pki.issued_by(b"not a certificate", creds.ca_cert)


# --- the TLS front ------------------------------------------------------------------
def _csr() -> tuple[bytes, bytes]:
    key, csr = key_and_csr("tenant")
    return key, csr.encode()


class Material:
    """A cluster's credentials and files a client needs."""

    def __init__(self, tmp: pathlib.Path) -> None:
        self.tmp = tmp
        self.old = pki.new_cluster_credentials(cluster_uuid="u1", secret=SECRET)
        self.new = pki.next_credentials(cluster_uuid="u1", secret=SECRET)

    def client(self, creds: pki.ClusterCredentials, name: str) -> tuple[str, str]:
        cert = self.tmp / f"{name}.crt"
        key = self.tmp / f"{name}.key"
        cert.write_bytes(creds.client_cert)
        key.write_bytes(pki.decrypt_key(creds.client_key, SECRET))
        return str(cert), str(key)

    def server(self, tls: pathlib.Path, creds: pki.ClusterCredentials, trust: bytes) -> None:
        key, cert = pki.issue_server_cert(
            pki.decrypt_key(creds.ca_key, SECRET),
            creds.signing_ca,
            hostname="n",
            address="127.0.0.1",
        )
        tls.mkdir(exist_ok=True)
        (tls / "key.pem").write_bytes(key)
        (tls / "cert.pem").write_bytes(cert)
        (tls / "ca.pem").write_bytes(trust)


class Running:
    def __init__(self, front: tlsfront.Front, loop: asyncio.AbstractEventLoop, port: int) -> None:
        self.front, self.loop, self.port = front, loop, port

    def reload(self) -> dict[str, str | None]:
        done = threading.Event()

        def run() -> None:
            self.front.load()
            done.set()

        self.loop.call_soon_threadsafe(run)
        assert done.wait(10)
        state: dict[str, str | None] = json.loads((self.front.tls_dir / "loaded.json").read_text())
        return state

    def connect(self, ca: bytes, cert: tuple[str, str] | None, tmp: pathlib.Path) -> ssl.SSLSocket:
        cafile = tmp / "client-ca.pem"
        cafile.write_bytes(ca)
        ctx = ssl.create_default_context(cafile=str(cafile))
        if cert is not None:
            ctx.load_cert_chain(*cert)
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        try:
            return ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        except BaseException:
            raw.close()
            raise


def _get(sock: ssl.SSLSocket) -> bytes:
    sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: n\r\n\r\n")
    return sock.recv(4096)


def _refused(run: Running, ca: bytes, cert: tuple[str, str] | None, tmp: pathlib.Path) -> bool:
    """Whether the front refuses this client (TLS 1.3 refuses after the handshake)."""
    try:
        with run.connect(ca, cert, tmp) as sock:
            return not _get(sock).startswith(b"HTTP/1.1 200")
    except (ssl.SSLError, OSError):
        return True


@pytest.fixture
def front(tmp_path: pathlib.Path) -> Iterator[tuple[Running, Material]]:
    material = Material(tmp_path)
    tls = tmp_path / "tls"
    material.server(tls, material.old, material.old.trust)
    upstream = str(tmp_path / "up.sock")
    loop = asyncio.new_event_loop()
    front = tlsfront.Front(upstream, tls)

    async def pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            with contextlib.suppress(OSError):
                while True:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                    await writer.drain()
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        pass
                    if not line:
                        break
        finally:
            writer.close()

    ready = threading.Event()
    port: list[int] = []
    stop: list[asyncio.Event] = []

    async def main() -> None:
        stop.append(asyncio.Event())
        up = await asyncio.start_unix_server(pong, upstream)
        front.load()
        server = await asyncio.start_server(front.handle, "127.0.0.1", 0, ssl=front.outer)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        await stop[0].wait()
        for writer in list(front._open):
            writer.close()
        for srv in (server, up):
            srv.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        for srv in (server, up):
            await srv.wait_closed()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield Running(front, loop, port[0]), material
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(10)
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def test_front_serves_clients_of_its_ca_only(
    front: tuple[Running, Material], tmp_path: pathlib.Path
) -> None:
    run, m = front
    with run.connect(m.old.ca_cert, m.client(m.old, "old"), tmp_path) as sock:
        assert _get(sock).startswith(b"HTTP/1.1 200")
    assert _refused(run, m.old.ca_cert, m.client(m.new, "new"), tmp_path)
    assert _refused(run, m.old.ca_cert, None, tmp_path)


def test_front_reloads_through_a_ca_rotation(
    front: tuple[Running, Material], tmp_path: pathlib.Path
) -> None:
    run, m = front
    tls = run.front.tls_dir
    old_client, new_client = m.client(m.old, "old"), m.client(m.new, "new")
    kept = run.connect(m.old.ca_cert, old_client, tmp_path)  # open through phases 1-3
    assert _get(kept).startswith(b"HTTP/1.1 200")
    # phase 1: trust both
    (tls / "ca.pem").write_bytes(pki.union_trust(m.old, m.new))
    assert run.reload() == {"digest": tlsfront.digest(tls), "error": None}
    assert not _refused(run, m.old.ca_cert, new_client, tmp_path)
    assert not _refused(run, m.old.ca_cert, old_client, tmp_path)
    # phase 2: a certificate of the new CA
    m.server(tls, m.new, pki.union_trust(m.old, m.new))
    assert run.reload()["digest"] == tlsfront.digest(tls)
    both = m.old.ca_cert + m.new.ca_cert
    with run.connect(m.new.ca_cert, old_client, tmp_path) as sock:  # verified by the new CA
        assert _get(sock).startswith(b"HTTP/1.1 200")
    assert _get(kept).startswith(b"HTTP/1.1 200")  # additions close nothing
    # phase 4: the old CA retired
    (tls / "ca.pem").write_bytes(m.new.trust)
    assert run.reload()["digest"] == tlsfront.digest(tls)
    assert _refused(run, both, old_client, tmp_path)
    assert not _refused(run, both, new_client, tmp_path)
    assert kept.recv(10) == b""  # the connection opened under the old trust was closed
    kept.close()


def test_front_refuses_a_revoked_client_once_reloaded(
    front: tuple[Running, Material], tmp_path: pathlib.Path
) -> None:
    run, m = front
    client = m.client(m.old, "old")
    assert not _refused(run, m.old.ca_cert, client, tmp_path)
    rotated = pki.new_client(m.old, secret=SECRET)
    (run.front.tls_dir / "ca.pem").write_bytes(rotated.trust)
    run.reload()
    assert _refused(run, m.old.ca_cert, client, tmp_path)
    assert not _refused(run, m.old.ca_cert, m.client(rotated, "rotated"), tmp_path)


def test_front_keeps_its_material_when_new_files_are_bad(
    front: tuple[Running, Material], tmp_path: pathlib.Path
) -> None:
    run, m = front
    (run.front.tls_dir / "key.pem").write_bytes(b"not a key")
    state = run.reload()
    assert state["digest"] is None and "cannot load the TLS files" in str(state["error"])
    assert not _refused(run, m.old.ca_cert, m.client(m.old, "old"), tmp_path)
