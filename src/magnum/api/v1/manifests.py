# SPDX-License-Identifier: Apache-2.0
"""Manifests of pods, services and replication controllers: reading one (JSON or YAML
text, inline or fetched from a manifest_url), and the checks Magnum Mitaka made of it.

Reading: a text that starts with `{` is JSON, anything else YAML (safe: plain data, no
tags that build objects; timestamps stay strings, as Kubernetes reads them). It must be a
mapping, at most [api] max_manifest_size bytes, and so it stays once YAML's aliases are
expanded (an alias costs nothing to write and everything to send on) and nested at most
MAX_DEPTH deep. Every refusal is a 400 in Magnum's words.

Fetching (`Fetcher`): the API fetches a manifest_url on the tenant's behalf, so it fetches
only http(s), only from the hosts the operator lists in [api] manifest_url_allowed_hosts
(none by default), follows a redirect only to such a host (MAX_REDIRECTS at most), reads
at most max_manifest_size bytes, and gives the whole fetch manifest_url_timeout seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import math
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import yaml

from magnum.common import exceptions
from magnum.drivers import capabilities

Kind = capabilities.WorkloadKind
MAX_DEPTH = 64  # Kubernetes objects nest a dozen levels; deeper is no manifest
MAX_REDIRECTS = 3
_KIND_NAMES = {
    Kind.POD: "Pod",
    Kind.SERVICE: "Service",
    Kind.REPLICATION_CONTROLLER: "ReplicationController",
}
_READ = 65536


def _invalid(err: str) -> exceptions.InvalidParameterValue:
    return exceptions.InvalidParameterValue(err=err)


def too_large(limit: int) -> exceptions.InvalidParameterValue:
    return _invalid(f"Manifest exceeds maximum allowed size ({limit} bytes)")


# --- reading -----------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """YAML's safe loader, with timestamps left as the strings they are written as (as
    Kubernetes reads YAML: a date in an annotation is text)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse(text: str | None, *, limit: int) -> dict[str, Any]:
    """The manifest `text` as a mapping of JSON values. Raises InvalidParameterValue."""
    if not text or not text.strip():
        raise _invalid("'manifest' can't be empty")
    if len(text.encode("utf-8", "surrogatepass")) > limit:
        raise too_large(limit)
    try:
        if text.lstrip().startswith("{"):
            document = json.loads(text)
        else:
            document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except (ValueError, yaml.YAMLError) as exc:
        raise _invalid(f"Error parsing manifest: {_first_line(exc)}") from None
    except RecursionError:
        raise _invalid(f"Error parsing manifest: it nests deeper than {MAX_DEPTH} levels") from None
    if not isinstance(document, dict):
        raise _invalid("The manifest is not a JSON object or YAML mapping.")
    _check_expanded(document, limit)
    return document


def _first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return exceptions.shorten(" ".join(lines[:3]) if lines else type(exc).__name__)


_SCALARS = (str, int, float, bool, type(None))


