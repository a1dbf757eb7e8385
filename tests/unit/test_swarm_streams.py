# SPDX-License-Identifier: Apache-2.0
"""The bounded reads of the swarm driver's exec and logs streams (no Docker needed): a
stream is read to its end, cut to its limit (head or tail) and closed at its deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from magnum.drivers.coe.swarm import containers as swarm


class Stream:
    """What the docker SDK's CancellableStream does: chunks, then (after close() from any
    thread) an error or the end; `hang` blocks after the chunks until closed."""

    def __init__(self, chunks: list[bytes], *, hang: bool = False) -> None:
        self._chunks = chunks
        self._hang = hang
        self.closed = threading.Event()
        self.read = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            if self.closed.is_set():
                raise OSError("closed")
            self.read += 1
            yield chunk
        if self._hang:
            self.closed.wait(30)
            raise ValueError("I/O operation on closed file")

    def close(self) -> None:
        self.closed.set()


def later() -> float:
    return time.monotonic() + 30


def test_head_stops_at_the_limit_without_on_full() -> None:
    stream = Stream([b"abc", b"def", b"ghi"])
    data, truncated, late = swarm._read(stream, swarm._Watchdog(stream, later()), 4)
    assert (data, truncated, late) == (b"abcd", True, False)
    assert stream.read == 2 and stream.closed.is_set()


def test_head_with_on_full_reads_to_the_end_and_calls_it_once() -> None:
    calls: list[int] = []
    stream = Stream([b"abc", b"def", b"ghi", b"jkl"])
    dog = swarm._Watchdog(stream, later())
    data, truncated, late = swarm._read(stream, dog, 4, on_full=lambda: calls.append(1))
    assert (data, truncated, late) == (b"abcd", True, False)
    assert calls == [1] and stream.read == 4


def test_tail_keeps_the_last_bytes() -> None:
    stream = Stream([bytes([65 + i]) * 10 for i in range(26)])
    data, truncated, late = swarm._read(stream, swarm._Watchdog(stream, later()), 25, tail=True)
    assert (data, truncated, late) == (b"X" * 5 + b"Y" * 10 + b"Z" * 10, True, False)
    stream = Stream([b"short"])
    data, truncated, _ = swarm._read(stream, swarm._Watchdog(stream, later()), 25, tail=True)
    assert (data, truncated) == (b"short", False)


def test_a_stream_that_hangs_is_closed_at_its_deadline() -> None:
    stream = Stream([b"so far"], hang=True)
    began = time.monotonic()
    dog = swarm._Watchdog(stream, time.monotonic() + 0.3)
    data, truncated, late = swarm._read(stream, dog, 100)
    assert (data, truncated, late) == (b"so far", False, True)
    assert 0.25 < time.monotonic() - began < 5


def test_an_error_before_the_deadline_is_raised() -> None:
    class Broken(Stream):
        def __iter__(self) -> Iterator[bytes]:
            yield b"x"
            raise OSError("connection reset")

    stream = Broken([])
    with pytest.raises(OSError, match="reset"):
        swarm._read(stream, swarm._Watchdog(stream, later()), 100)
