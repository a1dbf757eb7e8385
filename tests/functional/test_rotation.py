# SPDX-License-Identifier: Apache-2.0
"""CA rotation (PATCH /v1/certificates/{cluster}, 1.5) and credentials rotation (PATCH
/v1/credentials/{cluster}, 1.12) through the API with the fake drivers, on the three
databases: the operation and its phases, what the nodes are told, what the API serves and
signs, a takeover in the middle, and the refusals. ca_cert_type on GET and POST."""

from __future__ import annotations

import datetime
import json
import pathlib
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from cryptography import x509

from magnum.common import pki, utils
from magnum.conductor.handlers import rotation
from magnum.db import models
from tests.functional import _api
from tests.functional.conftest import BAYMODEL, Service
from tests.functional.hostcheck import key_and_csr
from tests.openapi_check import Described
from tests.plugins.magnum_testdrivers.fake import FAKE_TLS

READER = {"X-Roles": "reader"}
UNKNOWN = "6f0e8a53-7b39-4a3e-8d4a-3f5c2f0b9d11"


def v(version: str, **more: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"container-infra {version}"} | more


def _bay(svc: Service, *, nodes: int = 2, **model: Any) -> str:
    template = svc.post("/v1/baymodels", BAYMODEL | {"name": "rot"} | model)
    assert template.status_code == 201, template.text
    res = svc.post("/v1/bays", {"baymodel_id": template.json["uuid"], "node_count": nodes})
    assert res.status_code == 201, res.text
    uuid: str = res.json["uuid"]
    if "fake_gate" not in model.get("labels", {}):
        _settled(svc, uuid, "CREATE_COMPLETE")
    return uuid


def _settled(svc: Service, uuid: str, status: str) -> dict[str, Any]:
    body = svc.wait_cluster(uuid, lambda b: b is not None and b["status"] == status)
    assert body is not None
    return body


def _state(svc: Service, uuid: str) -> dict[str, Any]:
    with svc.db.session() as session:
        row = session.scalar(sa.select(models.Cluster).where(models.Cluster.uuid == uuid))
        assert row is not None
        return dict(row.driver_state or {})


def _ca(svc: Service, uuid: str, **kw: Any) -> str:
    res = svc.get(f"/v1/certificates/{uuid}", **kw)
    assert res.status_code == 200, res.text
    assert res.json["bay_uuid"] == res.json["cluster_uuid"] == uuid
    pem: str = res.json["pem"]
    return pem


def _sign(svc: Service, uuid: str) -> str:
    _, csr = key_and_csr("tenant")
    res = svc.post("/v1/certificates", {"cluster_uuid": uuid, "csr": csr})
    assert res.status_code == 201, res.text
    pem: str = res.json["pem"]
    return pem


def _messages(svc: Service, uuid: str) -> list[str]:
    res = svc.get(f"/v1/clusters/{uuid}/events", params={"limit": "1000"})
    assert res.status_code == 200, res.text
    return [e["message"] or "" for e in reversed(res.json["events"])]


def test_ca_rotation_moves_every_node_and_the_api_to_a_new_ca(svc: Service) -> None:
    uuid = _bay(svc)
    old_ca = _ca(svc, uuid)
    old_cert = _sign(svc, uuid)
    old_client = _state(svc, uuid)[pki.STATE_KEY]["client_cert"]
    assert pki.issued_by(old_cert.encode(), old_ca.encode())

    res = svc.request("PATCH", f"/v1/certificates/{uuid}", headers=v("1.5"))
    assert res.status_code == 202, res.text
    assert res.json == {"uuid": uuid}
    body = _settled(svc, uuid, "UPDATE_COMPLETE")
    assert body["status_reason"] == "CA rotation completed: 3 nodes use the new CA"

    new_ca = _ca(svc, uuid)
    assert len(pki.split_certs(new_ca.encode())) == 1 and new_ca != old_ca
    new_cert = _sign(svc, uuid)
    assert pki.issued_by(new_cert.encode(), new_ca.encode())
    assert not pki.issued_by(old_cert.encode(), new_ca.encode())
    state = _state(svc, uuid)
    creds = pki.ClusterCredentials.from_state(state[pki.STATE_KEY])
    assert creds.client_cert.decode() != old_client
    assert pki.issued_by(creds.client_cert, new_ca.encode())
    assert rotation.ROTATION_KEY not in state
    # every node trusts the new CA alone (with its CRL) and presents a certificate of it
    tls = state[FAKE_TLS]
    assert set(tls["trust"]) == set(tls["issuer"]) == {"master-0", "node-0", "node-1"}
    assert set(tls["trust"].values()) == {creds.trust.decode()}
    assert set(tls["issuer"].values()) == {new_ca}

    messages = _messages(svc, uuid)
    phases = [m for m in messages if m.startswith("CA rotation phase")]
    assert [p.split(":")[0] for p in phases] == [f"CA rotation phase {i}/4" for i in (1, 2, 3, 4)]
    assert messages.index("rotate_ca requested") < messages.index("rotate_ca started")
    with svc.db.session() as session:
        kinds = session.scalars(
            sa.select(models.Operation.kind).where(models.Operation.cluster_uuid == uuid)
        ).all()
    assert list(kinds) == ["create", "rotate_ca"]


