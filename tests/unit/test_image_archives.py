# SPDX-License-Identifier: Apache-2.0
"""magnum.common.images: what counts as a docker image archive, and as an upload, and
what inspecting one may cost (decompression bombs, archives of countless entries)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import pathlib
import tarfile
import time
from collections.abc import Callable, Iterator

import pytest

from magnum.common import exceptions, images

MIB = 1024 * 1024
LIMITS = images.Limits(unpacked_size=64 * MIB, members=1000)


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
    return images.inspect(path, LIMITS)


def test_good_archives_plain_and_compressed(tmp_path: pathlib.Path) -> None:
    assert _inspect(tmp_path, _archive(GOOD)) == ["a:1", "b:2"]
    assert _inspect(tmp_path, gzip.compress(_archive(GOOD), mtime=0)) == ["a:1", "b:2"]
    assert _inspect(tmp_path, bz2.compress(_archive(GOOD))) == ["a:1", "b:2"]
    assert _inspect(tmp_path, lzma.compress(_archive(GOOD))) == ["a:1", "b:2"]


def test_layers_plain_and_compressed_are_inspected(tmp_path: pathlib.Path) -> None:
    layer = _tar({f"f{i}": b"x" * 100 for i in range(20)})
    for stored in (layer, gzip.compress(layer, mtime=0), lzma.compress(layer)):
        data = _archive(GOOD, extra={"l/layer.tar": stored})
        assert _inspect(tmp_path, data) == ["a:1", "b:2"]
    # docker save's own shapes: a symlinked layer, members under ./
    linked = io.BytesIO()
    with tarfile.open(fileobj=linked, mode="w") as tar:
        for name, body in (("./c.json", b"{}"), ("./blobs/x", layer)):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("./l/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../blobs/x"
        tar.addfile(link)
        manifest = json.dumps(GOOD).encode()
        info = tarfile.TarInfo("./manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    assert _inspect(tmp_path, linked.getvalue()) == ["a:1", "b:2"]


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
        (b"\x28\xb5\x2f\xfd" + b"\0" * 600, "zstd-compressed"),
        (_archive(GOOD, extra={"l/layer.tar": b"\x28\xb5\x2f\xfd" * 200}), "layer is zstd"),
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


# --- what inspecting may cost -----------------------------------------------------------------
class _Recording(images._Budget):
    """The budget, remembering how much the last inspection unpacked."""

    last: images._Budget | None = None

    def __init__(self, limits: images.Limits) -> None:
        super().__init__(limits)
        _Recording.last = self


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Recording]]:
    monkeypatch.setattr(images, "_Budget", _Recording)
    yield _Recording


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A gzip tar whose one member is 1 GiB of zeros: about 1 MB on disk. Written in
    1 MiB pieces, never held in memory whole."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.tar.gz"
    started = time.monotonic()
    zeros = bytes(MIB)
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(_header("l/layer.tar", 1024 * MIB))
        for _ in range(1024):
            out.write(zeros)
        out.write(bytes(1024))  # the archive's end
    took = time.monotonic() - started
    print(f"\n1 GiB gzip bomb: {path.stat().st_size} bytes, built in {took:.2f}s")
    return path


def _refuse(path: pathlib.Path, error: type[Exception], limits: images.Limits = LIMITS) -> float:
    started = time.monotonic()
    with pytest.raises(error):
        images.inspect(path, limits)
    return time.monotonic() - started


def test_a_gzip_bomb_is_refused_at_the_limit(
    bomb: pathlib.Path,
    recording: type[_Recording],
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    assert bomb.stat().st_size < 2 * MIB
    took = _refuse(bomb, exceptions.ImageUnpackedTooLarge)
    record_property("refused_after_seconds", round(took, 3))
    assert recording.last is not None
    assert recording.last.unpacked <= LIMITS.unpacked_size + images.CHUNK
    with capsys.disabled():
        print(
            f"\n1 GiB gzip bomb refused after unpacking {recording.last.unpacked} bytes "
            f"(limit {LIMITS.unpacked_size}) in {took:.3f}s"
        )


def test_a_bomb_inside_a_layer_is_refused(
    bomb: pathlib.Path,
    tmp_path: pathlib.Path,
    recording: type[_Recording],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A plain archive whose layer is compressed: docker decompresses the layer too."""
    path = tmp_path / "outer.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in (("c.json", b"{}"), ("manifest.json", json.dumps(GOOD).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.add(bomb, arcname="l/layer.tar")
    took = _refuse(path, exceptions.ImageUnpackedTooLarge)
    assert recording.last is not None
    assert recording.last.unpacked <= LIMITS.unpacked_size + images.CHUNK
    with capsys.disabled():
        print(f"\nbomb in a layer refused after {recording.last.unpacked} bytes in {took:.3f}s")


def test_what_follows_the_archive_counts(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "trailing.tar.gz"
    with gzip.open(path, "wb") as out:
        out.write(_archive(GOOD))
        for _ in range(80):
            out.write(bytes(MIB))
    _refuse(path, exceptions.ImageUnpackedTooLarge)
    small = images.Limits(unpacked_size=100 * MIB, members=1000)
    assert images.inspect(path, small) == ["a:1", "b:2"]


def test_entries_are_counted_in_the_archive_and_its_layers(tmp_path: pathlib.Path) -> None:
    many = {f"f{i}": b"" for i in range(1200)}
    for data in (
        gzip.compress(_archive(GOOD, extra=many)),
        _archive(GOOD, extra={"l/layer.tar": _tar(many)}),
        _archive(GOOD, extra={"l/layer.tar": gzip.compress(_tar(many))}),
    ):
        path = tmp_path / "many.tar"
        path.write_bytes(data)
        with pytest.raises(exceptions.ImageHasTooManyMembers, match="max_image_members"):
            images.inspect(path, LIMITS)
        assert images.inspect(path, images.Limits(unpacked_size=64 * MIB, members=1300))


def test_headers_tarfile_would_hold_whole_are_bounded(tmp_path: pathlib.Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("x")
        info.pax_headers = {"comment": "c" * (2 * MIB)}
        tar.addfile(info, io.BytesIO(b""))
    for data in (buf.getvalue(), _archive(GOOD, extra={"l/layer.tar": buf.getvalue()})):
        with pytest.raises(exceptions.InvalidParameterValue, match="tar header larger"):
            _inspect(tmp_path, data)
    long_name = _tar({"n" * (2 * MIB): b""})  # a GNU long name member
    with pytest.raises(exceptions.InvalidParameterValue, match="tar header larger"):
        _inspect(tmp_path, long_name)


def test_sparse_members_are_refused(tmp_path: pathlib.Path) -> None:
    info = tarfile.TarInfo("sparse")
    info.type = tarfile.GNUTYPE_SPARSE
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    with pytest.raises(exceptions.InvalidParameterValue, match="sparse file"):
        _inspect(tmp_path, header + bytes(1024))
    buf = io.BytesIO()  # pax sparse format 1.0, whose map tarfile reads block by block
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        pax = tarfile.TarInfo("sparse")
        pax.size = 512
        pax.pax_headers = {
            "GNU.sparse.major": "1",
            "GNU.sparse.minor": "0",
            "GNU.sparse.name": "sparse",
            "GNU.sparse.realsize": str(1024 * MIB),
        }
        tar.addfile(pax, io.BytesIO(b"999999999\n" + bytes(502)))
    with pytest.raises(exceptions.InvalidParameterValue, match="sparse file"):
        _inspect(tmp_path, buf.getvalue())
