# SPDX-License-Identifier: Apache-2.0
"""/v1/certificates: a bay's CA certificate, and signing tenants' CSRs with the bay's CA.

Signing happens here, in the API process: it needs only the bay row and the secret
that encrypts the CA key, so it costs no round trip to a conductor.
"""

from __future__ import annotations

from typing import Any

import falcon
import pydantic

from magnum.api import schemas
from magnum.api.v1 import common
from magnum.common import context, exceptions, pki
from magnum.db import models
from magnum.objects import clusters, vocabulary

COLLECTION = "certificates"


class CertificateBody(schemas._Body):
    ARGUMENT = "certificate"

    bay_uuid: schemas.Str255
    csr: pydantic.constr(min_length=1, max_length=65536)  # type: ignore[valid-type]


def _credentials(row: models.Cluster) -> pki.ClusterCredentials:
    data = (row.driver_state or {}).get(pki.STATE_KEY)
    if not data:
        raise exceptions.InvalidState(
            detail=f"Bay {row.uuid} has no certificate authority yet (status {row.status})."
        )
    return pki.ClusterCredentials.from_state(data)


def _links(prefix: str, uuid: str) -> list[dict[str, str]]:
    return common.links(prefix, COLLECTION, uuid)


class _Base:
    def __init__(self, api: Any) -> None:
        self.api = api

    def _cluster(self, ctx: context.RequestContext, ident: str, action: str) -> models.Cluster:
        with self.api.db.session() as session:
            row = clusters.get(session, ctx, ident, vocab=vocabulary.BAY)
        self.api.policy.authorize(
            action, ctx, {"project_id": row.project_id, "user_id": row.user_id}
        )
        return row


class Collection(_Base):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        common.reject_unknown_args(req)
        body = schemas.validate(CertificateBody, common.json_body(req, argument="certificate"))
        ctx = common.ctx(req)
        try:
            row = self._cluster(ctx, body.bay_uuid, "certificate:create")
        except exceptions.ClusterNotFound as exc:  # a bad body field is a 400
            raise exceptions.InvalidParameterValue(err=exc.message) from None
        creds = _credentials(row)
        ca_key = pki.decrypt_key(creds.ca_key, self.api.key_secret)
        pem = pki.sign_csr(ca_key, creds.ca_cert, body.csr)
        common.send(
            resp,
            {
                "bay_uuid": row.uuid,
                "csr": body.csr,
                "pem": pem.decode(),
                "links": _links(req.prefix, row.uuid),
            },
            status=201,
        )


class Item(_Base):
    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        row = self._cluster(common.ctx(req), ident, "certificate:get")
        common.send(
            resp,
            {
                "bay_uuid": row.uuid,
                "pem": _credentials(row).ca_cert.decode(),
                "links": _links(req.prefix, row.uuid),
            },
        )