def test_a_rotation_taken_over_after_phase_two_finishes_with_the_same_new_ca(
    service_factory: Callable[..., Service],
) -> None:
    svc = service_factory()
    uuid = _bay(svc, nodes=1)
    state = _state(svc, uuid)
    key_secret = pki.key_secret(svc.conf)
    old = pki.ClusterCredentials.from_state(state[pki.STATE_KEY])
    new = pki.next_credentials(cluster_uuid=uuid, secret=key_secret)
    # what a conductor that died after phase 2 left behind
    state[rotation.ROTATION_KEY] = {"phase": 2, "old": old.to_state(), "new": new.to_state()}
    state[pki.STATE_KEY] = pki.overlap(old, new, signer="old").to_state()
    now = utils.utcnow()
    with svc.db.session() as session:
        op = models.Operation(
            uuid=utils.new_uuid(),
            cluster_uuid=uuid,
            kind="rotate_ca",
            args={},
            state="running",
            user_id="p1-user",
            project_id="p1",
            conductor="dead:1:x",
            created_at=now,
            started_at=now,
            deadline=now + datetime.timedelta(minutes=5),
        )
        session.add(op)
        session.flush()
        row = session.scalar(sa.select(models.Cluster).where(models.Cluster.uuid == uuid))
        assert row is not None
        row.status = "UPDATE_IN_PROGRESS"
        row.operation = "rotate_ca"
        row.operation_id = op.id
        row.operation_deadline = op.deadline
        row.lease_owner = "dead:1:x"
        row.lease_expires_at = now - datetime.timedelta(seconds=1)
        row.driver_state = state
    _settled(svc, uuid, "UPDATE_COMPLETE")
    assert _ca(svc, uuid) == new.ca_cert.decode()  # no third CA was made
    messages = _messages(svc, uuid)
    assert "rotate_ca taken over from dead:1:x" in messages
    assert "CA rotation resumes after phase 2/4" in messages
    assert [m.split(":")[0] for m in messages if m.startswith("CA rotation phase")] == [
        "CA rotation phase 3/4",
        "CA rotation phase 4/4",
    ]


def test_ca_rotation_refusals(svc: Service, tmp_path: pathlib.Path) -> None:
    uuid = _bay(svc, nodes=1)
    path = f"/v1/certificates/{uuid}"
    res = svc.request("PATCH", path, headers=v("1.4"))
    _api.error(
        res,
        406,
        "Version 1.4 was requested but the requested API PATCH /v1/certificates/{ident} "
        "is not supported for this version.",
    )
    _api.error(svc.request("PATCH", path, headers=v("1.5", **READER)), 403)
    _api.error(
        svc.request("PATCH", path, headers=v("1.5"), project="p2"),
        404,
        f"Cluster {uuid} could not be found.",
    )
    _api.error(
        svc.request("PATCH", f"/v1/certificates/{UNKNOWN}", headers=v("1.5")),
        404,
        f"Cluster {UNKNOWN} could not be found.",
    )
    plain = svc.post("/v1/baymodels", BAYMODEL | {"name": "plain", "tls_disabled": True})
    res = svc.post("/v1/bays", {"baymodel_id": plain.json["uuid"], "node_count": 1})
    _settled(svc, res.json["uuid"], "CREATE_COMPLETE")
    _api.error(
        svc.request("PATCH", f"/v1/certificates/{res.json['uuid']}", headers=v("1.5")),
        400,
        "Rotating the CA certificate on a non-TLS cluster is not supported",
    )
    unable = _bay(svc, nodes=1, labels={"fake_no_rotation": "1"})
    _api.error(
        svc.request("PATCH", f"/v1/certificates/{unable}", headers=v("1.5")),
        400,
        "Rotating the CA certificate is not supported by driver.",
    )
    busy = _bay(svc, nodes=1, labels={"fake_gate": str(tmp_path / "gate")})
    _api.error(
        svc.request("PATCH", f"/v1/certificates/{busy}", headers=v("1.5")),
        409,
        f"Cluster {busy} already has an operation in progress.",
    )
    (tmp_path / "gate").touch()
    _settled(svc, busy, "CREATE_COMPLETE")
    # nothing was recorded by the refusals
    for cluster in (uuid, unable, busy):
        assert not [m for m in _messages(svc, cluster) if "rotat" in m]
        assert _state(svc, cluster).get(rotation.ROTATION_KEY) is None


