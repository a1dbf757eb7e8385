# SPDX-License-Identifier: Apache-2.0
"""0004 renames bays to clusters in place: a database at 0003 *with rows in it* (baymodels,
bays with their certificates in driver_state, one bay mid-operation, containers) comes out
with every row and value kept, default nodegroups for every cluster and a record for the
operation in flight; and downgrading gives the same rows back."""

from __future__ import annotations

import datetime
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from magnum.db import migration
from tests.conftest import BACKENDS, _create_database

NOW = datetime.datetime(2026, 11, 30, 12, 0, 0, 123456)
PKI = {"pki": {"ca_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n", "ca_key": "gAAAA-encrypted"}}
BAYMODELS = [
    {
        "id": 1,
        "uuid": "11111111-1111-4111-8111-111111111111",
        "project_id": "p1",
        "user_id": "u1",
        "name": "swarm-model",
        "coe": "swarm",
        "image_id": "fedora-atomic",
        "flavor_id": "m1.small",
        "master_flavor_id": "m1.medium",
        "keypair_id": "kp",
        "external_network_id": "public",
        "docker_volume_size": 3,
        "labels": json.dumps({"a": "b"}),
        "registry_enabled": False,
        "tls_disabled": False,
        "public": True,
        "created_at": NOW,
    },
    {
        "id": 2,
        "uuid": "22222222-2222-4222-8222-222222222222",
        "project_id": "p2",
        "user_id": "u2",
        "name": "other",
        "coe": "swarm",
        "image_id": "img",
        "flavor_id": None,
        "master_flavor_id": None,
        "keypair_id": "kp",
        "external_network_id": "public",
        "docker_volume_size": None,
        "labels": "{}",
        "registry_enabled": True,
        "tls_disabled": True,
        "public": False,
        "created_at": NOW,
    },
]
BAYS = [
    {
        "id": 1,
        "uuid": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
        "project_id": "p1",
        "user_id": "u1",
        "name": "settled",
        "baymodel_id": BAYMODELS[0]["uuid"],
        "api_address": "tcp://10.0.0.2:2376",
        "node_addresses": json.dumps(["10.0.0.3", "10.0.0.4"]),
        "master_addresses": json.dumps(["10.0.0.2"]),
        "node_count": 2,
        "master_count": 1,
        "status": "CREATE_COMPLETE",
        "status_reason": "Bay CREATE completed: 1 master, 2 nodes",
        "bay_create_timeout": 15,
        "driver_state": json.dumps(PKI),
        "health_status": "HEALTHY",
        "created_at": NOW,
    },
    {
        "id": 2,
        "uuid": "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
        "project_id": "p2",
        "user_id": "u2",
        "name": "scaling",
        "baymodel_id": BAYMODELS[1]["uuid"],
        "api_address": None,
        "node_addresses": "[]",
        "master_addresses": "[]",
        "node_count": 3,
        "master_count": 1,
        "status": "UPDATE_IN_PROGRESS",
        "status_reason": None,
        "bay_create_timeout": None,
        "driver_state": "{}",
        "operation": "update",
        "operation_deadline": NOW + datetime.timedelta(minutes=60),
        "lease_owner": "c1:1:abc",
        "lease_expires_at": NOW,
        "created_at": NOW,
    },
]
CONTAINERS = [
    {
        "id": 1,
        "uuid": "cccccccc-cccc-4ccc-8ccc-cccccccccccc",
        "project_id": "p1",
        "user_id": "u1",
        "name": "web",
        "image": "local/busybox:latest",
        "command": "sleep 1000",
        "bay_uuid": BAYS[0]["uuid"],
        "status": "Running",
        "memory": "64m",
        "environment": json.dumps({"K": "V"}),
        "host": "node-0",
        "docker_id": "d" * 64,
        "created_at": NOW,
    }
]
RENAMED = {"baymodel_id": "cluster_template_id", "bay_create_timeout": "create_timeout"}


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    url, drop = _create_database(request.param, tmp_path)
    yield url
    drop()


