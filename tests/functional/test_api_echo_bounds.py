# SPDX-License-Identifier: Apache-2.0
"""What an error echoes of the caller's input is bounded: each value is cut to 255
characters with an ellipsis, a whole message to 1024; and the media type of a JSON body
matches exactly (parameters aside)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from magnum.common import exceptions
from tests.functional import _api
from tests.functional.conftest import BAYMODEL, Service

CUT = "\u2026"


def test_shorten() -> None:
    assert exceptions.shorten("abc") == "abc"
    assert exceptions.shorten("a" * 255) == "a" * 255
    assert exceptions.shorten("a" * 256) == "a" * 255 + CUT
    assert exceptions.shorten(exceptions.shorten("b" * 9000)) == "b" * 255 + CUT  # idempotent
    assert exceptions.shorten(12345, limit=3) == "123" + CUT


def test_errors_bound_their_fields_and_messages() -> None:
    err = exceptions.ClusterNotFound(cluster="x" * 10_000)
    assert err.message == f"Cluster {'x' * 255}{CUT} could not be found."
    assert err.kwargs == {"cluster": "x" * 255 + CUT}  # what crosses RPC is bounded too
    rebuilt = exceptions.ClusterNotFound(**err.kwargs)  # as oslo.messaging rebuilds it
    assert rebuilt.message == err.message
    whole = exceptions.InvalidParameterValue(err="y" * 10_000)
    assert whole.message == "y" * 1024 + CUT
    assert exceptions.ImageTooLarge(limit=1024).message.startswith("The image archive is larger")


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        ("/v1/bays/" + "b" * 5000, "Bay "),
        ("/v1/baymodels/" + "m" * 5000, "Baymodel "),
        ("/v1/bays?" + "q" * 5000 + "=1", 'Unknown argument: "'),
        ("/v1/bays?sort_key=" + "k" * 5000, 'The sort_key value "'),
        ("/v1/bays?sort_dir=" + "d" * 5000, "Invalid sort direction: "),
        ("/v1/bays?limit=" + "l" * 5000, "Invalid input for field/attribute limit. Value: '"),
        ("/v1/bays?marker=" + "u" * 5000, "Expected a uuid but received "),
        ("/v1/bays/x/events?since=" + "s" * 5000, "Invalid since: '"),
    ],
    ids=["bay", "baymodel", "arg", "sort_key", "sort_dir", "limit", "marker", "since"],
)
def test_echoed_query_and_path_values_are_cut(svc: Service, path: str, prefix: str) -> None:
    res = svc.get(path)
    assert 400 <= res.status_code < 500, res.text
    assert len(res.text) < 1200, len(res.text)
    (element,) = res.json["errors"]
    assert element["detail"].startswith(prefix), element
    assert CUT in element["detail"], element
    assert len(element["detail"]) < 255 + 120, element


def test_echoed_body_values_are_cut(svc: Service) -> None:
    body: dict[str, Any] = BAYMODEL | {"name": "n" * 100_000, "http_proxy": "p" * 100_000}
    body |= {f"extra-{i}-{'e' * 300}": 1 for i in range(500)}
    res = svc.post("/v1/baymodels", body)
    assert res.status_code == 400, res.text[:300]
    assert len(res.text) < 8000, len(res.text)
    for element in res.json["errors"]:
        assert len(element["detail"]) <= 1025, element


@pytest.mark.parametrize(
    "media",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.openstack.magnum.v1+json",
    ],
)
def test_json_media_types_are_accepted(svc: Service, media: str) -> None:
    res = svc.request(
        "POST",
        "/v1/baymodels",
        body=json.dumps(BAYMODEL),
        headers={"Content-Type": media},
    )
    assert res.status_code == 201, res.text


@pytest.mark.parametrize(
    "media",
    [
        "application/jsonx",
        "application/json-patch+json",
        "application/vnd.openstack.magnum",
        "application/vnd.openstack.magnumx",
        "application/x-json",
    ],
)
def test_other_media_types_are_415(svc: Service, media: str) -> None:
    res = svc.request(
        "POST",
        "/v1/baymodels",
        body=json.dumps(BAYMODEL),
        headers={"Content-Type": media},
    )
    _api.error(res, 415, f"Unknown mimetype: {media.lower()}")
    assert _api.names(svc, "baymodels") == []


def test_a_chunked_body_is_read_in_process(svc: Service) -> None:
    res = svc.request(
        "POST",
        "/v1/baymodels",
        body=json.dumps(BAYMODEL),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    assert res.status_code == 201, res.text
