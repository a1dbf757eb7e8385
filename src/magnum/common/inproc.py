# SPDX-License-Identifier: Apache-2.0
"""`inproc://`: an in-process oslo.messaging transport for the all-in-one.

It keeps the semantics of oslo.messaging's own in-memory driver (topics, servers,
casts, calls with replies, requeue) but wakes a listener the moment a message
arrives: that driver polls every 50 ms, which would add up to 50 ms to every
API → conductor call. Registered as the `inproc` entry point of
`oslo.messaging.drivers`; it builds on that driver's classes, whose module is
private, so oslo.messaging is pinned in constraints.txt.
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import oslo_messaging
from oslo_messaging._drivers import base, impl_fake
from oslo_messaging._drivers import common as driver_common


class _Exchange(impl_fake.FakeExchange):  # type: ignore[misc]
    def __init__(self, name: str, wakeup: threading.Condition) -> None:
        super().__init__(name)
        self._wakeup = wakeup

    def deliver_message(self, *args: Any, **kwargs: Any) -> None:
        super().deliver_message(*args, **kwargs)
        with self._wakeup:
            self._wakeup.notify_all()


class _ExchangeManager(impl_fake.FakeExchangeManager):  # type: ignore[misc]
    _exchanges_lock: ClassVar[threading.Lock] = threading.Lock()
    _exchanges: ClassVar[dict[str, _Exchange]] = {}
    wakeup: ClassVar[threading.Condition] = threading.Condition()

    def get_exchange(self, name: str | None) -> _Exchange:
        name = name or self._default_exchange
        with self._exchanges_lock:
            return self._exchanges.setdefault(name, _Exchange(name, self.wakeup))


class _Message(impl_fake.FakeIncomingMessage):  # type: ignore[misc]
    """Replies with failures serialized and rebuilt exactly as a broker would carry them:
    allow-listed errors arrive as themselves, anything else as a RemoteError."""

    def __init__(self, *args: Any, allowed: list[str]) -> None:
        super().__init__(*args)
        self._allowed = allowed

    def reply(self, reply: Any = None, failure: Any = None) -> None:
        if failure:
            data = driver_common.serialize_remote_exception(failure)
            rebuilt = driver_common.deserialize_remote_exception(data, self._allowed)
            failure = (type(rebuilt), rebuilt, None)
        super().reply(reply, failure)


class _Listener(impl_fake.FakeListener):  # type: ignore[misc]
    def __init__(self, *args: Any, allowed: list[str]) -> None:
        super().__init__(*args)
        self._allowed = allowed

    @base.batch_poll_helper  # type: ignore[untyped-decorator]
    def poll(self, timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        wakeup = self._exchange_manager.wakeup
        with wakeup:  # checking and waiting under one lock: no delivery goes unnoticed
            while not self._stopped.is_set():
                for target in self._targets:
                    exchange = self._exchange_manager.get_exchange(target.exchange)
                    ctxt, message, reply_q, requeue = exchange.poll(target, self._pool)
                    if message is not None:
                        return _Message(ctxt, message, reply_q, requeue, allowed=self._allowed)
                remaining = 1.0 if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    return None
                wakeup.wait(min(remaining, 1.0))
        return None

    def stop(self) -> None:
        super().stop()
        with self._exchange_manager.wakeup:
            self._exchange_manager.wakeup.notify_all()


class InprocDriver(impl_fake.FakeDriver):  # type: ignore[misc]
    def __init__(
        self,
        conf: Any,
        url: Any,
        default_exchange: str | None = None,
        allowed_remote_exmods: list[str] | None = None,
    ) -> None:
        super().__init__(conf, url, default_exchange, allowed_remote_exmods)
        self._exchange_manager = _ExchangeManager(default_exchange)

    def listen(self, target: Any, batch_size: int, batch_timeout: float | None) -> Any:
        exchange = target.exchange or self._default_exchange
        listener = _Listener(
            self._exchange_manager,
            [
                oslo_messaging.Target(topic=target.topic, server=target.server, exchange=exchange),
                oslo_messaging.Target(topic=target.topic, exchange=exchange),
            ],
            allowed=self._allowed_remote_exmods,
        )
        return base.PollStyleListenerAdapter(listener, batch_size, batch_timeout)
