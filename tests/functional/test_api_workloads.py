# SPDX-License-Identifier: Apache-2.0
"""/v1/pods, /v1/services and /v1/rcs on the three databases, with the test-double
Kubernetes COE (FakeKubernetes: workloads in memory with Kubernetes' rules and words):
every endpoint, both bay_ident forms, manifests inline (JSON, YAML) and by URL from a real
HTTP server on 127.0.0.1, every refusal in Magnum's words, the bay's states, policy and
paging; every answer held to /v1/openapi.json."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import falcon.testing
import pytest

from tests.functional import _api
from tests.functional.conftest import Service
from tests.openapi_check import Described

K8S = {"enabled_coe_drivers": ["fakecoe", "fakek8s"]}
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]},
}
SERVICE_YAML = """\
apiVersion: v1
kind: Service
metadata:
  name: web-svc
  labels: {app: web}
  annotations:
    since: 2016-04-07
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
  - name: admin
    port: 8081
    protocol: UDP
"""
RC_YAML = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: web-rc
  labels: {tier: front}
spec:
  replicas: 2
  selector: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox
"""
POD_FIELDS = {"uuid", "name", "desc", "bay_uuid", "images", "labels", "status", "host", "links"}
SERVICE_FIELDS = {"uuid", "name", "bay_uuid", "labels", "selector", "ip", "ports", "links"}
RC_FIELDS = {"uuid", "name", "images", "bay_uuid", "labels", "replicas", "links"}
ECHOED = {"manifest", "manifest_url"}
NO_WORKLOADS = "Cannot fulfill request with a swarm bay: its COE driver offers no workloads."


class Checked:
    """The service, with every answer held to the document (status and body)."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.described = Described(json.loads(svc.get("/v1/openapi.json").text))
        self.seen: set[tuple[str, str]] = set()  # (method, path template) answered

    def __call__(self, method: str, path: str, expect: int, **kw: Any) -> Any:
        res: falcon.testing.Result = self.svc.request(method, path, **kw)
        assert res.status_code == expect, f"{method} {path}: {res.status_code} {res.text}"
        self.described.check(method, path, res.status_code, res.text)
        self.seen.add((method.lower(), str(self.described.template(path))))
        return res.json if res.text else None

    def error(self, method: str, path: str, status: int, detail: str, **kw: Any) -> None:
        res: falcon.testing.Result = self.svc.request(method, path, **kw)
        self.described.check(method, path, res.status_code, res.text)
        _api.error(res, status, detail)


def make_bay(
    svc: Service, *, coe: str = "kubernetes", project: str = "p1", **labels: str
) -> dict[str, Any]:
    name = f"m-{uuid.uuid4().hex[:6]}"
    driver = {"network_driver": "flannel"} if coe == "kubernetes" else {}
    model = _api.make_cluster_template(svc, project, name=name, coe=coe, labels=labels, **driver)
    res = svc.post("/v1/bays", {"name": f"b-{name}", "baymodel_id": model["uuid"]}, project=project)
    assert res.status_code == 201, res.text
    if labels.get("fake_gate"):
        return dict(res.json)
    body = svc.wait_cluster(
        res.json["uuid"],
        lambda b: b is not None and b["status"] == "CREATE_COMPLETE",
        project=project,
    )
    assert body is not None
    return body


def fake(svc: Service) -> Any:
    """The bay's Kubernetes (magnum_testdrivers.fake_k8s.FakeWorkloads)."""
    return svc.conductor.drivers.coe["kubernetes"].workloads


@pytest.fixture
def svc(service_factory: Callable[..., Service]) -> Service:
    return service_factory(conductor=K8S)


@pytest.fixture
def api(svc: Service) -> Checked:
    return Checked(svc)


@pytest.fixture
def bay(svc: Service) -> dict[str, Any]:
    return make_bay(svc)


def create(api: Checked, collection: str, bay: dict[str, Any], manifest: Any, **kw: Any) -> Any:
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    return api("POST", f"/v1/{collection}", 201, json={"bay_uuid": bay["uuid"], "manifest": text})


