# SPDX-License-Identifier: Apache-2.0
"""Polling until something holds, shared by every driver."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from magnum.common import exceptions

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float, poll: float = 0.02) -> T:
    """Call `probe` until it returns something other than None/False; raise WaitTimedOut
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise exceptions.WaitTimedOut(what=what, timeout=f"{timeout:.0f}")
        time.sleep(poll)