def _rows(conn: sa.Connection, table: str) -> list[dict[str, Any]]:
    meta = sa.MetaData()
    t = sa.Table(table, meta, autoload_with=conn)
    return [dict(r) for r in conn.execute(sa.select(t).order_by(t.c.id)).mappings()]


def _insert_0003(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        meta = sa.MetaData()
        for table, rows in (("baymodel", BAYMODELS), ("bay", BAYS), ("container", CONTAINERS)):
            t = sa.Table(table, meta, autoload_with=conn)
            for row in rows:  # one by one: the rows set different columns
                conn.execute(t.insert().values(**row))
    engine.dispose()


def _same(row: dict[str, Any], expected: dict[str, Any], rename: dict[str, str]) -> None:
    for key, value in expected.items():
        got, want = row[rename.get(key, key)], value
        if key in ("labels", "node_addresses", "master_addresses", "driver_state", "environment"):
            got, want = json.loads(got), json.loads(want)
        if isinstance(want, bool):
            got = bool(got)
        assert got == want, (key, got, want)


def test_upgrade_keeps_every_row_and_adds_nodegroups(url: str) -> None:
    migration.upgrade(url, "0003")
    _insert_0003(url)
    migration.upgrade(url, "head")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        templates = _rows(conn, "cluster_template")
        clusters = _rows(conn, "cluster")
        containers = _rows(conn, "container")
        nodegroups = _rows(conn, "nodegroup")
        operations = _rows(conn, "operation")
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert not tables & {"bay", "baymodel"}
    assert len(templates) == 2 and len(clusters) == 2 and len(containers) == 1
    for row, expected in zip(templates, BAYMODELS, strict=True):
        _same(row, expected, {})
    for row, expected in zip(clusters, BAYS, strict=True):
        _same(row, expected, RENAMED)
    _same(containers[0], CONTAINERS[0], {"bay_uuid": "cluster_uuid"})
    # the certificates (CA in driver_state) are intact
    assert json.loads(clusters[0]["driver_state"]) == PKI

    groups = {(g["cluster_uuid"], g["name"]): g for g in nodegroups}
    assert len(groups) == 4
    settled_master = groups[(BAYS[0]["uuid"], "default-master")]
    settled_worker = groups[(BAYS[0]["uuid"], "default-worker")]
    assert (settled_master["role"], settled_master["node_count"]) == ("master", 1)
    assert settled_master["flavor_id"] == "m1.medium"  # the template's master flavor
    assert json.loads(settled_master["node_addresses"]) == ["10.0.0.2"]
    assert (settled_worker["role"], settled_worker["node_count"]) == ("worker", 2)
    assert (
        settled_worker["flavor_id"] == "m1.small" and settled_worker["image_id"] == "fedora-atomic"
    )
    assert json.loads(settled_worker["node_addresses"]) == ["10.0.0.3", "10.0.0.4"]
    assert groups[(BAYS[1]["uuid"], "default-worker")]["node_count"] == 3
    assert all(g["is_default"] for g in nodegroups)

    # the operation in flight has its record, pointed at by the cluster
    assert len(operations) == 1
    (op,) = operations
    assert (op["cluster_uuid"], op["kind"], op["state"]) == (BAYS[1]["uuid"], "update", "pending")
    assert op["deadline"] == BAYS[1]["operation_deadline"]
    assert clusters[1]["operation_id"] == op["id"] and clusters[0]["operation_id"] is None


def test_downgrade_gives_the_rows_back(url: str) -> None:
    migration.upgrade(url, "0003")
    _insert_0003(url)
    migration.upgrade(url, "head")
    migration.downgrade(url, "0003")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        for table, expected_rows in (
            ("baymodel", BAYMODELS),
            ("bay", BAYS),
            ("container", CONTAINERS),
        ):
            rows = _rows(conn, table)
            assert len(rows) == len(expected_rows)
            for row, expected in zip(rows, expected_rows, strict=True):
                _same(row, expected, {})
        assert not set(sa.inspect(conn).get_table_names()) & {"cluster", "nodegroup"}
    engine.dispose()
