# SPDX-License-Identifier: Apache-2.0
"""A tiny TCP forwarder: one stable address in front of several backends.

    python -m magnum.drivers.infra.local.forwarder --listen IP:PORT --backend IP:PORT ...

Every accepted connection is spliced, byte for byte, to the first backend (in the given
order) that accepts a connection within CONNECT_TIMEOUT. Nothing is terminated here: TLS
runs end to end between the client and the backend, so both still verify each other's
certificate. A backend that refused or timed out goes to the back of the order for
PENALTY seconds, so that later connections do not wait for it again. When no backend
answers, the client's connection is closed.

The local infrastructure driver runs one per multi-master bay on the host side of the
bay's bridge (see frontend.py), in front of the masters' dockerd.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections.abc import Sequence

CONNECT_TIMEOUT = 0.5
PENALTY = 5.0
CHUNK = 65536


def parse_addr(text: str) -> tuple[str, int]:
    """'IP:PORT' -> (IP, PORT)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"not IP:PORT: {text!r}")
    return host, int(port)


class Forwarder:
    """Accepts on `listen` and splices each connection to the first live backend."""

    def __init__(self, backends: Sequence[tuple[str, int]]) -> None:
        if not backends:
            raise ValueError("at least one backend is needed")
        self.backends = list(backends)
        self._failed: dict[tuple[str, int], float] = {}

    def _order(self) -> list[tuple[str, int]]:
        now = time.monotonic()
        # Stable sort: healthy backends first in their given order, then the penalised ones.
        return sorted(self.backends, key=lambda b: self._failed.get(b, 0.0) > now)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for backend in self._order():
            try:
                conn = await asyncio.wait_for(
                    asyncio.open_connection(*backend), timeout=CONNECT_TIMEOUT
                )
            except OSError:  # refused, unreachable, or TimeoutError (an OSError)
                self._failed[backend] = time.monotonic() + PENALTY
                continue
            self._failed.pop(backend, None)
            return conn
        return None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            writer.close()
            up_writer.close()

    async def serve(self, listen: tuple[str, int]) -> None:
        server = await asyncio.start_server(self.handle, *listen, reuse_address=True)
        async with server:
            await server.serve_forever()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close `dst` so that the other direction can finish. A
    reset closes `dst`, which ends the other direction too (its reader sees EOF)."""
    try:
        while data := await src.read(CHUNK):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except OSError:
        dst.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen", required=True, type=parse_addr, help="IP:PORT to accept on")
    parser.add_argument(
        "--backend", required=True, action="append", type=parse_addr, help="IP:PORT, in order"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Forwarder(args.backend).serve(args.listen))


if __name__ == "__main__":
    main()
