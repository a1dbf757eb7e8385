# SPDX-License-Identifier: Apache-2.0
"""Image archives tenants upload into their bays (`POST /v1/bays/{bay}/images`).

The API streams the upload to a file under `<[DEFAULT] state_path>/uploads` and hands
the conductor its path in an RPC call, so API and conductor must share that directory:
true of the local deployment (magnum-aio, or both services on the one host whose bays
they run). `inspect` checks cheaply, before any node sees it, that a file is what
`docker save` writes: a tar (plain, gzip, bzip2 or xz) with a manifest.json naming an
image config and layers that the archive holds, and at least one repo:tag.
"""

from __future__ import annotations

import json
import lzma
import pathlib
import tarfile
import zlib
from typing import Any

from oslo_config import cfg

from magnum.common import exceptions

UPLOAD_DIR = "uploads"
SUFFIX = ".tar"
MAX_MANIFEST = 1024 * 1024


def upload_dir(conf: cfg.ConfigOpts) -> pathlib.Path:
    return pathlib.Path(conf.state_path) / UPLOAD_DIR


def is_upload(root: pathlib.Path, path: pathlib.Path) -> bool:
    """Whether `path` is a file the API wrote for an upload into `root` (see upload_dir),
    not any other file of the host."""
    root = root.resolve()
    try:
        resolved = path.resolve(strict=True)
    except OSError:
        return False
    return resolved.parent == root and resolved.suffix == SUFFIX and resolved.is_file()


def _bad(err: str) -> exceptions.InvalidParameterValue:
    return exceptions.InvalidParameterValue(err=err)


_UNREADABLE = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


def inspect(path: pathlib.Path) -> list[str]:
    """The repo:tags the docker archive at `path` names; InvalidParameterValue if it is not one."""
    try:
        with tarfile.open(path, mode="r:*") as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
            manifest = members.get("manifest.json")
            if manifest is None or not manifest.isfile():
                raise _bad(
                    "The body is a tar archive but not a docker image archive: it has no "
                    "manifest.json (make it with `docker save repo:tag`)."
                )
            if manifest.size > MAX_MANIFEST:
                raise _bad("The image archive's manifest.json is too large.")
            f = tar.extractfile(manifest)
            assert f is not None  # a regular file member
            raw = f.read()
    except exceptions.MagnumError:
        raise
    except _UNREADABLE:
        raise _bad(
            "The body is not a tar archive (expected what `docker save` writes, "
            "optionally gzip, bzip2 or xz compressed)."
        ) from None
    return _tags(raw, set(members))


def _tags(raw: bytes, names: set[str]) -> list[str]:
    try:
        entries: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _bad("The image archive's manifest.json is not valid JSON.") from None
    if not isinstance(entries, list) or not entries:
        raise _bad("The image archive's manifest.json lists no image.")
    tags: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise _bad("The image archive's manifest.json is not a list of images.")
        config, layers, repo_tags = entry.get("Config"), entry.get("Layers"), entry.get("RepoTags")
        if not isinstance(config, str) or not isinstance(layers, list):
            raise _bad("An image in the archive's manifest.json has no Config or Layers.")
        for name in (config, *layers):
            if not isinstance(name, str) or name.removeprefix("./") not in names:
                raise _bad(f"The image archive names {name!r} in manifest.json but lacks it.")
        if repo_tags is not None and (
            not isinstance(repo_tags, list) or not all(isinstance(t, str) for t in repo_tags)
        ):
            raise _bad("An image in the archive's manifest.json has malformed RepoTags.")
        tags.update(repo_tags or ())
    if not tags:
        raise _bad(
            "The image archive names no repo:tag; save the image by name "
            "(`docker save repo:tag`) so that it can be run by name."
        )
    return sorted(tags)
