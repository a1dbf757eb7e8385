# SPDX-License-Identifier: Apache-2.0
"""/v1/bays/{bay}/images: load an image archive a tenant uploads into every node of a bay.

An extension of Magnum's API for bays that have no registry to pull from. The body is
what `docker save repo:tag` writes (optionally gzip/bzip2/xz compressed), sent as
application/x-tar (or application/octet-stream, application/gzip, ...); its size is
limited by [api] max_image_size, not max_body_size, and what it unpacks to by [api]
max_image_unpacked_size and max_image_members (measured while it is inspected, before
any node sees it). The answer, once every node has loaded it, is 201 {"bay_uuid": ...,
"images": ["repo:tag", ...], "nodes": N}.

The API streams the body to a file under <[DEFAULT] state_path>/uploads, checks that it
is a docker archive, and makes an RPC *call* to a conductor with the file's path, so
API and conductor must share that directory (they do in the local deployment, where
the bays run on the conductor's host). The file is removed when the call returns.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import uuid
from typing import Any

import falcon

from magnum.api.v1 import common
from magnum.common import context, exceptions, images
from magnum.db import models
from magnum.objects import clusters, fields, vocabulary

MEDIA_TYPES = frozenset(
    {
        "application/x-tar",
        "application/tar",
        "application/octet-stream",
        "application/gzip",
        "application/x-gzip",
        "application/x-xz",
        "application/x-bzip2",
    }
)
READY = frozenset({fields.ClusterStatus.CREATE_COMPLETE, fields.ClusterStatus.UPDATE_COMPLETE})
CHUNK = 1024 * 1024


def _check_ready(row: models.Cluster) -> None:
    if row.operation is not None or row.status not in READY:
        raise exceptions.InvalidState(
            detail=f"Images can be loaded only into a bay that is CREATE_COMPLETE or "
            f"UPDATE_COMPLETE; bay {row.name or row.uuid} is {row.status}."
        )


def _check_media_type(req: falcon.Request) -> None:
    mimetype = (req.content_type or "").split(";")[0].strip().lower()
    if mimetype not in MEDIA_TYPES:
        raise exceptions.UnsupportedMediaType(
            mimetype=f"{mimetype or '(none)'}; send the image archive as application/x-tar"
        )


def receive(req: falcon.Request, target: pathlib.Path, *, limit: int) -> int:
    """Stream the request body into `target` (mode 0600); return its size. Raises
    ImageTooLarge past `limit` bytes, whatever Content-Length said (or did not say)."""
    declared = req.content_length
    if declared is not None and declared > limit:
        raise exceptions.ImageTooLarge(limit=limit)
    # Without a Content-Length (chunked transfer) the server de-chunks and ends the stream.
    stream = req.bounded_stream if declared is not None else req.stream
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise exceptions.ImageTooLarge(limit=limit)
            out.write(chunk)
    if size == 0:
        raise exceptions.InvalidParameterValue(
            err="Missing image archive: send what `docker save repo:tag` writes as the body."
        )
    return size


class Collection:
    def __init__(self, api: Any) -> None:
        self.api = api

    def _cluster(self, ctx: context.RequestContext, ident: str) -> models.Cluster:
        with self.api.db.session() as session:
            row = clusters.get(session, ctx, ident, vocab=vocabulary.BAY)
        self.api.policy.authorize(
            "bay:load_image", ctx, {"project_id": row.project_id, "user_id": row.user_id}
        )
        return row

    def on_post(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        common.reject_unknown_args(req)
        ctx = common.ctx(req)
        row = self._cluster(ctx, ident)
        _check_ready(row)  # before the upload: a tenant should not send 500 MB to hear 409
        _check_media_type(req)
        uploads = self.api.upload_dir
        uploads.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = uploads / f"{uuid.uuid4().hex}{images.SUFFIX}"
        try:
            receive(req, path, limit=self.api.max_image_size)
            images.inspect(path, self.api.image_limits)
            result = self.api.conductor.cluster_load_image(
                ctx, cluster_uuid=row.uuid, path=str(path), timeout=self.api.image_load_timeout
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        common.send(
            resp,
            {
                "bay_uuid": result["bay_uuid"],
                "images": list(result["images"]),
                "nodes": int(result["nodes"]),
                "links": common.links(req.prefix, "bays", row.uuid),
            },
            status=201,
        )
