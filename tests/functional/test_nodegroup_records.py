# SPDX-License-Identifier: Apache-2.0
"""magnum.objects.nodegroups and the nodegroup writes of magnum.objects.clusters on the
three databases: lookups, a name taken by a concurrent create, and what an operation's
end does to the groups it touched."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from magnum.common import context, utils
from magnum.db import engine, models
from magnum.objects import clusters, events, fields, nodegroups

CTX = context.RequestContext(project_id="p1", user_id="u1")


def _cluster(db: engine.Database) -> str:
    with db.session() as session:
        session.add(
            models.ClusterTemplate(
                uuid=utils.new_uuid(), project_id="p1", name="t", coe="swarm", labels={"a": "1"}
            )
        )
        session.flush()
        row = clusters.create(
            session,
            CTX,
            {"cluster_template_id": "t", "master_count": 1, "node_count": 1},
            default_timeout=60,
        )
        row.status = fields.ClusterStatus.CREATE_COMPLETE
        row.operation = row.operation_id = None
        row.api_address = "tcp://10.0.0.1:2376"
        return row.uuid


def _add(db: engine.Database, cluster_uuid: str, **values: Any) -> models.NodeGroup:
    with db.session() as session:
        row = clusters.get(session, CTX, cluster_uuid, for_update=True)
        group = nodegroups.add(session, row, {"name": "ng", **values})
        clusters.request_nodegroup_update(
            session,
            row,
            CTX,
            group,
            int(values.get("node_count", 1)),
            action=nodegroups.CREATE,
            default_timeout=60,
        )
        session.expunge(group)
        return group


def test_lookups_by_uuid_id_and_exact_name(db: engine.Database) -> None:
    uuid = _cluster(db)
    added = _add(db, uuid, labels={"b": "2"}, merge_labels=True)
    with db.session() as session:
        for ident in (added.uuid, str(added.id), "ng"):
            assert nodegroups.get(session, uuid, ident).uuid == added.uuid
        for ident in ("NG", "ng ", "0", "12345678901", "x\x00"):
            with pytest.raises(nodegroups.NodeGroupNotFound):
                nodegroups.get(session, uuid, ident)
        group = nodegroups.get(session, uuid, "ng")
        assert group.labels == {"a": "1", "b": "2"}  # the cluster's, merged
        assert (group.status, group.node_count) == ("CREATE_IN_PROGRESS", 1)
        cluster = clusters.get(session, CTX, uuid)
        assert (cluster.status, cluster.node_count) == ("UPDATE_IN_PROGRESS", 2)
        op = session.get(models.Operation, cluster.operation_id)
        assert op is not None and op.args == {
            "nodegroup": "ng",
            "nodegroup_action": "create",
            "node_count": 1,
        }


def test_a_name_taken_meanwhile_is_409_and_nothing_is_written(db: engine.Database) -> None:
    uuid = _cluster(db)
    with db.session() as session:
        row = clusters.get(session, CTX, uuid)
        template = session.scalar(sa.select(models.ClusterTemplate))
        assert template is not None
        # what a concurrent create committed between the name check and the insert
        session.add(nodegroups.new(row, template, {"name": "ng"}))
    with pytest.raises(nodegroups.NodeGroupAlreadyExists), db.session() as session:
        nodegroups.add(session, clusters.get(session, CTX, uuid), {"name": "ng"})
    with db.session() as session:
        assert [g.name for g in nodegroups.of_cluster(session, uuid)] == [
            "default-master",
            "default-worker",
            "ng",
        ]


def _settle(db: engine.Database, uuid: str, status: fields.ClusterStatus, **kw: Any) -> None:
    with db.session() as session:
        row = clusters.get(session, CTX, uuid)
        op = session.get(models.Operation, row.operation_id)
        assert op is not None
        row.lease_owner = "c1"
        fence = clusters.Fence(
            cluster_uuid=uuid,
            project_id="p1",
            owner="c1",
            operation_id=op.id,
            operation_uuid=op.uuid,
            actor=events.Actor.of(CTX),
        )
    clusters.settle(db, fence, status, "why", {}, **kw)


def _groups(db: engine.Database, uuid: str) -> dict[str, tuple[str | None, int, Any]]:
    with db.session() as session:
        return {
            g.name: (g.status, g.node_count, g.node_names)
            for g in nodegroups.of_cluster(session, uuid)
        }


def test_an_operations_end_tells_the_group_it_touched(db: engine.Database) -> None:
    uuid = _cluster(db)
    _add(db, uuid, node_count=2)
    _settle(
        db,
        uuid,
        fields.ClusterStatus.UPDATE_COMPLETE,
        nodegroup_addresses={"ng": ["a", "b"], "default-worker": ["c"]},
        nodegroup_names={"ng": ["ng-0", "ng-1"], "default-worker": ["node-0"]},
    )
    groups = _groups(db, uuid)
    assert groups["ng"] == ("CREATE_COMPLETE", 2, ["ng-0", "ng-1"])
    assert groups["default-worker"] == ("UPDATE_COMPLETE", 1, ["node-0"])

    with db.session() as session:  # its delete fails, then another update succeeds
        row = clusters.get(session, CTX, uuid, for_update=True)
        group = nodegroups.get(session, uuid, "ng")
        clusters.request_nodegroup_update(
            session, row, CTX, group, 0, action=nodegroups.DELETE, default_timeout=60
        )
    _settle(db, uuid, fields.ClusterStatus.UPDATE_FAILED)
    assert _groups(db, uuid)["ng"][:2] == ("DELETE_FAILED", 0)
    with db.session() as session:
        row = clusters.get(session, CTX, uuid, for_update=True)
        worker = nodegroups.default(session, uuid, nodegroups.WORKER)
        assert worker is not None
        clusters.request_nodegroup_update(
            session, row, CTX, worker, 3, action=nodegroups.UPDATE, default_timeout=60
        )
    _settle(db, uuid, fields.ClusterStatus.UPDATE_COMPLETE, nodegroup_addresses={"ng": []})
    groups = _groups(db, uuid)
    assert "ng" not in groups  # its nodes went with the update that succeeded
    assert groups["default-worker"][:2] == ("UPDATE_COMPLETE", 3)
