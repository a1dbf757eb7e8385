# SPDX-License-Identifier: Apache-2.0
"""/v1/credentials/{cluster} (1.12): rotate the cluster's credentials.

Magnum rotates the cluster's Keystone trust and trustee there. Clusters here have no
trust: the credentials the service holds for a cluster are the conductor's client
certificate and key for the cluster's nodes (kept, encrypted, in the driver state, like
Magnum's `magnum_cert_ref`). A rotation (operation ROTATE_CREDENTIALS, run by a
conductor: magnum.conductor.handlers.rotation) gives the conductor a new one and has
every node refuse the old one. 202 {"uuid"}.
"""

from __future__ import annotations

from typing import Any

import falcon

from magnum.api.v1 import certificates, common
from magnum.objects import clusters, fields, vocabulary

COLLECTION = "credentials"


class Item:
    def __init__(self, api: Any) -> None:
        self.api = api

    def on_patch(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        vocab = vocabulary.CLUSTER
        with self.api.db.session() as session:
            row = clusters.get(session, ctx, ident, for_update=True, vocab=vocab)
            self.api.policy.authorize("credential:rotate", ctx, common.target(row))
            certificates.request_rotation(
                self.api,
                session,
                row,
                ctx,
                fields.Operation.ROTATE_CREDENTIALS,
                what="Credential rotation",
                vocab=vocab,
            )
        certificates.notify(self.api, ctx, row.uuid)
        common.send(resp, {"uuid": row.uuid}, status=202)
