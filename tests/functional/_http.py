# SPDX-License-Identifier: Apache-2.0
"""A service's API behind a real HTTP server with a bounded thread pool (cheroot, as
magnum-aio runs it), for tests of what requests do to each other's threads."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

from cheroot import wsgi

from tests.functional.conftest import Service

THREADS = 8  # magnum-aio's


@contextlib.contextmanager
def serve(svc: Service, *, threads: int = THREADS) -> Iterator[str]:
    """svc's API on 127.0.0.1 (a free port) while the block runs; yields host:port."""
    server = wsgi.Server(("127.0.0.1", 0), svc.client.app, numthreads=threads)
    server.prepare()
    thread = threading.Thread(target=server.serve, name="test-api", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.bind_addr[1]}"
    finally:
        server.stop()
        thread.join(timeout=10)


def request(
    address: str, method: str, path: str, *, timeout: float = 60.0, project: str = "p1"
) -> tuple[int, http.client.HTTPMessage, Any]:
    """(status, headers, decoded JSON body or None) of one request as `project`."""
    conn = http.client.HTTPConnection(address, timeout=timeout)
    try:
        conn.request(
            method, path, headers={"X-Project-Id": project, "X-User-Id": f"{project}-user"}
        )
        res = conn.getresponse()
        body = res.read()
        return res.status, res.headers, json.loads(body) if body else None
    finally:
        conn.close()
