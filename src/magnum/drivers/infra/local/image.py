# SPDX-License-Identifier: Apache-2.0
"""The base image every node gets without a registry: `local/busybox:latest`.

Built once per host from the static busybox binary, written by hand in the
docker-archive format that `docker load` reads (manifest.json, an image config
named by its digest, one layer tar), because no daemon exists to build it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import tarfile

from magnum.drivers.infra.local import host

TAG = "local/busybox:latest"
_EPOCH = 0  # fixed mtimes: the same busybox always gives the same image id
# /etc/passwd and /etc/group contents (no secrets: "x" means "see shadow").
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"  # noqa: S105
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


def _add(
    tar: tarfile.TarFile,
    name: str,
    *,
    kind: bytes = tarfile.REGTYPE,
    mode: int = 0o755,
    data: bytes = b"",
    link: str = "",
) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, _EPOCH, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _applets(busybox: str) -> list[str]:
    out = host.run(busybox, "--list").stdout.split()
    return sorted(a for a in out if a and "/" not in a and a != "busybox")


def layer_tar(busybox: str) -> bytes:
    """A root filesystem: busybox, its applets as symlinks, and the usual directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for d in ("bin", "dev", "etc", "proc", "root", "sys", "usr", "usr/bin", "var", "home"):
            _add(tar, d, kind=tarfile.DIRTYPE)
        _add(tar, "tmp", kind=tarfile.DIRTYPE, mode=0o1777)
        _add(tar, "bin/busybox", data=pathlib.Path(busybox).read_bytes())
        for applet in _applets(busybox):
            _add(tar, f"bin/{applet}", kind=tarfile.SYMTYPE, mode=0o777, link="busybox")
        _add(tar, "etc/passwd", mode=0o644, data=_PASSWD.encode())
        _add(tar, "etc/group", mode=0o644, data=_GROUP.encode())
    return buf.getvalue()


def _image_config(diff_id: str) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "magnum busybox image"}],
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def archive(busybox: str) -> bytes:
    """The docker-archive (what `docker save` writes) holding TAG."""
    layer = layer_tar(busybox)
    diff_id = hashlib.sha256(layer).hexdigest()
    config = _image_config(f"sha256:{diff_id}")
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [TAG], "Layers": [f"{diff_id}/layer.tar"]}]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        _add(tar, diff_id, kind=tarfile.DIRTYPE)
        _add(tar, f"{diff_id}/layer.tar", mode=0o644, data=layer)
        _add(tar, config_name, mode=0o644, data=config)
        _add(tar, "manifest.json", mode=0o644, data=json.dumps(manifest).encode())
    return buf.getvalue()


def ensure_archive(state_dir: pathlib.Path, busybox: str) -> pathlib.Path:
    """Build the archive under `state_dir` once; later calls return the same file."""
    path = state_dir / "images" / "busybox.tar"
    if path.exists():
        return path
    with host.locked(state_dir / ".image.lock"):
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(archive(busybox))
            tmp.replace(path)  # atomic: readers never see half an archive
    return path
