# SPDX-License-Identifier: Apache-2.0
"""Drive containers on a real bay with the real python-magnumclient 2.1.0 Python API.

Run with the client venv, never imported by pytest:

    .venv-client/bin/python tests/functional/magnumclient_containers_script.py URL/v1

Builds a swarm bay (1 master + 2 nodes), drives one container through create, list,
show, start, stop, pause, unpause, reboot, logs, execute and delete, then deletes the
bay; prints one JSON object of outcomes ({"error": ...} where a call failed).
"""

from __future__ import annotations

import json
import pathlib
import sys
from collections.abc import Callable
from typing import Any

from magnumclient.v1 import client as v1_client

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from tests.functional import magnumclient_common as common

BAY_TIMEOUT = 120.0
FIELDS = ("uuid", "name", "image", "bay_uuid", "command", "memory", "status", "host")
COMMAND = "sh -c \"trap 'exit 0' TERM; echo hello; while :; do sleep 1; done\""


def fields(obj: Any, names: tuple[str, ...] = FIELDS) -> dict[str, Any]:
    return common.fields(obj, names)


attempt = common.attempt


def wait_bay(cs: Any, ident: str, until: Callable[[Any], bool]) -> str:
    return common.wait_bay(cs, ident, until, timeout=BAY_TIMEOUT, interval=0.2)


def main(url: str) -> dict[str, Any]:
    cs = v1_client.Client(input_auth_token="test-token", magnum_url=url)
    out: dict[str, Any] = {}
    model = cs.baymodels.create(
        name="m1",
        image_id="fedora-atomic",
        keypair_id="kp",
        external_network_id="public",
        coe="swarm",
        flavor_id="m1.small",
    )
    bay = cs.bays.create(name="b1", baymodel_id=model.uuid, node_count=2)
    out["bay"] = wait_bay(cs, "b1", lambda b: b is not None and "PROGRESS" not in b.status)
    try:
        c = cs.containers.create(
            name="c1",
            image="local/busybox:latest",
            bay_uuid=bay.uuid,
            command=COMMAND,
            memory="64m",
        )
        out["create"] = fields(c)
        out["list"] = [fields(x) for x in cs.containers.list()]
        out["list_bay"] = [x.uuid for x in cs.containers.list(bay_ident=bay.uuid)]
        out["show"] = fields(cs.containers.get("c1"))
        steps = []
        for action in ("start", "pause", "unpause", "reboot", "stop", "start"):
            resp, body = getattr(cs.containers, action)(c.uuid)
            steps.append([action, resp.status_code, body, cs.containers.get(c.uuid).status])
        out["actions"] = steps
        out["logs"] = cs.containers.logs(c.uuid)
        out["execute"] = cs.containers.execute(c.uuid, "echo hi from $HOSTNAME")
        out["execute_hostname"] = cs.containers.execute(c.uuid, "hostname")
        cs.containers.stop(c.uuid)
        out["pause_stopped"] = attempt(lambda: cs.containers.pause(c.uuid))
        out["missing_image"] = attempt(
            lambda: cs.containers.create(image="nope/missing:1", bay_uuid=bay.uuid)
        )
        out["bad_memory"] = attempt(
            lambda: cs.containers.create(
                image="local/busybox:latest", bay_uuid=bay.uuid, memory="5x"
            )
        )
        out["delete"] = cs.containers.delete(c.uuid) or "ok"
        out["list_after_delete"] = [x.uuid for x in cs.containers.list()]
        out["show_deleted"] = attempt(lambda: cs.containers.get(c.uuid))
    finally:
        cs.bays.delete(bay.uuid)
        out["bay_deleted"] = wait_bay(cs, bay.uuid, lambda b: b is None)
        cs.baymodels.delete(model.uuid)
    return out


if __name__ == "__main__":
    json.dump(main(sys.argv[1]), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
