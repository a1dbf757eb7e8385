# SPDX-License-Identifier: Apache-2.0
"""A conductor's incarnation file: how a restarted conductor recognises its dead predecessors.

Each conductor holds an exclusive flock on <[DEFAULT] state_path>/conductors/<owner>.lock
while it lives (the kernel drops it when the process dies, however it dies). A conductor
that starts on the same host and state directory and can lock another such file knows for
certain that its owner is gone (no pid reuse or clock to trust), so that owner's leases can
be freed at once instead of waited out (lease_ttl): an all-in-one restarted on its own state
carries on straight away.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pathlib

LOG = logging.getLogger(__name__)
SUFFIX = ".lock"


class Incarnation:
    def __init__(self, state_path: str | os.PathLike[str], *, host: str, owner: str) -> None:
        self.directory = pathlib.Path(state_path) / "conductors"
        self.host = host
        self.owner = owner
        self._fd: int | None = None

    def claim(self) -> list[str]:
        """Lock this conductor's own file; return the owners of the dead predecessors (same
        host, unlocked file), whose files are removed."""
        if "/" in self.owner:
            return []
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.directory / f"{self.owner}{SUFFIX}", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            LOG.warning(
                "no incarnation file in %s (%s): a restart waits out old leases",
                self.directory,
                exc,
            )
            return []
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
        self._fd = fd
        dead = []
        for path in sorted(self.directory.iterdir()):
            owner = path.name.removesuffix(SUFFIX)
            mine = owner.startswith(f"{self.host}:") and path.name.endswith(SUFFIX)
            if mine and owner != self.owner and _gone(path):
                dead.append(owner)
        return dead

    def release(self) -> None:
        """Unlock (at a clean stop): the next incarnation frees what this one still holds."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _gone(path: pathlib.Path) -> bool:
    """Whether no live process holds `path`'s lock (then the file is removed)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False  # another successor took it first
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its owner lives
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return True
    finally:
        os.close(fd)
