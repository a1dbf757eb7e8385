# SPDX-License-Identifier: Apache-2.0
"""Drive pods, replication controllers and services with the real python-magnumclient
2.1.0: its Python API, then its `magnum` command line.

Run with the client venv, never imported by pytest:

    .venv-client/bin/python tests/functional/magnumclient_workloads_script.py URL/v1 DIR

DIR holds the manifests (pod.yaml, pod2.yaml, rc.yaml, rc2.yaml, service.yaml,
service2.yaml). Makes a Kubernetes baymodel and bay (and a swarm one), drives each kind
through create, list, show, update and delete, first with the Python API and then with
`magnum pod-create`, `rc-create`, `coe-service-create` and the list, show, update and
delete commands, then deletes the bays; prints one JSON object of outcomes ({"error": ...}
where a call failed).

The 2.1 command line insists on Keystone: a tiny one (Keystone v3's token issue, no
checks) runs here for it, and --bypass-url sends the commands to the service under test,
which runs without authentication.
"""

from __future__ import annotations

import http.server
import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from magnumclient.v1 import client as v1_client

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.functional import magnumclient_common as common

BAY_TIMEOUT = 60.0
RUNNING = re.compile(r"\|\s*status\s*\|\s*Running\s*\|")
DELETE_TIMEOUT = 60.0  # a deleted object gone from the lists
MAGNUM = pathlib.Path(sys.executable).parent / "magnum"
POD_FIELDS = ("uuid", "name", "bay_uuid", "images", "labels", "status", "host")
RC_FIELDS = ("uuid", "name", "bay_uuid", "images", "labels", "replicas")
SERVICE_FIELDS = ("uuid", "name", "bay_uuid", "labels", "selector", "ip", "ports")


fields, attempt = common.fields, common.attempt


def wait_bay(cs: Any, ident: str, until: Callable[[Any], bool]) -> str:
    return common.wait_bay(cs, ident, until, timeout=BAY_TIMEOUT, interval=0.1)


def make_bay(cs: Any, name: str, coe: str) -> Any:
    extra = {"network_driver": "flannel"} if coe == "kubernetes" else {}
    model = cs.baymodels.create(
        name=f"{name}-model",
        image_id="fedora-atomic",
        keypair_id="kp",
        external_network_id="public",
        coe=coe,
        **extra,
    )
    bay = cs.bays.create(name=name, baymodel_id=model.uuid, node_count=1)
    wait_bay(cs, name, lambda b: b is not None and "PROGRESS" not in b.status)
    return model, bay


def listed_names(table: str) -> list[str]:
    """The name column of a list the command line printed (| uuid | name | ...)."""
    rows = [line.strip().strip("|").split("|") for line in table.splitlines() if line[:1] == "|"]
    return [row[1].strip() for row in rows[1:] if len(row) > 1]


