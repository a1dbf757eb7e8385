# SPDX-License-Identifier: Apache-2.0
"""The host's own directories, kept out of what tenants read.

The API and the conductor keep their state on the host: `[DEFAULT] state_path` (uploads,
secrets, the database of the all-in-one), the local driver's `[local] state_dir` (every
node's data root) and `[local] run_dir`. Their names are the operator's business, yet they
turn up in what tools and engines say when they fail (an OSError naming a file, a mount
that failed, dockerd refusing a file under its data root). Each process registers its
directories when it starts (`register_conf`), and every magnum error message (which is
what error bodies, status reasons and events show) names a path under one of them only
as HIDDEN: see `scrub`, which MagnumError applies to its fields.

A registry for the process rather than an argument: errors are made deep in drivers that
know nothing of the configuration, and every process of a deployment shares the same
directories anyway.
"""

from __future__ import annotations

import os
import pathlib
import re
import threading
from typing import Any

HIDDEN = "<host path>"
# Where a path ends in a message: whitespace, quotes, and the punctuation around it.
_END = r"\s'\"`:;,()\[\]{}<>"
_MIN_DEPTH = 2  # "/" or "/var" are never hidden: only directories of magnum's own

_lock = threading.Lock()
_roots: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None


def register(*roots: str | os.PathLike[str] | None) -> None:
    """Hide paths under each of `roots` (as given, and resolved) from error messages."""
    global _roots, _pattern  # noqa: PLW0603 - the process's registry (see the module)
    found = set()
    for root in roots:
        if not root:
            continue
        for form in (pathlib.Path(root).absolute(), pathlib.Path(root).resolve()):
            text = str(form).rstrip("/")
            if text.count("/") >= _MIN_DEPTH:
                found.add(text)
    with _lock:
        if found <= _roots:
            return
        _roots = _roots | found
        alternatives = "|".join(re.escape(r) for r in sorted(_roots, key=len, reverse=True))
        _pattern = re.compile(rf"(?:{alternatives})(?=$|[/{_END}])(?:/[^{_END}]*)?")


def register_conf(conf: Any) -> None:
    """Register the directories of a process's configuration (see the module)."""
    register(conf.state_path, conf.local.state_dir, conf.local.run_dir)


def scrub(text: str) -> str:
    """`text` with every path under a registered directory replaced by HIDDEN."""
    pattern = _pattern
    if pattern is None or "/" not in text:
        return text
    return pattern.sub(HIDDEN, text)
