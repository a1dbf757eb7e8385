# SPDX-License-Identifier: Apache-2.0
"""Loading a tenant's image archive (`docker save` output) into every node of a bay, for
every COE whose nodes run a Docker engine (Swarm's and Kubernetes' dockershim alike).

Each node's daemon gets the file streamed to its /images/load over the bay's TLS
connection (magnum.drivers.coe.engines), all nodes in parallel. A daemon that refuses the
archive (corrupt layer, wrong digest) is the tenant's problem (InvalidParameterValue,
400); a node that does not answer is ours (ClusterOperationFailed).
"""

from __future__ import annotations

import concurrent.futures
import json
import pathlib
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from magnum.common import exceptions, lazy
from magnum.drivers import base, capabilities
from magnum.drivers.coe import docker_errors
from magnum.drivers.coe import engines as engines_mod

if TYPE_CHECKING:
    import docker
    import docker.errors
else:
    docker = lazy.module("docker")


MAX_PARALLEL = 8
_LOADED = re.compile(r"^Loaded image(?: ID)?: (\S+)\s*$")


def _messages(text: str) -> Iterator[Any]:
    """The JSON messages of a docker progress stream (concatenated, CRLF between)."""
    decoder = json.JSONDecoder()
    pos = 0
    while (pos := _skip_space(text, pos)) < len(text):
        message, pos = decoder.raw_decode(text, pos)
        yield message


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _load_one(client: docker.DockerClient, path: pathlib.Path) -> list[str]:
    # The low-level call, not APIClient.load_image: its streamed response is never closed,
    # which leaves the TLS socket behind; this one is read whole and released.
    api = client.api
    with path.open("rb") as f:
        res = api._post(api._url("/images/load"), data=f, params={"quiet": "1"})
    try:
        api._raise_for_status(res)
        text = res.text
    finally:
        res.close()
    loaded: list[str] = []
    for message in _messages(text):
        if not isinstance(message, dict):
            continue
        if "errorDetail" in message or "error" in message:
            detail = message.get("errorDetail") or {}
            raise docker.errors.ImageLoadError(detail.get("message") or message.get("error"))
        if match := _LOADED.match(str(message.get("stream", ""))):
            loaded.append(match.group(1))
    return loaded


class EngineImages(capabilities.ImageInterface):
    """Image archives loaded into every node's engine."""

    def __init__(self, engines: engines_mod.Engines) -> None:
        self._engines = engines

    def load_image(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], path: pathlib.Path
    ) -> list[str]:
        return load(self._engines, task, nodes, path)


def load(
    engines: engines_mod.Engines,
    task: base.ClusterTask,
    nodes: Sequence[base.Node],
    path: pathlib.Path,
) -> list[str]:
    """Load `path` into every node; return the sorted repo:tags (or ids) it held."""
    if not nodes:
        raise exceptions.InvalidState(detail="The bay has no nodes to load an image into.")
    # Here, not on the pool: a bay without credentials fails as a whole.
    clients = {n.name: engines.client(task, n) for n in nodes}

    def one(node: base.Node) -> list[str]:
        with engines.mapped(task, node, f"Loading the image into {node.name}"):
            return _load_one(clients[node.name], path)

    results: dict[str, list[str]] = {}
    refused: list[str] = []
    failed: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(min(MAX_PARALLEL, len(nodes))) as pool:
        futures = {pool.submit(one, n): n for n in nodes}
        for future in concurrent.futures.as_completed(futures):
            node = futures[future]
            try:
                results[node.name] = future.result()
            except exceptions.NodeUnavailable as exc:
                failed.append(f"{node.name}: {docker_errors.engine_text(exc)}")
            except exceptions.MagnumError as exc:
                # The daemon answered and said no: what it says is about the archive.
                refused.append(f"{node.name}: {docker_errors.engine_text(exc)}")
    if failed:
        raise exceptions.ClusterOperationFailed(
            reason=f"Loading the image failed on {len(failed)} of {len(nodes)} nodes: "
            + "; ".join(sorted(failed))
        )
    if refused:
        first = sorted(refused)[0]
        raise exceptions.InvalidParameterValue(
            err=f"The nodes refused the image archive ({first.split(': ', 1)[1]})."
        )
    tags = sorted({t for loaded in results.values() for t in loaded})
    if not tags:
        raise exceptions.InvalidParameterValue(err="The image archive holds no image.")
    return tags