def settled(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """What `read()` gives once `done` holds of it, or its last answer after DELETE_TIMEOUT."""
    deadline = time.monotonic() + DELETE_TIMEOUT
    pause = threading.Event()
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        pause.wait(0.2)


# --- the Python API -------------------------------------------------------------------------
def python_api(cs: Any, bay: Any, swarm: Any, manifests: pathlib.Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    text = (manifests / "pod.yaml").read_text()
    pod = cs.pods.create(bay_uuid=bay.uuid, manifest=text)
    out["pod_create"] = fields(pod, (*POD_FIELDS, "manifest", "manifest_url"))
    # until it runs, as a tenant would wait (see command_line)
    out["pod_running"] = settled(
        lambda: cs.pods.get("web", bay.uuid).status, lambda status: status == "Running"
    )
    out["pod_list"] = [fields(p, POD_FIELDS) for p in cs.pods.list(bay.uuid)]
    out["pod_list_by_name"] = [p.uuid for p in cs.pods.list(bay.name)]
    out["pod_list_limit"] = [p.name for p in cs.pods.list(bay.uuid, limit=1)]
    out["pod_show"] = fields(cs.pods.get("web", bay.name), POD_FIELDS)
    out["pod_show_uuid"] = fields(cs.pods.get(pod.uuid, bay.uuid), POD_FIELDS)
    patch = [{"op": "replace", "path": "/manifest", "value": (manifests / "pod2.yaml").read_text()}]
    out["pod_update"] = fields(cs.pods.update("web", bay.uuid, patch), POD_FIELDS)

    rc = cs.rcs.create(bay_uuid=bay.uuid, manifest=(manifests / "rc.yaml").read_text())
    out["rc_create"] = fields(rc, RC_FIELDS)
    out["rc_list"] = [fields(r, RC_FIELDS) for r in cs.rcs.list(bay.uuid)]
    out["rc_show"] = fields(cs.rcs.get(rc.uuid, bay.name), RC_FIELDS)
    patch = [{"op": "replace", "path": "/manifest", "value": (manifests / "rc2.yaml").read_text()}]
    out["rc_update"] = fields(cs.rcs.update("web-rc", bay.uuid, patch), RC_FIELDS)

    service = cs.services.create(
        bay_uuid=bay.uuid, manifest=(manifests / "service.yaml").read_text()
    )
    out["service_create"] = fields(service, SERVICE_FIELDS)
    out["service_list"] = [fields(s, SERVICE_FIELDS) for s in cs.services.list(bay.uuid)]
    out["service_show"] = fields(cs.services.get("web-svc", bay.uuid), SERVICE_FIELDS)
    value = (manifests / "service2.yaml").read_text()
    patch = [{"op": "replace", "path": "/manifest", "value": value}]
    out["service_update"] = fields(
        cs.services.update(service.uuid, bay.name, patch), SERVICE_FIELDS
    )

    # refusals, as the client's exceptions with the server's words
    out["pod_duplicate"] = attempt(lambda: cs.pods.create(bay_uuid=bay.uuid, manifest=text))
    out["pod_no_name"] = attempt(
        lambda: cs.pods.create(bay_uuid=bay.uuid, manifest="spec: {containers: [{image: x}]}")
    )
    out["pod_swarm"] = attempt(lambda: cs.pods.create(bay_uuid=swarm.uuid, manifest=text))
    out["pod_missing"] = attempt(lambda: cs.pods.get("nope", bay.uuid))
    out["pod_url_refused"] = attempt(
        lambda: cs.pods.create(bay_uuid=bay.uuid, manifest_url="http://127.0.0.1:1/pod.yaml")
    )

    cs.pods.delete("web", bay.uuid)
    cs.rcs.delete(rc.uuid, bay.name)
    cs.services.delete("web-svc", bay.uuid)
    # a real pod takes a moment to terminate (an RC's pods too): until every list is empty
    # (names: a real cluster has its own service, "kubernetes")
    out["after_delete"] = settled(
        lambda: [
            [p.name for p in cs.pods.list(bay.uuid)],
            [r.name for r in cs.rcs.list(bay.uuid)],
            [s.name for s in cs.services.list(bay.uuid)],
        ],
        lambda lists: not lists[0] and not lists[1] and "web-svc" not in lists[2],
    )
    out["pod_deleted"] = attempt(lambda: cs.pods.get(pod.uuid, bay.uuid))
    return out


# --- the command line -----------------------------------------------------------------------
class _Keystone(http.server.BaseHTTPRequestHandler):
    """Keystone v3 as the client's keystoneauth needs it: discovery and a token."""

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _version(self) -> dict[str, Any]:
        host = f"http://{self.headers['Host']}"
        return {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{host}/v3/"}],
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
            ],
        }

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v3":
            self._send(200, {"version": self._version()})
        else:
            self._send(300, {"versions": {"values": [self._version()]}})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        domain = {"id": "default", "name": "Default"}
        token = {
            "methods": ["password"],
            "expires_at": "2099-01-01T00:00:00.000000Z",
            "issued_at": "2016-04-07T00:00:00.000000Z",
            "user": {"id": "u1", "name": "demo", "domain": domain},
            "project": {"id": "p1", "name": "demo", "domain": domain},
            "roles": [{"id": "r1", "name": "member"}],
            "catalog": [],
        }
        self._send(201, {"token": token}, {"X-Subject-Token": "fake-token"})


def keystone() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Keystone)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v3"
    finally:
        httpd.shutdown()
        httpd.server_close()