# --- the lifecycles ---------------------------------------------------------------------
def test_pod_lifecycle(api: Checked, bay: dict[str, Any]) -> None:
    text = json.dumps(POD)
    res = api.svc.post(
        "/v1/pods", {"bay_uuid": bay["uuid"], "manifest": text, "desc": "a web server"}
    )
    assert res.status_code == 201, res.text
    api.described.check("POST", "/v1/pods", 201, res.text)
    pod = res.json
    assert set(pod) == POD_FIELDS | ECHOED
    assert _api.UUID.match(pod["uuid"])
    assert res.headers["location"] == f"http://falconframework.org/v1/pods/{pod['uuid']}"
    assert (pod["name"], pod["desc"], pod["bay_uuid"]) == ("web", "a web server", bay["uuid"])
    assert (pod["images"], pod["labels"], pod["status"], pod["host"]) == (
        ["nginx"],
        {"app": "web"},
        "Running",
        "node-0",
    )
    assert (pod["manifest"], pod["manifest_url"]) == (text, None)
    assert pod["links"] == [
        {"href": f"http://falconframework.org/v1/pods/{pod['uuid']}", "rel": "self"},
        {"href": f"http://falconframework.org/pods/{pod['uuid']}", "rel": "bookmark"},
    ]
    q = f"bay_ident={bay['uuid']}"
    brief = api("GET", f"/v1/pods?{q}", 200)["pods"]
    assert [set(p) for p in brief] == [POD_FIELDS]
    assert brief[0] == {k: pod[k] for k in POD_FIELDS} | {"desc": None}  # desc: create only
    (full,) = api("GET", f"/v1/pods/detail?bay_ident={bay['name']}", 200)["pods"]
    assert full == brief[0] | {"manifest": None, "manifest_url": None}
    # one pod by uuid or name, the bay in the query or the path, by uuid or name
    for path in (
        f"/v1/pods/{pod['uuid']}?{q}",
        f"/v1/pods/web?bay_ident={bay['name']}",
        f"/v1/pods/web/{bay['uuid']}",
        f"/v1/pods/{pod['uuid']}/{bay['name']}/",  # python-magnumclient's trailing slash
        f"/pods/web/{bay['name']}",  # the bookmark form
    ):
        assert api("GET", path, 200) == full, path
    # PATCH: the new manifest replaces the pod (a pod may change only its images)
    changed = json.loads(text)
    changed["spec"]["containers"][0]["image"] = "busybox"
    patched = api(
        "PATCH",
        f"/v1/pods/web/{bay['uuid']}",
        200,
        json=[{"op": "replace", "path": "/manifest", "value": json.dumps(changed)}],
    )
    assert patched["uuid"] == pod["uuid"] and patched["images"] == ["busybox"]
    assert api("GET", f"/v1/pods/web?{q}", 200)["images"] == ["busybox"]
    assert fake(api.svc).calls["replace"] == 1
    # DELETE by uuid; then it is gone, in Kubernetes' words when asked by name
    assert api("DELETE", f"/v1/pods/{pod['uuid']}?{q}", 204) is None
    api.error("GET", f"/v1/pods/web?{q}", 404, 'pods "web" not found')
    api.error("GET", f"/v1/pods/{pod['uuid']}?{q}", 404, f"Pod {pod['uuid']} could not be found.")
    assert api("GET", f"/v1/pods?{q}", 200) == {"pods": []}
    # deleting what is gone: 404, by name in Kubernetes' words, by uuid in Magnum's
    api.error("DELETE", f"/v1/pods/web/{bay['uuid']}", 404, 'pods "web" not found')
    api.error(
        "DELETE", f"/v1/pods/{pod['uuid']}?{q}", 404, f"Pod {pod['uuid']} could not be found."
    )


