# SPDX-License-Identifier: Apache-2.0
"""Magnum's containers on a swarm bay (the ContainerInterface of SwarmDriver): plain
Docker containers on one node's engine.

The conductor chooses the node; this module talks to that node's dockerd through the
shared clients of magnum.drivers.coe.engines (TLS with the bay's conductor client
certificate), with the low-level docker SDK client. Errors are mapped by
magnum.drivers.coe.docker_errors.

Every container is labelled magnum.container=<magnum uuid> and magnum.bay=<bay uuid>,
named magnum-<uuid> (Magnum names are neither unique nor valid Docker names) with the
Magnum uuid as hostname, and runs under docker-init so that stop and reboot are prompt.

Bounded calls (exec, logs). The SDK reads an exec's or a log's stream with a blocking
poll() and no timeout; a watchdog timer closes the stream at a deadline (what
CancellableStream.close is for). Docker has no API to stop an exec (moby#9098), and
exec_inspect's Pid is the daemon's pid, not the container's, so a command is killed from
inside the container: every exec runs with MAGNUM_EXEC=<random token> in its environment,
and a second exec (`sh -c KILL`, POSIX sh builtins only: busybox, dash and bash images
serve) stops, then kills, every process whose environment holds the token and every
descendant of one. At the time limit, or once the output passed its limit, that kill
runs in a thread of its own while the exec's stream is read on to its end: dockerd 20.10
handles a container's events one at a time and, for an exec's exit, waits until the
exec's output was copied, so an exec stream abandoned while it writes wedges every later
exec of the container. Only when the kill fails (an image without `sh`) is the stream
abandoned (at once, or ABANDON_AFTER past the deadline), and the answer says the
command still runs.
A process that both empties its environment and leaves the exec's process tree (a double
fork) escapes the kill; it stays within the container's own limits.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import shlex
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from magnum.common import exceptions, lazy
from magnum.drivers import base, capabilities
from magnum.drivers.coe import docker_errors
from magnum.drivers.coe import engines as engines_mod
from magnum.objects import fields

if TYPE_CHECKING:
    import docker
else:
    docker = lazy.module("docker")


LOG = logging.getLogger(__name__)
STOP_TIMEOUT = 10
LABEL_UUID = "magnum.container"
LABEL_BAY = "magnum.bay"
LABEL_NAME = "magnum.name"
# A reference naming a registry host (host.domain/..., host:port/..., localhost/...).
_REGISTRY = re.compile(r"^(?:[^/]+\.[^/]+|[^/]+:\d+|localhost)/")
_EXITED = re.compile(r"^Exited \((-?\d+)\)")
EXEC_MARKER = "MAGNUM_EXEC"
KILLED = "its processes were killed"
KILL_LIMITS = capabilities.Limits(timeout=10.0, max_bytes=4096)
EXIT_WAIT = 3.0  # seconds a killed exec gets to be reported gone
ABANDON_AFTER = KILL_LIMITS.timeout + 5.0  # past the deadline: a kill failed, stop reading
_POLL = 0.05
# Run as `sh -c KILL sh MAGNUM_EXEC=<token>`: SIGSTOP (so nothing forks meanwhile), twice,
# then SIGKILL every process whose environment holds the marker, and their descendants.
KILL = r"""
t=$1
scan() {
  pids= rest=
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    hit= pp=x
    while IFS= read -r e || [ -n "$e" ]; do
      case $e in *"$t"*) hit=1; break;; esac
    done 2>/dev/null <"$d/environ"
    if [ -n "$hit" ]; then pids="$pids $p"; continue; fi
    while read -r k v; do
      [ "$k" = PPid: ] && { pp=$v; break; }
    done 2>/dev/null <"$d/status"
    rest="$rest $p:$pp"
  done
  grew=1
  while [ -n "$grew" ]; do
    grew= left=
    for x in $rest; do
      case " $pids " in
        *" ${x#*:} "*) pids="$pids ${x%%:*}"; grew=1;;
        *) left="$left $x";;
      esac
    done
    rest=$left
  done
}
scan; [ -z "$pids" ] || kill -STOP $pids 2>/dev/null
scan; [ -z "$pids" ] || kill -STOP $pids 2>/dev/null
scan; [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
echo "killed:$pids"
"""


class SwarmContainers(capabilities.ContainerInterface):
    """Plain Docker containers on one node's engine, through its low-level API client."""

    def __init__(self, engines: engines_mod.Engines) -> None:
        self._engines = engines

    @contextlib.contextmanager
    def _on(self, task: base.ClusterTask, node: base.Node, what: str) -> Iterator[docker.APIClient]:
        with self._engines.on(task, node, what) as client:
            yield client.api

    def create(
        self, task: base.ClusterTask, node: base.Node, spec: capabilities.ContainerSpec
    ) -> str:
        try:
            return self._create(task, node, spec)
        except exceptions.EngineNotFound as exc:  # the node does not have the image
            if not _REGISTRY.match(spec.image):
                raise exceptions.ImageNotAvailable(
                    image=spec.image, cluster=task.cluster.uuid, why=f" (node {node.name})"
                ) from exc
        try:
            with self._on(task, node, f"Pulling {spec.image}") as api:
                api.pull(spec.image)
        except exceptions.NodeUnavailable:
            raise
        except exceptions.MagnumError as exc:  # the engine answered: it cannot get the image
            raise exceptions.ImageNotAvailable(
                image=spec.image,
                cluster=task.cluster.uuid,
                why=f": {docker_errors.engine_text(exc)}",
            ) from exc
        return self._create(task, node, spec)

    def _create(
        self, task: base.ClusterTask, node: base.Node, spec: capabilities.ContainerSpec
    ) -> str:
        argv = shlex.split(spec.command) if spec.command else None
        labels = {LABEL_UUID: spec.uuid, LABEL_BAY: task.cluster.uuid}
        if spec.name is not None:
            labels[LABEL_NAME] = spec.name
        with self._on(task, node, f"Creating container {spec.uuid}") as api:
            host_config = api.create_host_config(mem_limit=spec.memory_bytes or None, init=True)
            created = api.create_container(
                spec.image,
                command=argv,
                hostname=spec.uuid,
                name=f"magnum-{spec.uuid}",
                environment=dict(spec.environment),
                labels=labels,
                host_config=host_config,
            )
        return str(created["Id"])

    def action(
        self,
        task: base.ClusterTask,
        node: base.Node,
        container_id: str,
        action: capabilities.ContainerAction,
    ) -> None:
        with self._on(task, node, f"Container action {action}") as api:
            match action:
                case capabilities.ContainerAction.START:
                    api.start(container_id)
                case capabilities.ContainerAction.STOP:
                    api.stop(container_id, timeout=STOP_TIMEOUT)
                case capabilities.ContainerAction.REBOOT:
                    api.restart(container_id, timeout=STOP_TIMEOUT)
                case capabilities.ContainerAction.PAUSE:
                    api.pause(container_id)
                case capabilities.ContainerAction.UNPAUSE:
                    api.unpause(container_id)

    def logs(
        self,
        task: base.ClusterTask,
        node: base.Node,
        container_id: str,
        limits: capabilities.Limits,
    ) -> capabilities.Output:
        deadline = time.monotonic() + limits.timeout
        with self._on(task, node, "Reading the container's logs") as api:
            stream = api.logs(container_id, stdout=True, stderr=True, stream=True, follow=False)
            data, truncated, late = _read(
                stream, _Watchdog(stream, deadline), limits.max_bytes, tail=True
            )
        if late:
            raise capabilities.timed_out("Reading the logs", limits, "the read was abandoned")
        return capabilities.Output(text=data.decode("utf-8", "replace"), truncated=truncated)

    def exec(
        self,
        task: base.ClusterTask,
        node: base.Node,
        container_id: str,
        argv: Sequence[str],
        limits: capabilities.Limits,
    ) -> capabilities.Output:
        deadline = time.monotonic() + limits.timeout
        marker = f"{EXEC_MARKER}={secrets.token_hex(16)}"
        with self._on(task, node, "Executing in the container") as api:
            exec_id = api.exec_create(
                container_id, list(argv), stdout=True, stderr=True, environment=[marker]
            )["Id"]
            stream = api.exec_start(exec_id, tty=False, stream=True)
            dog = _Watchdog(stream, deadline + ABANDON_AFTER)
            kill = _Kill(api, container_id, marker, failed=dog.fire)
            timer = threading.Timer(max(deadline - time.monotonic(), 0.0), kill.start, (True,))
            timer.daemon = True
            timer.start()
            try:  # read to the end even past the limit or the deadline (see _read)
                data, truncated, abandoned = _read(
                    stream,
                    dog,
                    limits.max_bytes,
                    on_full=lambda: kill.start(late=False),  # stop the command
                )
            finally:
                timer.cancel()
            if not kill.sent and not abandoned and not _exited(api, exec_id, deadline):
                kill.start(late=True)  # its output ended before it did, and it ran on
            kill.settle()
            outcome = ""
            if kill.sent:
                gone = not abandoned and _exited(api, exec_id, time.monotonic() + EXIT_WAIT)
                outcome = KILLED if gone else kill.failed()
        if truncated and outcome != KILLED:
            LOG.warning("container %s: a command past its output limit: %s", container_id, outcome)
        if kill.late:
            raise capabilities.timed_out("The command", limits, outcome)
        return capabilities.Output(text=data.decode("utf-8", "replace"), truncated=truncated)

    def find(self, task: base.ClusterTask, node: base.Node, uuid: str) -> str | None:
        labels = [f"{LABEL_UUID}={uuid}", f"{LABEL_BAY}={task.cluster.uuid}"]
        with self._on(task, node, "Looking for the container") as api:
            found = api.containers(all=True, filters={"label": labels})
        return str(found[0]["Id"]) if found else None

    def remove(self, task: base.ClusterTask, node: base.Node, container_id: str) -> None:
        try:
            with self._on(task, node, "Removing the container") as api:
                api.remove_container(container_id, force=True)
        except exceptions.EngineNotFound:
            return  # already gone

    def states(
        self, task: base.ClusterTask, node: base.Node
    ) -> dict[str, capabilities.ContainerState]:
        with self._on(task, node, "Listing containers") as api:
            found = api.containers(all=True, filters={"label": f"{LABEL_BAY}={task.cluster.uuid}"})
        states: dict[str, capabilities.ContainerState] = {}
        for item in found:
            uuid = (item.get("Labels") or {}).get(LABEL_UUID)
            if uuid:
                states[uuid] = _from_list(item)
        return states

    def state(
        self, task: base.ClusterTask, node: base.Node, container_id: str
    ) -> capabilities.ContainerState:
        try:
            with self._on(task, node, "Inspecting the container") as api:
                info = api.inspect_container(container_id)
        except exceptions.EngineNotFound:
            return capabilities.ContainerState(
                status=fields.ContainerStatus.ERROR,
                reason=f"the container is gone from node {node.name}",
            )
        return _from_inspect(info.get("State") or {})


def _from_list(item: dict[str, Any]) -> capabilities.ContainerState:
    state = str(item.get("State", ""))
    cid = str(item["Id"]) if item.get("Id") else None
    if state == "paused":
        return capabilities.ContainerState(status=fields.ContainerStatus.PAUSED, container_id=cid)
    if state in ("running", "restarting"):
        return capabilities.ContainerState(status=fields.ContainerStatus.RUNNING, container_id=cid)
    if state == "dead":
        return capabilities.ContainerState(
            status=fields.ContainerStatus.ERROR, reason="Docker: dead", container_id=cid
        )
    match = _EXITED.match(str(item.get("Status", "")))
    reason = f"exited with code {match.group(1)}" if state == "exited" and match else None
    return capabilities.ContainerState(
        status=fields.ContainerStatus.STOPPED, reason=reason, container_id=cid
    )


def _from_inspect(state: dict[str, Any]) -> capabilities.ContainerState:
    if state.get("Paused"):
        return capabilities.ContainerState(status=fields.ContainerStatus.PAUSED)
    if state.get("Running") or state.get("Restarting"):
        return capabilities.ContainerState(status=fields.ContainerStatus.RUNNING)
    if state.get("Dead"):
        return capabilities.ContainerState(
            status=fields.ContainerStatus.ERROR, reason="Docker: dead"
        )
    if state.get("Status") == "exited":
        reason = f"exited with code {state.get('ExitCode')}"
        if state.get("OOMKilled"):
            reason += " (killed: out of memory)"
        return capabilities.ContainerState(status=fields.ContainerStatus.STOPPED, reason=reason)
    return capabilities.ContainerState(status=fields.ContainerStatus.STOPPED)


# --- bounded streams ----------------------------------------------------------------------
class _Watchdog:
    """Closes a docker SDK stream (CancellableStream) when `deadline` passes, from a timer
    thread: the one way to end a read that the SDK blocks in without a timeout."""

    def __init__(self, stream: Any, deadline: float) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._closed = False
        self.fired = False
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self.fire)
        self._timer.daemon = True
        self._timer.start()

    def fire(self) -> None:
        """Close the stream now (the deadline passed, or reading on is pointless)."""
        with self._lock:
            if not self._closed:
                self.fired = True
                self._close()

    def finish(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):  # whatever a half-closed stream raises
                self._stream.close()


