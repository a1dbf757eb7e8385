# SPDX-License-Identifier: Apache-2.0
"""The HTTP servers' own edges, on real processes: gunicorn (magnum-api) and cheroot
(magnum-aio) answer what they refuse by themselves (a bad request line, an oversize URL or
header, a malformed chunk) in Magnum's `{"errors": [...]}` JSON, bounded; a chunked body is
read within [api] max_body_size; media types match exactly."""

from __future__ import annotations

import contextlib
import json
import pathlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from magnum.db import migration
from tests.functional.test_magnumclient import Lines, started_aio

pytestmark = pytest.mark.slow

VENV_BIN = pathlib.Path(sys.executable).parent
GUNICORN_URL = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
BAYMODEL = {"name": "m1", "image_id": "fedora-atomic", "keypair_id": "kp", "coe": "swarm"}
FAKE_DRIVERS = "[conductor]\nenabled_infra_drivers = fake\nenabled_coe_drivers = fakecoe\n"


@contextlib.contextmanager
def started_gunicorn(tmp: pathlib.Path) -> Iterator[int]:
    """magnum-api (gunicorn, one worker) on a free port, SQLite, no conductor needed."""
    db = f"sqlite:///{tmp / 'magnum.sqlite'}"
    migration.upgrade(db)
    conf = tmp / "magnum.conf"
    conf.write_text(
        f"[DEFAULT]\ntransport_url = inproc://\nstate_path = {tmp / 'state'}\n"
        f"[database]\nconnection = {db}\n[api]\nport = 0\nworkers = 1\n{FAKE_DRIVERS}"
    )
    log = (tmp / "gunicorn.log").open("w+")
    proc = subprocess.Popen(
        [str(VENV_BIN / "magnum-api"), "--config-file", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None:
            assert time.monotonic() < deadline and proc.poll() is None, (
                tmp / "gunicorn.log"
            ).read_text()
            text = (tmp / "gunicorn.log").read_text()
            if (match := GUNICORN_URL.search(text)) and "Booting worker" in text:
                port = int(match.group(1))
            else:
                time.sleep(0.1)
        _wait_answers(port)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_answers(port: int) -> None:
    deadline = time.monotonic() + 30
    while b" 200 " not in _exchange(
        port, b"GET /v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ):
        assert time.monotonic() < deadline, "the API never answered"
        time.sleep(0.1)


@pytest.fixture(scope="module", params=["gunicorn", "cheroot"])
def port(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "gunicorn":
        with started_gunicorn(tmp) as port:
            yield port
        return
    conf = tmp / "magnum.conf"
    conf.write_text(FAKE_DRIVERS)
    running: tuple[str, subprocess.Popen[str], Lines]
    with started_aio(tmp, tmp / "state", conf) as running:
        yield int(running[0].rsplit(":", 1)[1].split("/")[0])


def _exchange(port: int, data: bytes, *, limit: int = 1 << 20) -> bytes:
    """Send `data` on a new connection; everything answered until the server closes (at
    most `limit` bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # a server may refuse before reading it all
            sock.sendall(data)
        out = b""
        with contextlib.suppress(OSError):
            while len(out) < limit and (chunk := sock.recv(65536)):
                out += chunk
    return out


def _answer(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    length = int(headers["content-length"])
    assert len(body) >= length, raw[:500]
    return status, headers, json.loads(body[:length])


def _error(raw: bytes, status: int, *, contains: str = "") -> dict[str, Any]:
    """Assert `raw` is one Magnum error answer of `status`; return its element."""
    got, headers, body = _answer(raw)
    assert got == status, raw[:500]
    assert headers["content-type"].startswith("application/json"), headers
    assert set(body) == {"errors"} and len(body["errors"]) == 1, body
    (element,) = body["errors"]
    assert set(element) == {"request_id", "code", "status", "title", "detail", "links"}
    assert element["status"] == status
    assert element["code"] == ("client" if status < 500 else "server")
    assert element["request_id"] == headers["x-openstack-request-id"]
    assert element["request_id"].startswith("req-")
    assert contains in element["detail"], element
    assert len(element["detail"]) <= 300, element
    return dict(element)


def _request(method: str, path: str, headers: str = "", body: bytes = b"") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode() + body
    )


def _chunked(body: bytes, *, pieces: int = 3) -> bytes:
    size = max(1, len(body) // pieces)
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_an_8_mb_url_is_a_small_json_414(port: int) -> None:
    raw = _exchange(port, b"GET /v1/bays/" + b"a" * (8 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(raw) < 2048, len(raw)
    _error(raw, 414)


def test_a_url_just_past_the_limit_is_414_and_one_within_is_served(port: int) -> None:
    _error(_exchange(port, _request("GET", "/v1/bays/" + "a" * 8200)), 414)
    raw = _exchange(port, _request("GET", "/v1/bays/" + "a" * 8000))
    element = _error(raw, 404)
    # the echoed identifier is cut to 255 characters, then an ellipsis
    assert element["detail"] == f"Bay {'a' * 255}\u2026 could not be found."


def test_an_oversize_header_is_a_json_431(port: int) -> None:
    raw = _exchange(port, _request("GET", "/v1/bays", f"X-Big: {'b' * 100_000}\r\n"))
    assert len(raw) < 2048, len(raw)
    _error(raw, 431)


def test_too_many_headers_is_a_json_431(port: int) -> None:
    many = "".join(f"X-H{i}: v\r\n" for i in range(150))
    _error(_exchange(port, _request("GET", "/v1/bays", many)), 431)


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/bays HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"GET /v1/bays HTTP/9.9\r\nHost: x\r\n\r\n",
    ],
    ids=["request-line", "header-line", "version"],
)
def test_what_the_server_refuses_itself_is_json(port: int, raw: bytes) -> None:
    answer = _exchange(port, raw)
    status = _answer(answer)[0]
    assert status in (400, 505), answer
    _error(answer, status)


def test_a_chunked_body_is_read(port: int) -> None:
    body = json.dumps(BAYMODEL | {"name": f"chunked-{port}"}).encode()
    raw = _exchange(
        port,
        _request(
            "POST",
            "/v1/baymodels",
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
            _chunked(body),
        ),
    )
    status, _, created = _answer(raw)
    assert status == 201, raw[:800]
    assert created["name"] == f"chunked-{port}"


def test_a_chunked_body_past_max_body_size_is_413(port: int) -> None:
    body = json.dumps(BAYMODEL | {"labels": {"x": "y" * (1 << 20)}}).encode()
    raw = _exchange(
        port,
        _request(
            "POST",
            "/v1/baymodels",
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
            _chunked(body, pieces=64),
        ),
    )
    _error(raw, 413, contains="Request body is larger than 1048576 bytes")


def test_a_malformed_chunk_is_400(port: int) -> None:
    raw = _exchange(
        port,
        _request(
            "POST",
            "/v1/baymodels",
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
            b"zz\r\n{}\r\n0\r\n\r\n",
        ),
    )
    _error(raw, 400)


@pytest.mark.parametrize("media", ["application/jsonx", "application/json-seq", "text/json"])
def test_near_json_media_types_are_415(port: int, media: str) -> None:
    body = json.dumps(BAYMODEL).encode()
    headers = f"Content-Type: {media}\r\nContent-Length: {len(body)}\r\n"
    _error(
        _exchange(port, _request("POST", "/v1/baymodels", headers, body)),
        415,
        contains=f"Unknown mimetype: {media}",
    )
