# SPDX-License-Identifier: Apache-2.0
"""The one docker error mapping (magnum.drivers.coe.docker_errors), the shared engine
clients that apply it (engines.Engines), and the swarm step that retries a version race."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest
import requests

from magnum.common import exceptions, pki
from magnum.drivers import base
from magnum.drivers.coe import docker_errors, engines
from magnum.drivers.coe.swarm import membership
from tests import doubles

WHAT = "Creating container c1"


def _api_error(
    cls: type[docker.errors.APIError], status: int | None, explanation: str
) -> docker.errors.APIError:
    response = None
    if status is not None:
        response = requests.Response()
        response.status_code = status
    return cls(f"{status} Server Error for http+docker://x", response, explanation)


CASES: list[tuple[BaseException, type[exceptions.MagnumError], str]] = [
    (
        docker.errors.ImageLoadError("archive/tar: invalid tar header"),
        exceptions.InvalidParameterValue,
        f"{WHAT}: archive/tar: invalid tar header",
    ),
    (
        _api_error(docker.errors.ImageNotFound, 404, "No such image: busybox:1"),
        exceptions.EngineNotFound,
        f"{WHAT}: No such image: busybox:1 (node node-1).",
    ),
    (
        _api_error(docker.errors.NotFound, 404, "No such container: abc"),
        exceptions.EngineNotFound,
        f"{WHAT}: No such container: abc (node node-1).",
    ),
    (
        _api_error(
            docker.errors.APIError, 500, "rpc error: code = Unknown desc = update out of sequence"
        ),
        exceptions.OutOfSequence,
        f"{WHAT}: rpc error: code = Unknown desc = update out of sequence",
    ),
    (
        _api_error(docker.errors.APIError, 409, "Container abc is not running"),
        exceptions.InvalidState,
        f"{WHAT}: Container abc is not running",
    ),
    (  # dockerd 20.10 says this with a plain 500
        _api_error(docker.errors.APIError, 500, "Container abc is not paused"),
        exceptions.InvalidState,
        f"{WHAT}: Container abc is not paused",
    ),
    (
        _api_error(docker.errors.APIError, 400, "Minimum memory limit allowed is 6MB"),
        exceptions.InvalidParameterValue,
        f"{WHAT}: Minimum memory limit allowed is 6MB",
    ),
    (
        _api_error(docker.errors.APIError, 500, "failed to create shim task\nmore detail"),
        exceptions.ClusterOperationFailed,
        f"{WHAT}: node node-1 failed: failed to create shim task",
    ),
    (
        _api_error(docker.errors.APIError, None, "no response at all"),
        exceptions.ClusterOperationFailed,
        f"{WHAT}: node node-1 failed: no response at all",
    ),
    (
        requests.exceptions.ConnectionError("Connection refused"),
        exceptions.NodeUnavailable,
        f"{WHAT}: node node-1 of bay b1 is not answering (Connection refused).",
    ),
    (
        requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)"),
        exceptions.NodeUnavailable,
        f"{WHAT}: node node-1 of bay b1 is not answering (Read timed out. (read timeout=30)).",
    ),
    (
        docker.errors.DockerException("Error while fetching server API version"),
        exceptions.NodeUnavailable,
        f"{WHAT}: node node-1 of bay b1 is not answering (Error while fetching server API "
        "version).",
    ),
    (
        ConnectionResetError(104, "Connection reset by peer"),
        exceptions.NodeUnavailable,
        f"{WHAT}: node node-1 of bay b1 is not answering ([Errno 104] Connection reset by peer).",
    ),
]


@pytest.mark.parametrize(
    ("raised", "kind", "message"),
    CASES,
    ids=[f"{type(r).__name__}-{k.__name__}" for r, k, _ in CASES],
)
def test_each_docker_error_maps_to_the_most_specific_magnum_error(
    raised: BaseException, kind: type[exceptions.MagnumError], message: str
) -> None:
    with (
        pytest.raises(exceptions.MagnumError) as caught,
        docker_errors.mapped(WHAT, node="node-1", cluster="b1"),
    ):
        raise raised
    assert type(caught.value) is kind  # the class itself, not a base of it
    assert caught.value.message == message
    assert caught.value.__cause__ is raised


def test_node_unavailable_means_no_answer() -> None:
    """Callers tell "the engine said no" from "the engine is silent" by class alone."""
    for raised, kind, _ in CASES:
        answered = isinstance(raised, docker.errors.APIError | docker.errors.ImageLoadError)
        assert issubclass(kind, exceptions.NodeUnavailable) is not answered, raised


def test_messages_without_a_node() -> None:
    refused = docker_errors.error(_api_error(docker.errors.APIError, 500, "boom"), "Listing")
    assert refused.message == "Listing: boom"
    gone = docker_errors.error(_api_error(docker.errors.NotFound, 404, "No such node"), "Removing")
    assert gone.message == "Removing: No such node."
    silent = docker_errors.error(requests.exceptions.ConnectionError("refused"), "Pinging")
    assert silent.message == "Pinging: the engine is not answering (refused)."


def test_other_errors_pass_through_unmapped() -> None:
    ours = exceptions.WaitTimedOut(timeout=1, what="nodes to be Ready")
    with pytest.raises(exceptions.WaitTimedOut) as caught, docker_errors.mapped(WHAT):
        raise ours
    assert caught.value is ours
    with pytest.raises(KeyError), docker_errors.mapped(WHAT):
        raise KeyError("JoinTokens")


def test_engine_text_is_what_the_engine_said() -> None:
    with (
        pytest.raises(exceptions.MagnumError) as caught,
        docker_errors.mapped("Pulling r:5000/x", node="node-1"),
    ):
        raise _api_error(docker.errors.NotFound, 404, "manifest unknown\nsecond line")
    assert docker_errors.engine_text(caught.value) == "manifest unknown"
    plain = exceptions.InvalidState(detail="not from an engine")
    assert docker_errors.engine_text(plain) == "not from an engine"


# --- the swarm step that relied on message text ------------------------------------------
class _SwarmNode:
    def __init__(self, races: int) -> None:
        self.attrs: dict[str, Any] = {"Spec": {"Role": "worker"}}
        self.races = races
        self.applied: list[dict[str, Any]] = []

    def update(self, spec: dict[str, Any]) -> None:
        if self.races:
            self.races -= 1
            raise _api_error(docker.errors.APIError, 500, "update out of sequence")
        self.applied.append(spec)


class _Manager:
    def __init__(self, node: _SwarmNode) -> None:
        self.nodes = self
        self._node = node

    def get(self, node_id: str) -> _SwarmNode:
        del node_id
        return self._node


def test_update_spec_retries_a_version_race() -> None:
    node = _SwarmNode(races=2)
    membership.update_spec(_Manager(node), "n1", Labels={"magnum.node": "node-0"})
    assert node.applied == [{"Role": "worker", "Labels": {"magnum.node": "node-0"}}]
    with pytest.raises(exceptions.ClusterOperationFailed, match="Could not update swarm node n1"):
        membership.update_spec(_Manager(_SwarmNode(races=3)), "n1", Labels={})


# --- the shared clients ------------------------------------------------------------------
def _task(*, tls: bool) -> doubles.RecordingTask:
    return doubles.new_task(doubles.cluster_template(tls_disabled=not tls), masters=1, workers=1)


NODE = base.Node(name="node-0", role=base.Role.WORKER, address="127.0.0.1", nodegroup="w")


def test_a_node_that_does_not_answer_loses_its_cached_client() -> None:
    clients = engines.Engines(lambda: b"unused without TLS")
    task = _task(tls=False)
    try:
        first = clients.client(task, NODE)
        assert clients.client(task, NODE) is first
        assert first.api.base_url == "http://127.0.0.1:2375"
        with pytest.raises(exceptions.InvalidState), clients.on(task, NODE, "Pausing") as client:
            assert client is first
            raise _api_error(docker.errors.APIError, 409, "Container abc is not running")
        assert clients.client(task, NODE) is first  # an answer keeps the client
        with pytest.raises(exceptions.NodeUnavailable), clients.on(task, NODE, "Pausing"):
            raise requests.exceptions.ConnectionError("Connection refused")
        assert clients.client(task, NODE) is not first
    finally:
        clients.close()


def test_a_tls_bay_without_credentials_is_refused() -> None:
    task = _task(tls=True)
    assert pki.STATE_KEY not in task.state
    with pytest.raises(exceptions.ClusterOperationFailed, match="has no TLS credentials"):
        engines.Engines(lambda: b"x").client(task, NODE)
