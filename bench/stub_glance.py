# SPDX-License-Identifier: Apache-2.0
"""A read-only stand-in for Glance's image API: one image, for bench/upstream_bench.py.

Upstream Magnum looks every template's image up in Glance (openstacksdk's find_image) on
each POST and PATCH of a cluster template, and takes the driver from the image's
`os_distro`. This serves what those lookups read: the version document, the image by id
and the image list (by name), nothing else. A benchmark fixture, on 127.0.0.1 only.

Run:  python bench/stub_glance.py --image-id UUID [--name NAME] [--os-distro ubuntu]
      (prints the port it listens on, on one line, then serves until SIGTERM)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TIMESTAMP = "2026-01-01T00:00:00Z"


def image_document(image_id: str, name: str, os_distro: str) -> dict[str, Any]:
    return {
        "id": image_id,
        "name": name,
        "status": "active",
        "visibility": "public",
        "protected": False,
        "os_hidden": False,
        "os_distro": os_distro,
        "container_format": "bare",
        "disk_format": "qcow2",
        "size": 1024,
        "virtual_size": None,
        "min_disk": 0,
        "min_ram": 0,
        "checksum": None,
        "owner": None,
        "tags": [],
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "self": f"/v2/images/{image_id}",
        "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }


def make_handler(image: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _versions(self) -> dict[str, Any]:
            host = self.headers.get("Host", "127.0.0.1")
            return {
                "versions": [
                    {
                        "id": "v2.16",
                        "status": "CURRENT",
                        "links": [{"rel": "self", "href": f"http://{host}/v2/"}],
                    }
                ]
            }

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            path = url.path.rstrip("/")
            if path in ("", "/v2"):
                self._send(300 if path == "" else 200, self._versions())
            elif path == "/v2/images":
                query = urllib.parse.parse_qs(url.query)
                names = query.get("name")
                wanted = names is None or image["name"] in names or image["id"] in names
                ids = query.get("id")
                wanted = wanted and (ids is None or image["id"] in ids)
                self._send(
                    200, {"images": [image] if wanted else [], "schema": "/v2/schemas/images"}
                )
            elif path == f"/v2/images/{image['id']}":
                self._send(200, image)
            else:
                self._send(404, {"message": "Not Found", "code": "404 Not Found"})

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-id", required=True)
    parser.add_argument("--name", default="bench-ubuntu")
    parser.add_argument("--os-distro", default="ubuntu")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    image = image_document(args.image_id, args.name, args.os_distro)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(image))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
