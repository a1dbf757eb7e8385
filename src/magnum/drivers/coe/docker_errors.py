# SPDX-License-Identifier: Apache-2.0
"""The one mapping of docker SDK errors (and the requests and socket errors under it) to
magnum errors, for every COE driver that talks to node engines.

Drivers run each engine call inside `mapped()` and catch magnum classes only; nothing
else catches docker's exceptions or reads their text. Most specific class first:

  docker.errors.ImageLoadError        InvalidParameterValue (400): the archive was refused
  docker.errors.NotFound (404; also   EngineNotFound (409): no such container, image or
    ImageNotFound)                      swarm node
  docker.errors.APIError              OutOfSequence (RetryLater): a swarm object changed
    "update out of sequence"            between read and update; read it again
  docker.errors.APIError 409, or      InvalidState (409): the engine refuses the action in
    an untyped state refusal            the object's state
  docker.errors.APIError other 4xx    InvalidParameterValue (400): the engine calls the
                                        request bad
  docker.errors.APIError 5xx          ClusterOperationFailed (500): the engine failed
  docker.errors.DockerException,      NodeUnavailable (409): the engine does not answer
    requests.RequestException,          (down, unreachable, TLS refused, timed out)
    OSError

So NodeUnavailable alone means "no answer"; every other class is the engine's answer.
Messages name what was being done and the node; the engine's own words are cut to their
first line.

Two answers carry their meaning only in their text, and are read here and nowhere else:
swarmkit's version conflict comes back as a 500 whose message says "update out of
sequence", and dockerd 20.10 refuses some actions in the wrong state (unpause a container
that is not paused) with a plain 500.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import requests.exceptions

from magnum.common import exceptions, lazy

if TYPE_CHECKING:
    import docker.errors
else:
    docker = lazy.module("docker")


def errors() -> tuple[type[Exception], ...]:
    """Whatever an engine call can raise, the connection's failures included."""
    return (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


MAX_TEXT = 300
_OUT_OF_SEQUENCE = re.compile(r"update out of sequence")
_WRONG_STATE = re.compile(r"is not (running|paused)|already paused")


def explanation(exc: BaseException) -> str:
    """The first line of what the engine (or the connection) said."""
    text = str(exc)
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        text = str(exc.explanation)
    lines = text.strip().splitlines()
    return lines[0][:MAX_TEXT] if lines else type(exc).__name__


def engine_text(error: exceptions.MagnumError) -> str:
    """What the engine said, for an error `mapped` raised (its own message otherwise)."""
    cause = error.__cause__
    return explanation(cause) if isinstance(cause, errors()) else error.message


def error(
    exc: BaseException, what: str, *, node: str | None = None, cluster: str | None = None
) -> exceptions.MagnumError:
    """The magnum error for `exc`, raised by an engine call doing `what` on `node` (a name)
    of `cluster` (a uuid)."""
    said = explanation(exc)
    if isinstance(exc, docker.errors.ImageLoadError):
        return exceptions.InvalidParameterValue(err=f"{what}: {said}")
    if isinstance(exc, docker.errors.APIError):
        return _answer(exc, what, said, node=node)
    who = f"node {node}" if node else "the engine"
    if node and cluster:
        who += f" of bay {cluster}"
    return exceptions.NodeUnavailable(detail=f"{what}: {who} is not answering ({said}).")


def _answer(
    exc: docker.errors.APIError, what: str, said: str, *, node: str | None
) -> exceptions.MagnumError:
    """The error for an engine's answer `said` to a call doing `what`."""
    if isinstance(exc, docker.errors.NotFound):
        where = f" (node {node})" if node else ""
        return exceptions.EngineNotFound(detail=f"{what}: {said}{where}.")
    status = exc.status_code or 500
    if _OUT_OF_SEQUENCE.search(said):
        return exceptions.OutOfSequence(reason=f"{what}: {said}")
    if status == 409 or _WRONG_STATE.search(said):
        return exceptions.InvalidState(detail=f"{what}: {said}")
    if 400 <= status < 500:
        return exceptions.InvalidParameterValue(err=f"{what}: {said}")
    failed = f"node {node} failed: {said}" if node else said
    return exceptions.ClusterOperationFailed(reason=f"{what}: {failed}")


@contextlib.contextmanager
def mapped(what: str, *, node: str | None = None, cluster: str | None = None) -> Iterator[None]:
    """Run engine calls, raising the magnum error for whatever they raise (see `error`)."""
    try:
        yield
    except errors() as exc:
        raise error(exc, what, node=node, cluster=cluster) from exc
