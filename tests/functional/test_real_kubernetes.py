# SPDX-License-Identifier: Apache-2.0
"""Real Kubernetes bays through the API: the in-process API + conductor with the local
infrastructure and the kubernetes driver run Kubernetes 1.20 (built by
scripts/build-kubernetes) on network-namespace nodes of this host.

Each test snapshots the host first (namespaces, links, rules, cgroups, node daemons,
mounts and the host-wide sysctls a kubelet would otherwise rewrite) and checks that the
bays' deletes leave it exactly so. Tenants reach the cluster as a Kubernetes user would:
a kubeconfig made from the bay's CA and a certificate the certificates API signed from
their CSR, used by kubectl unedited.
"""

from __future__ import annotations

import base64
import json
import pathlib
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from magnum.drivers.coe.kubernetes import components
from magnum.drivers.infra.local import network
from tests.functional import _nodegroups as ng
from tests.functional._cluster import wait_until
from tests.functional.hostcheck import REALHOST, assert_clean, key_and_csr, poll, snapshot
from tests.functional.test_bay_images import tenant_archive
from tests.functional.test_real_bays import (  # noqa: F401 - fixtures
    Real,
    _cluster_template,
    db_url,
    real_factory,
)
from tests.functional.test_real_failover import real_cluster

pytestmark = REALHOST

