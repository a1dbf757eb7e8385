# SPDX-License-Identifier: Apache-2.0
"""A real HTTP server on 127.0.0.1 serving manifests, for the API's manifest_url fetches:
files, redirects, errors, and answers that never end (to hold the API to its deadline).

Paths: /<name> of `files`; /redirect?to=<url> (302); /missing (404); /stall (answers
nothing until released); /drip (a header, then a byte every 50 ms until released);
/chunked?size=<n> (n bytes of YAML comment, chunked, no Content-Length). `seen` lists every
path asked for, in order."""

from __future__ import annotations

import contextlib
import http.server
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

HOLD = 30.0  # seconds a stalled answer waits at most for its release


class ManifestServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.seen: list[str] = []
        self.release = threading.Event()
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

            def do_GET(self) -> None:
                # the API may give up on an answer (a limit it holds to)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._get()

            def _get(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                server.seen.append(url.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/redirect":
                    self._answer(302, b"", location=query["to"])
                elif url.path == "/stall":
                    server.release.wait(HOLD)
                    self._answer(200, b"{}")
                elif url.path == "/drip":
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    while not server.release.wait(0.05):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                elif url.path == "/chunked":
                    self._chunked(int(query["size"]))
                elif url.path.lstrip("/") in server.files:
                    self._answer(200, server.files[url.path.lstrip("/")])
                else:
                    self._answer(404, b"no such file")

            def _answer(self, status: int, body: bytes, *, location: str | None = None) -> None:
                self.send_response(status)
                if location is not None:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _chunked(self, size: int) -> None:
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"#" + b"x" * 8190 + b"\n"
                sent = 0
                while sent < size:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                self.wfile.write(b"0\r\n\r\n")

        return Handler


def running() -> Iterator[ManifestServer]:
    """A started server, stopped after use (for a fixture)."""
    server = ManifestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
