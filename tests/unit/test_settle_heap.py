# SPDX-License-Identifier: Apache-2.0
"""magnum.cli.common.settle_heap: a started process sets its start-up objects aside from
the cyclic garbage collector (gc.freeze), after collecting the start-up's garbage."""

from __future__ import annotations

import gc
import weakref

from magnum.cli import common


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_settle_heap_frees_cycles_then_freezes_the_rest() -> None:
    kept = [_Node() for _ in range(1000)]
    garbage = _Node()
    gone = weakref.ref(garbage)
    del garbage
    before = gc.get_freeze_count()
    try:
        common.settle_heap()
        assert gone() is None  # collected first, not frozen
        assert gc.get_freeze_count() >= before + len(kept)
        assert all(n.me is n for n in kept)
    finally:
        gc.unfreeze()