def test_a_failed_rotation_keeps_every_node_reachable(svc: Service) -> None:
    uuid = _bay(svc, nodes=1, labels={"fake_fail": "reissue"})
    old_ca = _ca(svc, uuid)
    res = svc.request("PATCH", f"/v1/certificates/{uuid}", headers=v("1.5"))
    assert res.status_code == 202, res.text
    body = _settled(svc, uuid, "UPDATE_FAILED")
    assert body["status_reason"] == "fake reissue failed as asked"
    state = _state(svc, uuid)
    assert state[rotation.ROTATION_KEY]["phase"] == 1
    # the nodes trust both CAs; the conductor verifies against both; the old CA still signs
    both = pki.ClusterCredentials.from_state(state[pki.STATE_KEY])
    assert pki.split_certs(both.ca_cert)[0] == old_ca.encode()
    assert len(pki.split_certs(both.ca_cert)) == 2
    assert all(old_ca in t for t in state[FAKE_TLS]["trust"].values())
    # a credentials rotation is refused until the CA rotation is finished
    res = svc.request("PATCH", f"/v1/credentials/{uuid}", headers=v("1.12"))
    assert res.status_code == 202, res.text
    body = _settled(svc, uuid, "UPDATE_FAILED")
    assert "stopped at phase 1/4" in body["status_reason"]


def test_credentials_rotation_replaces_and_revokes_the_conductor_certificate(
    svc: Service,
) -> None:
    uuid = _bay(svc)
    before = pki.ClusterCredentials.from_state(_state(svc, uuid)[pki.STATE_KEY])
    ca = _ca(svc, uuid)
    path = f"/v1/credentials/{uuid}"
    _api.error(
        svc.request("PATCH", path, headers=v("1.11")),
        406,
        "Version 1.11 was requested but the requested API PATCH /v1/credentials/{ident} is "
        "not supported for this version.",
    )
    _api.error(svc.request("PATCH", path, headers=v("1.12", **READER)), 403)
    _api.error(svc.request("PATCH", path, headers=v("1.12"), project="p2"), 404)
    res = svc.request("PATCH", path, headers=v("1.12"))
    assert res.status_code == 202, res.text
    assert res.json == {"uuid": uuid}
    body = _settled(svc, uuid, "UPDATE_COMPLETE")
    assert body["status_reason"] == "Credentials rotation completed"
    state = _state(svc, uuid)
    after = pki.ClusterCredentials.from_state(state[pki.STATE_KEY])
    assert after.client_cert != before.client_cert
    assert after.client_key != before.client_key
    assert pki.issued_by(after.client_cert, ca.encode())
    assert _ca(svc, uuid) == ca  # the CA stays
    revoked = pki.revoked_serials(pki.split_crls(after.crl)[0])
    assert revoked == {pki.serial(before.client_cert)}
    assert set(state[FAKE_TLS]["trust"].values()) == {after.trust.decode()}
    messages = _messages(svc, uuid)
    assert [m.split(":")[0] for m in messages if m.startswith("Credentials rotation ")] == [
        "Credentials rotation 1/2",
        "Credentials rotation 2/2",
        "Credentials rotation completed",
    ]
    # a driver that cannot
    unable = _bay(svc, nodes=1, labels={"fake_no_rotation": "1"})
    _api.error(
        svc.request("PATCH", f"/v1/credentials/{unable}", headers=v("1.12")),
        400,
        "Credential rotation is not supported by driver.",
    )