def _read(
    stream: Any,
    dog: _Watchdog,
    max_bytes: int,
    *,
    tail: bool = False,
    on_full: Callable[[], None] | None = None,
) -> tuple[bytes, bool, bool]:
    """Read `stream` (chunks of bytes) to its end, or until its watchdog `dog` closes it:
    (the first, or with `tail` the last, `max_bytes`; whether there was more; whether the
    watchdog ended it). Memory stays within 2 * max_bytes.

    Past max_bytes (head only) `on_full` is called once and the rest is read and dropped:
    an exec's stream must be read to its end, because dockerd 20.10 handles a container's
    events one at a time and waits, for an exec's exit, until its output was copied; an
    exec abandoned while it writes can wedge every later exec of the container. Without
    `on_full` the read stops at max_bytes.
    """
    kept = bytearray()
    truncated = False
    try:
        for chunk in _chunks(stream):
            if truncated and not tail:
                continue  # being stopped: drop the rest
            kept += chunk
            if len(kept) <= max_bytes:
                continue
            truncated = True
            if tail:
                if len(kept) > 2 * max_bytes:
                    del kept[: len(kept) - max_bytes]
                continue
            del kept[max_bytes:]
            if on_full is None:
                break
            on_full()
    except Exception:
        if not dog.fired:
            raise
    finally:
        dog.finish()
    if tail and len(kept) > max_bytes:
        del kept[: len(kept) - max_bytes]
    return bytes(kept), truncated, dog.fired


