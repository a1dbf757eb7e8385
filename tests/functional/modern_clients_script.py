# SPDX-License-Identifier: Apache-2.0
"""Call python-magnumclient 4.11's Python API (the `magnum` CLI of 4.11 has no nodegroup,
resize or upgrade commands; the library has) and print each call's outcome as JSON.

Run with the modern client venv, never imported by pytest:

    .venv-modern/bin/python tests/functional/modern_clients_script.py URL CALLS_JSON

CALLS_JSON is a list of [manager.method, [args...], {kwargs...}], e.g.
[["nodegroups.list", ["c1"], {}]]. Each outcome is the resource's fields (a list of them
for a list), null when the call answered nothing, or {"error", "http_status", "message",
"details"} when it raised. No Keystone: a token and the endpoint (the client's own HTTP
transport, `OpenStack-API-Version: container-infra latest` on every request).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from magnumclient.common.apiclient import exceptions as client_exc
from magnumclient.v1 import client as v1_client


def _fields(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_fields(v) for v in value]
    info = getattr(value, "_info", None)
    return dict(info) if isinstance(info, dict) else repr(value)


def _call(cs: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    manager, method = name.split(".")
    try:
        return _fields(getattr(getattr(cs, manager), method)(*args, **kwargs))
    except client_exc.HttpError as exc:
        return {
            "error": type(exc).__name__,
            "http_status": exc.http_status,
            "message": str(exc),
            "details": exc.details,
        }


def main() -> None:
    url, calls = sys.argv[1], json.loads(sys.argv[2])
    cs = v1_client.Client(auth_token="modern-clients", magnum_url=url, api_version="latest")
    print(json.dumps([_call(cs, name, args, kwargs) for name, args, kwargs in calls]))


if __name__ == "__main__":
    main()
