# SPDX-License-Identifier: Apache-2.0
"""Drive a magnum API with the real python-magnumclient 2.1.0 Python API; print JSON results.

Run with the client venv, never imported by pytest:

    .venv-client/bin/python tests/functional/magnumclient_script.py http://127.0.0.1:PORT/v1

Every step's outcome goes into one JSON object on stdout: either the fields the test
asserts on, or {"error": <exception class>, "http_status": ..., "message": ...}.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from magnumclient.common.apiclient import exceptions as client_exc
from magnumclient.v1 import client as v1_client

TIMEOUT = 20.0
BAY_FIELDS: tuple[str, ...] = (
    "uuid",
    "name",
    "baymodel_id",
    "node_count",
    "master_count",
    "status",
)
BAY_FIELDS += ("status_reason", "api_address", "master_addresses", "node_addresses")
MODEL_FIELDS: tuple[str, ...] = (
    "uuid",
    "name",
    "image_id",
    "keypair_id",
    "external_network_id",
    "coe",
)
MODEL_FIELDS += ("flavor_id", "dns_nameserver", "labels", "public", "tls_disabled")


def fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name, None) for name in names}


def error(exc: Exception) -> dict[str, Any]:
    return {
        "error": type(exc).__name__,
        "http_status": getattr(exc, "http_status", None),
        "message": str(exc),
        "details": getattr(exc, "details", None),
    }


def attempt(fn: Callable[[], Any]) -> Any:
    try:
        result = fn()
    except client_exc.ClientException as exc:
        return error(exc)
    # a resource where an error was expected: show what came back instead
    return {"unexpected": result._info} if hasattr(result, "_info") else result


def wait_bay(cs: Any, ident: str, until: Callable[[Any], bool]) -> dict[str, Any]:
    """Poll bay-show until `until(bay)` holds (bay None once it is gone); bounded."""
    deadline = time.monotonic() + TIMEOUT
    pause = threading.Event()
    while True:
        try:
            bay = cs.bays.get(ident)
        except client_exc.NotFound:
            bay = None
        if until(bay):
            return {"gone": True} if bay is None else fields(bay, BAY_FIELDS)
        if time.monotonic() > deadline:
            return {"timeout": True, "last": None if bay is None else fields(bay, BAY_FIELDS)}
        pause.wait(0.1)


def settled(bay: Any) -> bool:
    return bay is not None and not bay.status.endswith("IN_PROGRESS")


def main(url: str) -> dict[str, Any]:
    cs = v1_client.Client(input_auth_token="test-token", magnum_url=url)
    out: dict[str, Any] = {}

    model = cs.baymodels.create(
        name="m1",
        image_id="fedora-atomic",
        keypair_id="kp",
        external_network_id="public",
        coe="swarm",
        labels={"purpose": "client-test"},
    )
    out["baymodel_create"] = fields(model, MODEL_FIELDS)
    out["baymodel_list"] = [fields(m, ("uuid", "name")) for m in cs.baymodels.list()]
    out["baymodel_show"] = fields(cs.baymodels.get("m1"), MODEL_FIELDS)
    patch: list[dict[str, object]] = [{"op": "replace", "path": "/name", "value": "m2"}]
    out["baymodel_update"] = fields(cs.baymodels.update(model.uuid, patch), MODEL_FIELDS)
    out["baymodel_show_old_name"] = attempt(lambda: cs.baymodels.get("m1"))

    bay = cs.bays.create(name="b1", baymodel_id=model.uuid, node_count=1)
    out["bay_create"] = fields(bay, BAY_FIELDS)
    out["bay_created"] = wait_bay(cs, "b1", settled)
    out["bay_list"] = [fields(b, ("uuid", "name", "status")) for b in cs.bays.list()]
    out["bay_show"] = fields(cs.bays.get(bay.uuid), BAY_FIELDS)

    patch = [{"op": "replace", "path": "/node_count", "value": 2}]
    out["bay_update"] = fields(cs.bays.update("b1", patch), BAY_FIELDS)
    out["bay_updated"] = wait_bay(cs, "b1", settled)

    out["bay_create_zero_nodes"] = attempt(
        lambda: cs.bays.create(name="b0", baymodel_id=model.uuid, node_count=0)
    )
    out["bay_show_missing"] = attempt(lambda: cs.bays.get("no-such-bay"))
    out["baymodel_delete_in_use"] = attempt(lambda: cs.baymodels.delete(model.uuid))

    out["bay_delete"] = attempt(lambda: cs.bays.delete("b1")) or "ok"
    out["bay_deleted"] = wait_bay(cs, bay.uuid, lambda b: b is None)
    out["bay_list_after_delete"] = [b.uuid for b in cs.bays.list()]

    out["baymodel_delete"] = attempt(lambda: cs.baymodels.delete(model.uuid)) or "ok"
    out["baymodel_list_after_delete"] = [m.uuid for m in cs.baymodels.list()]
    out["baymodel_show_deleted"] = attempt(lambda: cs.baymodels.get(model.uuid))
    return out


if __name__ == "__main__":
    json.dump(main(sys.argv[1]), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