def test_service_lifecycle_from_yaml(api: Checked, bay: dict[str, Any]) -> None:
    svc = create(api, "services", bay, SERVICE_YAML)
    assert set(svc) == SERVICE_FIELDS | ECHOED
    assert (svc["name"], svc["labels"], svc["selector"]) == (
        "web-svc",
        {"app": "web"},
        {"app": "web"},
    )
    assert svc["ip"].startswith("10.254.0.")
    assert svc["ports"] == [
        {
            "name": "k8s-service",
            "protocol": "TCP",
            "port": 80,
            "target_port": 8080,
            "node_port": None,
        },
        {"name": "admin", "protocol": "UDP", "port": 8081, "target_port": 8081, "node_port": None},
    ]
    stored = fake(api.svc).objects[(bay["uuid"], "service")]["web-svc"]
    assert stored["metadata"]["annotations"] == {"since": "2016-04-07"}  # a string, as sent
    q = f"bay_ident={bay['uuid']}"
    (listed,) = api("GET", f"/v1/services?{q}", 200)["services"]
    assert set(listed) == SERVICE_FIELDS and listed["ports"] == svc["ports"]
    new = SERVICE_YAML.replace("port: 80\n", "port: 8000\n")
    patched = api(
        "PATCH",
        f"/v1/services/{svc['uuid']}?{q}",
        200,
        json=[{"op": "add", "path": "/manifest", "value": new}],
    )
    assert patched["ports"][0]["port"] == 8000 and patched["ip"] == svc["ip"]
    assert api("DELETE", f"/v1/services/web-svc/{bay['name']}", 204) is None
    assert api("GET", f"/v1/services/detail?{q}", 200) == {"services": []}


def test_rc_lifecycle_from_yaml(api: Checked, bay: dict[str, Any]) -> None:
    rc = create(api, "rcs", bay, RC_YAML)
    assert set(rc) == RC_FIELDS | ECHOED
    assert (rc["name"], rc["images"], rc["labels"], rc["replicas"]) == (
        "web-rc",
        ["busybox"],
        {"tier": "front"},  # the rc's own labels, not its template's
        2,
    )
    q = f"bay_ident={bay['uuid']}"
    (listed,) = api("GET", f"/v1/rcs?{q}", 200)["rcs"]
    assert listed == {k: rc[k] for k in RC_FIELDS}
    patched = api(
        "PATCH",
        f"/v1/rcs/web-rc?{q}",
        200,
        json=[
            {
                "op": "replace",
                "path": "/manifest",
                "value": RC_YAML.replace("replicas: 2", "replicas: 3"),
            }
        ],
    )
    assert patched["replicas"] == 3 and patched["uuid"] == rc["uuid"]
    assert api("DELETE", f"/v1/rcs/{rc['uuid']}/{bay['uuid']}", 204) is None
    assert api("GET", f"/v1/rcs?{q}", 200) == {"rcs": []}


def test_v1_lists_the_three_collections(api: Checked) -> None:
    doc = api("GET", "/v1", 200)
    for name in ("pods", "rcs", "services"):
        assert doc[name] == [
            {"href": f"http://falconframework.org/v1/{name}/", "rel": "self"},
            {"href": f"http://falconframework.org/{name}/", "rel": "bookmark"},
        ]
    latest = {"OpenStack-API-Version": "container-infra latest"}
    assert {"pods", "rcs", "services"}.isdisjoint(api("GET", "/v1", 200, headers=latest))


# --- bad input: each in Magnum's words ----------------------------------------------------
def _pod(**changes: Any) -> dict[str, Any]:
    pod: dict[str, Any] = json.loads(json.dumps(POD))
    for path, value in changes.items():
        *parents, last = path.split("__")
        where = pod
        for part in parents:
            where = where[part]
        if value is None:
            where.pop(last)
        else:
            where[last] = value
    return pod