CREATE_TIMEOUT = 120.0
MODEL = {
    "name": "k8s",
    "coe": "kubernetes",
    "image_id": "fedora-atomic",
    "keypair_id": "default",
    "external_network_id": "public",
    "flavor_id": "m1.small",
    "network_driver": "flannel",
}
WEB = """
apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  replicas: 2
  selector: {app: web}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command:
        - sh
        - -c
        - mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


@pytest.fixture
def real(real_factory: Callable[..., Real]) -> Real:  # noqa: F811 - the fixture
    real = real_factory(coes=("kubernetes",))
    if not (pathlib.Path(real.svc.conf.kubernetes.bin_dir) / "kube-apiserver").exists():
        pytest.skip("Kubernetes is not built here (scripts/build-kubernetes)")
    return real


class Kubectl:
    """kubectl (the one built beside the cluster's binaries) with a tenant's kubeconfig."""

    def __init__(self, real: Real | _Api, cluster: dict[str, Any], where: pathlib.Path) -> None:
        self.binary = str(pathlib.Path(real.svc.conf.kubernetes.bin_dir) / "kubectl")
        self.where = where
        where.mkdir(parents=True, exist_ok=True)
        self.config = where / "kubeconfig"
        self.config.write_text(tenant_kubeconfig(real, cluster))

    def __call__(self, *args: str, input_: str | None = None, check: bool = True) -> str:
        proc = subprocess.run(
            [self.binary, f"--kubeconfig={self.config}", f"--cache-dir={self.where}/cache", *args],
            capture_output=True,
            text=True,
            input=input_,
            timeout=60,
            check=False,
        )
        if check:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    def ready_nodes(self) -> list[str]:
        return sorted(
            n["metadata"]["name"]
            for n in self.json("get", "nodes")["items"]
            if any(
                c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]
            )
        )

    def running_pods(self, selector: str) -> dict[str, str]:
        """{pod name: node} of the Running pods of `selector`."""
        pods = self.json("get", "pods", "-l", selector)["items"]
        return {
            p["metadata"]["name"]: p["spec"]["nodeName"]
            for p in pods
            if p["status"].get("phase") == "Running" and "deletionTimestamp" not in p["metadata"]
        }


class _Api:
    """A conductor Cluster (test_real_failover) seen as Real.svc: get, post and conf."""

    def __init__(self, cluster: Any) -> None:
        self.svc = self
        self._c = cluster
        self.conf = cluster.conf

    def get(self, path: str) -> Any:
        return self._c.get(path)

    def post(self, path: str, body: Any) -> Any:
        return self._c.request("POST", path, body)


def tenant_kubeconfig(real: Real | _Api, cluster: dict[str, Any]) -> str:
    """A kubeconfig from the bay's CA and a certificate signed by the certificates API for
    a CSR naming the tenant as user `tenant` in group system:masters."""
    res = real.svc.get(f"/v1/certificates/{cluster['uuid']}")
    assert res.status_code == 200, res.text
    ca = res.json["pem"]
    key, csr = key_and_csr("tenant", organization="system:masters")
    res = real.svc.post("/v1/certificates", {"bay_uuid": cluster["uuid"], "csr": csr})
    assert res.status_code == 201, res.text

    def b64(text: str | bytes) -> str:
        return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()

    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "bay",
                    "cluster": {
                        "server": cluster["api_address"],
                        "certificate-authority-data": b64(ca),
                    },
                }
            ],
            "users": [
                {
                    "name": "tenant",
                    "user": {
                        "client-certificate-data": b64(res.json["pem"]),
                        "client-key-data": b64(key),
                    },
                }
            ],
            "contexts": [{"name": "bay", "context": {"cluster": "bay", "user": "tenant"}}],
            "current-context": "bay",
        }
    )


def _patch_nodes(real: Real, ident: str, count: int) -> dict[str, Any]:
    res = real.svc.patch(
        f"/v1/bays/{ident}", [{"op": "replace", "path": "/node_count", "value": count}]
    )
    assert res.status_code == 200, res.text
    body = real.settled(ident, timeout=CREATE_TIMEOUT)
    assert body["status"] == "UPDATE_COMPLETE", body
    return body


def _pods(
    kubectl: Kubectl, selector: str, count: int, *, nodes: set[str] | None = None
) -> dict[str, str]:
    """{pod: node} once exactly `count` pods of `selector` run (on `nodes`, if given)."""

    def found() -> dict[str, str] | None:
        pods = kubectl.running_pods(selector)
        if len(pods) != count or (nodes is not None and not set(pods.values()) <= nodes):
            return None
        return pods

    result: dict[str, str] = poll(
        f"{count} pods {selector} Running", found, timeout=60.0, interval=0.2
    )
    return result


def _answers_from(kubectl: Kubectl, pod: str, url: str, wanted: set[str]) -> set[str]:
    """Ask `url` from inside `pod` until every pod of `wanted` has answered."""
    seen: set[str] = set()

    def all_seen() -> bool:
        out = kubectl("exec", pod, "--", "timeout", "3", "wget", "-qO-", url, check=False)
        seen.update(line.strip() for line in out.splitlines() if line.strip())
        return wanted <= seen

    poll(f"{sorted(wanted)} to answer {url}", all_seen, timeout=30.0, interval=0.2)
    return seen


def test_kubernetes_bay_lifecycle(real: Real, tmp_path: pathlib.Path) -> None:
    before = real.snapshot()
    model = _cluster_template(real, **MODEL)
    started = time.monotonic()
    bay = real.create("k1", model, nodes=2)
    cluster = real.settled(bay["uuid"], timeout=CREATE_TIMEOUT)
    print(f"\nkubernetes 1+2 create: {time.monotonic() - started:.2f}s")
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    assert (
        cluster["api_address"] == f"https://{cluster['master_addresses'][0]}:{components.API_PORT}"
    )

    kubectl = Kubectl(real, cluster, tmp_path / "kube")
    assert kubectl.ready_nodes() == ["node-0", "node-1"]
    labels = kubectl.json("get", "node", "node-0")["metadata"]["labels"]
    assert labels[components.ROLE_LABEL] == "worker"
    assert labels[components.NODEGROUP_LABEL] == "default-worker"

    # An RC spread over both workers, and a ClusterIP Service that answers from both pods,
    # asked from a pod on one node (so one answer crosses to the other node).
    kubectl("apply", "-f", "-", input_=WEB)
    pods = _pods(kubectl, "app=web", 2)
    assert sorted(pods.values()) == ["node-0", "node-1"], pods
    ip = kubectl.json("get", "service", "web")["spec"]["clusterIP"]
    first = sorted(pods)[0]
    assert _answers_from(kubectl, first, f"http://{ip}/", set(pods)) >= set(pods)

    # A tenant's image, loaded through the API into every node, runs as a pod.
    res = real.svc.request(
        "POST",
        f"/v1/bays/{bay['uuid']}/images",
        body=tenant_archive("tenant/hello:1", "hello from a loaded image"),
        headers={"Content-Type": "application/x-tar"},
    )
    assert res.status_code == 201, res.text
    assert res.json["images"] == ["tenant/hello:1"]
    assert res.json["nodes"] == 3
    kubectl(
        "run",
        "hello",
        "--image=tenant/hello:1",
        "--image-pull-policy=Never",
        "--restart=Never",
    )
    poll(
        "the hello pod to finish",
        lambda: kubectl("get", "pod", "hello", "-o", "jsonpath={.status.phase}") == "Succeeded",
        timeout=60.0,
        interval=0.2,
    )
    assert kubectl("logs", "hello").strip() == "hello from a loaded image"

    # Scale to 1+3: the new node registers and is Ready; back to 1+1: node-1 and node-2 are
    # drained (their pods move to node-0) and gone from the API before they are deleted.
    _patch_nodes(real, bay["uuid"], 3)
    assert kubectl.ready_nodes() == ["node-0", "node-1", "node-2"]
    _patch_nodes(real, bay["uuid"], 1)
    assert kubectl.ready_nodes() == ["node-0"]
    moved = _pods(kubectl, "app=web", 2, nodes={"node-0"})
    assert set(moved.values()) == {"node-0"}, moved

    # A nodegroup's node_labels and node_taints (1.14) are registered with its nodes.
    ng.add(
        real.svc,
        bay["uuid"],
        name="fast",
        node_count=1,
        node_labels={"disk": "ssd"},
        node_taints=[{"key": "dedicated", "value": "fast", "effect": "NoSchedule"}],
    )
    nodes = {
        n["metadata"]["name"]: n for n in kubectl.json("get", "nodes", "-l", "disk=ssd")["items"]
    }
    assert len(nodes) == 1, nodes
    (node,) = nodes.values()
    assert node["metadata"]["labels"][components.NODEGROUP_LABEL] == "fast"
    # ours only: the driver lifted the not-ready taint of the Ready node before it was done
    assert node["spec"]["taints"] == [
        {"key": "dedicated", "value": "fast", "effect": "NoSchedule"}
    ], node["spec"]

    real.delete(bay["uuid"])
    real.assert_clean(before)


HELLO = """\
  containers:
  - name: hello
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "mkdir -p /www && echo hi > /www/index.html && httpd -f -p 8080 -h /www"]
"""
POD = "kind: Pod\nmetadata: {name: hello, labels: {app: hello}}\nspec:\n" + HELLO
RC = (
    "kind: ReplicationController\n"
    "metadata: {name: hello-rc}\n"
    "spec:\n"
    "  replicas: 2\n"
    "  selector: {app: hello, made-by: rc}\n"  # not the pod's labels: it would be adopted
    "  template:\n"
    "    metadata: {labels: {app: hello, made-by: rc}}\n"
    "    spec:\n" + "".join(f"    {line}\n" for line in HELLO.splitlines())
)
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports: [{port: 80, targetPort: 8080}]
"""


