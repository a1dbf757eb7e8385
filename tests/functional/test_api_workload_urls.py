# SPDX-License-Identifier: Apache-2.0
"""manifest_url: the API fetches a manifest on the tenant's behalf, from a real HTTP server
on 127.0.0.1 (tests/functional/workload_server.py), only from the hosts [api]
manifest_url_allowed_hosts names, never to other hosts by redirects, at most
max_manifest_size bytes and manifest_url_timeout seconds; on the three databases."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.functional import _api
from tests.functional.conftest import Service
from tests.functional.test_api_workloads import K8S, POD, RC_YAML, Checked, fake, make_bay
from tests.functional.workload_server import ManifestServer, running

TIMEOUT = 0.5  # [api] manifest_url_timeout of these tests
LIMIT = "Manifest exceeds maximum allowed size (524288 bytes)"


@pytest.fixture
def server() -> Iterator[ManifestServer]:
    yield from running()


@pytest.fixture
def api(service_factory: Callable[..., Service], server: ManifestServer) -> Checked:
    server.files["pod.json"] = json.dumps(POD).encode()
    server.files["rc.yaml"] = RC_YAML.encode()
    svc = service_factory(
        conductor=K8S,
        api={"manifest_url_allowed_hosts": [server.host], "manifest_url_timeout": TIMEOUT},
    )
    return Checked(svc)


@pytest.fixture
def bay(api: Checked) -> dict[str, Any]:
    return make_bay(api.svc)


def _post(api: Checked, bay: dict[str, Any], url: str, collection: str = "pods") -> Any:
    return api.svc.post(f"/v1/{collection}", {"bay_uuid": bay["uuid"], "manifest_url": url})


def test_a_manifest_from_an_allowed_host(
    api: Checked, bay: dict[str, Any], server: ManifestServer
) -> None:
    url = server.url("/pod.json")
    pod = api("POST", "/v1/pods", 201, json={"bay_uuid": bay["uuid"], "manifest_url": url})
    assert (pod["name"], pod["images"], pod["manifest_url"]) == ("web", ["nginx"], url)
    assert pod["manifest"] == json.dumps(POD)  # what was fetched, as Magnum showed it
    rc = api(
        "POST",
        "/v1/rcs",
        201,
        json={"bay_uuid": bay["uuid"], "manifest_url": server.url("/rc.yaml")},
    )
    assert (rc["name"], rc["replicas"]) == ("web-rc", 2)
    # python-magnumclient 2.1 sends "manifest_url": null with an inline manifest
    body = {
        "bay_uuid": bay["uuid"],
        "manifest": RC_YAML.replace("web-rc", "rc2"),
        "manifest_url": None,
    }
    assert api("POST", "/v1/rcs", 201, json=body)["name"] == "rc2"
    # an update may name a URL too
    server.files["pod2.json"] = json.dumps(
        {
            **POD,
            "spec": {
                "containers": [
                    {"name": "web", "image": "busybox", "ports": [{"containerPort": 80}]}
                ]
            },
        }
    ).encode()
    patched = api(
        "PATCH",
        f"/v1/pods/web/{bay['uuid']}",
        200,
        json=[{"op": "add", "path": "/manifest_url", "value": server.url("/pod2.json")}],
    )
    assert patched["images"] == ["busybox"]
    assert server.seen == ["/pod.json", "/rc.yaml", "/pod2.json"]


def test_nothing_is_fetched_unless_the_operator_allows_the_host(
    service_factory: Callable[..., Service], server: ManifestServer
) -> None:
    server.files["pod.json"] = json.dumps(POD).encode()
    svc = service_factory(conductor=K8S)  # the default: no host allowed
    bay = make_bay(svc)
    res = svc.post("/v1/pods", {"bay_uuid": bay["uuid"], "manifest_url": server.url("/pod.json")})
    _api.error(
        res,
        400,
        "The API fetches no manifest_url: no host is allowed ([api] manifest_url_allowed_hosts "
        "is empty). Send the manifest itself as 'manifest', or ask the operator to allow the host.",
    )
    assert server.seen == []


def test_urls_the_api_may_not_fetch(
    api: Checked, bay: dict[str, Any], server: ManifestServer
) -> None:
    port = server.port
    for url, detail in (
        ("ftp://127.0.0.1/pod.json", "Invalid URL scheme ftp"),
        ("file:///etc/passwd", "Invalid URL scheme file"),
        ("pod.json", "Invalid URL scheme "),
        (
            f"http://localhost:{port}/pod.json",
            f"The API may not fetch manifests from localhost:{port}: it is not in [api] "
            "manifest_url_allowed_hosts.",
        ),
        (
            "http://127.0.0.1/pod.json",
            "The API may not fetch manifests from 127.0.0.1:80: it is not in [api] "
            "manifest_url_allowed_hosts.",
        ),
        (
            f"http://user:secret@127.0.0.1:{port}/pod.json",
            "Failed to retrieve manifest: the URL holds credentials, which the API does not send",
        ),
        (f"http://127.0.0.1:{port}x/pod.json", None),
    ):
        res = _post(api, bay, url)
        api.described.check("POST", "/v1/pods", res.status_code, res.text)
        if detail is None:
            (element,) = _api.error(res, 400)
            assert element["detail"].startswith("Failed to retrieve manifest: the URL is not valid")
        else:
            _api.error(res, 400, detail)
    assert server.seen == []


def test_what_the_server_answers_decides(
    api: Checked, bay: dict[str, Any], server: ManifestServer
) -> None:
    server.files["latin1.yaml"] = "metadata: {name: caf\xe9}\n".encode("latin-1")
    server.files["big.yaml"] = b"#" + b"x" * 524288 + b"\n"
    for path, detail in (
        ("/missing", "Failed to retrieve manifest: the server answered 404 Not Found"),
        ("/latin1.yaml", "Failed to retrieve manifest: it is not UTF-8 text"),
        ("/big.yaml", LIMIT),  # said by its Content-Length
        ("/chunked?size=600000", LIMIT),  # found while reading
    ):
        _api.error(_post(api, bay, server.url(path)), 400, detail)
    assert fake(api.svc).calls["create"] == 0


def test_redirects_only_to_allowed_hosts(
    api: Checked, bay: dict[str, Any], server: ManifestServer
) -> None:
    res = _post(api, bay, server.url("/redirect?to=/pod.json"))
    assert res.status_code == 201, res.text
    assert server.seen == ["/redirect", "/pod.json"]
    server.seen.clear()
    away = f"http://localhost:{server.port}/pod.json"  # the same server, by a name not allowed
    _api.error(
        _post(api, bay, server.url(f"/redirect?to={away}")),
        400,
        f"The API may not fetch manifests from localhost:{server.port}: it is not in [api] "
        "manifest_url_allowed_hosts.",
    )
    assert server.seen == ["/redirect"]  # never followed
    hops = server.url(
        "/redirect?to=/redirect%3Fto%3D/redirect%253Fto%253D/redirect%25253Fto%25253D/pod.json"
    )
    _api.error(_post(api, bay, hops), 400, "Failed to retrieve manifest: more than 3 redirects")


@pytest.mark.parametrize("path", ["/stall", "/drip"])
def test_a_fetch_is_bounded_in_time(
    api: Checked, bay: dict[str, Any], server: ManifestServer, path: str
) -> None:
    """/stall never answers, /drip answers a byte at a time forever: each socket read is
    quick there, only the whole answer is late."""
    started = time.monotonic()
    res = _post(api, bay, server.url(path))
    elapsed = time.monotonic() - started
    _api.error(
        res,
        400,
        f"Failed to retrieve manifest: no complete answer within {TIMEOUT:g} s "
        "([api] manifest_url_timeout)",
    )
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 5, elapsed
