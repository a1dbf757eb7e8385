# SPDX-License-Identifier: Apache-2.0
"""A TCP proxy on 127.0.0.1 in front of a real service (RabbitMQ, PostgreSQL), so one
process's link to it can fail while everyone else's keeps working: `cut()` drops every
connection and refuses new ones, as a stopped service does; `hang()` accepts connections
and never answers, as an unreachable host does; `restore()` forwards again, on the same
port. Closing a socket resets it (SO_LINGER 0), as a dying server's kernel does."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from typing import Literal

Mode = Literal["forward", "hang", "cut"]


class Proxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._mode: Mode = "forward"
        listener = self._listen(0)
        self.port: int = listener.getsockname()[1]
        self._listener: socket.socket | None = listener
        self._start_accepting(listener)

    # --- failure modes ---------------------------------------------------------------
    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        with self._lock:
            self._mode = "cut"
            self._close_listener()
            self._drop_all()

    def hang(self) -> None:
        """Accept new connections but never forward them; drop the open ones."""
        with self._lock:
            self._mode = "hang"
            self._drop_all()
            self._relisten()

    def restore(self) -> None:
        with self._lock:
            self._mode = "forward"
            self._drop_all()  # hung connections never spoke: let their owners reconnect
            self._relisten()

    def close(self) -> None:
        with self._lock:
            self._mode = "cut"
            self._close_listener()
            self._drop_all()

    # --- plumbing ----------------------------------------------------------------------
    @staticmethod
    def _listen(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
        return sock

    def _start_accepting(self, listener: socket.socket) -> None:
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _relisten(self) -> None:
        if self._listener is None:
            self._listener = self._listen(self.port)
            self._start_accepting(self._listener)

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None

    def _drop_all(self) -> None:
        for sock in list(self._socks):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self._socks.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                if self._mode == "cut":
                    client.close()
                    continue
                self._socks.add(client)
                if self._mode == "hang":
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks.add(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()
                with self._lock:
                    self._socks.discard(sock)
