# SPDX-License-Identifier: Apache-2.0
"""The Kubernetes driver's workloads (drivers/coe/kubernetes/workloads.py) through the real
`kubernetes` client against a tiny apiserver on 127.0.0.1: the requests it makes (paths,
methods, bodies as sent), the objects it returns, the image check, and how every kind of
refusal becomes a magnum error (Kubernetes' own Status bodies)."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client import exceptions as k8s_errors

from magnum.common import exceptions
from magnum.drivers import capabilities
from magnum.drivers.coe.kubernetes import workloads
from tests import doubles

Kind = capabilities.WorkloadKind
POD = {
    "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"x-unknown": "kept"}},
    "spec": {"containers": [{"name": "web", "image": "busybox"}], "someFutureField": 1},
}
NODE_IMAGES = [{"names": ["docker.io/library/busybox:latest", "busybox@sha256:abc"]}]


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class Apiserver:
    """Just enough of a Kubernetes API: namespaced pods, services and replication
    controllers in memory, /api/v1/nodes, and Status answers for what it refuses. A test
    sets `answer` to make the next request get (status, body) instead."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.nodes: list[dict[str, Any]] = [
            {"metadata": {"name": "n1"}, "status": {"images": NODE_IMAGES}}
        ]
        self.answer: tuple[int, bytes] | None = None
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if path == "/api/v1/nodes":
            return 200, {"kind": "NodeList", "items": self.nodes}
        parts = path.split("/")  # '', api, v1, namespaces, default, <collection>[, name]
        collection, name = parts[5], (parts[6] if len(parts) > 6 else None)
        key = f"{collection}/{name}"
        if name is None and method == "GET":
            items = [o for k, o in sorted(self.objects.items()) if k.startswith(f"{collection}/")]
            return 200, {"kind": "List", "items": items}
        if name is None and method == "POST":
            key = f"{collection}/{body['metadata']['name']}"
            if key in self.objects:
                return 409, _status(
                    409,
                    "AlreadyExists",
                    f'{collection} "{body["metadata"]["name"]}" already exists',
                )
            made = json.loads(json.dumps(body))
            made["metadata"] |= {"uid": str(uuid.uuid4()), "namespace": "default"}
            self.objects[key] = made
            return 201, made
        if key not in self.objects:
            return 404, _status(404, "NotFound", f'{collection} "{name}" not found')
        if method == "GET":
            return 200, self.objects[key]
        if method == "PUT":
            body["metadata"]["uid"] = self.objects[key]["metadata"]["uid"]
            self.objects[key] = body
            return 200, body
        del self.objects[key]
        return 200, _status(200, "", "")

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                del format, args

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                if server.answer is not None:
                    status, data = server.answer
                    server.answer = None
                    server.requests.append((self.command, self.path, body))
                else:
                    status, obj = server.handle(self.command, self.path, body)
                    data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler


@pytest.fixture
def apiserver() -> Iterator[Apiserver]:
    server = Apiserver()
    yield server
    server.stop()


@contextlib.contextmanager
def _client(url: str) -> Iterator[workloads.Connect]:
    """A connect() giving one ApiClient for `url` (closed after the block)."""
    config = kubernetes.client.Configuration()
    config.host = url
    config.retries = 0
    api = kubernetes.client.ApiClient(config)
    try:
        yield lambda task: api
    finally:
        api.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def driver(apiserver: Apiserver) -> Iterator[workloads.KubernetesWorkloads]:
    with _client(apiserver.url) as connect:
        yield workloads.KubernetesWorkloads(connect, timeout=5)


@pytest.fixture
def task() -> doubles.RecordingTask:
    return doubles.new_task(doubles.cluster_template(coe="kubernetes"), masters=1, workers=1)


def test_create_sends_the_manifest_as_it_is(
    driver: workloads.KubernetesWorkloads, apiserver: Apiserver, task: doubles.RecordingTask
) -> None:
    made = driver.create(task, Kind.POD, POD)
    method, path, body = apiserver.requests[-1]
    assert (method, path) == ("POST", "/api/v1/namespaces/default/pods")
    # apiVersion and kind filled in, nothing dropped (the typed models would drop these)
    assert body == {**POD, "apiVersion": "v1", "kind": "Pod"}
    assert isinstance(made, capabilities.Workload)
    assert (made.kind, made.name, made.namespace) == (Kind.POD, "web", "default")
    assert made.uid == made.manifest["metadata"]["uid"]
    assert made.manifest["spec"]["someFutureField"] == 1


