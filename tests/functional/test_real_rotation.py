# SPDX-License-Identifier: Apache-2.0
"""CA and credentials rotation on a real bay: the in-process API + conductor with the local
infrastructure and Swarm drivers, a running container, and clients polling the nodes'
Docker API all through the rotation.

SQLite only; needs root and the docker.io binaries (skipped otherwise). What must hold:
the container stays running (same container, never restarted; dockerd never restarted)
and reachable (through the API, i.e. the conductor's credentials, and directly); a
tenant's certificate signed by the old CA works until the final phase and is refused
after it; a certificate of the new CA works; GET /v1/certificates changed; the timeline
lists the phases. Then a credentials rotation: the conductor's old client certificate
is refused, the container still answers.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from magnum.common import pki
from magnum.conductor.handlers import rotation
from magnum.db import models
from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local import dockerd, nodetls
from tests.functional import test_real_containers as _containers
from tests.functional.hostcheck import (
    REALHOST,
    REFUSED,
    key_and_csr,
    tls_client,
    write_creds,
)
from tests.functional.test_real_containers import Real, act, addresses, create

pytestmark = REALHOST
# The containers suite's fixtures: its SQLite-only database and its real-bay service
db_url = _containers.db_url
real = _containers.real
ROTATE_TIMEOUT = 120.0
V = {"OpenStack-API-Version": "container-infra 1.12"}
LOOP = "trap 'exit 0' TERM; while :; do sleep 1; done"


@dataclasses.dataclass
class Sample:
    stage: str  # before, overlap (both CAs trusted), final (the old CA retired or retiring)
    old_cert: bool  # the tenant's certificate of the old CA was accepted
    running: bool | None  # the container's state through that certificate (None: refused)
    api_running: bool  # the container's state through the API (the conductor's credentials)


def _state(real: Real, uuid: str) -> dict[str, Any]:
    with real.svc.db.session() as session:
        row = session.scalar(sa.select(models.Cluster).where(models.Cluster.uuid == uuid))
        assert row is not None
        return dict(row.driver_state or {})


def _stage(state: dict[str, Any]) -> str:
    record = state.get(rotation.ROTATION_KEY)
    if record is None:
        return "final" if rotation.DONE_KEY in state else "before"
    if state[pki.STATE_KEY]["ca_cert"] == record["new"]["ca_cert"]:
        return "final"
    return "overlap"


class Poller:
    """Polls the container's node with the tenant's old certificate, and the API, until
    stopped; each sample is classified by the rotation's stage read just before it."""

    def __init__(self, real: Real, cluster: dict[str, Any], container: dict[str, Any]) -> None:
        self.real, self.cluster, self.container = real, cluster, container
        self.address = addresses(cluster)[container["host"]]
        self.old = real.tmp / "old"  # ca.pem: every CA seen, as a tenant refetching would
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(30)
        return self.samples

    def _run(self) -> None:
        cas = set(pki.split_certs((self.old / "ca.pem").read_bytes()))
        verify = self.real.tmp / "verify"
        verify.mkdir(exist_ok=True)
        while not self._stop.is_set():
            state = _state(self.real, self.cluster["uuid"])
            stage = _stage(state)
            if (record := state.get(rotation.ROTATION_KEY)) is not None:
                cas.add(record["new"]["ca_cert"].encode())
            (verify / "ca.pem").write_bytes(b"".join(sorted(cas)))
            client = tls_client(self.address, verify, self.old, timeout=5)
            try:
                found = client.api.inspect_container(f"magnum-{self.container['uuid']}")
                running: bool | None = found["State"]["Running"]
                ok = True
            except REFUSED as exc:
                running, ok = None, False
                if stage != "final":
                    self.errors.append(f"{stage}: {exc}")
            finally:
                client.close()
            res = self.real.svc.get(f"/v1/containers/{self.container['uuid']}")
            api_running = res.status_code == 200 and res.json["status"] == "Running"
            if not api_running:
                detail = res.json if res.status_code == 200 else res.text
                if isinstance(detail, dict):
                    detail = f"{detail['status']}: {detail['status_reason']}"
                self.errors.append(f"{stage}: API says {res.status_code} {detail}")
            self.samples.append(Sample(stage, ok, running, api_running))
            self._stop.wait(0.02)


def _daemons(
    real: Real, uuid: str, cluster: dict[str, Any]
) -> dict[str, tuple[int | None, int | None]]:
    """Per node: its dockerd chain's and its TLS front's pids."""
    state_dir, run_dir = local_cluster.dirs(real.svc.conf, uuid)
    out = {}
    for name in addresses(cluster):
        layout = dockerd.Layout(state=state_dir / name, run=run_dir / name)
        out[name] = (dockerd.running_pid(layout), nodetls.running_pid(layout))
    return out


def _tenant(real: Real, uuid: str, name: str) -> pathlib.Path:
    ca = real.svc.get(f"/v1/certificates/{uuid}").json["pem"]
    key, csr = key_and_csr("tenant")
    res = real.svc.post("/v1/certificates", {"cluster_uuid": uuid, "csr": csr})
    assert res.status_code == 201, res.text
    return write_creds(real.tmp / name, ca=ca, cert=res.json["pem"], key=key)


