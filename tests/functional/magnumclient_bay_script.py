# SPDX-License-Identifier: Apache-2.0
"""Drive a magnum API that builds real bays with python-magnumclient 2.1.0; print JSON.

Run with the client venv, never imported by pytest:

    .venv-client/bin/python tests/functional/magnumclient_bay_script.py create URL CSR_FILE
    .venv-client/bin/python tests/functional/magnumclient_bay_script.py delete URL BAY BAYMODEL

`create` makes a Swarm baymodel and a 1+2 bay, waits for CREATE_COMPLETE, fetches the
bay's CA and has the CSR read from CSR_FILE signed; `delete` deletes the bay (waiting until
it is gone) and the baymodel. Every outcome goes into one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from magnumclient.common.apiclient import exceptions as client_exc
from magnumclient.v1 import client as v1_client

TIMEOUT = 120.0
BAY_FIELDS: tuple[str, ...] = (
    "uuid",
    "name",
    "baymodel_id",
    "node_count",
    "master_count",
    "status",
)
BAY_FIELDS += ("status_reason", "api_address", "master_addresses", "node_addresses")


def fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name, None) for name in names}


def wait_bay(cs: Any, ident: str, *, gone: bool) -> dict[str, Any]:
    """Poll bay-show until the bay settles (or is gone); bounded by TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    pause = threading.Event()
    while True:
        try:
            bay = cs.bays.get(ident)
        except client_exc.NotFound:
            return {"gone": True}
        if not gone and not bay.status.endswith("IN_PROGRESS"):
            return fields(bay, BAY_FIELDS)
        if time.monotonic() > deadline:
            return {"timeout": True, "last": fields(bay, BAY_FIELDS)}
        pause.wait(0.1)


def create(cs: Any, csr_file: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    model = cs.baymodels.create(
        name="swarm-real",
        image_id="fedora-atomic",
        keypair_id="default",
        external_network_id="public",
        flavor_id="m1.small",
        coe="swarm",
    )
    out["baymodel"] = {"uuid": model.uuid, "coe": model.coe}
    bay = cs.bays.create(name="real", baymodel_id=model.uuid, node_count=2, master_count=1)
    out["bay_create"] = fields(bay, BAY_FIELDS)
    started = time.monotonic()
    out["bay_created"] = wait_bay(cs, bay.uuid, gone=False)
    out["create_seconds"] = round(time.monotonic() - started, 2)
    ca = cs.certificates.get(bay_uuid=bay.uuid)
    out["ca"] = {"bay_uuid": ca.bay_uuid, "pem": ca.pem}
    with open(csr_file, encoding="ascii") as f:
        csr = f.read()
    signed = cs.certificates.create(bay_uuid=bay.uuid, csr=csr)
    out["signed"] = {"bay_uuid": signed.bay_uuid, "pem": signed.pem}
    return out


def delete(cs: Any, bay: str, baymodel: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        cs.bays.delete(bay)
        out["bay_delete"] = "ok"
    except client_exc.NotFound:
        out["bay_delete"] = "NotFound"
    out["bay_deleted"] = wait_bay(cs, bay, gone=True)
    cs.baymodels.delete(baymodel)
    out["baymodel_delete"] = "ok"
    return out


def main(argv: list[str]) -> dict[str, Any]:
    command, url, *rest = argv
    cs = v1_client.Client(input_auth_token="test-token", magnum_url=url)
    if command == "create":
        return create(cs, *rest)
    return delete(cs, *rest)


if __name__ == "__main__":
    json.dump(main(sys.argv[1:]), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