def _replicas(real: Real, bay: str, count: int) -> None:
    def counted() -> bool:
        got = real.svc.get(f"/v1/rcs/hello-rc?bay_ident={bay}")
        assert got.status_code == 200, got.text
        return bool(got.json["replicas"] == count)

    poll(f"the RC at {count} replicas, as the API shows it", counted, timeout=60.0, interval=0.2)


def test_pods_rcs_and_services_through_the_api(real: Real, tmp_path: pathlib.Path) -> None:
    """Mitaka's /v1/pods, /v1/rcs and /v1/services drive the bay's own Kubernetes: what
    the API makes, kubectl sees; what Kubernetes refuses comes back in its words."""
    before = real.snapshot()
    model = _cluster_template(real, **MODEL)
    bay = real.create("w1", model, nodes=1)
    cluster = real.settled(bay["uuid"], timeout=CREATE_TIMEOUT)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    kubectl = Kubectl(real, cluster, tmp_path / "kube")
    uuid = bay["uuid"]

    res = real.svc.post("/v1/pods", {"bay_uuid": uuid, "manifest": POD})
    assert res.status_code == 201, res.text
    pod = res.json
    made = kubectl.json("get", "pod", "hello")
    assert pod["uuid"] == made["metadata"]["uid"] and pod["images"] == ["busybox:latest"]

    def running() -> dict[str, Any] | None:
        got = real.svc.get(f"/v1/pods/hello?bay_ident={uuid}")
        assert got.status_code == 200, got.text
        return got.json if got.json["status"] == "Running" else None

    shown = poll("the pod Running, as the API shows it", running, timeout=60.0, interval=0.2)
    assert shown["host"] == "node-0"
    listed = real.svc.get(f"/v1/pods?bay_ident={cluster['name']}")
    assert [p["uuid"] for p in listed.json["pods"]] == [pod["uuid"]], listed.text

    # the same name again: Kubernetes' 409, its words
    again = real.svc.post("/v1/pods", {"bay_uuid": uuid, "manifest": POD})
    assert again.status_code == 409, again.text
    assert again.json["errors"][0]["detail"] == 'pods "hello" already exists'
    # an image no node has: 400 before Kubernetes would leave it pending forever
    missing = real.svc.post(
        "/v1/pods",
        {
            "bay_uuid": uuid,
            "manifest": POD.replace("name: hello,", "name: other,").replace(
                "busybox:latest", "tenant/absent:1"
            ),
        },
    )
    assert missing.status_code == 400, missing.text
    assert "tenant/absent:1" in missing.json["errors"][0]["detail"]
    # what only Kubernetes checks (a negative port) is Kubernetes' 422, as a 400
    bad = real.svc.post(
        "/v1/services",
        {"bay_uuid": uuid, "manifest": SERVICE.replace("port: 80", "port: -1")},
    )
    assert bad.status_code == 400, bad.text
    assert "spec.ports[0].port" in bad.json["errors"][0]["detail"]

    # an RC of two and a Service in front of its pods (and the pod's: same label)
    rc = real.svc.post("/v1/rcs", {"bay_uuid": uuid, "manifest": RC})
    assert rc.status_code == 201, rc.text
    _replicas(real, uuid, 2)  # status.replicas: what the controller made so far
    svc = real.svc.post("/v1/services", {"bay_uuid": uuid, "manifest": SERVICE})
    assert svc.status_code == 201, svc.text
    assert svc.json["ip"] == kubectl.json("get", "service", "hello")["spec"]["clusterIP"]
    pods = _pods(kubectl, "app=hello", 3)  # the pod and the RC's two
    assert "hello" in pods

    # PATCH replaces the object: three replicas, then kubectl counts four pods
    patched = real.svc.patch(
        f"/v1/rcs/hello-rc/{uuid}",
        [{"op": "replace", "path": "/manifest", "value": RC.replace("replicas: 2", "replicas: 3")}],
    )
    assert patched.status_code == 200, patched.text
    assert patched.json["uuid"] == rc.json["uuid"]  # the same RC, replaced
    _replicas(real, uuid, 3)
    _pods(kubectl, "app=hello", 4)
    answered = _answers_from(kubectl, "hello", f"http://{svc.json['ip']}/", {"hi"})
    assert answered == {"hi"}

    for path in (
        f"/v1/rcs/hello-rc/{uuid}",
        f"/v1/services/hello/{uuid}",
        f"/v1/pods/hello/{uuid}",
    ):
        gone = real.svc.delete(path)
        assert gone.status_code == 204, (path, gone.text)
    left = kubectl.json("get", "services,replicationcontrollers")["items"]
    assert [o["metadata"]["name"] for o in left] == ["kubernetes"], left
    # every pod is going, the RC's too (deleted with it, not orphaned)
    going = kubectl.json("get", "pods")["items"]
    assert all("deletionTimestamp" in p["metadata"] for p in going), going

    real.delete(uuid)
    real.assert_clean(before)