def _inspect(address: str, ca: pathlib.Path, cert: pathlib.Path, name: str) -> dict[str, Any]:
    client = tls_client(address, ca, cert, timeout=5)
    try:
        info: dict[str, Any] = client.api.inspect_container(name)
        return info
    finally:
        client.close()


def _messages(real: Real, uuid: str) -> list[str]:
    res = real.svc.get(f"/v1/clusters/{uuid}/events", params={"limit": "1000"})
    assert res.status_code == 200, res.text
    return [e["message"] or "" for e in reversed(res.json["events"])]


def _wait_settled(real: Real, uuid: str) -> dict[str, Any]:
    body = real.svc.wait_cluster(
        uuid,
        lambda b: b is not None and not b["status"].endswith("IN_PROGRESS"),
        timeout=ROTATE_TIMEOUT,
    )
    assert body is not None
    return body


def test_ca_rotation_keeps_containers_running_and_retires_the_old_ca(real: Real) -> None:
    before_host = real.snapshot()
    svc = real.svc
    cluster = real.cluster(nodes=1)
    uuid = cluster["uuid"]
    old_ca = svc.get(f"/v1/certificates/{uuid}").json["pem"]
    old = _tenant(real, uuid, "old")
    c = create(svc, cluster, name="keeps", command=f"sh -c {json.dumps(LOOP)}", memory="32m")
    act(svc, c, "start")
    where = addresses(cluster)[c["host"]]
    name = f"magnum-{c['uuid']}"
    started = _inspect(where, old, old, name)
    daemons = _daemons(real, uuid, cluster)
    assert all(None not in pids for pids in daemons.values()), daemons
    conductor_before = pki.ClusterCredentials.from_state(_state(real, uuid)[pki.STATE_KEY])

    poller = Poller(real, cluster, c)
    poller.start()
    try:
        res = svc.request("PATCH", f"/v1/certificates/{uuid}", headers=V)
        assert res.status_code == 202, res.text
        assert res.json == {"uuid": uuid}
        body = _wait_settled(real, uuid)
        # a few samples after the end, with the old CA retired
        deadline = time.monotonic() + 10
        while sum(s.stage == "final" for s in poller.samples) < 3:
            assert time.monotonic() < deadline, "the poller stopped sampling"
            threading.Event().wait(0.1)
    finally:
        samples = poller.stop()
    assert body["status"] == "UPDATE_COMPLETE", body
    assert body["status_reason"] == "CA rotation completed: 2 nodes use the new CA"

    # Throughout: the old certificate worked until the final phase, the container ran,
    # the API (the conductor) reached it.
    assert not poller.errors, poller.errors[:5]
    stages = [s.stage for s in samples]
    assert "overlap" in stages, stages
    print(f"\nsamples: {len(samples)}, {stages.count('overlap')} while both CAs were trusted")
    assert all(s.old_cert and s.running for s in samples if s.stage != "final"), samples
    assert all(s.api_running for s in samples), samples
    finals = [s for s in samples if s.stage == "final"]
    assert not finals[-1].old_cert  # refused once the old CA is retired

    # After: the old certificate is refused, a new one works, the container is the same
    # one, never restarted, and neither dockerd nor the TLS fronts restarted.
    new_ca = svc.get(f"/v1/certificates/{uuid}").json["pem"]
    assert new_ca != old_ca and len(pki.split_certs(new_ca.encode())) == 1
    new = _tenant(real, uuid, "new")
    with pytest.raises(REFUSED):
        _inspect(where, new, old, name)
    now = _inspect(where, new, new, name)
    assert now["Id"] == started["Id"] and now["State"]["Running"]
    assert now["State"]["StartedAt"] == started["State"]["StartedAt"]
    assert now["RestartCount"] == started["RestartCount"]
    assert _daemons(real, uuid, cluster) == daemons
    conductor_after = pki.ClusterCredentials.from_state(_state(real, uuid)[pki.STATE_KEY])
    assert conductor_after.client_cert != conductor_before.client_cert
    messages = _messages(real, uuid)
    phases = [m.split(":")[0] for m in messages if m.startswith("CA rotation phase")]
    assert phases == [f"CA rotation phase {i}/4" for i in (1, 2, 3, 4)], messages
    assert "2/2 node certificates issued by the new CA" in messages

    # Credentials: the conductor's certificate is replaced and the old one refused.
    old_conductor = real.tmp / "conductor"
    old_conductor.mkdir()
    (old_conductor / "cert.pem").write_bytes(conductor_after.client_cert)
    (old_conductor / "key.pem").write_bytes(
        pki.decrypt_key(conductor_after.client_key, pki.key_secret(svc.conf))
    )
    assert _inspect(where, new, old_conductor, name)["State"]["Running"]
    res = svc.request("PATCH", f"/v1/credentials/{uuid}", headers=V)
    assert res.status_code == 202, res.text
    body = _wait_settled(real, uuid)
    assert body["status"] == "UPDATE_COMPLETE", body
    with pytest.raises(REFUSED):
        _inspect(where, new, old_conductor, name)
    assert _inspect(where, new, new, name)["State"]["StartedAt"] == started["State"]["StartedAt"]
    res = svc.get(f"/v1/containers/{c['uuid']}")
    assert res.status_code == 200 and res.json["status"] == "Running", res.text
    assert _daemons(real, uuid, cluster) == daemons

    real.delete_cluster(uuid)
    real.assert_clean(before_host)
