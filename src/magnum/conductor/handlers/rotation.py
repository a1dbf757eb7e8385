# SPDX-License-Identifier: Apache-2.0
"""Rotations: the certificate authority (two-phase, in Gardener's style) and the
conductor's client credentials.

CA rotation, recorded in the driver state under ROTATION_KEY ({"phase", "old", "new"}:
the credentials before and after, keys encrypted), so that a conductor taking the
operation over carries on from the last phase done; every phase is idempotent.

  1. trust   a new CA (and a new conductor client certificate it signed) exists; every
             node trusts the old and the new CA (with their CRLs).
  2. reissue the conductor trusts both CAs and authenticates with its new certificate;
             every node gets a server certificate of the new CA.
  3. publish the new CA signs tenants' CSRs; GET /v1/certificates serves it first (the
             old one after it, until the end: clients may verify nodes of either).
  4. retire  the nodes, the conductor and the API drop the old CA: certificates it signed
             (tenants', the conductor's old one) are refused from now on.

Between phases the conductor reaches every node with what it then holds (the COE
driver's health check); a node that does not answer makes the phase retry until the
operation's deadline. Nodes change their TLS material without restarting anything
(InfraDriver.set_node_trust, reissue_node_certificates), so containers run on.

Credentials rotation: a new client certificate (and key) for the conductor from the
current CA, the previous one revoked in the CA's CRL; the nodes load the CRL, after
which the old certificate is refused. The cluster has no Keystone trust to rotate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from magnum.common import exceptions, pki
from magnum.conductor.handlers import task as task_mod
from magnum.drivers import base, registry
from magnum.objects import fields

LOG = logging.getLogger(__name__)
ROTATION_KEY = "ca_rotation"
DONE_KEY = "ca_rotation_done"  # the operation uuid of the last CA rotation that finished
CREDENTIALS_KEY = "credentials_rotation"  # {"operation": uuid, "done": bool}
PHASES = 4
HEALTH_RETRY = 2.0  # seconds before a phase whose nodes did not all answer runs again


class NonTlsRotation(exceptions.Invalid):
    template = "Rotating the CA certificate on a non-TLS cluster is not supported"


class RotationUnfinished(exceptions.ClusterOperationFailed):
    template = (
        "A CA rotation of cluster {cluster} stopped at phase {phase}/4; rotate the CA again "
        "to finish it before rotating credentials."
    )


def _drivers(
    drivers: registry.Drivers, task: task_mod.Task
) -> tuple[base.InfraDriver, base.CoeDriver, list[base.Node]]:
    infra = drivers.infra_for(task.state.get("infra"))
    coe = drivers.coe_for(task.cluster_template.coe)
    return infra, coe, infra.list_nodes(task)


def _reachable(coe: base.CoeDriver, task: task_mod.Task, nodes: Sequence[base.Node]) -> None:
    """Every node answers the conductor with the credentials it holds now."""
    health = coe.health(task, nodes)
    if not health.healthy:
        raise exceptions.RetryLater(
            reason=f"Not every node answers with the current credentials: {health.reason}",
            delay=HEALTH_RETRY,
        )


def _phase(task: task_mod.Task, record: dict[str, Any], number: int, what: str) -> None:
    record["phase"] = number
    task.progress(f"CA rotation phase {number}/{PHASES}: {what}")  # saves task.state too


def rotate_ca(drivers: registry.Drivers, task: task_mod.Task) -> None:
    if task.cluster_template.tls_disabled:
        raise NonTlsRotation()
    infra, coe, nodes = _drivers(drivers, task)
    secret = task.key_secret
    uuid = task.cluster.uuid
    current = pki.ensure_cluster_credentials(task.state, cluster_uuid=uuid, secret=secret)
    if task.state.get(DONE_KEY) == task.fence.operation_uuid:  # taken over after phase 4
        task.finish(task.op.complete, _ca_done(nodes), nodes=nodes)
        return
    record: dict[str, Any] | None = task.state.get(ROTATION_KEY)
    if record is None:
        new = pki.next_credentials(cluster_uuid=uuid, secret=secret)
        record = {"phase": 0, "old": current.to_state(), "new": new.to_state()}
        task.state[ROTATION_KEY] = record
        task.progress("CA rotation: a new certificate authority was generated")
    else:
        LOG.info("cluster %s: CA rotation resumes after phase %s", uuid, record["phase"])
        task.progress(f"CA rotation resumes after phase {record['phase']}/{PHASES}")
    old = pki.ClusterCredentials.from_state(record["old"])
    new = pki.ClusterCredentials.from_state(record["new"])
    done = int(record["phase"])

    if done < 1:
        infra.set_node_trust(task, nodes, pki.union_trust(old, new))
        _reachable(coe, task, nodes)
        _phase(task, record, 1, f"every node ({len(nodes)}) trusts the old and the new CA")
    if done < 2:
        task.state[pki.STATE_KEY] = pki.overlap(old, new, signer="old").to_state()
        task.checkpoint()  # the conductor now verifies nodes against both CAs
        infra.reissue_node_certificates(
            task, nodes, ca_cert=new.signing_ca, ca_key=pki.decrypt_key(new.ca_key, secret)
        )
        _reachable(coe, task, nodes)
        _phase(
            task,
            record,
            2,
            "every node presents a certificate of the new CA; the conductor uses its new "
            "client certificate",
        )
    if done < 3:
        task.state[pki.STATE_KEY] = pki.overlap(old, new, signer="new").to_state()
        _phase(
            task,
            record,
            3,
            "the new CA signs certificates; GET /v1/certificates serves it (with the old "
            "one until the rotation ends)",
        )
    if done < 4:
        task.state[pki.STATE_KEY] = new.to_state()
        task.checkpoint()
        infra.set_node_trust(task, nodes, new.trust)
        _reachable(coe, task, nodes)
        task.state.pop(ROTATION_KEY, None)
        task.state[DONE_KEY] = task.fence.operation_uuid
        _phase(
            task,
            record,
            4,
            "the old CA is retired: certificates it signed are refused by every node",
        )
    task.finish(task.op.complete, _ca_done(nodes), nodes=nodes)


def _ca_done(nodes: Sequence[base.Node]) -> str:
    return f"CA rotation completed: {len(nodes)} nodes use the new CA"


def rotate_credentials(drivers: registry.Drivers, task: task_mod.Task) -> None:
    infra, coe, nodes = _drivers(drivers, task)
    secret = task.key_secret
    uuid = task.cluster.uuid
    if (unfinished := task.state.get(ROTATION_KEY)) is not None:
        raise RotationUnfinished(cluster=uuid, phase=unfinished.get("phase", 0))
    current = pki.ensure_cluster_credentials(task.state, cluster_uuid=uuid, secret=secret)
    record: dict[str, Any] | None = task.state.get(CREDENTIALS_KEY)
    if record is None or record.get("operation") != task.fence.operation_uuid:
        record = {"operation": task.fence.operation_uuid, "done": False}
        task.state[pki.STATE_KEY] = pki.new_client(current, secret=secret).to_state()
        task.state[CREDENTIALS_KEY] = record
        task.progress(
            "Credentials rotation 1/2: the conductor has a new client certificate; the old "
            "one is revoked"
        )
    if not record.get("done"):
        creds = pki.ClusterCredentials.from_state(task.state[pki.STATE_KEY])
        infra.set_node_trust(task, nodes, creds.trust)
        _reachable(coe, task, nodes)
        record["done"] = True
        task.progress("Credentials rotation 2/2: every node refuses the old client certificate")
    task.finish(task.op.complete, "Credentials rotation completed", nodes=nodes)


HANDLERS: dict[fields.Operation, Callable[[registry.Drivers, task_mod.Task], None]] = {
    fields.Operation.ROTATE_CA: rotate_ca,
    fields.Operation.ROTATE_CREDENTIALS: rotate_credentials,
}
