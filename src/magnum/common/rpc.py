# SPDX-License-Identifier: Apache-2.0
"""oslo.messaging wiring shared by the API (client side) and the conductor (server side),
and the API's guard against a message broker that does not answer (`Broker`)."""

from __future__ import annotations

import contextvars
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any, ClassVar, TypeVar

import amqp  # type: ignore[import-untyped]  # py-amqp, kombu's client: the rabbit driver's own
import kombu.exceptions
import oslo_messaging as messaging
from oslo_config import cfg

from magnum.common import exceptions

# Only our own errors are re-created on the calling side of an RPC call (magnum.db.engine
# holds DatabaseUnavailable: a conductor that cannot reach the database says so).
ALLOWED_EXMODS = ["magnum.common.exceptions", "magnum.db.engine"]
LOG = logging.getLogger(__name__)
T = TypeVar("T")


def transport(conf: cfg.ConfigOpts) -> Any:
    """The transport named by [DEFAULT] transport_url: rabbit://..., or inproc:// in-process."""
    return messaging.get_rpc_transport(conf, allowed_remote_exmods=ALLOWED_EXMODS)


def target(conf: cfg.ConfigOpts, *, server: str | None = None) -> Any:
    return messaging.Target(topic=conf.conductor.topic, server=server, version="1.0")


def answer(what: str, fn: Callable[[], T]) -> T:
    """Run the work of an RPC call. Our errors cross to the caller as themselves (see
    ALLOWED_EXMODS); anything else is logged here and crosses as a DriverError naming
    `what`, instead of an anonymous RemoteError. A caller's error (4xx: not found, a
    conflict, bad input) is expected: logged as one line, not as the server's failure."""
    try:
        return fn()
    except exceptions.MagnumError as exc:
        if exc.status >= 500:
            raise
        LOG.info("%s: %d %s: %s", what, exc.status, exc.code, exc)
        raise messaging.ExpectedException() from exc  # the server replies with `exc` itself
    except Exception as exc:
        LOG.exception("%s failed unexpectedly", what)
        raise exceptions.DriverError(reason=f"{what} failed: {exc}") from exc


# --- the broker, seen from the API -------------------------------------------------------
class ConductorUnreachable(exceptions.MagnumError):
    """The API cannot reach the conductors now (503): the broker does not answer."""

    status = 503
    retry_after: ClassVar[int] = 10  # seconds: about what a broker restart takes
    template = "The conductors cannot be reached: {reason}. Try again later."


RECHECK = 0.5  # seconds a probe's verdict stands: a waiting call learns of an outage this late
WAIT_STEP = 0.1  # seconds between a waiting call's looks at the verdict (a cheap read)
CAST_QUEUE = 1000  # notifications waiting for the sender; beyond that they are left to the scan
CAST_IDLE = 5.0  # seconds the sender thread waits for more work before it ends
PUBLISH_RETRY = 1  # reconnect attempts when publishing, so a dead broker fails fast
CALL_MONITOR = 10.0  # seconds a call waits for a conductor's first sign of life
# Every message is mandatory: one that no queue takes (after a broker restart, before the
# conductors declared theirs again) is refused at once instead of silently dropped.
AT_LEAST_ONCE = messaging.TransportOptions(at_least_once=True)
_BROKER_DOWN = "the message broker is not answering"