def test_list_show_replace_delete(
    driver: workloads.KubernetesWorkloads, apiserver: Apiserver, task: doubles.RecordingTask
) -> None:
    service = {
        "metadata": {"name": "svc"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    rc = {
        "metadata": {"name": "rc"},
        "spec": {
            "selector": {"app": "web"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"image": "busybox"}]},
            },
        },
    }
    made = driver.create(task, Kind.SERVICE, service)
    driver.create(task, Kind.REPLICATION_CONTROLLER, rc)
    assert [w.name for w in driver.list(task, Kind.SERVICE)] == ["svc"]
    assert [w.name for w in driver.list(task, Kind.POD)] == []
    assert driver.show(task, Kind.SERVICE, "svc").uid == made.uid
    changed = json.loads(json.dumps(service))
    changed["spec"]["ports"][0]["port"] = 8080
    replaced = driver.replace(task, Kind.SERVICE, "svc", changed)
    assert replaced.uid == made.uid and replaced.manifest["spec"]["ports"][0]["port"] == 8080
    assert apiserver.requests[-1][:2] == ("PUT", "/api/v1/namespaces/default/services/svc")
    driver.delete(task, Kind.SERVICE, "svc")
    assert apiserver.requests[-1] == ("DELETE", "/api/v1/namespaces/default/services/svc", None)
    driver.delete(task, Kind.REPLICATION_CONTROLLER, "rc")
    deleted: tuple[str, str, Any] = apiserver.requests[-1]
    assert deleted == (
        "DELETE",
        "/api/v1/namespaces/default/replicationcontrollers/rc",
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
    )
    with pytest.raises(exceptions.WorkloadNotFound):  # none of that name (any more)
        driver.delete(task, Kind.SERVICE, "svc")
    with pytest.raises(exceptions.WorkloadNotFound) as missing:
        driver.show(task, Kind.SERVICE, "svc")
    assert missing.value.status == 404 and missing.value.message == 'services "svc" not found'
    with pytest.raises(exceptions.InvalidParameterValue, match="cannot rename it"):
        driver.replace(task, Kind.POD, "other", POD)


def test_images_no_node_has(
    driver: workloads.KubernetesWorkloads, apiserver: Apiserver, task: doubles.RecordingTask
) -> None:
    pod = json.loads(json.dumps(POD))
    pod["spec"]["containers"][0]["image"] = "nginx:1.9"
    with pytest.raises(exceptions.ImageNotAvailable) as caught:
        driver.create(task, Kind.POD, pod)
    assert caught.value.status == 400
    assert caught.value.message.startswith(
        f"Image nginx:1.9 is not available in bay {task.cluster.uuid} (no node has it"
    )
    assert [r[0] for r in apiserver.requests] == ["GET"]  # the nodes, and no create
    # a registry's image may be pulled; a node reporting MAX_NODE_IMAGES may have more
    pod["spec"]["containers"][0]["image"] = "10.250.3.1:5000/demo:1"
    assert driver.create(task, Kind.POD, pod).name == "web"
    apiserver.nodes[0]["status"]["images"] = [{"names": [f"i{n}:1"]} for n in range(50)]
    pod["metadata"]["name"] = "web2"
    pod["spec"]["containers"][0]["image"] = "nginx:1.9"
    assert driver.create(task, Kind.POD, pod).name == "web2"


@pytest.mark.parametrize(
    ("status", "body", "error", "answered", "message"),
    [
        (
            400,
            _status(400, "BadRequest", "bad body"),
            exceptions.InvalidParameterValue,
            400,
            "bad body",
        ),
        (
            422,
            _status(422, "Invalid", 'Pod "Web" is invalid: metadata.name: Invalid value'),
            exceptions.InvalidParameterValue,
            400,
            'Pod "Web" is invalid: metadata.name: Invalid value',
        ),
        (
            404,
            _status(404, "NotFound", 'pods "x" not found'),
            exceptions.WorkloadNotFound,
            404,
            'pods "x" not found',
        ),
        (
            409,
            _status(409, "AlreadyExists", 'pods "x" already exists'),
            exceptions.WorkloadConflict,
            409,
            'pods "x" already exists',
        ),
        (
            429,
            _status(429, "TooManyRequests", "slow down"),
            exceptions.WorkloadAPIError,
            429,
            "slow down",
        ),
        (
            503,
            _status(503, "ServiceUnavailable", "etcd is away"),
            exceptions.WorkloadAPIError,
            503,
            "etcd is away",
        ),
        (410, _status(410, "Gone", "too old"), exceptions.WorkloadAPIError, 500, "too old"),
        (500, b"not json at all", exceptions.WorkloadAPIError, 500, "Internal Server Error"),
    ],
)
def test_kubernetes_refusals_become_magnum_errors(
    driver: workloads.KubernetesWorkloads,
    apiserver: Apiserver,
    task: doubles.RecordingTask,
    status: int,
    body: Any,
    error: type[exceptions.MagnumError],
    answered: int,
    message: str,
) -> None:
    apiserver.answer = (status, body if isinstance(body, bytes) else json.dumps(body).encode())
    with pytest.raises(error) as caught:
        driver.list(task, Kind.POD)
    assert type(caught.value) is error
    assert (caught.value.status, caught.value.message) == (answered, message)