RC_NO_CONTAINERS = RC_YAML.replace(
    "      containers:\n      - name: web\n        image: busybox\n", ""
)
BAD_MANIFESTS = [
    ("pods", "- a\n- b\n", "The manifest is not a JSON object or YAML mapping."),
    ("pods", "just text", "The manifest is not a JSON object or YAML mapping."),
    (
        "pods",
        json.dumps(_pod(metadata__name=None)),
        "Field metadata['name'] can't be empty in manifest.",
    ),
    ("pods", json.dumps(_pod(metadata=None)), "Field metadata['name'] can't be empty in manifest."),
    (
        "pods",
        json.dumps(_pod(spec__containers=[])),
        "Field spec['containers'] can't be empty in manifest.",
    ),
    ("pods", json.dumps(_pod(spec=None)), "Field spec['containers'] can't be empty in manifest."),
    (
        "pods",
        json.dumps(_pod(spec__containers=["nginx"])),
        "Field spec['containers'] must be a list of objects in manifest.",
    ),
    ("pods", json.dumps(_pod(kind="Service")), "The manifest describes a Service, not a Pod."),
    (
        "rcs",
        RC_NO_CONTAINERS,
        "Field spec['template']['spec']['containers'] can't be empty in manifest.",
    ),
    (
        "rcs",
        RC_YAML.replace("    metadata:\n      labels: {app: web}\n", ""),
        "Field spec['template']['metadata']['labels'] can't be empty in manifest.",
    ),
    (
        "rcs",
        RC_YAML.replace("  selector: {app: web}\n", ""),
        "Field spec['selector'] can't be empty in manifest.",
    ),
    (
        "services",
        SERVICE_YAML.replace("  selector: {app: web}\n", ""),
        "Field spec['selector'] can't be empty in manifest.",
    ),
    (
        "services",
        SERVICE_YAML.split("  ports:", maxsplit=1)[0],
        "Field spec['ports'] can't be empty in manifest.",
    ),
    (
        "services",
        "metadata: {name: s}\nspec: {ports: [], selector: {a: b}}\n",
        "Field spec['ports'] can't be empty in manifest.",
    ),
    ("pods", "", "'manifest' can't be empty"),
    ("pods", "   \n", "'manifest' can't be empty"),
]


def test_bad_manifests_are_400_in_magnums_words(api: Checked, bay: dict[str, Any]) -> None:
    for collection, text, detail in BAD_MANIFESTS:
        body = {"bay_uuid": bay["uuid"], "manifest": text}
        api.error("POST", f"/v1/{collection}", 400, detail, json=body)
    # neither manifest nor manifest_url
    api.error("POST", "/v1/pods", 400, "'manifest' can't be empty", json={"bay_uuid": bay["uuid"]})
    # a manifest that does not parse, JSON or YAML, says why
    for text, why in (('{"metadata": ', "Expecting value"), ("a: [b\n", "while parsing")):
        res = api.svc.post("/v1/pods", {"bay_uuid": bay["uuid"], "manifest": text})
        (element,) = _api.error(res, 400)
        assert element["detail"].startswith("Error parsing manifest: "), element
        assert why in element["detail"], element
    # over [api] max_manifest_size (512 KB), inline
    big = json.dumps(_pod(metadata__annotations={"pad": "x" * 524288}))
    detail = "Manifest exceeds maximum allowed size (524288 bytes)"
    api.error("POST", "/v1/pods", 400, detail, json={"bay_uuid": bay["uuid"], "manifest": big})
    # a small YAML whose aliases expand beyond it
    bomb = (
        "a: &a ['"
        + "x" * 1000
        + "']\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
            for i in range(5)
        )
    )
    api.error("POST", "/v1/pods", 400, detail, json={"bay_uuid": bay["uuid"], "manifest": bomb})
    assert fake(api.svc).calls["create"] == 0  # nothing reached the cluster


