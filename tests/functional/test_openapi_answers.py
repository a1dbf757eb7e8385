# SPDX-License-Identifier: Apache-2.0
"""Every route answers what /v1/openapi.json says: one walk through the API (discovery,
baymodels, bays, events, certificates, containers, mservices, and some refusals) with each
answer's status and body held to the operation the document declares."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import falcon.testing
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.functional import _api
from tests.functional.conftest import BAYMODEL, Service
from tests.openapi_check import Described

ADMIN = {"X-Roles": "admin"}
IMAGE = "local/busybox:latest"


class Checked:
    """The service, with every answer checked against the document."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.described = Described(json.loads(svc.get("/v1/openapi.json").text))
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, method: str, path: str, expect: int, **kw: Any) -> Any:
        res: falcon.testing.Result = self.svc.request(method, path, **kw)
        assert res.status_code == expect, f"{method} {path}: {res.status_code} {res.text}"
        self.described.check(method, path, res.status_code, res.text)
        template = self.described.template(path)
        assert template is not None
        self.seen.add((method.lower(), template))
        return res.json if res.text else None


@pytest.fixture
def api(service_factory: Callable[..., Service]) -> Checked:
    return Checked(service_factory(conductor={"container_sync_interval": 0.1}))


def _csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenant")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _settled(api: Checked, uuid: str) -> None:
    body = api.svc.wait_cluster(uuid, lambda b: b is not None and b["status"] == "CREATE_COMPLETE")
    assert body is not None