class Broker:
    """How the API talks to the conductors without ever waiting on a dead broker.

    Every bay operation is durable in the database before it is announced, and the
    conductors scan for operations no one holds; so a *cast* is only a hint that saves
    the scan's delay. `cast` hands it to a sender thread and returns at once; the sender
    drops it (the scan picks the operation up) when the broker does not answer.

    A *call* needs an answer. `call` first asks the broker (a probe: an AMQP handshake
    bounded by `timeout`, its verdict kept RECHECK seconds), then runs the call on a
    thread of its own while the request waits, asking again every RECHECK seconds: a
    broker that is down, or goes down meanwhile, ends the wait with ConductorUnreachable
    (503), and so does a publish that fails (the verdict turns "down" at once), a call
    no conductor queue takes (AT_LEAST_ONCE) and one no conductor acknowledges within
    CALL_MONITOR seconds (call_options). oslo.messaging reconnects forever inside a call
    when the broker is gone; that thread is left to it, and at most `slots` such threads
    exist. Transports without a broker (inproc://) always count as reachable."""

    def __init__(self, conf: cfg.ConfigOpts, *, timeout: float, slots: int) -> None:
        self.timeout = timeout
        url = messaging.TransportURL.parse(conf, conf.transport_url)
        self._probe: Callable[[], bool] | None = None
        if url.transport in ("rabbit", "kombu", "amqp"):
            self._probe = _rabbit_probe(
                url, timeout=timeout, tls=bool(conf.oslo_messaging_rabbit.ssl)
            )
        self._verdict: tuple[float, bool] = (float("-inf"), True)  # (when, reachable)
        self._probing = threading.Lock()
        self._slots = threading.BoundedSemaphore(slots)
        self._casts: queue.Queue[tuple[str, Callable[[], None]]] = queue.Queue(CAST_QUEUE)
        self._sender: threading.Thread | None = None
        self._sender_lock = threading.Lock()

    # --- is the broker there? ------------------------------------------------------------
    def reachable(self) -> bool:
        """Whether the broker answered its latest probe (probing again when that is older
        than RECHECK seconds; one probe at a time, the others wait for its verdict)."""
        if self._probe is None:
            return True
        when, verdict = self._verdict
        if time.monotonic() - when < RECHECK:
            return verdict
        if not self._probing.acquire(timeout=self.timeout):
            return False  # a probe is stuck past its own bound: as good as no answer
        try:
            when, verdict = self._verdict
            if time.monotonic() - when >= RECHECK:
                verdict = self._probe()
                if verdict != self._verdict[1]:
                    log = LOG.info if verdict else LOG.warning
                    log("message broker %s", "answers again" if verdict else "does not answer")
                self._verdict = (time.monotonic(), verdict)
            return verdict
        finally:
            self._probing.release()

    # --- casts ---------------------------------------------------------------------------
    def cast(self, what: str, send: Callable[[], None]) -> None:
        """Send `send()` (an RPC cast) on the sender thread; never blocks, never raises."""
        try:
            self._casts.put_nowait((what, _in_this_context(send)))
        except queue.Full:
            LOG.warning(
                "%s: %d notifications wait; left for the conductors' scan", what, CAST_QUEUE
            )
            return
        with self._sender_lock:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send, name="rpc-casts", daemon=True)
                self._sender.start()

    def _send(self) -> None:
        while True:
            try:
                what, send = self._casts.get(timeout=CAST_IDLE)
            except queue.Empty:
                with self._sender_lock:
                    if self._casts.empty():
                        self._sender = None
                        return
                continue
            if not self.reachable():
                LOG.warning("%s: %s; left for the conductors' scan", what, _BROKER_DOWN)
                continue
            try:
                send()
            except Exception as exc:  # noqa: BLE001 - the scan recovers any lost notification
                self._verdict = (time.monotonic(), False)
                LOG.warning("%s: not sent (%s); left for the conductors' scan", what, exc)

    # --- calls ---------------------------------------------------------------------------
    def call(self, what: str, fn: Callable[[], T], *, timeout: float) -> T:
        """`fn()`, an RPC call made with `call_options(timeout)`; or ConductorUnreachable
        as soon as the broker does not answer, `fn` cannot hand it its message, no conductor
        listens (the broker just restarted: the conductors' queues are not back yet) or
        none acknowledges the call within CALL_MONITOR seconds (the message or its answer
        was lost). A conductor's own errors pass through, and so does the MessagingTimeout
        of a call a conductor worked on for all of `timeout`."""
        if not self.reachable():
            raise ConductorUnreachable(reason=_BROKER_DOWN)
        if not self._slots.acquire(blocking=False):
            raise ConductorUnreachable(reason="too many calls to them are waiting")
        answer: futures.Future[T] = futures.Future()
        run = _in_this_context(lambda: _settle(answer, fn))

        def worker() -> None:
            try:
                run()
            finally:
                self._slots.release()

        threading.Thread(target=worker, name=f"rpc-{what}", daemon=True).start()
        start = time.monotonic()
        deadline = start + timeout + self.timeout
        while True:
            try:
                return answer.result(timeout=min(WAIT_STEP, max(0.0, deadline - time.monotonic())))
            except futures.TimeoutError:
                pass
            except messaging.MessageUndeliverable as exc:
                raise ConductorUnreachable(reason="no conductor is listening") from exc
            except messaging.MessagingTimeout as exc:
                if time.monotonic() - start < timeout - 1.0:  # the call monitor's
                    raise ConductorUnreachable(
                        reason=f"no conductor acknowledged {what} within {CALL_MONITOR:.0f}s"
                    ) from exc
                raise
            except messaging.RemoteError:
                raise
            except _PUBLISH_FAILURES as exc:
                self._verdict = (time.monotonic(), False)  # the next call need not try
                LOG.warning("%s: not sent: %s", what, exc)
                raise ConductorUnreachable(reason=_BROKER_DOWN) from exc
            if not self.reachable():
                LOG.warning("%s: %s; giving up the call", what, _BROKER_DOWN)
                raise ConductorUnreachable(reason=_BROKER_DOWN)
            if time.monotonic() >= deadline:  # the call outlived its own timeout: stuck
                raise ConductorUnreachable(reason=f"no answer to {what} within {timeout:.0f}s")


