# SPDX-License-Identifier: Apache-2.0
"""/v1/certificates: a bay's CA certificate, signing tenants' CSRs with the bay's CA, and
(1.5) rotating the CA.

Signing happens here, in the API process: it needs only the bay row and the secret
that encrypts the CA key, so it costs no round trip to a conductor. A rotation is an
operation (ROTATE_CA) the conductor runs in phases (magnum.conductor.handlers.rotation).

Answers name the cluster under both `bay_uuid` (Mitaka) and `cluster_uuid` (Newton on),
as Newton does; a body names it with exactly one of them.

`ca_cert_type` (GET query, POST body): a cluster here has one CA, which signs every
certificate its nodes and clients use (Magnum calls that CA "kubernetes", whatever the
COE). No COE here runs etcd or a front proxy with a CA of its own, so `etcd`,
`front_proxy` and `front-proxy` are refused (400, naming the type) rather than answered
with a CA that plays no such role.

During a CA rotation the CA served is a bundle: the CA that signs first, then the other
one (every node is verified by one of them), until the old CA is retired.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import falcon
import pydantic

from magnum.api import microversions, schemas
from magnum.api.v1 import common
from magnum.common import context, exceptions, pki
from magnum.db import models
from magnum.drivers import base
from magnum.objects import clusters, fields, vocabulary

LOG = logging.getLogger(__name__)
COLLECTION = "certificates"
CA_CERT_TYPES = ("kubernetes", "etcd", "front_proxy", "front-proxy")
DEFAULT_CA_CERT_TYPE = "kubernetes"
ROTATE_CA = microversions.gate(since="1.5")
# Bays are gone from 1.11: errors then speak of clusters.
CLUSTER_WORDS = microversions.gate(since="1.11")


def _one_cluster(schema: dict[str, Any], model: type[pydantic.BaseModel]) -> None:
    schemas._null_defaults(schema, model)
    schema["oneOf"] = [
        {"required": ["bay_uuid"], "not": {"required": ["cluster_uuid"]}},
        {"required": ["cluster_uuid"], "not": {"required": ["bay_uuid"]}},
    ]


class CertificateBody(schemas._Body):
    ARGUMENT = "certificate"

    bay_uuid: schemas.Str255 | None = None
    cluster_uuid: schemas.Str255 | None = None
    csr: pydantic.constr(min_length=1, max_length=65536)  # type: ignore[valid-type]
    ca_cert_type: Literal["kubernetes", "etcd", "front_proxy", "front-proxy"] | None = None

    model_config = pydantic.ConfigDict(json_schema_extra=_one_cluster)

    def cluster_ident(self) -> str:
        """The one of bay_uuid and cluster_uuid given (400 for none or both)."""
        given = [v for v in (self.bay_uuid, self.cluster_uuid) if v is not None]
        if len(given) != 1:
            raise exceptions.InvalidParameterValue(
                err="Name the cluster with exactly one of bay_uuid and cluster_uuid."
            )
        return given[0]


class NoSuchCa(exceptions.Invalid):
    template = (
        "Cluster {cluster} has no {ca_cert_type} CA: its one CA signs every certificate of "
        "its nodes and clients (ca_cert_type kubernetes)."
    )


class NonTlsRotation(exceptions.Invalid):
    template = "Rotating the CA certificate on a non-TLS cluster is not supported"


class RotationNotSupported(exceptions.Invalid):
    template = "{what} is not supported by driver."


def check_ca_type(row: models.Cluster, ca_cert_type: str | None) -> None:
    if ca_cert_type is None or ca_cert_type == DEFAULT_CA_CERT_TYPE:
        return
    if ca_cert_type not in CA_CERT_TYPES:
        raise exceptions.InvalidParameterValue(
            err=f"Invalid ca_cert_type {exceptions.shorten(ca_cert_type)}: one of "
            f"{', '.join(CA_CERT_TYPES)}."
        )
    raise NoSuchCa(cluster=row.uuid, ca_cert_type=ca_cert_type)


def _credentials(row: models.Cluster) -> pki.ClusterCredentials:
    data = (row.driver_state or {}).get(pki.STATE_KEY)
    if not data:
        raise exceptions.InvalidState(
            detail=f"Bay {row.uuid} has no certificate authority yet (status {row.status})."
        )
    return pki.ClusterCredentials.from_state(data)


def _links(prefix: str, uuid: str) -> list[dict[str, str]]:
    return common.links(prefix, COLLECTION, uuid)


def vocab_of(req: falcon.Request) -> vocabulary.Vocabulary:
    if CLUSTER_WORDS.admits(microversions.negotiated(req)):
        return vocabulary.CLUSTER
    return vocabulary.BAY


def request_rotation(
    api: Any,
    session: Any,
    row: models.Cluster,
    ctx: context.RequestContext,
    op: fields.Operation,
    *,
    what: str,
    vocab: vocabulary.Vocabulary,
) -> None:
    """Record a rotation of `row` (locked): refused (400) when the cluster's infrastructure
    driver cannot rotate TLS material, 409 unless the cluster is settled."""
    loaded = clusters.load(session, row.uuid)
    assert loaded is not None, "the row is locked"
    template = base.ClusterTemplateView.of(loaded[1])
    infra_name = (row.driver_state or {}).get("infra")
    infra = api.drivers.infra.get(infra_name) if infra_name else None
    if infra is None and not infra_name and api.drivers.infra:
        infra = api.drivers.infra_for()
    coe = api.drivers.coe.get(template.coe)
    if infra is None or not infra.supports_tls_rotation(template):
        raise RotationNotSupported(what=what)
    if coe is not None and not coe.tls_rotation:
        raise RotationNotSupported(what=what)
    clusters.request(session, row, op, ctx, default_timeout=api.default_bay_timeout, vocab=vocab)


def notify(api: Any, ctx: context.RequestContext, cluster_uuid: str) -> None:
    """Tell the conductors; the operation is recorded already, so a lost message only
    waits for their next scan."""
    try:
        api.conductor.cluster_operation(ctx, cluster_uuid=cluster_uuid)
    except Exception:
        LOG.exception("cluster %s: could not notify the conductors", cluster_uuid)


class _Base:
    def __init__(self, api: Any) -> None:
        self.api = api

    def _cluster(
        self,
        ctx: context.RequestContext,
        ident: str,
        action: str,
        vocab: vocabulary.Vocabulary,
    ) -> models.Cluster:
        with self.api.db.session() as session:
            row = clusters.get(session, ctx, ident, vocab=vocab)
        self.api.policy.authorize(action, ctx, common.target(row))
        return row

    def _notify(self, ctx: context.RequestContext, cluster_uuid: str) -> None:
        notify(self.api, ctx, cluster_uuid)


def _answer(row: models.Cluster, prefix: str, **values: Any) -> dict[str, Any]:
    return {
        "bay_uuid": row.uuid,
        "cluster_uuid": row.uuid,
        **values,
        "links": _links(prefix, row.uuid),
    }


class Collection(_Base):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        body = schemas.validate(CertificateBody, common.json_body(req, argument="certificate"))
        ctx = common.ctx(req)
        vocab = vocabulary.BAY if body.bay_uuid is not None else vocabulary.CLUSTER
        try:
            row = self._cluster(ctx, body.cluster_ident(), "certificate:create", vocab)
        except exceptions.ClusterNotFound as exc:  # a bad body field is a 400
            raise exceptions.InvalidParameterValue(err=exc.message) from None
        check_ca_type(row, body.ca_cert_type)
        creds = _credentials(row)
        ca_key = pki.decrypt_key(creds.ca_key, self.api.key_secret)
        pem = pki.sign_csr(ca_key, creds.signing_ca, body.csr)
        extra = {"ca_cert_type": body.ca_cert_type} if body.ca_cert_type is not None else {}
        common.send(
            resp,
            _answer(row, req.prefix, csr=body.csr, pem=pem.decode(), **extra),
            status=201,
        )


class Item(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req, ("ca_cert_type",))
        ca_cert_type = req.params.get("ca_cert_type")
        if ca_cert_type is not None and not isinstance(ca_cert_type, str):
            raise exceptions.InvalidParameterValue(err="Repeated query parameters are not allowed")
        row = self._cluster(common.ctx(req), ident, "certificate:get", vocab_of(req))
        check_ca_type(row, ca_cert_type)
        common.send(resp, _answer(row, req.prefix, pem=_credentials(row).ca_cert.decode()))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        """Rotate the cluster's CA (1.5): 202 {"uuid"}, the rotation runs in a conductor."""
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        vocab = vocabulary.CLUSTER
        with self.api.db.session() as session:
            row = clusters.get(session, ctx, ident, for_update=True, vocab=vocab)
            self.api.policy.authorize("certificate:rotate_ca", ctx, common.target(row))
            loaded = clusters.load(session, row.uuid)
            assert loaded is not None
            if loaded[1].tls_disabled:
                raise NonTlsRotation()
            request_rotation(
                self.api,
                session,
                row,
                ctx,
                fields.Operation.ROTATE_CA,
                what="Rotating the CA certificate",
                vocab=vocab,
            )
        self._notify(ctx, row.uuid)
        common.send(resp, {"uuid": row.uuid}, status=202)
