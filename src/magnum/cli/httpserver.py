# SPDX-License-Identifier: Apache-2.0
"""What the HTTP servers answer by themselves, before the application sees a request.

A bad request line, an oversize URL or header, a malformed chunk: gunicorn answers those in
HTML and cheroot in plain text. Magnum answers every error in its `{"errors": [...]}` shape
(magnum.api.errors), so these answers are built here in that shape too, with a request id
and a bounded detail. Request lines and headers are bounded by [api] max_request_line,
max_header_size and max_header_count, under both servers alike.
"""

from __future__ import annotations

import http
import json
import uuid
from typing import Any

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server
from cheroot import wsgi

from magnum.api import errors
from magnum.common import exceptions


def error_response(status: int, detail: str) -> bytes:
    """A whole HTTP/1.1 response, closing the connection, for an error of the server's own."""
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    request_id = f"req-{uuid.uuid4()}"
    element = errors.element(
        status, exceptions.shorten(detail), request_id=request_id, title=reason
    )
    body = json.dumps({"errors": [element]}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-OpenStack-Request-Id: {request_id}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


# --- cheroot (magnum-aio) -----------------------------------------------------------------
class _HeadersTooLarge(Exception):
    pass


class _HeaderLines:
    """The request's stream while its headers are read: no line longer than `size`, no more
    than `count` of them (cheroot bounds neither by itself)."""

    def __init__(self, rfile: Any, size: int, count: int) -> None:
        self._rfile, self._size, self._left = rfile, size, count + 1  # + the empty last line

    def readline(self, size: int | None = None) -> bytes:
        del size
        self._left -= 1
        if self._left < 0:
            raise _HeadersTooLarge("The request has too many header fields.")
        line: bytes = self._rfile.readline(self._size + 3)
        if len(line) > self._size + 2:  # + CRLF
            raise _HeadersTooLarge(f"A request header field is longer than {self._size} bytes.")
        return line


class _Request(cheroot_server.HTTPRequest):
    server: Server

    def read_request_line(self) -> bool:
        # cheroot answers 414 once this many bytes were read without the end of the line
        self.rfile.maxlen = self.server.max_request_line + 2
        ok: bool = super().read_request_line()  # type: ignore[no-untyped-call]
        return ok

    def read_request_headers(self) -> bool:
        stream = self.rfile
        stream.maxlen = 0  # the headers are bounded line by line instead
        self.rfile = _HeaderLines(stream, self.server.max_header_size, self.server.max_header_count)
        try:
            ok: bool = super().read_request_headers()  # type: ignore[no-untyped-call]
        except _HeadersTooLarge as exc:
            self.simple_response("431 Request Header Fields Too Large", str(exc))
            return False
        finally:
            self.rfile = stream
        return ok

    def respond(self) -> None:
        super().respond()
        if self.chunked_read and not getattr(self.rfile, "closed", True):
            # a chunked body the application did not read to its end: the rest of it is no
            # next request
            self.close_connection = True

    def simple_response(self, status: Any, msg: Any = "") -> None:
        detail = msg.decode("latin-1") if isinstance(msg, bytes) else str(msg)
        self.close_connection = True
        try:
            self.conn.wfile.write(error_response(int(str(status)[:3]), detail))
        except OSError as exc:
            if exc.args[0] not in cheroot_errors.socket_errors_to_ignore:
                raise


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request


class Server(wsgi.Server):
    """cheroot's WSGI server, answering its own errors in Magnum's shape."""

    ConnectionClass = _Connection

    def __init__(self, *args: Any, api: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_request_line: int = api.max_request_line
        self.max_header_size: int = api.max_header_size
        self.max_header_count: int = api.max_header_count