def test_two_kubernetes_bays_side_by_side(real: Real, tmp_path: pathlib.Path) -> None:
    """Same pod and service ranges in both: each is its nodes' own."""
    before = real.snapshot()
    model = _cluster_template(real, **MODEL)
    bays = [real.create(name, model, nodes=1) for name in ("ka", "kb")]
    clusters = [real.settled(b["uuid"], timeout=CREATE_TIMEOUT) for b in bays]
    for cluster in clusters:
        assert cluster["status"] == "CREATE_COMPLETE", cluster
    for i, cluster in enumerate(clusters):
        kubectl = Kubectl(real, cluster, tmp_path / f"kube{i}")
        assert kubectl.ready_nodes() == ["node-0"]
        kubectl(
            "run",
            "p",
            "--image=busybox:latest",
            "--image-pull-policy=IfNotPresent",
            "--restart=Never",
            "--",
            "sleep",
            "600",
        )
        kubectl("wait", "--for=condition=Ready", "pod/p", "--timeout=60s")
        assert kubectl("exec", "p", "--", "hostname").strip() == "p"
    for b in bays:
        real.delete(b["uuid"])
    real.assert_clean(before)


def test_apiserver_that_does_not_start_fails_the_create(
    real_factory: Callable[..., Real],  # noqa: F811 - the fixture
    tmp_path: pathlib.Path,
) -> None:
    """CREATE_FAILED naming the component and its last log line; nothing is left."""
    bins = tmp_path / "bin"
    bins.mkdir()
    real = real_factory(coes=("kubernetes",))
    built = pathlib.Path(real.svc.conf.kubernetes.bin_dir)
    if not (built / "kube-apiserver").exists():
        pytest.skip("Kubernetes is not built here (scripts/build-kubernetes)")
    for binary in built.iterdir():
        (bins / binary.name).symlink_to(binary)
    (bins / "kube-apiserver").unlink()
    (bins / "kube-apiserver").write_text(
        "#!/bin/sh\necho 'E1202 cannot open etcd: the disk is on fire' >&2\nexit 1\n"
    )
    (bins / "kube-apiserver").chmod(0o755)
    real.svc.conf.set_override("bin_dir", str(bins), group="kubernetes")
    before = real.snapshot()
    model = _cluster_template(real, **MODEL)
    bay = real.create("broken", model, nodes=1)
    cluster = real.settled(bay["uuid"], timeout=CREATE_TIMEOUT)
    assert cluster["status"] == "CREATE_FAILED", cluster
    assert "kube-apiserver on master-0 exited 5 times" in cluster["status_reason"], cluster
    assert "the disk is on fire" in cluster["status_reason"], cluster
    real.delete(bay["uuid"])
    real.assert_clean(before)