def test_ca_cert_type(svc: Service) -> None:
    uuid = _bay(svc, nodes=1)
    ca = _ca(svc, uuid)
    assert _ca(svc, uuid, params={"ca_cert_type": "kubernetes"}) == ca
    for kind in ("etcd", "front_proxy", "front-proxy"):
        _api.error(
            svc.get(f"/v1/certificates/{uuid}", params={"ca_cert_type": kind}),
            400,
            f"Cluster {uuid} has no {kind} CA: its one CA signs every certificate of its nodes "
            "and clients (ca_cert_type kubernetes).",
        )
    _api.error(
        svc.get(f"/v1/certificates/{uuid}", params={"ca_cert_type": "vault"}),
        400,
        contains=("Invalid ca_cert_type vault",),
    )
    _, csr = key_and_csr("tenant")
    res = svc.post(
        "/v1/certificates", {"cluster_uuid": uuid, "csr": csr, "ca_cert_type": "kubernetes"}
    )
    assert res.status_code == 201, res.text
    assert res.json["ca_cert_type"] == "kubernetes"
    assert res.json["bay_uuid"] == res.json["cluster_uuid"] == uuid
    assert x509.load_pem_x509_certificate(res.json["pem"].encode())
    res = svc.post("/v1/certificates", {"bay_uuid": uuid, "csr": csr})
    assert res.status_code == 201 and "ca_cert_type" not in res.json
    _api.error(
        svc.post("/v1/certificates", {"cluster_uuid": uuid, "csr": csr, "ca_cert_type": "etcd"}),
        400,
        contains=("has no etcd CA",),
    )
    _api.error(
        svc.post("/v1/certificates", {"cluster_uuid": uuid, "bay_uuid": uuid, "csr": csr}),
        400,
        "Name the cluster with exactly one of bay_uuid and cluster_uuid.",
    )
    _api.error(
        svc.post("/v1/certificates", {"csr": csr}),
        400,
        "Name the cluster with exactly one of bay_uuid and cluster_uuid.",
    )
    _api.error(
        svc.post("/v1/certificates", {"cluster_uuid": UNKNOWN, "csr": csr}),
        400,
        f"Cluster {UNKNOWN} could not be found.",
    )


def test_rotation_answers_are_what_the_document_says(svc: Service, tmp_path: pathlib.Path) -> None:
    """Each answer of the rotation routes and of certificates' new fields, held to the
    operation /v1/openapi.json declares (tests.openapi_check)."""
    described = Described(json.loads(svc.get("/v1/openapi.json").text))
    gate = tmp_path / "gate"
    uuid = _bay(svc, nodes=1, labels={"fake_rotation_gate": str(gate)})
    _, csr = key_and_csr("tenant")
    calls: list[tuple[str, str, int, dict[str, Any]]] = [
        ("GET", f"/v1/certificates/{uuid}?ca_cert_type=kubernetes", 200, {}),
        ("GET", f"/v1/certificates/{uuid}?ca_cert_type=etcd", 400, {}),
        ("POST", "/v1/certificates", 201, {"json": {"cluster_uuid": uuid, "csr": csr}}),
        (
            "POST",
            "/v1/certificates",
            201,
            {"json": {"bay_uuid": uuid, "csr": csr, "ca_cert_type": "kubernetes"}},
        ),
        ("PATCH", f"/v1/certificates/{uuid}", 406, {"headers": v("1.4")}),
        ("PATCH", f"/v1/certificates/{uuid}", 403, {"headers": v("1.5", **READER)}),
        ("PATCH", f"/v1/certificates/{UNKNOWN}", 404, {"headers": v("1.5")}),
        ("PATCH", f"/v1/certificates/{uuid}", 202, {"headers": v("1.5")}),
        ("PATCH", f"/v1/credentials/{uuid}", 409, {"headers": v("1.12")}),
    ]
    for method, path, status, kw in calls:
        res = svc.request(method, path, **kw)
        assert res.status_code == status, f"{method} {path}: {res.status_code} {res.text}"
        described.check(method, path.split("?")[0], res.status_code, res.text)
    gate.touch()  # the CA rotation, held at its second phase until now, finishes
    _settled(svc, uuid, "UPDATE_COMPLETE")
    later: list[tuple[str, str, int, dict[str, Any]]] = [
        ("PATCH", f"/v1/credentials/{uuid}", 406, {"headers": v("1.11")}),
        ("PATCH", f"/v1/credentials/{uuid}", 202, {"headers": v("1.12")}),
    ]
    for method, path, status, kw in later:
        res = svc.request(method, path, **kw)
        assert res.status_code == status, res.text
        described.check(method, path, res.status_code, res.text)
    _settled(svc, uuid, "UPDATE_COMPLETE")
