# SPDX-License-Identifier: Apache-2.0
"""What the python-magnumclient 2.1.0 scripts share (magnumclient_containers_script.py,
magnumclient_workloads_script.py); imported by them in the client venv, never by pytest."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from magnumclient.common.apiclient import exceptions as client_exc


def fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name, None) for name in names}


def attempt(fn: Callable[[], Any]) -> Any:
    """The client exception `fn` raised, as JSON; anything else it returned is unexpected."""
    try:
        result = fn()
    except client_exc.ClientException as exc:
        return {
            "error": type(exc).__name__,
            "http_status": getattr(exc, "http_status", None),
            "details": getattr(exc, "details", None),
        }
    return {"unexpected": getattr(result, "_info", repr(result))}


def wait_bay(
    cs: Any, ident: str, until: Callable[[Any], bool], *, timeout: float, interval: float
) -> str:
    """The bay's status once `until(bay)` (None: gone) holds, or "timeout (...)"."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        try:
            bay = cs.bays.get(ident)
        except client_exc.NotFound:
            bay = None
        if until(bay):
            return "gone" if bay is None else str(bay.status)
        if time.monotonic() > deadline:
            return f"timeout ({None if bay is None else bay.status})"
        pause.wait(interval)
