# SPDX-License-Identifier: Apache-2.0
"""Modules imported at their first use.

The driver SDKs (the docker SDK, the official kubernetes client) are what the conductor
works with; an API process loads the drivers only for their cheap checks (validate,
capacity, which capabilities a COE offers) and never calls either SDK. Imported anyway,
they were about 40 MB of every API worker. A module a driver names through `module()`
is imported when code first reads one of its attributes; the conductor imports them all
as it starts (`preload`), so no bay's first operation waits for an import.

    if TYPE_CHECKING:
        import docker
    else:
        docker = lazy.module("docker")
"""

from __future__ import annotations

import importlib
import threading
import types
from typing import Any

_NAMED: list[str] = []
_LOCK = threading.Lock()


class _Module(types.ModuleType):
    """Stands for the module of its name until an attribute is read, then for the module."""

    def __getattr__(self, attr: str) -> Any:
        real = importlib.import_module(self.__name__)
        return getattr(real, attr)


def module(name: str) -> Any:
    """A stand-in for the module `name` (dotted names too), imported at its first use."""
    with _LOCK:
        if name not in _NAMED:
            _NAMED.append(name)
    return _Module(name)


def preload() -> None:
    """Import every module named so far (the conductor, as it starts)."""
    with _LOCK:
        names = list(_NAMED)
    for name in names:
        importlib.import_module(name)
