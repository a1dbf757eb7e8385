# SPDX-License-Identifier: Apache-2.0
"""Assertions shared by the API contract tests."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import falcon.testing

from tests.functional.conftest import BAYMODEL, Service

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ERROR_KEYS = {"request_id", "code", "status", "title", "detail", "links"}


def error(
    res: falcon.testing.Result,
    status: int,
    detail: str | None = None,
    *,
    contains: tuple[str, ...] = (),
    code: str = "client",
) -> list[dict[str, Any]]:
    """Assert `res` is a Magnum error response; return its elements."""
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/json")
    body = res.json
    assert set(body) == {"errors"}, body
    elements = body["errors"]
    assert isinstance(elements, list) and elements, body
    for el in elements:
        assert set(el) == ERROR_KEYS, el
        assert el["status"] == status
        assert el["code"] == code
        assert el["links"] == []
        assert el["request_id"] == res.headers["x-openstack-request-id"]
        if el["detail"]:
            assert el["title"] == el["detail"].split(".", 1)[0]
    details = [el["detail"] for el in elements]
    if detail is not None:
        assert detail in details, details
    for fragment in contains:
        assert any(fragment in d for d in details), (fragment, details)
    return elements


def path(url: str) -> str:
    """The path and query of an absolute link, to request it from the test client."""
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "falconframework.org", url
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def make_cluster_template(svc: Service, project: str = "p1", **fields: Any) -> dict[str, Any]:
    res = svc.post("/v1/baymodels", BAYMODEL | fields, project=project)
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json
    return body


def names(svc: Service, collection: str, project: str = "p1") -> list[str | None]:
    res = svc.get(f"/v1/{collection}", project=project)
    assert res.status_code == 200, res.text
    return [item["name"] for item in res.json[collection]]


def walk(svc: Service, url: str, key: str, project: str = "p1") -> list[dict[str, Any]]:
    """Follow `next` links from `url`; return every item in page order."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    next_url: str | None = url
    while next_url:
        res = svc.get(next_url, project=project)
        assert res.status_code == 200, res.text
        page = res.json[key]
        items.extend(page)
        link = res.json.get("next")
        if link is not None:
            assert link not in seen, "pagination loops"
            seen.add(link)
            next_url = path(link)
        else:
            next_url = None
    return items


def poll(fetch: Callable[[], Any], until: Callable[[Any], bool], timeout: float = 10.0) -> Any:
    """Call `fetch` until `until(result)` holds (a deadline, not a sleep, bounds the wait)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        result = fetch()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition never held; last: {result}")
        pause.wait(0.05)
