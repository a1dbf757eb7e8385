# SPDX-License-Identifier: Apache-2.0
"""A node's TLS front: the node's Docker API on <node ip>:2376, TLS with client
certificates, each connection spliced to the node's dockerd socket.

    python -m magnum.drivers.infra.local.tlsfront --listen IP:PORT --upstream SOCKET --tls-dir DIR

Why not dockerd's own TLS: dockerd reads its TLS files once, at start (SIGHUP reloads
other options only, moby#23936), and restarting it stops every container of the node
(live-restore, which would keep them, is refused in swarm mode). This front reloads
its material on SIGHUP instead, so a CA rotation changes what nodes trust and present
while their containers run on.

DIR holds ca.pem (the trust: CA certificates and their CRLs; when it has CRLs a client
certificate listed in its issuer's CRL is refused), cert.pem and key.pem. A (re)load
that fails keeps what was loaded before. After each attempt DIR/loaded.json says
{"digest": <sha256 of the three files as read>, "error": <text or null>}, so the driver
knows when a reload took effect. New connections use the latest material; open ones
keep theirs, unless the reload dropped some trust (a CA certificate or CRL of before is
no longer in ca.pem): then connections made before it are closed, so a client whose
certificate is no longer trusted cannot carry on over a connection it opened earlier.

Only the standard library is imported: one of these runs in every node, in its cgroup.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import pathlib
import re
import signal
import ssl
from collections.abc import Sequence

CHUNK = 65536
HANDSHAKE_TIMEOUT = 10.0
FILES = ("ca.pem", "cert.pem", "key.pem")
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


def digest(tls_dir: pathlib.Path) -> str:
    """The digest loaded.json reports once these files are what the front serves."""
    return _digest(*(tls_dir.joinpath(n).read_bytes() for n in FILES))


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _blocks(pem: bytes) -> set[bytes]:
    return {b"".join(m.group(0).split()) for m in _BLOCK.finditer(pem)}


class Front:
    """Serves with `outer`, whose SNI callback (called for every ClientHello, with or
    without a server name) switches each new connection to the latest loaded context."""

    def __init__(self, upstream: str, tls_dir: pathlib.Path) -> None:
        self.upstream = upstream
        self.tls_dir = tls_dir
        self.context: ssl.SSLContext | None = None
        self.generation = 0
        self._generation_of: dict[ssl.SSLContext, int] = {}
        self._trust: set[bytes] = set()
        self._last_drop = 0  # the generation of the last reload that dropped some trust
        # open connections: the client side's writer -> the generation it was made in
        self._open: dict[asyncio.StreamWriter, int] = {}
        self.outer = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.outer.minimum_version = ssl.TLSVersion.TLSv1_2
        self.outer.verify_mode = ssl.CERT_REQUIRED
        self.outer.sni_callback = self._switch

    def _switch(self, conn: ssl.SSLObject, name: str | None, outer: ssl.SSLContext) -> int | None:
        del name, outer
        if self.context is None:
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        conn.context = self.context
        return None

    def load(self) -> None:
        """(Re)load the files; on failure keep the previous context. Reports loaded.json."""
        try:
            ca, cert, key = (self.tls_dir.joinpath(n).read_bytes() for n in FILES)
        except OSError as exc:
            self._report(None, f"cannot read the TLS files: {exc}")
            return
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(self.tls_dir / "cert.pem", self.tls_dir / "key.pem")
            context.load_verify_locations(cafile=str(self.tls_dir / "ca.pem"))
            context.verify_mode = ssl.CERT_REQUIRED
            if b"-----BEGIN X509 CRL-----" in ca:
                context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
            if self.context is None:  # the outer context needs a certificate of its own
                self.outer.load_cert_chain(self.tls_dir / "cert.pem", self.tls_dir / "key.pem")
        except (ssl.SSLError, OSError, ValueError) as exc:
            self._report(None, f"cannot load the TLS files: {exc}")
            return
        trust = _blocks(ca)
        dropped = bool(self._trust - trust)
        self.generation += 1
        self._generation_of[context] = self.generation
        # Verification flags are the connection's from the context it started with.
        self.outer.verify_flags = context.verify_flags
        self.context, self._trust = context, trust
        if dropped:
            self._last_drop = self.generation
            for writer, generation in list(self._open.items()):
                if generation < self.generation:
                    del self._open[writer]
                    writer.close()
        self._report(_digest(ca, cert, key), None)

    def _report(self, loaded: str | None, error: str | None) -> None:
        path = self.tls_dir / "loaded.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"digest": loaded, "error": error}))
        os.replace(tmp, path)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("ssl_object")
        generation = self._generation_of.get(conn.context, 0) if conn is not None else 0
        if generation < self._last_drop:
            writer.close()  # made with trust a reload has dropped meanwhile
            return
        self._open[writer] = generation
        try:
            try:
                up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
            except OSError:
                return
            try:
                await asyncio.gather(
                    _pipe(reader, up_writer, half_close=True),
                    _pipe(up_reader, writer, half_close=False),
                )
            finally:
                up_writer.close()
        finally:
            self._open.pop(writer, None)
            writer.close()

    async def serve(self, listen: tuple[str, int]) -> None:
        self.load()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self.load)
        # Listen only while dockerd answers on its socket: a node whose engine died must
        # refuse connections, as dockerd itself would, so that the bay's front (and any
        # client) moves on to another master instead of being accepted and dropped.
        server: asyncio.Server | None = None
        while True:
            alive = await self._upstream_alive()
            if alive and server is None:
                server = await asyncio.start_server(
                    self.handle,
                    *listen,
                    ssl=self.outer,
                    ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
                    reuse_address=True,
                )
            elif not alive and server is not None:
                server.close()
                server = None
            await asyncio.sleep(UPSTREAM_CHECK)

    async def _upstream_alive(self) -> bool:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(self.upstream), timeout=UPSTREAM_CHECK
            )
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True


UPSTREAM_CHECK = 0.2  # seconds between checks that dockerd answers on its socket


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, half_close: bool) -> None:
    """Copy until EOF. Towards dockerd the end is a half-close (a hijacked exec's stdin
    ends, its output still comes); towards the client (TLS: no half-close) it closes."""
    try:
        while data := await src.read(CHUNK):
            dst.write(data)
            await dst.drain()
        if half_close and dst.can_write_eof():
            dst.write_eof()
        else:
            dst.close()
    except (OSError, ssl.SSLError, RuntimeError):
        dst.close()


def parse_addr(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"not IP:PORT: {text!r}")
    return host, int(port)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen", required=True, type=parse_addr, help="IP:PORT to accept on")
    parser.add_argument("--upstream", required=True, help="the dockerd socket to splice to")
    parser.add_argument("--tls-dir", required=True, type=pathlib.Path, help="ca/cert/key.pem")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Front(args.upstream, args.tls_dir).serve(args.listen))


if __name__ == "__main__":
    main()