def call_options(timeout: float) -> dict[str, Any]:
    """RPCClient.prepare() options of a call that `Broker.call` runs: its timeout, and a
    call monitor (the conductor confirms every CALL_MONITOR/2 seconds that it is at work)
    when the call may take longer than that."""
    monitor = CALL_MONITOR if timeout > CALL_MONITOR else None
    return {"timeout": timeout, "call_monitor_timeout": monitor}


# What oslo.messaging raises when it cannot publish (its own, kombu's, the socket's); of
# its own, a timeout and a remote error are answers, not failures to publish.
_PUBLISH_FAILURES = (messaging.MessagingException, kombu.exceptions.KombuError, OSError)


def _settle(answer: futures.Future[T], fn: Callable[[], T]) -> None:
    try:
        answer.set_result(fn())
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
        answer.set_exception(exc)


def _in_this_context(fn: Callable[[], T]) -> Callable[[], T]:
    """`fn` bound to the caller's context variables (the request id its log lines carry)."""
    ctx = contextvars.copy_context()
    return lambda: ctx.run(fn)


def _rabbit_probe(url: Any, *, timeout: float, tls: bool) -> Callable[[], bool]:
    """A check that some broker of `url` completes an AMQP handshake within `timeout`
    (with TLS configured, that it accepts a TCP connection)."""
    hosts = [(h.hostname or "localhost", h.port or 5672, h.username, h.password) for h in url.hosts]
    hosts = hosts or [("localhost", 5672, None, None)]
    vhost = url.virtual_host or "/"

    def probe() -> bool:
        for hostname, port, user, password in hosts:
            address = f"[{hostname}]:{port}" if ":" in hostname else f"{hostname}:{port}"
            try:
                if tls:
                    socket.create_connection((hostname, port), timeout=timeout).close()
                    return True
                conn = amqp.Connection(
                    address,
                    userid=user or "guest",
                    password=password or "guest",
                    virtual_host=vhost,
                    connect_timeout=timeout,
                    read_timeout=timeout,
                    write_timeout=timeout,
                    heartbeat=0,
                )
                try:
                    conn.connect()
                    conn.close()
                finally:
                    conn.collect()
                return True
            except Exception as exc:  # noqa: BLE001 - any failure means "not this broker"
                LOG.debug("broker %s does not answer: %s", address, exc)
        return False

    return probe