def test_every_answer_is_what_the_document_says(api: Checked) -> None:
    for path in ("/", "/v1", "/v1/", "/v1.json", "/v1/openapi.json"):
        api("GET", path, 200)
    api("GET", "/v1", 200, headers={"OpenStack-API-Version": "container-infra latest"})
    api("GET", "/v1/bays", 406, headers={"OpenStack-API-Version": "container-infra 1.99"})

    model = api("POST", "/v1/baymodels", 201, json=BAYMODEL)
    api("GET", "/v1/baymodels", 200)
    api("GET", "/v1/baymodels/detail", 200)
    api("GET", f"/v1/baymodels/{model['uuid']}", 200)
    api(
        "PATCH",
        f"/v1/baymodels/{model['uuid']}",
        200,
        json=[{"op": "replace", "path": "/flavor_id", "value": "m1.small"}],
    )
    api("GET", "/v1/baymodels?sort_key=labels", 400)

    bay = api("POST", "/v1/bays", 201, json={"name": "b1", "baymodel_id": model["uuid"]})
    _settled(api, bay["uuid"])
    api("GET", "/v1/bays?limit=1", 200)
    api("GET", "/v1/bays/detail", 200)
    api("GET", "/v1/bays/b1", 200)
    api("GET", "/bays/b1", 200)  # a bookmark
    api("GET", "/v1/bays/nothing", 404)

    events = api("GET", f"/v1/bays/{bay['uuid']}/events?limit=1", 200)
    assert "next" in events
    api("GET", _api.path(events["next"]), 200)
    api("GET", f"/v1/clusters/{bay['uuid']}/events?since=2000-01-01T00:00:00Z", 200)
    api("GET", "/v1/bays/nothing/events", 404)
    api("GET", f"/v1/bays/{bay['uuid']}/events?since=yesterday", 400)

    text = {"Content-Type": "text/plain"}
    api("POST", f"/v1/bays/{bay['uuid']}/images", 415, body=b"not an archive", headers=text)

    api("GET", f"/v1/certificates/{bay['uuid']}", 200)
    api("POST", "/v1/certificates", 201, json={"bay_uuid": bay["uuid"], "csr": _csr()})
    api("POST", "/v1/certificates", 400, json={"bay_uuid": "nothing", "csr": _csr()})

    container = api("POST", "/v1/containers", 201, json={"image": IMAGE, "bay_uuid": bay["uuid"]})
    path = f"/v1/containers/{container['uuid']}"
    api("GET", "/v1/containers", 200)
    api("GET", f"/v1/containers/detail?bay_ident={bay['uuid']}", 200)
    api("GET", path, 200)
    api("PATCH", path, 200, json=[{"op": "replace", "path": "/name", "value": "c1"}])
    api("PUT", f"{path}/start", 200)
    api("PUT", f"{path}/execute?command=ls", 200)
    api("GET", f"{path}/logs", 200)
    api("PUT", f"{path}/logs", 405)
    api("PUT", f"{path}/stop", 200)
    api("DELETE", path, 204)

    # today's names for the same rows, at the newest version
    latest = {"OpenStack-API-Version": "container-infra latest"}
    template = api("POST", "/v1/clustertemplates", 201, json=BAYMODEL | {"name": "t1"})
    api("GET", "/v1/clustertemplates", 200, headers=latest)
    api("GET", "/v1/clustertemplates/detail", 200)
    api("GET", f"/v1/clustertemplates/{template['uuid']}", 200)
    api(
        "PATCH",
        f"/v1/clustertemplates/{template['uuid']}",
        200,
        json=[{"op": "replace", "path": "/tags", "value": "a"}],
    )
    cluster = api("POST", "/v1/clusters", 202, json={"cluster_template_id": "t1"}, headers=latest)
    _settled(api, cluster["uuid"])
    api("GET", "/v1/clusters", 200, headers=latest)
    api("GET", "/v1/clusters/detail", 200)
    api("GET", f"/v1/clusters/{cluster['uuid']}", 200, headers=latest)
    api("GET", f"/v1/clusters/{bay['uuid']}", 200)  # a bay is a cluster
    api(
        "PATCH",
        f"/v1/clusters/{cluster['uuid']}",
        202,
        json=[{"op": "replace", "path": "/health_status", "value": "HEALTHY"}],
    )
    other = api("POST", "/v1/clustertemplates", 201, json=BAYMODEL | {"name": "t2"})
    api(
        "POST",
        f"/v1/clusters/{cluster['uuid']}/actions/upgrade",
        202,
        json={"cluster_template": other["uuid"], "max_batch_size": 1},
        headers=latest,
    )
    api.svc.wait_cluster(
        cluster["uuid"], lambda b: b is not None and b["status"] == "UPDATE_COMPLETE"
    )
    api("DELETE", f"/v1/clusters/{cluster['uuid']}", 204)
    api.svc.wait_cluster(cluster["uuid"], lambda b: b is None)
    api("DELETE", f"/v1/clustertemplates/{template['uuid']}", 204)
    api("DELETE", f"/v1/clustertemplates/{other['uuid']}", 204)

    api("GET", "/v1/mservices", 200, headers=ADMIN)
    api("GET", "/v1/mservices", 403, headers={"X-Roles": "member"})

    api("PATCH", "/v1/bays/b1", 200, json=[{"op": "replace", "path": "/node_count", "value": 2}])
    api("DELETE", "/v1/bays/b1", 204)
    api.svc.wait_cluster(bay["uuid"], lambda b: b is None)
    api("DELETE", f"/v1/baymodels/{model['uuid']}", 204)

    # every operation of the document was asked at least once
    described = {
        (method, template)
        for template, item in api.described.doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    # nodegroups and resize, quotas, stats, CA and credential rotation, a Kubernetes bay's
    # pods, services and rcs: their own suites check every answer against the document
    # (test_nodegroups, test_quotas, test_stats, test_rotation, test_api_workloads)
    elsewhere: tuple[str, ...] = (
        "/v1/clusters/{ident}/nodegroups",
        "/v1/clusters/{ident}/actions/resize",
        "/v1/quotas",
        "/v1/stats",
        "/v1/credentials",
        "/v1/pods",
        "/v1/services",
        "/v1/rcs",
    )
    checked_elsewhere = {
        (m, t)
        for m, t in described
        if t.startswith(elsewhere) or (m == "patch" and t == "/v1/certificates/{ident}")
    }
    assert described - api.seen - checked_elsewhere == set()
