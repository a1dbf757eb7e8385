# SPDX-License-Identifier: Apache-2.0
"""Real connection attempts from wherever this runs (e.g. inside a node's network
namespace, through nsenter): `python _probe.py TIMEOUT IP:PORT ...` prints one JSON
object {target: outcome}, outcome "open", "refused", "timeout" or "unreachable", and for
"open" targets that answer HTTP, "open:<first line of the body>"."""

from __future__ import annotations

import concurrent.futures
import errno
import json
import socket
import sys


def attempt(target: str, timeout: float) -> str:
    host, port = target.rsplit(":", 1)
    try:
        conn = socket.create_connection((host, int(port)), timeout=timeout)
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "unreachable"
        return f"error:{exc.errno}"
    with conn:
        if int(port) != 8080:
            return "open"
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        try:
            while chunk := conn.recv(4096):
                data += chunk
        except OSError:
            pass
        body = data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip()
        return f"open:{body.splitlines()[0] if body else ''}"


def main() -> None:
    timeout = float(sys.argv[1])
    targets = sys.argv[2:]
    with concurrent.futures.ThreadPoolExecutor(max(1, len(targets))) as pool:
        results = dict(zip(targets, pool.map(lambda t: attempt(t, timeout), targets), strict=True))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
