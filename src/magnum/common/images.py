# SPDX-License-Identifier: Apache-2.0
"""Image archives tenants upload into their bays (`POST /v1/bays/{bay}/images`).

The API streams the upload to a file under `<[DEFAULT] state_path>/uploads` and hands
the conductor its path in an RPC call, so API and conductor must share that directory:
true of the local deployment (magnum-aio, or both services on the one host whose bays
they run). `inspect` checks cheaply, before any node sees it, that a file is what
`docker save` writes: a tar (plain, gzip, bzip2 or xz) with a manifest.json naming an
image config and layers that the archive holds, and at least one repo:tag.

It reads the archive once, as a stream, within `Limits`: the bytes it unpacks to (the
archive after decompression, and every compressed member, a layer, after its own: what
`docker load` on a node decompresses) and the entries it holds (the archive's and its
layers': the files a node would write). Past either it stops reading and refuses the
upload, so a small archive that unpacks to gigabytes costs the API no more than the
limit, and no node ever sees it. Headers that tarfile would read whole into memory (long
names, pax headers) are bounded, and sparse members (which docker never writes) refused.
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import gzip
import json
import lzma
import pathlib
import tarfile
import zlib
from typing import Any, Protocol

from oslo_config import cfg

from magnum.common import exceptions

UPLOAD_DIR = "uploads"
SUFFIX = ".tar"
MAX_MANIFEST = 1024 * 1024
# Long names, link names and pax headers tarfile reads whole: as large as Go's archive/tar
# (docker's) allows.
MAX_EXTENDED = 1024 * 1024
# Names of the archive's members remembered to check the manifest against: docker save's
# are below 100 characters; longer ones are counted, never kept.
MAX_NAME = 256
CHUNK = 64 * 1024
_EXTENDED = frozenset(
    {
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
    }
)
# How a compressed stream starts. zstd (docker reads it, Python 3.11 cannot) is recognised
# only to be refused: what cannot be measured is not loaded.
_GZIP, _BZIP2, _XZ, _ZSTD = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd"
_USTAR = slice(257, 262)  # where a tar header says "ustar" (every tar docker writes)
HEAD = 512


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What inspecting an archive may cost: unpacked bytes and entries (see the module)."""

    unpacked_size: int
    members: int

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> Limits:
        return cls(
            unpacked_size=conf.api.max_image_unpacked_size, members=conf.api.max_image_members
        )


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


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.unpacked = 0
        self.members = 0

    def spend(self, size: int) -> None:
        self.unpacked += size
        if self.unpacked > self.limits.unpacked_size:
            raise exceptions.ImageUnpackedTooLarge(limit=self.limits.unpacked_size)

    def member(self) -> None:
        self.members += 1
        if self.members > self.limits.members:
            raise exceptions.ImageHasTooManyMembers(limit=self.limits.members)


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class _Counted:
    """A stream of unpacked bytes, each charged to the budget as it is read, in reads of
    at most CHUNK bytes (a decompressor then never makes more than that at once)."""

    def __init__(self, inner: _Readable, budget: _Budget) -> None:
        self._inner = inner
        self._budget = budget

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size if 0 <= size <= CHUNK else CHUNK)
        self._budget.spend(len(data))
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class _Prefixed:
    """`head`, then the rest of `stream`."""

    def __init__(self, head: bytes, stream: _Readable) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        cut = len(self._head) if size < 0 else size
        data, self._head = self._head[:cut], self._head[cut:]
        return data


def _read_head(stream: _Readable) -> bytes:
    head = b""
    while len(head) < HEAD and (data := stream.read(HEAD - len(head))):
        head += data
    return head