def magnum(url: str, auth_url: str, *args: str) -> dict[str, Any]:
    env = dict(os.environ) | {
        "OS_USERNAME": "demo",
        "OS_PASSWORD": "secret",
        "OS_TENANT_NAME": "demo",
        "OS_AUTH_URL": auth_url,
        "OS_USER_DOMAIN_ID": "default",
        "OS_PROJECT_DOMAIN_ID": "default",
    }
    done = subprocess.run(
        [str(MAGNUM), "--bypass-url", url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    return {"rc": done.returncode, "out": done.stdout, "err": done.stderr[-2000:]}


def command_line(url: str, bay: Any, manifests: pathlib.Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    gen = keystone()
    auth_url = next(gen)
    try:
        b = bay.name
        for kind, create, noun, name in (
            ("pod", "pod-create", "pod", "web"),
            ("rc", "rc-create", "rc", "web-rc"),
            ("service", "coe-service-create", "coe-service", "web-svc"),
        ):
            first = manifests / ("service.yaml" if kind == "service" else f"{kind}.yaml")
            second = manifests / ("service2.yaml" if kind == "service" else f"{kind}2.yaml")
            out[f"{kind}_create"] = magnum(
                url, auth_url, create, "--bay", b, "--manifest", str(first)
            )
            if kind == "pod":  # as a tenant would: until it runs (Kubernetes 1.20's kubelet
                # may keep a pod deleted while its container starts past its grace period)
                out["pod_running"] = settled(
                    lambda: magnum(url, auth_url, "pod-show", "web", "--bay", b),
                    lambda shown: RUNNING.search(shown["out"]) is not None,
                )
            out[f"{kind}_list"] = magnum(url, auth_url, f"{noun}-list", "--bay", b)
            out[f"{kind}_show"] = magnum(url, auth_url, f"{noun}-show", name, "--bay", b)
            out[f"{kind}_update"] = magnum(
                url, auth_url, f"{noun}-update", name, "--bay", b, "replace", f"manifest={second}"
            )
            out[f"{kind}_delete"] = magnum(url, auth_url, f"{noun}-delete", name, "--bay", b)
            out[f"{kind}_list_after"] = settled(
                lambda: magnum(url, auth_url, f"{noun}-list", "--bay", b),  # noqa: B023
                lambda listed: name not in listed_names(listed["out"]),  # noqa: B023
            )
    finally:
        next(gen, None)
    return out


def main(url: str, manifests: pathlib.Path) -> dict[str, Any]:
    cs = v1_client.Client(input_auth_token="test-token", magnum_url=url)
    out: dict[str, Any] = {}
    k8s_model, bay = make_bay(cs, "k1", "kubernetes")
    swarm_model, swarm = make_bay(cs, "s1", "swarm")
    try:
        out["uuids"] = [bay.uuid, swarm.uuid]
        made = cs.bays.get(bay.uuid)
        out["bay"], out["bay_reason"] = made.status, made.status_reason
        if made.status == "CREATE_COMPLETE":
            out["python"] = python_api(cs, bay, swarm, manifests)
            out["cli"] = command_line(url, bay, manifests)
    finally:
        for b, model in ((bay, k8s_model), (swarm, swarm_model)):
            cs.bays.delete(b.uuid)
            out[f"deleted_{b.name}"] = wait_bay(cs, b.uuid, lambda x: x is None)
            cs.baymodels.delete(model.uuid)
    return out


if __name__ == "__main__":
    json.dump(main(sys.argv[1], pathlib.Path(sys.argv[2])), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