def test_bad_bodies_and_bays(api: Checked, svc: Service, bay: dict[str, Any]) -> None:
    text = json.dumps(POD)
    api.error(
        "POST",
        "/v1/pods",
        400,
        f"Invalid input for field/attribute bay_uuid. Value: '{bay['name']}'. Expected a uuid "
        f"but received {bay['name']}.",
        json={"bay_uuid": bay["name"], "manifest": text},
    )
    missing = str(uuid.uuid4())
    api.error(
        "POST",
        "/v1/pods",
        400,
        f"Bay {missing} could not be found.",
        json={"bay_uuid": missing, "manifest": text},
    )
    api.error(
        "POST",
        "/v1/pods",
        400,
        "Invalid input for field/attribute name. Value: 'web'. Cannot set read only field.",
        json={"bay_uuid": bay["uuid"], "manifest": text, "name": "web"},
    )
    api.error(
        "POST",
        "/v1/services",
        400,
        "Invalid input for field/attribute ports. Value: '[]'. Cannot set read only field.",
        json={"bay_uuid": bay["uuid"], "manifest": SERVICE_YAML, "ports": []},
    )
    api.error(
        "POST",
        "/v1/rcs",
        400,
        "Unknown attribute for argument rc: desc",
        json={"bay_uuid": bay["uuid"], "manifest": RC_YAML, "desc": "no such field"},
    )
    api.error("POST", "/v1/pods", 400, 'Missing argument: "pod"')
    # the bay of reads, updates and deletes: required, and looked up in the caller's project
    for method in ("GET", "PATCH", "DELETE"):
        api.error(method, "/v1/pods/web", 400, 'Missing argument: "bay_ident"')
    api.error("GET", "/v1/pods", 400, 'Missing argument: "bay_ident"')
    api.error("GET", "/v1/rcs/detail", 400, 'Missing argument: "bay_ident"')
    api.error("GET", "/v1/services?bay_ident=nope", 404, "Bay nope could not be found.")
    api.error(
        "GET",
        f"/v1/pods/web/{bay['uuid']}",
        404,
        f"Bay {bay['uuid']} could not be found.",
        project="p2",
    )
    api.error(
        "GET", f"/v1/pods/web/{bay['uuid']}?bay_ident=x", 400, 'Unknown argument: "bay_ident"'
    )
    api.error(
        "GET", f"/v1/pods?bay_ident={bay['uuid']}&colour=red", 400, 'Unknown argument: "colour"'
    )
    # a name Kubernetes cannot hold is not there (and is never asked for)
    api.error(
        "GET", f"/v1/pods/Web_1?bay_ident={bay['uuid']}", 404, "Pod Web_1 could not be found."
    )
    assert fake(svc).calls["show"] == 0


def test_an_image_no_node_has_is_400(api: Checked, bay: dict[str, Any]) -> None:
    pod = _pod(spec__containers=[{"name": "x", "image": "nope/missing:1"}])
    res = api.svc.post("/v1/pods", {"bay_uuid": bay["uuid"], "manifest": json.dumps(pod)})
    _api.error(
        res, 400, f"Image nope/missing:1 is not available in bay {bay['uuid']} (no node has it)."
    )


def test_a_swarm_bay_offers_no_workloads(api: Checked, svc: Service) -> None:
    swarm = make_bay(svc, coe="swarm")
    for collection, text in (
        ("pods", json.dumps(POD)),
        ("services", SERVICE_YAML),
        ("rcs", RC_YAML),
    ):
        body = {"bay_uuid": swarm["uuid"], "manifest": text}
        api.error("POST", f"/v1/{collection}", 400, NO_WORKLOADS, json=body)
        api.error("GET", f"/v1/{collection}?bay_ident={swarm['uuid']}", 400, NO_WORKLOADS)
        api.error("GET", f"/v1/{collection}/web/{swarm['name']}", 400, NO_WORKLOADS)
        api.error("DELETE", f"/v1/{collection}/web/{swarm['name']}", 400, NO_WORKLOADS)
    api.error(
        "PATCH",
        f"/v1/pods/web/{swarm['uuid']}",
        400,
        NO_WORKLOADS,
        json=[{"op": "replace", "path": "/manifest", "value": json.dumps(POD)}],
    )


