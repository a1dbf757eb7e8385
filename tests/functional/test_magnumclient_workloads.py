# SPDX-License-Identifier: Apache-2.0
"""The real python-magnumclient 2.1.0 (its Python API and its `magnum` command line) drives
pods, replication controllers and services on a `magnum-aio` whose Kubernetes COE is the
test double (FakeKubernetes); tests/functional/magnumclient_workloads_script.py runs in
.venv-client and prints what it saw."""

from __future__ import annotations

import pathlib
import signal
import subprocess
from collections.abc import Iterator

import pytest

from tests.functional.test_magnumclient import CLIENT_PYTHON, Lines, run_script, started_aio

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CLIENT_PYTHON.exists(),
        reason=".venv-client is missing: run scripts/setup to install python-magnumclient 2.1.0",
    ),
]
SCRIPT = pathlib.Path(__file__).with_name("magnumclient_workloads_script.py")
POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: web
    image: nginx
"""
RC = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: web-rc
spec:
  replicas: 2
  selector: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
"""
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
    "pod2.yaml": POD.replace("image: nginx", "image: busybox"),
    "rc.yaml": RC,
    "rc2.yaml": RC.replace("replicas: 2", "replicas: 3"),
    "service.yaml": SERVICE,
    "service2.yaml": SERVICE.replace("port: 80\n", "port: 8000\n"),
}


def _rows(text: str) -> list[list[str]]:
    """The cells of a table the command line printed (prettytable's `| a | b |` rows)."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]


def _table(text: str) -> dict[str, str]:
    """A `Property | Value` table the command line printed, as a dict (a value of several
    lines continues on rows without a property)."""
    header, *rows = _rows(text)
    assert header == ["Property", "Value"], text
    table: dict[str, str] = {}
    last = ""
    for key, value in rows:
        if key:
            table[key] = value
            last = key
        else:
            table[last] += f"\n{value}"
    return table


@pytest.fixture
def aio(tmp_path: pathlib.Path) -> Iterator[tuple[str, subprocess.Popen[str], Lines]]:
    conf = tmp_path / "magnum.conf"
    conf.write_text(
        "[conductor]\n"
        "enabled_infra_drivers = fake\n"
        "enabled_coe_drivers = fakecoe, fakek8s\n"
        "heartbeat_interval = 0.3\n"
        "sync_interval = 0.5\n"
    )
    with started_aio(tmp_path, tmp_path / "state", conf) as running:
        yield running


def test_magnumclient_drives_pods_rcs_and_services(
    aio: tuple[str, subprocess.Popen[str], Lines], tmp_path: pathlib.Path
) -> None:
    url, proc, lines = aio
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for name, text in MANIFESTS.items():
        (manifests / name).write_text(text)
    out = run_script(SCRIPT, url, str(manifests), timeout=240)
    assert out["bay"] == "CREATE_COMPLETE", out

    api = out["python"]
    pod = api["pod_create"]
    assert (pod["name"], pod["images"], pod["labels"], pod["status"]) == (
        "web",
        ["nginx"],
        {"app": "web"},
        "Running",
    )
    assert (pod["manifest"], pod["manifest_url"]) == (POD, None)
    brief = {k: v for k, v in pod.items() if k not in ("manifest", "manifest_url")}
    assert api["pod_list"] == [brief]
    assert api["pod_list_by_name"] == [pod["uuid"]]
    assert api["pod_list_limit"] == ["web"]
    assert api["pod_show"] == brief == api["pod_show_uuid"]
    assert api["pod_update"] == brief | {"images": ["busybox"]}
    rc = api["rc_create"]
    assert (rc["name"], rc["replicas"], rc["images"]) == ("web-rc", 2, ["nginx"])
    assert api["rc_list"] == [rc] and api["rc_show"] == rc
    assert api["rc_update"] == rc | {"replicas": 3}
    service = api["service_create"]
    assert service["name"] == "web-svc" and service["selector"] == {"app": "web"}
    assert service["ports"] == [
        {
            "name": "k8s-service",
            "protocol": "TCP",
            "port": 80,
            "target_port": 8080,
            "node_port": None,
        }
    ]
    assert api["service_list"] == [service] and api["service_show"] == service
    assert api["service_update"]["ports"][0]["port"] == 8000
    assert api["service_update"]["ip"] == service["ip"]
    # refusals arrive as the client's exceptions, with the server's words
    assert api["pod_duplicate"] == {
        "error": "Conflict",
        "http_status": 409,
        "details": 'pods "web" already exists',
    }
    assert api["pod_no_name"]["error"] == "BadRequest"
    assert api["pod_no_name"]["details"] == "Field metadata['name'] can't be empty in manifest."
    assert api["pod_swarm"]["details"] == (
        "Cannot fulfill request with a swarm bay: its COE driver offers no workloads."
    )
    assert api["pod_missing"] == {
        "error": "NotFound",
        "http_status": 404,
        "details": 'pods "nope" not found',
    }
    assert api["pod_url_refused"]["error"] == "BadRequest"
    assert "manifest_url_allowed_hosts is empty" in api["pod_url_refused"]["details"]
    assert api["after_delete"] == [[], [], []]
    assert api["pod_deleted"]["error"] == "NotFound"

    cli = out["cli"]
    for step, result in cli.items():
        assert result["rc"] == 0, (step, result)
        assert "ERROR" not in result["out"] and not result["err"].strip(), (step, result)
    for kind, name, columns in (
        ("pod", "web", ["uuid", "name"]),
        ("rc", "web-rc", ["uuid", "name", "bay_uuid"]),
        ("service", "web-svc", ["uuid", "name", "bay_uuid"]),
    ):
        made = _table(cli[f"{kind}_create"]["out"])
        assert made["name"] == name, cli[f"{kind}_create"]
        assert _table(cli[f"{kind}_show"]["out"]) == made | {"manifest": "None"}
        header, *rows = _rows(cli[f"{kind}_list"]["out"])
        assert header == columns and [r[:2] for r in rows] == [[made["uuid"], name]]
        assert _rows(cli[f"{kind}_list_after"]["out"]) == [columns]
    assert _table(cli["pod_update"]["out"])["images"] == "['busybox']"
    assert _table(cli["rc_update"]["out"])["replicas"] == "3"
    assert "'port': 8000" in _table(cli["service_update"]["out"])["ports"]
    assert cli["pod_delete"]["out"] == "Request to delete pod web has been accepted.\n"
    assert cli["rc_delete"]["out"] == "Request to delete rc web-rc has been accepted.\n"
    assert cli["service_delete"]["out"] == "Request to delete service web-svc has been accepted.\n"
    assert out["deleted_k1"] == "gone" and out["deleted_s1"] == "gone"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert any("magnum-aio: stopped" in line for line in lines.rest(timeout=5))
