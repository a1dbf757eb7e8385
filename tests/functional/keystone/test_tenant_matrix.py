# SPDX-License-Identifier: Apache-2.0
"""The tenant matrix against a real Keystone, on the three databases: every endpoint
family (baymodels, clustertemplates, bays, clusters and their events, containers,
certificates, nodegroups, pods, quotas, stats, mservices) x the personas reader, member
and admin of project alpha x a resource of alpha (own) and of beta (other), each cell
with its expected status (EXPECTED), with the test drivers.

The rules the cells follow: a reader reads its project and changes nothing (403); a
member and an admin read and write it. Another project's resource is 404 to every
persona and answers exactly as a uuid nobody has does (never 403, never its existence),
except that an admin reads every project's clusters, templates and nodegroups (Magnum's
*_all_projects rules; ?all_projects=false keeps it to its own), and changes only its own
project's; a create whose body names another project's parent is 400 "... could not be
found", as for a parent nobody has. A project's
quota and stats are its own; another's, the admin's alone, as are the services. Lists
show only the caller's project. The CA certificate of a bay is its creator's and the
admin's (certificate:get is admin_or_reader_user): a reader who did not make the bay gets
403.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from magnum.cli import devkeystone
from tests.functional import _api
from tests.functional.conftest import BAYMODEL, Service
from tests.functional.hostcheck import key_and_csr
from tests.functional.keystone.conftest import auth, keystone_groups
from tests.functional.test_api_workloads import K8S, POD

pytestmark = pytest.mark.keystone

LATEST = {"OpenStack-API-Version": "container-infra latest"}
IMAGE = "local/busybox:latest"


@dataclasses.dataclass(frozen=True)
class World:
    """What one project owns, made by its member."""

    project_id: str
    model: str
    spare: str  # a cluster template no cluster uses: updated and deleted
    bay: str
    container: str
    nodegroup: str
    kbay: str  # a Kubernetes bay (the test-double COE) holding the pod "web"


def _req(svc: Service, token: str, method: str, path: str, json: Any = None, **kw: Any) -> Any:
    # Mitaka's collections (gone at the latest version) at 1.1, today's at the latest
    mitaka = path.startswith(("/v1/bay", "/v1/containers", "/v1/pods"))
    headers = auth(token, **({} if mitaka else LATEST)) | kw.pop("headers", {})
    return svc.client.simulate_request(method, path, json=json, headers=headers, **kw)


def _make_world(svc: Service, token: str, project_id: str, name: str) -> World:
    res = _req(svc, token, "POST", "/v1/baymodels", BAYMODEL | {"name": f"{name}-m"})
    assert res.status_code == 201, res.text
    model = res.json["uuid"]
    res = _req(svc, token, "POST", "/v1/baymodels", BAYMODEL | {"name": f"{name}-spare"})
    assert res.status_code == 201, res.text
    spare = res.json["uuid"]
    res = _req(
        svc, token, "POST", "/v1/clusters", {"name": f"{name}-c", "cluster_template_id": model}
    )
    assert res.status_code == 202, res.text
    bay = res.json["uuid"]
    _settle(svc, token, bay)
    res = _req(svc, token, "POST", "/v1/containers", {"image": IMAGE, "bay_uuid": bay})
    assert res.status_code == 201, res.text
    container = res.json["uuid"]
    res = _req(svc, token, "GET", f"/v1/clusters/{bay}/nodegroups")
    assert res.status_code == 200, res.text
    nodegroup = res.json["nodegroups"][0]["uuid"]
    k8s = BAYMODEL | {"name": f"{name}-k", "coe": "kubernetes", "network_driver": "flannel"}
    res = _req(svc, token, "POST", "/v1/baymodels", k8s)
    assert res.status_code == 201, res.text
    res = _req(
        svc, token, "POST", "/v1/bays", {"name": f"{name}-k", "baymodel_id": res.json["uuid"]}
    )
    assert res.status_code == 201, res.text
    kbay = res.json["uuid"]
    _settle(svc, token, kbay)
    res = _req(svc, token, "POST", "/v1/pods", {"bay_uuid": kbay, "manifest": _pod("web")})
    assert res.status_code == 201, res.text
    return World(project_id, model, spare, bay, container, nodegroup, kbay)


def _pod(name: str) -> str:
    return json.dumps(POD | {"metadata": {"name": name, "labels": {"app": name}}})


def _settle(svc: Service, token: str, bay: str) -> None:
    deadline, pause = time.monotonic() + 20, threading.Event()
    while _req(svc, token, "GET", f"/v1/bays/{bay}").json.get("status") != "CREATE_COMPLETE":
        assert time.monotonic() < deadline, "the bay never settled"
        pause.wait(0.05)


# An endpoint family's requests: (name, kind, method, path, body), `path` and `body`
# built from the target world. Kinds: "read", "write" (of a resource: reader 403),
# "create" (in the caller's project, naming the target: reader 403), "operator".
Case = tuple[str, str, str, Callable[[World], str], Callable[[World], Any]]


def _none(w: World) -> Any:
    return None


def _rename(value: str) -> Callable[[World], Any]:
    return lambda w: [{"op": "replace", "path": "/name", "value": value}]


_, CSR = key_and_csr("matrix")
CASES: list[Case] = [
    # baymodels and clustertemplates (the same rows)
    ("baymodel get", "read-all", "GET", lambda w: f"/v1/baymodels/{w.model}", _none),
    ("baymodel update", "write", "PATCH", lambda w: f"/v1/baymodels/{w.spare}", _rename("m")),
    ("clustertemplate get", "read-all", "GET", lambda w: f"/v1/clustertemplates/{w.model}", _none),
    (
        "clustertemplate update",
        "write",
        "PATCH",
        lambda w: f"/v1/clustertemplates/{w.spare}",
        _rename("t"),
    ),
    (
        "clustertemplate delete",
        "write",
        "DELETE",
        lambda w: f"/v1/clustertemplates/{w.spare}",
        _none,
    ),
    # bays and clusters
    ("bay get", "read-all", "GET", lambda w: f"/v1/bays/{w.bay}", _none),
    ("bay events", "read", "GET", lambda w: f"/v1/bays/{w.bay}/events", _none),
    ("cluster get", "read-all", "GET", lambda w: f"/v1/clusters/{w.bay}", _none),
    (
        "bay create",
        "create",
        "POST",
        lambda w: "/v1/bays",
        lambda w: {"name": f"x{uuid.uuid4().hex[:6]}", "baymodel_id": w.model},
    ),
    (
        "cluster update",
        "write",
        "PATCH",
        lambda w: f"/v1/clusters/{w.bay}",
        lambda w: [{"op": "replace", "path": "/node_count", "value": 1}],
    ),
    ("cluster delete", "write", "DELETE", lambda w: f"/v1/clusters/{w.bay}", _none),
    # containers
    ("container get", "read", "GET", lambda w: f"/v1/containers/{w.container}", _none),
    ("container logs", "read", "GET", lambda w: f"/v1/containers/{w.container}/logs", _none),
    (
        "container update",
        "write",
        "PATCH",
        lambda w: f"/v1/containers/{w.container}",
        _rename("c"),
    ),
    ("container start", "write", "PUT", lambda w: f"/v1/containers/{w.container}/start", _none),
    ("container delete", "write", "DELETE", lambda w: f"/v1/containers/{w.container}", _none),
    (
        "container create",
        "create",
        "POST",
        lambda w: "/v1/containers",
        lambda w: {"image": IMAGE, "bay_uuid": w.bay},
    ),
    # certificates
    ("certificate get", "creator-read", "GET", lambda w: f"/v1/certificates/{w.bay}", _none),
    (
        "certificate sign",
        "create",
        "POST",
        lambda w: "/v1/certificates",
        lambda w: {"cluster_uuid": w.bay, "csr": CSR},
    ),
    # nodegroups
    ("nodegroup list", "read-all", "GET", lambda w: f"/v1/clusters/{w.bay}/nodegroups", _none),
    (
        "nodegroup get",
        "read-all",
        "GET",
        lambda w: f"/v1/clusters/{w.bay}/nodegroups/{w.nodegroup}",
        _none,
    ),
    (
        "nodegroup create",
        "write",
        "POST",
        lambda w: f"/v1/clusters/{w.bay}/nodegroups",
        lambda w: {"name": f"ng{uuid.uuid4().hex[:6]}", "node_count": 1},
    ),
    # a bay's Kubernetes objects (pods; services and rcs go the same way)
    ("pod list", "read", "GET", lambda w: f"/v1/pods?bay_ident={w.kbay}", _none),
    ("pod get", "read", "GET", lambda w: f"/v1/pods/web?bay_ident={w.kbay}", _none),
    (
        "pod create",
        "create",
        "POST",
        lambda w: "/v1/pods",
        lambda w: {"bay_uuid": w.kbay, "manifest": _pod(f"p{uuid.uuid4().hex[:6]}")},
    ),
    ("pod delete", "write", "DELETE", lambda w: f"/v1/pods/web?bay_ident={w.kbay}", _none),
    # quotas and stats of a project
    ("quota get", "project", "GET", lambda w: f"/v1/quotas/{w.project_id}/Cluster", _none),
    ("stats", "project", "GET", lambda w: f"/v1/stats?project_id={w.project_id}", _none),
    (
        "quota create",
        "operator",
        "POST",
        lambda w: "/v1/quotas",
        lambda w: {"project_id": w.project_id, "resource": "Cluster", "hard_limit": 50},
    ),
    ("mservices", "operator", "GET", lambda w: "/v1/mservices", _none),
]
WRITE_OK = {"PATCH": (200, 202), "DELETE": (204,), "PUT": (200, 202, 204), "POST": (201, 202)}


def expected(kind: str, role: str, own: bool, method: str) -> tuple[int, ...]:
    """EXPECTED: the statuses a cell may answer (see the module)."""
    if kind == "operator":
        return (200, 201) if role == "admin" else (403,)
    if kind == "project":  # a project's quota and stats: another's are the admin's alone
        return (200,) if own or role == "admin" else (403,)
    if kind == "create" and not own:
        # the body names a parent that is not the caller's: 400 "... could not be found",
        # as for a parent nobody has; a reader may be refused before the lookup
        return (400, 403) if role == "reader" else (400,)
    if kind == "read-all" and not own:  # an admin reads every project's (Magnum's)
        return (200,) if role == "admin" else (404,)
    if not own:
        return (404,)
    if kind in ("read", "read-all"):
        return (200,)
    if kind == "creator-read":
        # certificate:get is admin_or_reader_user: the bay's creator (member) or an admin
        return (403,) if role == "reader" else (200,)
    return (403,) if role == "reader" else WRITE_OK[method]


def _nowhere() -> World:
    """A world of uuids nobody has."""
    ghosts = [str(uuid.uuid4()) for _ in range(6)]
    return World(uuid.uuid4().hex, *ghosts)


@pytest.mark.parametrize("role", devkeystone.PERSONAS)
def test_tenant_matrix(
    service_factory: Callable[..., Service],
    keystone: devkeystone.Keystone,
    tokens: dict[tuple[str, str], str],
    role: str,
) -> None:
    ks_svc = service_factory(**keystone_groups(keystone), conductor=K8S)
    token = tokens["alpha", role]
    own = _make_world(ks_svc, tokens["alpha", "member"], keystone.projects["alpha"], "a")
    other = _make_world(ks_svc, tokens["beta", "member"], keystone.projects["beta"], "b")
    wrong: list[str] = []
    # The other project's resources (they must be left as they were) and a nobody's: the
    # same answers. Then the own ones, the deletes last (containers, then clusters).
    for name, kind, method, path, body in CASES:
        answers = [
            _req(ks_svc, token, method, path(world), body(world)) for world in (other, _nowhere())
        ]
        want = expected(kind, role, kind == "operator", method)
        if answers[0].status_code not in want:
            wrong.append(
                f"{role} {name} on other: {answers[0].status_code} not {want}: "
                f"{answers[0].text[:200]}"
            )
        seen = kind == "read-all" and role == "admin"
        if kind != "operator" and not seen and answers[0].status_code != answers[1].status_code:
            wrong.append(
                f"{role} {name}: other {answers[0].status_code}, nowhere {answers[1].status_code}"
            )
    for name, kind, method, path, body in sorted(CASES, key=lambda c: c[2] == "DELETE"):
        res = _req(ks_svc, token, method, path(own), body(own))
        want = expected(kind, role, True, method)
        if res.status_code not in want:
            wrong.append(f"{role} {name} on own: {res.status_code} not {want}: {res.text[:200]}")
    assert not wrong, "\n".join(wrong)
    # the other project's things are untouched, and no list shows them
    beta = tokens["beta", "reader"]
    assert (
        _req(ks_svc, beta, "GET", f"/v1/clusters/{other.bay}").json["status"] == "CREATE_COMPLETE"
    )
    assert _req(ks_svc, beta, "GET", f"/v1/containers/{other.container}").status_code == 200
    assert _req(ks_svc, beta, "GET", f"/v1/baymodels/{other.spare}").json["name"] == "b-spare"
    # (an admin's lists of clusters and templates are every project's, unless it says
    # ?all_projects=false; containers stay per project)
    for collection in ("baymodels", "bays", "clustertemplates", "clusters", "containers"):
        res = _req(ks_svc, token, "GET", f"/v1/{collection}")
        assert res.status_code == 200, res.text
        shown = {item["uuid"] for item in res.json[collection]}
        others = shown & {other.model, other.bay, other.container}
        if role == "admin" and collection != "containers":
            templates = collection in ("baymodels", "clustertemplates")
            assert others == {other.model if templates else other.bay}, (collection, shown)
            res = _req(ks_svc, token, "GET", f"/v1/{collection}?all_projects=false")
            shown = {item["uuid"] for item in res.json[collection]}
            others = shown & {other.model, other.bay, other.container}
        assert not others, (collection, shown)


def test_a_token_with_no_persona_role_does_nothing(
    ks_svc: Service, keystone: devkeystone.Keystone, tokens: dict[tuple[str, str], str]
) -> None:
    """The service user's token (role `service`, no persona) reads and writes nothing."""
    token = devkeystone.password_token(
        keystone.url, devkeystone.SERVICE_USER, project=devkeystone.SERVICE_PROJECT
    )
    _api.error(_req(ks_svc, token, "GET", "/v1/clusters"), 403)
    _api.error(_req(ks_svc, token, "POST", "/v1/baymodels", BAYMODEL), 403)