# --- what the cluster says comes back with its status and message --------------------------
def test_kubernetes_refusals_pass_through(api: Checked, svc: Service, bay: dict[str, Any]) -> None:
    create(api, "pods", bay, POD)
    # an object of that name exists: Kubernetes' 409
    body = {"bay_uuid": bay["uuid"], "manifest": json.dumps(POD)}
    api.error("POST", "/v1/pods", 409, 'pods "web" already exists', json=body)
    # a name Kubernetes refuses: its 422, as a 400
    bad = json.dumps(_pod(metadata__name="Web"))
    res = svc.post("/v1/pods", {"bay_uuid": bay["uuid"], "manifest": bad})
    _api.error(res, 400, contains=('Pod "Web" is invalid: metadata.name: Invalid value',))
    # any other status, with Kubernetes' message (500 is "server", the rest "client")
    for status, code in ((503, "server"), (429, "server"), (500, "server")):
        refused = _pod(
            metadata__name=f"r{status}",
            metadata__annotations={
                "fake.magnum/status": str(status),
                "fake.magnum/message": f"the server says {status}",
            },
        )
        res = svc.post("/v1/pods", {"bay_uuid": bay["uuid"], "manifest": json.dumps(refused)})
        api.described.check("POST", "/v1/pods", res.status_code, res.text)
        _api.error(
            res, status, f"the server says {status}", code="client" if status < 500 else code
        )
    # a pod update may change only its images (Kubernetes' rule)
    ported = _pod(
        spec__containers=[{"name": "web", "image": "nginx", "ports": [{"containerPort": 81}]}]
    )
    res = svc.patch(
        f"/v1/pods/web/{bay['uuid']}",
        [{"op": "replace", "path": "/manifest", "value": json.dumps(ported)}],
    )
    _api.error(res, 400, contains=("pod updates may not change fields other than",))
    # the cluster's API does not answer
    fake(svc).down.add(bay["uuid"])
    api.error(
        "GET",
        f"/v1/pods?bay_ident={bay['uuid']}",
        409,
        f"The Kubernetes API of bay {bay['uuid']} does not answer (fake).",
    )


# --- the bay's states ----------------------------------------------------------------------
def test_a_bay_being_built_has_no_objects_yet(api: Checked, svc: Service, tmp_path: Any) -> None:
    gate = tmp_path / "gate"
    building = make_bay(svc, fake_gate=str(gate))
    try:
        state = f"Bay {building['name']} is CREATE_IN_PROGRESS"
        res = svc.post("/v1/pods", {"bay_uuid": building["uuid"], "manifest": json.dumps(POD)})
        _api.error(
            res, 409, contains=(state, "created and changed when the bay is CREATE_COMPLETE")
        )
        res = svc.get(f"/v1/pods?bay_ident={building['uuid']}")
        _api.error(res, 409, contains=(state, "read when the bay is created and not being deleted"))
    finally:
        gate.touch()
    svc.wait_cluster(building["uuid"], lambda b: b is not None and b["status"] == "CREATE_COMPLETE")
    assert create(api, "pods", building, POD)["name"] == "web"
    assert fake(svc).calls["create"] == 1


def test_a_delete_on_a_bay_being_deleted_does_nothing(api: Checked, svc: Service) -> None:
    bay = make_bay(svc, fake_fail="delete_bay")
    create(api, "pods", bay, POD)
    assert svc.delete(f"/v1/bays/{bay['uuid']}").status_code == 204
    svc.wait_cluster(bay["uuid"], lambda b: b is not None and b["status"] == "DELETE_FAILED")
    # its objects go with it: a delete is done (and asks nothing), anything else is 409
    assert api("DELETE", f"/v1/pods/web/{bay['uuid']}", 204) is None
    assert fake(svc).calls["delete"] == 0
    assert "web" in fake(svc).objects[(bay["uuid"], "pod")]
    res = svc.get(f"/v1/pods?bay_ident={bay['uuid']}")
    _api.error(res, 409, contains=(f"Bay {bay['name']} is DELETE_FAILED;",))


