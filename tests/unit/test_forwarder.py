# SPDX-License-Identifier: Apache-2.0
"""The API forwarder (magnum.drivers.infra.local.forwarder) run as its command line, with
echo backends on 127.0.0.1: connections go to the first backend that accepts, dead ones
are skipped, data passes through unchanged in both directions."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from magnum.drivers.infra.local import forwarder


class Echo:
    """A TCP server on 127.0.0.1 answering every connection with `tag` + what it receives."""

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.hits += 1
                threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.sendall(self.tag)
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        # shutdown wakes the blocked accept() and stops listening (close alone does not).
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def _free_port() -> int:
    """A port nothing listens on (connections to it are refused)."""
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _forwarder(*backends: int) -> Iterator[int]:
    port = _free_port()
    argv = [sys.executable, "-m", forwarder.__name__, "--listen", f"127.0.0.1:{port}"]
    for b in backends:
        argv += ["--backend", f"127.0.0.1:{b}"]
    proc = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, "the forwarder exited"
                assert time.monotonic() < deadline, "the forwarder did not listen"
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # seen once on a loaded box: never leave it behind
            proc.kill()
            proc.wait(timeout=10)


def _talk(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


@pytest.fixture
def echoes() -> Iterator[tuple[Echo, Echo]]:
    a, b = Echo(b"A:"), Echo(b"B:")
    yield a, b
    a.close()
    b.close()


def test_first_live_backend_gets_the_traffic(echoes: tuple[Echo, Echo]) -> None:
    a, b = echoes
    payload = bytes(range(256)) * 4096  # 1 MiB, both ways
    with _forwarder(a.port, b.port) as port:
        assert _talk(port, payload) == b"A:" + payload
    assert b.hits == 0


def test_dead_backend_is_skipped(echoes: tuple[Echo, Echo]) -> None:
    _, b = echoes
    dead = _free_port()
    with _forwarder(dead, b.port) as port:
        for _ in range(3):
            assert _talk(port, b"ping") == b"B:ping"


def test_backend_dying_later_is_skipped(echoes: tuple[Echo, Echo]) -> None:
    a, b = echoes
    with _forwarder(a.port, b.port) as port:
        assert _talk(port, b"1") == b"A:1"
        a.close()
        assert _talk(port, b"2") == b"B:2"


def test_no_live_backend_closes_the_connection() -> None:
    with _forwarder(_free_port(), _free_port()) as port:
        assert _talk(port, b"x") == b""


def test_addresses_are_checked() -> None:
    assert forwarder.parse_addr("10.250.3.1:2376") == ("10.250.3.1", 2376)
    for bad in ("10.250.3.1", ":2376", "10.250.3.1:x"):
        with pytest.raises(Exception, match="IP:PORT"):
            forwarder.parse_addr(bad)