def _chunks(stream: Iterable[Any]) -> Iterator[bytes]:
    for chunk in stream:
        if chunk:
            yield chunk if isinstance(chunk, bytes) else bytes(chunk)


def _exited(api: docker.APIClient, exec_id: str, deadline: float) -> bool:
    """Whether the exec's process ends by `deadline` (its output may end a little sooner).
    Only once its stream was read to the end: dockerd answers the inspection only then."""
    pause = threading.Event()
    while api.exec_inspect(exec_id).get("Running"):
        if time.monotonic() >= deadline:
            return False
        pause.wait(_POLL)
    return True


class _Kill:
    """The kill of one exec's processes (the exec marked with `marker`), started at most
    once, in a thread of its own: at the deadline (`late`) or once the output passed its
    limit. Meanwhile the caller goes on reading the exec's stream, which the kill ends (the
    exec's exit waits for that read). It never inspects the exec: the caller does, once it
    read the stream to its end."""

    def __init__(
        self,
        api: docker.APIClient,
        container_id: str,
        marker: str,
        *,
        failed: Callable[[], None],
    ) -> None:
        self._api = api
        self._container_id = container_id
        self._marker = marker
        self._failed = failed  # called when the kill could not run: stop waiting for the end
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.late = False
        self.said = ""

    @property
    def sent(self) -> bool:
        return self._thread is not None

    def start(self, late: bool) -> None:
        with self._lock:
            if self._thread is None:
                self.late = late
                self._thread = threading.Thread(target=self._run, name="exec-kill", daemon=True)
                self._thread.start()

    def settle(self) -> None:
        """Wait for the kill, if one was started."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(KILL_LIMITS.timeout + 5.0)

    def failed(self) -> str:
        return f"it could not be killed and still runs in the container ({self.said})"

    def _run(self) -> None:
        self.said = self._kill()
        if not self.said.startswith("killed:"):
            self._failed()

    def _kill(self) -> str:
        """What the killer said, in one line."""
        try:
            killer = self._api.exec_create(
                self._container_id,
                ["sh", "-c", KILL, "sh", self._marker],
                stdout=True,
                stderr=True,
            )["Id"]
            stream = self._api.exec_start(killer, tty=False, stream=True)
            dog = _Watchdog(stream, time.monotonic() + KILL_LIMITS.timeout)
            said, _, late = _read(stream, dog, KILL_LIMITS.max_bytes)
        except docker_errors.errors() as exc:
            return docker_errors.explanation(exc)
        lines = said.decode("utf-8", "replace").strip().splitlines()
        return "the kill did not finish" if late else (lines[-1][:200] if lines else "no answer")