# --- PATCH's rules ------------------------------------------------------------------------
def test_patch_rules(api: Checked, bay: dict[str, Any]) -> None:
    create(api, "pods", bay, POD)
    create(api, "services", bay, SERVICE_YAML)
    path = f"/v1/pods/web/{bay['uuid']}"
    for internal in ("/name", "/labels", "/images", "/status", "/host", "/uuid", "/links"):
        api.error(
            "PATCH",
            path,
            400,
            f"'{internal}' is an internal attribute and can not be updated",
            json=[{"op": "replace", "path": internal, "value": "x"}],
        )
    for internal in ("/selector", "/ports", "/ip"):
        api.error(
            "PATCH",
            f"/v1/services/web-svc/{bay['uuid']}",
            400,
            f"'{internal}' is an internal attribute and can not be updated",
            json=[{"op": "replace", "path": internal, "value": "x"}],
        )
    api.error(
        "PATCH",
        f"/v1/rcs/web-rc/{bay['uuid']}",
        400,
        "'/replicas' is an internal attribute and can not be updated",
        json=[{"op": "replace", "path": "/replicas", "value": 3}],
    )
    api.error(
        "PATCH",
        path,
        400,
        "'/bay_uuid' is a mandatory attribute and can not be removed",
        json=[{"op": "remove", "path": "/bay_uuid"}],
    )
    api.error(
        "PATCH",
        path,
        400,
        "cannot change pod property(ies) bay_uuid.",
        json=[{"op": "replace", "path": "/bay_uuid", "value": str(uuid.uuid4())}],
    )
    api.error(
        "PATCH",
        path,
        400,
        "Adding a new attribute /desc to the root of the resource is not allowed.",
        json=[{"op": "add", "path": "/desc", "value": "x"}],
    )
    api.error(
        "PATCH",
        path,
        400,
        "Invalid input for field/attribute manifest. Value: '5'. Value should be string",
        json=[{"op": "replace", "path": "/manifest", "value": 5}],
    )
    # a patch that leaves no manifest, or a bad one, is refused as a create would be
    api.error(
        "PATCH",
        path,
        400,
        "'manifest' can't be empty",
        json=[{"op": "remove", "path": "/manifest"}],
    )
    api.error(
        "PATCH",
        path,
        400,
        "Field spec['containers'] can't be empty in manifest.",
        json=[{"op": "replace", "path": "/manifest", "value": json.dumps(_pod(spec=None))}],
    )
    # the manifest must name the object it replaces
    renamed = json.dumps(_pod(metadata__name="other"))
    api.error(
        "PATCH",
        path,
        400,
        "The manifest names pod other: an update replaces pod web and cannot rename it.",
        json=[{"op": "replace", "path": "/manifest", "value": renamed}],
    )
    api.error(
        "PATCH",
        f"/v1/pods/gone/{bay['uuid']}",
        404,
        'pods "gone" not found',
        json=[
            {"op": "replace", "path": "/manifest", "value": json.dumps(_pod(metadata__name="gone"))}
        ],
    )
    missing = str(uuid.uuid4())
    api.error(
        "PATCH",
        f"/v1/pods/{missing}/{bay['uuid']}",
        404,
        f"Pod {missing} could not be found.",
        json=[{"op": "replace", "path": "/manifest", "value": json.dumps(POD)}],
    )
    assert fake(api.svc).calls["replace"] == 1  # only "gone" reached the cluster


# --- policy -------------------------------------------------------------------------------
def test_readers_read_and_members_write(api: Checked, bay: dict[str, Any]) -> None:
    reader = {"X-Roles": "reader"}
    q = f"bay_ident={bay['uuid']}"
    text = json.dumps(POD)
    for collection, noun in (("pods", "pod"), ("services", "service"), ("rcs", "rc")):
        api.error(
            "POST",
            f"/v1/{collection}",
            403,
            f"Policy doesn't allow {noun}:create to be performed.",
            json={"bay_uuid": bay["uuid"], "manifest": text},
            headers=reader,
        )
        assert api("GET", f"/v1/{collection}?{q}", 200, headers=reader) == {collection: []}
        assert api("GET", f"/v1/{collection}/detail?{q}", 200, headers=reader) == {collection: []}
        api.error(
            "DELETE",
            f"/v1/{collection}/web?{q}",
            403,
            f"Policy doesn't allow {noun}:delete to be performed.",
            headers=reader,
        )
        api.error(
            "GET",
            f"/v1/{collection}?{q}",
            403,
            f"Policy doesn't allow {noun}:get_all to be performed.",
            headers={"X-Roles": ""},
        )
    create(api, "pods", bay, POD)
    assert api("GET", f"/v1/pods/web?{q}", 200, headers=reader)["name"] == "web"
    api.error(
        "PATCH",
        f"/v1/pods/web?{q}",
        403,
        "Policy doesn't allow pod:update to be performed.",
        json=[{"op": "replace", "path": "/manifest", "value": text}],
        headers=reader,
    )
    assert api("DELETE", f"/v1/pods/web?{q}", 204, headers={"X-Roles": "member"}) is None