def _check_expanded(document: dict[str, Any], limit: int) -> None:
    """Refuse a document that is no plain JSON value (YAML's sets, binaries, non-string
    keys, NaN), that nests deeper than MAX_DEPTH, or whose expansion (each alias written
    out, as JSON would) is larger than `limit` bytes; without recursing, and stopping as
    soon as it is, so that a self-referencing or exploding document costs `limit` steps."""
    size = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        size += 2  # the value's punctuation, roughly: enough to bound the work
        if isinstance(value, str):
            size += len(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise _invalid("Error parsing manifest: numbers must be finite")
        elif isinstance(value, dict):
            if depth > MAX_DEPTH:
                raise _invalid(f"Error parsing manifest: it nests deeper than {MAX_DEPTH} levels")
            for key, item in value.items():
                if not isinstance(key, str):
                    raise _invalid(f"Error parsing manifest: a key is not a string: {key!r}")
                size += len(key) + 2
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                raise _invalid(f"Error parsing manifest: it nests deeper than {MAX_DEPTH} levels")
            stack.extend((item, depth + 1) for item in value)
        elif not isinstance(value, _SCALARS):
            kind = type(value).__name__
            raise _invalid(f"Error parsing manifest: a value JSON cannot hold ({kind})")
        if size > limit:
            raise too_large(limit)


# --- what Magnum reads of a manifest -----------------------------------------------------
def _missing(path: str) -> exceptions.InvalidParameterValue:
    return _invalid(f"Field {path} can't be empty in manifest.")


def _mapping(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key)
    return value if isinstance(value, Mapping) else {}


def _containers(spec: Mapping[str, Any], path: str) -> None:
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise _missing(path)
    if not all(isinstance(c, Mapping) for c in containers):
        raise _invalid(f"Field {path} must be a list of objects in manifest.")


def check(kind: Kind, manifest: Mapping[str, Any]) -> str:
    """Magnum's checks of a `kind` manifest; its `metadata.name`. Raises
    InvalidParameterValue naming the missing field, as Magnum Mitaka did."""
    stated = manifest.get("kind")
    if stated is not None and stated != _KIND_NAMES[kind]:
        raise _invalid(
            f"The manifest describes a {exceptions.shorten(stated)}, not a {_KIND_NAMES[kind]}."
        )
    name = _mapping(manifest, "metadata").get("name")
    if not isinstance(name, str) or not name:
        raise _missing("metadata['name']")
    spec = _mapping(manifest, "spec")
    if kind is Kind.POD:
        _containers(spec, "spec['containers']")
    elif kind is Kind.SERVICE:
        if not isinstance(spec.get("ports"), list) or not spec["ports"]:
            raise _missing("spec['ports']")
        if not spec.get("selector"):
            raise _missing("spec['selector']")
    else:
        template = _mapping(spec, "template")
        _containers(_mapping(template, "spec"), "spec['template']['spec']['containers']")
        if not _mapping(template, "metadata").get("labels"):
            raise _missing("spec['template']['metadata']['labels']")
        if not spec.get("selector"):
            raise _missing("spec['selector']")
    return name


# --- fetching a manifest_url ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Fetcher:
    """Fetches manifest_urls ([api] manifest_url_allowed_hosts, manifest_url_timeout,
    max_manifest_size)."""

    allowed_hosts: tuple[str, ...]
    timeout: float
    limit: int

    @classmethod
    def from_conf(cls, api: Any) -> Fetcher:
        return cls(
            allowed_hosts=tuple(h.strip().lower() for h in api.manifest_url_allowed_hosts if h),
            timeout=float(api.manifest_url_timeout),
            limit=int(api.max_manifest_size),
        )

    def fetch(self, url: str) -> str:
        """The text at `url`. Raises InvalidParameterValue (400) for a URL the API may not
        fetch and for every failure to fetch it."""
        deadline = time.monotonic() + self.timeout
        target = self._allowed(url)
        for _ in range(MAX_REDIRECTS + 1):
            status, location, body = self._get(target, deadline)
            if status in (301, 302, 303, 307, 308) and location is not None:
                target = self._allowed(urllib.parse.urljoin(target.geturl(), location))
                continue
            if not 200 <= status < 300:
                raise _failed(f"the server answered {status} {_phrase(status)}")
            try:
                return body.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise _failed("it is not UTF-8 text") from None
        raise _failed(f"more than {MAX_REDIRECTS} redirects")

    def _allowed(self, url: str) -> urllib.parse.SplitResult:
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise _failed(f"the URL is not valid ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise _invalid(f"Invalid URL scheme {exceptions.shorten(parts.scheme)}")
        host = (parts.hostname or "").lower()
        if not host:
            raise _failed("the URL names no host")
        if parts.username is not None or parts.password is not None:
            raise _failed("the URL holds credentials, which the API does not send")
        if not self.allowed_hosts:
            raise _invalid(
                "The API fetches no manifest_url: no host is allowed ([api] "
                "manifest_url_allowed_hosts is empty). Send the manifest itself as 'manifest', "
                "or ask the operator to allow the host."
            )
        port = port or (443 if scheme == "https" else 80)
        shown = f"[{host}]" if ":" in host else host
        if host not in self.allowed_hosts and f"{shown}:{port}" not in self.allowed_hosts:
            raise _invalid(
                f"The API may not fetch manifests from {exceptions.shorten(shown)}:{port}: it "
                "is not in [api] manifest_url_allowed_hosts."
            )
        return parts

    def _get(self, url: urllib.parse.SplitResult, deadline: float) -> tuple[int, str | None, bytes]:
        """(status, Location, body) of a GET of `url`, all of it before `deadline`."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise self._timed_out()
        conn: http.client.HTTPConnection
        if url.scheme.lower() == "https":
            conn = http.client.HTTPSConnection(
                url.hostname or "", url.port, timeout=left, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=left)
        path = url.path or "/"
        if url.query:
            path = f"{path}?{url.query}"
        expired = threading.Event()
        with _Watchdog(conn, deadline, expired):
            try:
                conn.request("GET", path, headers={"Accept": "*/*", "User-Agent": "magnum-api"})
                resp = conn.getresponse()
                length = resp.getheader("Content-Length")
                if length is not None and length.isdigit() and int(length) > self.limit:
                    raise too_large(self.limit)
                body = _read(resp, self.limit)
            except exceptions.MagnumError:
                raise
            except (OSError, http.client.HTTPException) as exc:
                if expired.is_set() or isinstance(exc, TimeoutError | socket.timeout):
                    raise self._timed_out() from None
                raise _failed(_why(exc)) from None
            finally:
                conn.close()
        if expired.is_set():
            raise self._timed_out()
        return resp.status, resp.getheader("Location"), body

    def _timed_out(self) -> exceptions.InvalidParameterValue:
        return _failed(f"no complete answer within {self.timeout:g} s ([api] manifest_url_timeout)")


def _read(resp: http.client.HTTPResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := resp.read(min(_READ, limit + 1 - size) or 1):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
    return b"".join(chunks)


class _Watchdog:
    """Ends the connection at `deadline` (a socket timeout bounds each read, not the
    whole answer): the reader then sees the connection closed, and `expired` set."""

    def __init__(self, conn: http.client.HTTPConnection, deadline: float, expired: threading.Event):
        self._conn = conn
        self._expired = expired
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        self._expired.set()
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _failed(why: str) -> exceptions.InvalidParameterValue:
    return _invalid(f"Failed to retrieve manifest: {why}")


def _why(exc: BaseException) -> str:
    return exceptions.shorten(str(exc) or type(exc).__name__)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""
