# SPDX-License-Identifier: Apache-2.0
"""The real python-magnumclient 2.1.0 drives pods, replication controllers and services on
a real Kubernetes bay: `magnum-aio` with the local infrastructure and the swarm and
kubernetes drivers, and the script of test_magnumclient_workloads (its Python API, then the
`magnum pod-create`, `rc-create`, `coe-service-create` command line and the list, show,
update and delete commands of each) with manifests a node can run (busybox, loaded on
every node). test_real_kubernetes checks the same objects with kubectl."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest

from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local import network
from tests.functional.hostcheck import REALHOST, assert_clean, snapshot, without_kept
from tests.functional.test_magnumclient import CLIENT_PYTHON, real_aio, run_script
from tests.functional.test_magnumclient_workloads import SCRIPT, _rows, _table

pytestmark = [
    *REALHOST,
    pytest.mark.skipif(
        not CLIENT_PYTHON.exists(),
        reason=".venv-client is missing: run scripts/setup to install python-magnumclient 2.1.0",
    ),
]
# Exits at once on TERM (a shell as PID 1 would otherwise wait out the grace period).
SERVE = (
    "trap 'exit 0' TERM; mkdir -p /www && echo hi > /www/index.html && "
    "httpd -p 8080 -h /www; while :; do sleep 1; done"
)
CONTAINER = f"""\
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "{SERVE}"]
"""
POD = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\n"
    "spec:\n  containers:\n" + CONTAINER
)
RC = (
    "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: web-rc\n"
    "spec:\n  replicas: 2\n  selector: {app: web-rc}\n  template:\n"
    "    metadata:\n      labels: {app: web-rc}\n    spec:\n      containers:\n"
    + "".join(f"    {line}\n" for line in CONTAINER.splitlines())
)
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web-svc
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"""
MANIFESTS = {
    "pod.yaml": POD,
    # new labels: what a pod may change without a restart (a pod deleted while its kubelet
    # restarts a container for a new image may outstay its grace period: Kubernetes 1.20)
    "pod2.yaml": POD.replace("labels: {app: web}", "labels: {app: web, tier: front}"),
    "rc.yaml": RC,
    "rc2.yaml": RC.replace("replicas: 2", "replicas: 3"),
    "service.yaml": SERVICE,
    "service2.yaml": SERVICE.replace("port: 80\n", "port: 8000\n"),
}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_magnumclient_drives_a_real_kubernetes_bay(tmp_path: pathlib.Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for name, text in MANIFESTS.items():
        (manifests / name).write_text(text)
    with real_aio(tmp_path, "w") as (url, _proc, _lines, conf):
        dirs = (local_cluster.state_root(conf), pathlib.Path(conf.local.run_dir))
        before = without_kept(snapshot(*dirs), dirs[0])
        out: dict[str, Any] = run_script(SCRIPT, url, str(manifests), timeout=300)
        assert out["bay"] == "CREATE_COMPLETE", out
        assert out["deleted_k1"] == "gone" and out["deleted_s1"] == "gone", out
        assert_clean(
            before,
            lambda: without_kept(snapshot(*dirs), dirs[0]),
            tags=[network.short_id(u) for u in out["uuids"]],
            dirs=dirs,
        )

    api = out["python"]
    pod = api["pod_create"]
    assert UUID.match(pod["uuid"]), pod
    assert (pod["name"], pod["images"], pod["labels"]) == ("web", ["busybox"], {"app": "web"})
    assert pod["status"] in ("Pending", "Running"), pod  # as Kubernetes has it, just made
    assert api["pod_running"] == "Running"
    assert (pod["manifest"], pod["manifest_url"]) == (POD, None)
    assert api["pod_list_by_name"] == [pod["uuid"]] == [p["uuid"] for p in api["pod_list"]]
    assert api["pod_show"]["uuid"] == pod["uuid"] == api["pod_show_uuid"]["uuid"]
    assert api["pod_update"]["uuid"] == pod["uuid"]
    assert api["pod_update"]["labels"] == {"app": "web", "tier": "front"}
    rc = api["rc_create"]
    assert (rc["name"], rc["images"]) == ("web-rc", ["busybox"])
    # `replicas` is Kubernetes' count of the pods made so far (status.replicas); the
    # controller-manager may not have started the RC controller yet
    assert 0 <= rc["replicas"] <= 2 and 0 <= api["rc_update"]["replicas"] <= 3, api
    assert [r["uuid"] for r in api["rc_list"]] == [rc["uuid"]] == [api["rc_show"]["uuid"]]
    service = api["service_create"]
    assert service["selector"] == {"app": "web"} and service["ip"], service
    assert [p["port"] for p in service["ports"]] == [80]
    assert api["service_update"]["ports"][0]["port"] == 8000
    assert api["service_update"]["ip"] == service["ip"]  # replaced, not made anew
    # Kubernetes' own refusals, in its words, as the client's exceptions
    assert api["pod_duplicate"] == {
        "error": "Conflict",
        "http_status": 409,
        "details": 'pods "web" already exists',
    }
    assert api["pod_missing"] == {
        "error": "NotFound",
        "http_status": 404,
        "details": 'pods "nope" not found',
    }
    assert api["pod_no_name"]["details"] == "Field metadata['name'] can't be empty in manifest."
    assert api["pod_swarm"]["details"] == (
        "Cannot fulfill request with a swarm bay: its COE driver offers no workloads."
    )
    # the RC's pods went with it; the cluster's own service stays
    assert api["after_delete"] == [[], [], ["kubernetes"]]
    assert api["pod_deleted"]["error"] == "NotFound"

    cli = out["cli"]
    for step, result in cli.items():
        assert result["rc"] == 0, (step, result)
        assert "ERROR" not in result["out"], (step, result)
    for kind, name in (("pod", "web"), ("rc", "web-rc"), ("service", "web-svc")):
        made = _table(cli[f"{kind}_create"]["out"])
        assert made["name"] == name and UUID.match(made["uuid"]), cli[f"{kind}_create"]
        assert _table(cli[f"{kind}_show"]["out"])["uuid"] == made["uuid"]
        rows = [r[:2] for r in _rows(cli[f"{kind}_list"]["out"])[1:] if r[1] != "kubernetes"]
        assert rows == [[made["uuid"], name]], cli[f"{kind}_list"]
        left = [r[1] for r in _rows(cli[f"{kind}_list_after"]["out"])[1:]]
        assert left == (["kubernetes"] if kind == "service" else []), cli[f"{kind}_list_after"]
    assert _table(cli["pod_update"]["out"])["labels"] == "{'app': 'web', 'tier': 'front'}"
    assert 0 <= int(_table(cli["rc_update"]["out"])["replicas"]) <= 3  # counted so far
    assert "'port': 8000" in _table(cli["service_update"]["out"])["ports"]