# --- lists page like every other collection ---------------------------------------------
def test_lists_page_sort_and_follow_next(api: Checked, bay: dict[str, Any]) -> None:
    names = ["b-pod", "c-pod", "a-pod"]
    made = {n: create(api, "pods", bay, _pod(metadata__name=n))["uuid"] for n in names}
    q = f"bay_ident={bay['name']}"
    listed = api("GET", f"/v1/pods?{q}", 200)["pods"]
    assert [p["name"] for p in listed] == ["a-pod", "b-pod", "c-pod"]  # the cluster's order
    assert "next" not in api("GET", f"/v1/pods?{q}&limit=4", 200)
    first = api("GET", f"/v1/pods?{q}&limit=2&sort_key=name&sort_dir=desc", 200)
    assert [p["name"] for p in first["pods"]] == ["c-pod", "b-pod"]
    assert _api.walk(api.svc, f"/v1/pods?{q}&limit=2&sort_key=name&sort_dir=desc", "pods") == [
        *first["pods"],
        *api(
            "GET", f"/v1/pods?{q}&sort_key=name&sort_dir=desc&limit=1&marker={made['b-pod']}", 200
        )["pods"],
    ]
    assert "bay_ident=" in first["next"] and first["next"].startswith(
        "http://falconframework.org/v1/pods?"
    )
    detail = api("GET", f"/v1/pods/detail?{q}&limit=1", 200)
    assert detail["next"].startswith("http://falconframework.org/v1/pods/detail?")
    assert set(detail["pods"][0]) == POD_FIELDS | ECHOED
    missing = str(uuid.uuid4())
    api.error("GET", f"/v1/pods?{q}&marker={missing}", 404, f"Pod {missing} could not be found.")
    api.error("GET", f"/v1/pods?{q}&limit=0", 400, "Limit must be positive")
    api.error(
        "GET",
        f"/v1/pods?{q}&sort_key=labels",
        400,
        'The sort_key value "labels" is an invalid field for sorting',
    )
    api.error(
        "GET",
        f"/v1/pods?{q}&sort_dir=up",
        400,
        "Invalid sort direction: up. Acceptable values are 'asc' or 'desc'",
    )


def test_every_workload_operation_answers_what_the_document_says(
    api: Checked, bay: dict[str, Any]
) -> None:
    """(test_openapi_answers leaves these operations to this walk.)"""
    for collection, manifest, name in (
        ("pods", json.dumps(POD), "web"),
        ("services", SERVICE_YAML, "web-svc"),
        ("rcs", RC_YAML, "web-rc"),
    ):
        q = f"bay_ident={bay['uuid']}"
        made = create(api, collection, bay, manifest)
        api("GET", f"/v1/{collection}?{q}", 200)
        api("GET", f"/v1/{collection}/detail?{q}", 200)
        api("GET", f"/v1/{collection}/{name}?{q}", 200)
        api("GET", f"/v1/{collection}/{made['uuid']}/{bay['name']}", 200)
        patch = [{"op": "replace", "path": "/manifest", "value": manifest}]
        api("PATCH", f"/v1/{collection}/{name}?{q}", 200, json=patch)
        api("PATCH", f"/v1/{collection}/{name}/{bay['uuid']}", 200, json=patch)
        api("DELETE", f"/v1/{collection}/{name}/{bay['uuid']}", 204)
        api("DELETE", f"/v1/{collection}/{name}?{q}", 404)  # gone
    described = {
        (method, template)
        for template, item in api.described.doc["paths"].items()
        for method in item
        if method != "parameters" and template.startswith(("/v1/pods", "/v1/services", "/v1/rcs"))
    }
    assert len(described) == 27
    assert described - api.seen == set()