def test_the_conductors_credentials_refused_is_a_server_error(
    driver: workloads.KubernetesWorkloads, apiserver: Apiserver, task: doubles.RecordingTask
) -> None:
    apiserver.answer = (403, json.dumps(_status(403, "Forbidden", "no")).encode())
    with pytest.raises(exceptions.WorkloadAPIError) as caught:
        driver.show(task, Kind.POD, "web")
    assert caught.value.status == 500
    assert caught.value.message == (
        f"The Kubernetes API of bay {task.cluster.uuid} refused the conductor's credentials: no"
    )


def test_an_answer_that_is_no_json_is_a_bad_gateway(
    driver: workloads.KubernetesWorkloads, apiserver: Apiserver, task: doubles.RecordingTask
) -> None:
    apiserver.answer = (200, b"<html>a proxy</html>")
    with pytest.raises(exceptions.WorkloadAPIError) as caught:
        driver.list(task, Kind.POD)
    assert caught.value.status == 502 and "answered GET" in caught.value.message


def test_an_api_that_does_not_answer_is_node_unavailable(task: doubles.RecordingTask) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        _client(f"http://127.0.0.1:{port}") as connect,
        pytest.raises(exceptions.NodeUnavailable) as caught,
    ):
        workloads.KubernetesWorkloads(connect, timeout=2).list(task, Kind.POD)
    assert caught.value.status == 409
    assert caught.value.message.startswith(
        f"The Kubernetes API of bay {task.cluster.uuid} does not answer ("
    )
    # the client's own failures to reach the API (TLS) come as status 0
    mapped = workloads.error(
        k8s_errors.ApiException(status=0, reason="SSLError\nbad cert"), cluster="c1"
    )
    assert isinstance(mapped, exceptions.NodeUnavailable)
    assert mapped.message == "The Kubernetes API of bay c1 does not answer (bad cert)."


def test_no_api_yet_is_what_connect_raises(task: doubles.RecordingTask) -> None:
    def connect(task: Any) -> kubernetes.client.ApiClient:
        raise exceptions.NodeUnavailable(detail="Cluster c1 has no Kubernetes API yet.")

    driver = workloads.KubernetesWorkloads(connect)
    with pytest.raises(exceptions.NodeUnavailable, match="no Kubernetes API yet"):
        driver.list(task, Kind.POD)


def test_a_replace_keeps_what_the_cluster_set() -> None:
    """A new manifest over the object as the cluster has it: the manifest's fields set,
    the cluster's own kept; string maps and unnamed lists the manifest's whole."""
    volumes = [{"name": "t", "secret": {"secretName": "t"}}]
    current: dict[str, Any] = {
        "metadata": {"name": "web", "uid": "u1", "resourceVersion": "7", "labels": {"a": "1"}},
        "spec": {
            "nodeName": "node-0",
            "priority": 0,
            "containers": [{"name": "web", "image": "busybox", "volumeMounts": [{"name": "t"}]}],
            "volumes": volumes,
            "ports": [{"port": 80, "protocol": "TCP"}],
        },
        "status": {"phase": "Running"},
    }
    new = {
        "metadata": {"name": "web", "labels": {"b": "2"}},
        "spec": {
            "containers": [{"name": "web", "image": "busybox:latest"}],
            "ports": [{"port": 8000}],
        },
    }
    merged = workloads._over(current, new, keep=True)
    assert merged["metadata"] == {
        "name": "web",
        "uid": "u1",
        "resourceVersion": "7",
        "labels": {"b": "2"},
    }
    spec = merged["spec"]
    assert (spec["nodeName"], spec["priority"]) == ("node-0", 0)
    assert spec["containers"] == [
        {"name": "web", "image": "busybox:latest", "volumeMounts": [{"name": "t"}]}
    ]
    assert spec["volumes"] == volumes
    assert spec["ports"] == [{"port": 8000}]
    # not a pod: what the manifest no longer names goes
    two = {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    one = {"spec": {"containers": [{"name": "b", "image": "x"}]}}
    assert workloads._over(two, one, keep=False) == {
        "spec": {"containers": [{"name": "b", "image": "x"}]}
    }
    assert workloads._over({"labels": {"a": "1"}}, {"labels": {}}, keep=False) == {"labels": {}}