class _Member(tarfile.TarInfo):
    """tarfile's header parsing, refusing what it would otherwise hold in memory whole:
    extended headers beyond MAX_EXTENDED, and sparse maps."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:  # tarfile's hook
        if self.type in _EXTENDED and self.size > MAX_EXTENDED:
            raise _bad(f"The image archive has a tar header larger than {MAX_EXTENDED} bytes.")
        return tarfile.TarInfo._proc_member(self, tar)  # type: ignore[attr-defined,no-any-return]

    def _proc_sparse(self, tar: tarfile.TarFile) -> tarfile.TarInfo:  # GNU sparse members
        raise _bad("The image archive holds a sparse file, which `docker save` never writes.")

    def _proc_gnusparse_10(self, *args: object) -> None:  # pax sparse maps, format 1.0
        raise _bad("The image archive holds a sparse file, which `docker save` never writes.")


_Decompressed = gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile


def _decompressing(f: Any, head: bytes, what: str) -> _Decompressed | None:
    """A reader of `f` decompressed, if `head` (its first bytes) says it is compressed."""
    if head.startswith(_GZIP):
        return gzip.GzipFile(fileobj=f, mode="rb")
    if head.startswith(_BZIP2):
        return bz2.BZ2File(f, mode="rb")
    if head.startswith(_XZ):
        return lzma.LZMAFile(f, mode="rb")
    if head.startswith(_ZSTD):
        raise _bad(
            f"The image archive{what} is zstd-compressed, which cannot be inspected: send "
            "it plain, or gzip, bzip2 or xz compressed."
        )
    return None


def _tar(stream: _Readable) -> tarfile.TarFile:
    # Streaming mode ("r|"): read once, front to back; a skipped member is read, not sought.
    return tarfile.open(fileobj=stream, mode="r|", tarinfo=_Member)  # type: ignore[call-overload,no-any-return]


def _next(tar: tarfile.TarFile, budget: _Budget) -> tarfile.TarInfo | None:
    member = tar.next()
    tar.members.clear()  # type: ignore[attr-defined]  # streaming never looks back
    if tar.pax_headers and sum(len(k) + len(v) for k, v in tar.pax_headers.items()) > (
        MAX_EXTENDED
    ):
        raise _bad(f"The image archive's pax headers exceed {MAX_EXTENDED} bytes.")
    if member is not None:
        budget.member()
    return member


def _count_entries(stream: _Readable, budget: _Budget) -> None:
    try:
        tar = _tar(stream)
    except tarfile.ReadError:
        raise _bad("A layer of the image archive is not a valid tar archive.") from None
    with tar:
        while _next(tar, budget) is not None:
            pass


def _inspect_member(f: Any, budget: _Budget) -> None:
    """Charge a member (usually a layer) for what a node would unpack from it: its own
    decompression if it is compressed, and its entries if it is a tar."""
    head = bytes(f.peek(HEAD)[:HEAD])
    decompressed = _decompressing(f, head, "'s layer")
    if decompressed is None:
        if head[_USTAR] == b"ustar":  # a plain tar, whose bytes are the archive's
            _count_entries(f, budget)
        return
    with decompressed:
        counted = _Counted(decompressed, budget)
        head = _read_head(counted)
        if head[_USTAR] == b"ustar":
            _count_entries(_Prefixed(head, counted), budget)
        counted.drain()  # docker reads a layer to its end (its digest covers every byte)


def inspect(path: pathlib.Path, limits: Limits) -> list[str]:
    """The repo:tags the docker archive at `path` names; InvalidParameterValue if it is not
    one, ImageUnpackedTooLarge or ImageHasTooManyMembers (413) past `limits`."""
    budget = _Budget(limits)
    names: set[str] = set()
    manifest: bytes | None = None
    try:
        with contextlib.ExitStack() as stack:
            raw = stack.enter_context(path.open("rb"))
            decompressed = _decompressing(raw, raw.peek(HEAD)[:HEAD], "")
            if decompressed is not None:
                stack.enter_context(decompressed)
            stream = _Counted(decompressed if decompressed is not None else raw, budget)
            with _tar(stream) as tar:
                while (member := _next(tar, budget)) is not None:
                    name = member.name.removeprefix("./")
                    if not member.isdir() and len(name) <= MAX_NAME:
                        names.add(name)
                    if not member.isfile():
                        continue
                    f = tar.extractfile(member)
                    assert f is not None  # a regular file member
                    if name != "manifest.json":
                        _inspect_member(f, budget)
                    elif member.size > MAX_MANIFEST:
                        raise _bad("The image archive's manifest.json is too large.")
                    else:
                        manifest = f.read()
            stream.drain()  # what follows the archive's end is decompressed by docker too
    except exceptions.MagnumError:
        raise
    except _UNREADABLE:
        raise _bad(
            "The body is not a tar archive (expected what `docker save` writes, "
            "optionally gzip, bzip2 or xz compressed)."
        ) from None
    if manifest is None:
        raise _bad(
            "The body is a tar archive but not a docker image archive: it has no "
            "manifest.json (make it with `docker save repo:tag`)."
        )
    return _tags(manifest, names)


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