def test_killed_conductor_mid_create_is_finished_by_another(tmp_path: pathlib.Path) -> None:
    """Two conductor processes; the one holding the lease is SIGKILLed while the control
    plane starts or the nodes register; the survivor finishes the same bay: exactly two
    nodes registered and Ready, every component running once, nothing left after delete."""
    with real_cluster(tmp_path, ("kubernetes",)) as real:
        if not (pathlib.Path(real.c.conf.kubernetes.bin_dir) / "kube-apiserver").exists():
            pytest.skip("Kubernetes is not built here (scripts/build-kubernetes)")
        c = real.c
        before = real.snapshot()
        c.start_conductor("c1")
        c.start_conductor("c2")
        c.wait_up("c1", "c2")
        res = c.request("POST", "/v1/baymodels", MODEL)
        assert res.status_code == 201, res.text
        res = c.request("POST", "/v1/bays", {"name": "kf", "baymodel_id": "k8s", "node_count": 2})
        assert res.status_code == 201, res.text
        cluster_uuid = res.json["uuid"]
        row = real.catch(
            cluster_uuid, "CREATE_IN_PROGRESS", r"^Control plane starting|^API up|nodes Ready$"
        )
        victim = real.kill_owner(row)
        (survivor,) = set(c.procs)
        real.taken_over(cluster_uuid, survivor, "CREATE_COMPLETE")
        cluster = real.settled(cluster_uuid)
        print(f"\nkilled {victim} at {row['status_reason']!r} (seen {real.seen})")
        assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
        assert f"cluster {cluster_uuid}: create starting on {survivor}:" in c.log(survivor)

        kubectl = Kubectl(_Api(c), cluster, tmp_path / "kube")
        assert kubectl.ready_nodes() == ["node-0", "node-1"]
        tag = network.short_id(cluster_uuid)
        procs = [p for p in snapshot(c.state, real.run)["procs"] if f"/{tag}/" in p]
        for daemon, count in (
            ("etcd", 1),
            ("kube-apiserver", 1),
            ("kube-controller-manager", 1),
            ("kube-scheduler", 1),
            ("kubelet", 2),
            ("kube-proxy", 2),
        ):
            assert len([p for p in procs if p.split()[0].rsplit("/", 1)[-1] == daemon]) == count, (
                daemon,
                procs,
            )
        res = c.request("DELETE", f"/v1/bays/{cluster_uuid}")
        assert res.status_code == 204, res.text
        wait_until("the bay row to be gone", lambda: real.row(cluster_uuid) is None, 60.0)
        tags = [tag]
        assert_clean(before, real.snapshot, tags=tags, dirs=(c.state, real.run), timeout=15.0)


