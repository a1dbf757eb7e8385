# SPDX-License-Identifier: Apache-2.0
"""magnum.common.images: what counts as a docker image archive, and as an upload."""

from __future__ import annotations

import gzip
import io
import json
import pathlib
import tarfile

import pytest

from magnum.common import exceptions, images


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _archive(manifest: object, *, extra: dict[str, bytes] | None = None) -> bytes:
    files = {"c.json": b"{}", "l/layer.tar": b"", "manifest.json": json.dumps(manifest).encode()}
    return _tar(files | (extra or {}))


GOOD = [{"Config": "c.json", "RepoTags": ["b:2", "a:1"], "Layers": ["l/layer.tar"]}]


def _inspect(tmp_path: pathlib.Path, data: bytes) -> list[str]:
    path = tmp_path / "u.tar"
    path.write_bytes(data)
    return images.inspect(path)


def test_good_archives_plain_and_compressed(tmp_path: pathlib.Path) -> None:
    assert _inspect(tmp_path, _archive(GOOD)) == ["a:1", "b:2"]
    assert _inspect(tmp_path, gzip.compress(_archive(GOOD), mtime=0)) == ["a:1", "b:2"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"garbage" * 200, "not a tar archive"),
        (gzip.compress(b"garbage" * 200, mtime=0), "not a tar archive"),
        (_tar({"x": b"y"}), "no manifest.json"),
        (_archive("nope"), "lists no image"),
        (_archive([]), "lists no image"),
        (_archive(["x"]), "not a list of images"),
        (_archive([{"Config": "c.json"}]), "no Config or Layers"),
        (_archive([{"Config": "c.json", "Layers": ["gone.tar"], "RepoTags": ["a:1"]}]), "lacks"),
        (_archive([{"Config": "c.json", "Layers": [], "RepoTags": "a:1"}]), "malformed RepoTags"),
        (_archive([{"Config": "c.json", "Layers": [], "RepoTags": None}]), "names no repo:tag"),
        (_tar({"manifest.json": b"{not json"}), "not valid JSON"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_bad_archives(tmp_path: pathlib.Path, data: bytes, message: str) -> None:
    with pytest.raises(exceptions.InvalidParameterValue, match=message):
        _inspect(tmp_path, data)


def test_is_upload_only_inside_the_upload_dir(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "uploads"
    root.mkdir()
    (root / "a.tar").write_bytes(b"x")
    (tmp_path / "secret.tar").write_bytes(b"x")
    (root / "link.tar").symlink_to(tmp_path / "secret.tar")
    assert images.is_upload(root, root / "a.tar")
    assert not images.is_upload(root, root / "missing.tar")
    assert not images.is_upload(root, root / ".." / "secret.tar")
    assert not images.is_upload(root, root / "link.tar")
    assert not images.is_upload(root, pathlib.Path("/etc/passwd"))