def test_three_masters_survive_the_loss_of_one(
    real_factory: Callable[..., Real],  # noqa: F811 - the fixture
    tmp_path: pathlib.Path,
) -> None:
    """A 3-master bay: a three-member etcd, the API behind the bay's front; with master-0
    lost (every process of it killed) the API still answers, a pod still starts, and the
    health check names what is down."""
    real = real_factory(coes=("kubernetes",), conductor={"health_interval": 0.2})
    if not (pathlib.Path(real.svc.conf.kubernetes.bin_dir) / "kube-apiserver").exists():
        pytest.skip("Kubernetes is not built here (scripts/build-kubernetes)")
    before = real.snapshot()
    model = _cluster_template(real, **MODEL)
    bay = real.create("kha", model, nodes=1, masters=3)
    cluster = real.settled(bay["uuid"], timeout=CREATE_TIMEOUT)
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    front = cluster["api_address"]
    assert front.startswith("https://") and front.endswith(f":{components.API_PORT}"), cluster
    assert front.removeprefix("https://").split(":")[0] not in cluster["master_addresses"]
    kubectl = Kubectl(real, cluster, tmp_path / "kube")
    assert kubectl.ready_nodes() == ["node-0"]

    # master-0 is lost: every process of its cgroup (holder, dockerd, etcd, apiserver,
    # controllers and their supervisors) is killed at once.
    cgroup = pathlib.Path("/sys/fs/cgroup/pids/magnum") / network.short_id(bay["uuid"])
    victims = {
        int(pid)
        for procs in (cgroup / "master-0").rglob("cgroup.procs")
        for pid in procs.read_text().split()
    }
    assert victims
    subprocess.run(["kill", "-9", *map(str, victims)], check=False)
    # The first requests may meet etcd electing a new leader ("leader changed"), as any
    # client of a cluster losing its leader does: retried, as kubectl users would.
    run = ("run", "p", "--image=busybox:latest", "--image-pull-policy=IfNotPresent")
    poll(
        "a pod to be accepted",
        lambda: (
            kubectl(*run, "--restart=Never", "--", "sleep", "600", check=False)
            or kubectl("get", "pod", "p", "-o", "name", check=False)
        ),
        timeout=30.0,
        interval=0.5,
    )
    kubectl("wait", "--for=condition=Ready", "pod/p", "--timeout=60s")
    unhealthy = real.svc.wait_cluster(
        bay["uuid"], lambda b: b is not None and b["health_status"] == "UNHEALTHY", timeout=30
    )
    assert unhealthy is not None
    assert unhealthy["health_status_reason"].startswith("Not running: "), unhealthy
    assert "etcd on master-0" in unhealthy["health_status_reason"], unhealthy
    real.delete(bay["uuid"])
    real.assert_clean(before)
