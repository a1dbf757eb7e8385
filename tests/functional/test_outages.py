# SPDX-License-Identifier: Apache-2.0
"""The API during a broker or database outage, seen through a TCP proxy in front of the
real RabbitMQ and PostgreSQL / MariaDB (tests/functional/_proxy.py): only the API's link
fails, so these run beside every other test. Casts never hold a request, calls answer 503
with Retry-After within a bound, a database that is away answers 503 naming it, and both
recover by themselves. tests/functional/test_faults.py stops the real services."""

from __future__ import annotations

import functools
import logging
import pathlib
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import falcon.testing
import oslo_messaging as messaging
import pytest
import sqlalchemy as sa

from magnum import conf as magnum_conf
from magnum.api import app as api_app
from magnum.common import context, exceptions, rpc
from magnum.conductor import rpcapi, service
from magnum.db import engine
from tests.conftest import OTHER_MYSQL_DRIVER, RABBIT
from tests.functional import _api
from tests.functional._proxy import Proxy
from tests.functional.conftest import BAYMODEL

IMAGE = "local/busybox:latest"
BROKER_TIMEOUT = 0.5  # [api] broker_timeout here: a call's bound is this plus RECHECK
CALL_BOUND = BROKER_TIMEOUT + rpc.RECHECK + 1.0  # what any call may take in an outage
QUICK = 0.5  # what a cast-only request (POST, DELETE of a bay) may take in an outage


def timed(what: str, fn: Callable[[], Any], bound: float) -> tuple[Any, float]:
    """fn()'s result and seconds taken; fails after `bound` seconds instead of hanging
    (the stuck thread is a daemon, unblocked when the test restores the link)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = exc

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(bound)
    took = time.monotonic() - start
    assert not thread.is_alive(), f"{what} still running after {bound}s"
    if "error" in box:
        raise box["error"]
    return box["result"], took


def rabbit_via(proxy: Proxy) -> str:
    parts = urllib.parse.urlsplit(RABBIT)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def rabbit_target() -> tuple[str, int]:
    parts = urllib.parse.urlsplit(RABBIT)
    return parts.hostname or "127.0.0.1", parts.port or 5672


class Deployment:
    """An in-process API and conductor that reach the broker and the database each by a
    link of its own (the API's may go through a proxy)."""

    def __init__(
        self,
        conf_factory: Callable[..., Any],
        *,
        api_db: engine.Database,
        conductor_db: engine.Database,
        api_transport_url: str,
        conductor_transport_url: str,
    ) -> None:
        topic = f"magnum-outage-{uuid.uuid4().hex[:8]}"
        conductor = {"topic": topic, "container_sync_interval": 0, "health_interval": 0}
        self.conductor_conf = conf_factory(
            DEFAULT={"transport_url": conductor_transport_url}, conductor=conductor
        )
        self.api_conf = conf_factory(
            DEFAULT={"transport_url": api_transport_url},
            conductor={"topic": topic},
            api={"broker_timeout": BROKER_TIMEOUT},
        )
        self.conductor_transport = rpc.transport(self.conductor_conf)
        self.api_transport = (
            self.conductor_transport
            if api_transport_url == conductor_transport_url
            else rpc.transport(self.api_conf)
        )
        self.db = api_db
        self.conductor = service.Conductor(
            self.conductor_conf, conductor_db, transport=self.conductor_transport
        )
        self.conductor.start()
        app = api_app.build(self.api_conf, api_db, self.api_transport)
        self.client = falcon.testing.TestClient(app)

    def request(self, method: str, path: str, body: Any = None) -> falcon.testing.Result:
        headers = {"X-Project-Id": "p1", "X-User-Id": "u1"}
        return self.client.simulate_request(method, path, json=body, headers=headers)

    def bay(self, name: str) -> str:
        model = self.request("POST", "/v1/baymodels", BAYMODEL | {"name": f"m-{name}"})
        assert model.status_code == 201, model.text
        res = self.request("POST", "/v1/bays", {"name": name, "baymodel_id": model.json["uuid"]})
        assert res.status_code == 201, res.text
        return str(res.json["uuid"])

    def status(self, ident: str) -> str | None:
        res = self.request("GET", f"/v1/bays/{ident}")
        assert res.status_code in (200, 404), res.text
        return str(res.json["status"]) if res.status_code == 200 else None

    def wait_status(self, ident: str, status: str | None, timeout: float = 20.0) -> None:
        _api.poll(lambda: self.status(ident), lambda s: s == status, timeout=timeout)

    def close(self) -> None:
        self.conductor.stop()
        self.api_transport.cleanup()
        if self.conductor_transport is not self.api_transport:
            self.conductor_transport.cleanup()


@pytest.fixture
def deployments() -> Iterator[list[Deployment]]:
    made: list[Deployment] = []
    yield made
    for deployment in made:
        deployment.close()


def unavailable(res: falcon.testing.Result, *fragments: str) -> None:
    """A 503 in Magnum's error shape, with Retry-After and `fragments` in its detail."""
    _api.error(res, 503, contains=fragments, code="server")
    assert int(res.headers["retry-after"]) > 0, res.headers


# --- the broker ------------------------------------------------------------------------
@pytest.mark.rabbit
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_broker_outage_never_holds_a_request(
    db: engine.Database, conf_factory: Callable[..., Any], deployments: list[Deployment]
) -> None:
    proxy = Proxy(rabbit_target())
    try:
        d = Deployment(
            conf_factory,
            api_db=db,
            conductor_db=db,
            api_transport_url=rabbit_via(proxy),
            conductor_transport_url=RABBIT,
        )
        deployments.append(d)
        ready, doomed = d.bay("ready"), d.bay("doomed")
        d.wait_status(ready, "CREATE_COMPLETE")
        d.wait_status(doomed, "CREATE_COMPLETE")
        res = d.request("POST", "/v1/containers", {"image": IMAGE, "bay_uuid": ready})
        assert res.status_code == 201, res.text
        container = f"/v1/containers/{res.json['uuid']}"
        assert d.request("PUT", f"{container}/start").status_code == 200

        proxy.cut()
        # Casts: answered at once, the bays' operations run all the same (the scan).
        res, _ = timed(
            "POST /v1/bays",
            lambda: d.request("POST", "/v1/bays", {"name": "new", "baymodel_id": "m-ready"}),
            QUICK,
        )
        assert res.status_code == 201, res.text
        new = res.json["uuid"]
        res, _ = timed("DELETE", lambda: d.request("DELETE", f"/v1/bays/{doomed}"), QUICK)
        assert res.status_code == 204, res.text
        assert d.request("GET", f"/v1/bays/{new}").status_code == 200
        # Calls: 503 within the bound, every one of them.
        calls = {
            "logs": ("GET", f"{container}/logs"),
            "stop": ("PUT", f"{container}/stop"),
            "execute": ("PUT", f"{container}/execute?command=echo+hi"),
            "show": ("GET", container),
            "delete": ("DELETE", container),
        }
        for what, (method, path) in calls.items():
            res, _ = timed(what, functools.partial(d.request, method, path), CALL_BOUND)
            unavailable(res, "The conductors cannot be reached")
        res, _ = timed(
            "create",
            lambda: d.request("POST", "/v1/containers", {"image": IMAGE, "bay_uuid": ready}),
            CALL_BOUND,
        )
        unavailable(res, "message broker")
        d.wait_status(new, "CREATE_COMPLETE")
        d.wait_status(doomed, None)

        proxy.restore()
        res = _api.poll(
            lambda: d.request("GET", f"{container}/logs"),
            lambda r: r.status_code != 503,
            timeout=30,
        )
        assert res.status_code == 200, res.text
        assert res.json == {"output": "run 1 of the image\n", "truncated": False}
    finally:
        proxy.close()


@pytest.mark.rabbit
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_broker_that_never_answers(
    db: engine.Database, conf_factory: Callable[..., Any], deployments: list[Deployment]
) -> None:
    """An unreachable broker host (connections accepted, nothing answers) costs a call
    [api] broker_timeout, and a cast nothing."""
    proxy = Proxy(rabbit_target())
    try:
        d = Deployment(
            conf_factory,
            api_db=db,
            conductor_db=db,
            api_transport_url=rabbit_via(proxy),
            conductor_transport_url=RABBIT,
        )
        deployments.append(d)
        ready = d.bay("ready")
        d.wait_status(ready, "CREATE_COMPLETE")
        res = d.request("POST", "/v1/containers", {"image": IMAGE, "bay_uuid": ready})
        assert res.status_code == 201, res.text
        container = f"/v1/containers/{res.json['uuid']}"

        proxy.hang()
        time.sleep(rpc.RECHECK)  # the last "reachable" verdict has expired
        res, took = timed("logs", lambda: d.request("GET", f"{container}/logs"), CALL_BOUND)
        unavailable(res, "message broker is not answering")
        assert took >= BROKER_TIMEOUT * 0.9, took  # it did wait for the probe
        res, took = timed(
            "POST /v1/bays",
            lambda: d.request("POST", "/v1/bays", {"name": "new", "baymodel_id": "m-ready"}),
            QUICK,
        )
        assert res.status_code == 201, res.text
        d.wait_status(res.json["uuid"], "CREATE_COMPLETE")
        proxy.restore()
        res = _api.poll(
            lambda: d.request("GET", f"{container}/logs"),
            lambda r: r.status_code != 503,
            timeout=30,
        )
        assert res.status_code == 200, res.text
    finally:
        proxy.close()


class _Slow:
    target = messaging.Target(version="1.0")

    def __init__(self) -> None:
        self.entered = threading.Event()

    def slow(self, ctxt: dict[str, Any], seconds: float) -> str:
        self.entered.set()
        time.sleep(seconds)
        return "done"

    def ping(self, ctxt: dict[str, Any]) -> bool:
        return True


@pytest.mark.rabbit
def test_a_waiting_call_ends_when_the_broker_goes_away() -> None:
    """The broker dies while a call waits for its answer: 503 within RECHECK seconds, not
    at the call's timeout."""
    proxy = Proxy(rabbit_target())
    topic = f"outage-{uuid.uuid4().hex[:8]}"
    overrides: dict[str, dict[str, Any]] = {"conductor": {"topic": topic}}
    server_conf = magnum_conf.load(
        [], config_files=[], overrides=overrides | {"DEFAULT": {"transport_url": RABBIT}}
    )
    client_conf = magnum_conf.load(
        [],
        config_files=[],
        overrides=overrides
        | {"DEFAULT": {"transport_url": rabbit_via(proxy)}, "api": {"broker_timeout": 0.5}},
    )
    server_transport = rpc.transport(server_conf)
    client_transport = rpc.transport(client_conf)
    endpoint = _Slow()
    server = messaging.get_rpc_server(
        server_transport, rpc.target(server_conf, server="s1"), [endpoint]
    )
    server.start()
    broker = rpc.Broker(client_conf, timeout=0.5, slots=4)
    client = messaging.get_rpc_client(client_transport, rpc.target(client_conf), retry=1)
    try:
        assert broker.call("ping", lambda: client.prepare(timeout=10).call({}, "ping"), timeout=10)
        cut = threading.Timer(0.5, proxy.cut)
        cut.start()
        start = time.monotonic()
        with pytest.raises(rpc.ConductorUnreachable) as gone:
            broker.call(
                "slow", lambda: client.prepare(timeout=30).call({}, "slow", seconds=5), timeout=30
            )
        took = time.monotonic() - start
        assert endpoint.entered.is_set()
        assert 0.5 <= took <= 0.5 + rpc.RECHECK + 1.0, took
        assert gone.value.status == 503 and gone.value.retry_after > 0
        assert "message broker is not answering" in gone.value.message
    finally:
        proxy.close()
        server.stop()
        server.wait()
        client_transport.cleanup()
        server_transport.cleanup()


@pytest.mark.rabbit
def test_a_call_no_conductor_takes_answers_503(monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after a broker restart the conductors' queues are gone until they reconnect:
    a call is refused at once (mandatory publish) instead of vanishing for its whole
    timeout. A queue that holds the call but no conductor that works on it (the call or
    its answer lost) is given up after the call monitor, not the call's timeout."""
    monkeypatch.setattr(rpc, "CALL_MONITOR", 2.0)
    topic = f"nobody-{uuid.uuid4().hex[:8]}"
    conf = magnum_conf.load(
        [],
        config_files=[],
        overrides={"DEFAULT": {"transport_url": RABBIT}, "conductor": {"topic": topic}},
    )
    transport = rpc.transport(conf)
    ctx = context.RequestContext(project_id="p1", user_id="u1")
    try:
        api = rpcapi.ConductorAPI(conf, transport)
        with pytest.raises(rpc.ConductorUnreachable, match="no conductor is listening"):
            timed("stop", lambda: api.container_action(ctx, uuid="c1", action="stop"), 2.0)
        # A queue for the topic, and nobody consuming it.
        server = messaging.get_rpc_server(transport, rpc.target(conf, server="s1"), [_Slow()])
        server.start()
        server.stop()
        server.wait()
        start = time.monotonic()
        with pytest.raises(rpc.ConductorUnreachable, match="no conductor acknowledged"):
            timed("stop", lambda: api.container_action(ctx, uuid="c1", action="stop"), 10.0)
        assert time.monotonic() - start < 2.0 + rpc.RECHECK + 1.0
    finally:
        transport.cleanup()


@pytest.mark.rabbit
def test_a_long_call_lives_on_the_conductors_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    """The call monitor never cuts a call a conductor is working on."""
    monkeypatch.setattr(rpc, "CALL_MONITOR", 2.0)
    conf = magnum_conf.load(
        [],
        config_files=[],
        overrides={
            "DEFAULT": {"transport_url": RABBIT},
            "conductor": {"topic": f"slow-{uuid.uuid4().hex[:8]}"},
        },
    )
    transport = rpc.transport(conf)
    server = messaging.get_rpc_server(transport, rpc.target(conf, server="s1"), [_Slow()])
    server.start()
    try:
        broker = rpc.Broker(conf, timeout=0.5, slots=2)
        client = messaging.get_rpc_client(transport, rpc.target(conf))
        slow = client.prepare(**rpc.call_options(30))
        answer = broker.call("slow", lambda: slow.call({}, "slow", seconds=5), timeout=30)
        assert answer == "done"
    finally:
        server.stop()
        server.wait()
        transport.cleanup()


def test_notifications_never_wait_for_the_sender(caplog: pytest.LogCaptureFixture) -> None:
    """A cast whose send blocks (oslo.messaging reconnecting forever) holds no request, and
    the queue behind it is bounded: beyond it, notifications are left to the scan."""
    conf = magnum_conf.load(
        [], config_files=[], overrides={"DEFAULT": {"transport_url": "inproc://"}}
    )
    broker = rpc.Broker(conf, timeout=0.5, slots=2)
    release, sent = threading.Event(), list[int]()

    def stuck() -> None:
        release.wait()

    try:
        start = time.monotonic()
        broker.cast("first", stuck)
        for i in range(rpc.CAST_QUEUE + 5):
            broker.cast(f"n{i}", functools.partial(sent.append, i))
        assert time.monotonic() - start < 0.5
        assert any("left for the conductors' scan" in r.getMessage() for r in caplog.records)
    finally:
        release.set()
    _api.poll(lambda: len(sent), lambda n: n >= rpc.CAST_QUEUE - 1, timeout=10)
    assert sent == sorted(sent)  # in order


def test_calls_in_flight_are_bounded() -> None:
    """Calls stuck inside oslo.messaging occupy `slots` threads at most: the next one is
    refused at once instead of piling up threads."""
    conf = magnum_conf.load(
        [], config_files=[], overrides={"DEFAULT": {"transport_url": "inproc://"}}
    )
    broker = rpc.Broker(conf, timeout=0.5, slots=2)
    release = threading.Event()
    waiting = [
        threading.Thread(target=lambda: broker.call("stuck", release.wait, timeout=5), daemon=True)
        for _ in range(2)
    ]
    for thread in waiting:
        thread.start()
    try:
        _api.poll(lambda: broker._slots._value, lambda v: v == 0)
        start = time.monotonic()
        with pytest.raises(rpc.ConductorUnreachable, match="too many calls"):
            broker.call("one more", lambda: True, timeout=5)
        assert time.monotonic() - start < 0.1
    finally:
        release.set()
    for thread in waiting:
        thread.join(5)
    assert broker.call("after", lambda: 42, timeout=5) == 42


def test_conductor_api_calls_answer_503_when_the_broker_is_down() -> None:
    """Nothing listens where the broker should be (stopped before the API started): a call
    is refused at once, a cast returns at once."""
    conf = magnum_conf.load(
        [],
        config_files=[],
        overrides={"DEFAULT": {"transport_url": f"rabbit://guest:guest@127.0.0.1:{_free_port()}/"}},
    )
    transport = rpc.transport(conf)
    try:
        api = rpcapi.ConductorAPI(conf, transport)
        ctx = context.RequestContext(project_id="p1", user_id="u1")
        timed("cast", lambda: api.cluster_operation(ctx, cluster_uuid="b1"), 0.2)
        with pytest.raises(rpc.ConductorUnreachable):
            timed("ping", lambda: api.ping(ctx), CALL_BOUND)
        with pytest.raises(rpc.ConductorUnreachable):
            timed("stop", lambda: api.container_action(ctx, uuid="c1", action="stop"), CALL_BOUND)
    finally:
        transport.cleanup()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the database ----------------------------------------------------------------------
def _proxied(db_url: str) -> tuple[Proxy, str]:
    url = sa.make_url(db_url)
    default_port = 5432 if url.get_backend_name() == "postgresql" else 3306
    proxy = Proxy((url.host or "127.0.0.1", url.port or default_port))
    return proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


@pytest.fixture(params=["driver", OTHER_MYSQL_DRIVER])
def server_db_url(db_url: str, request: pytest.FixtureRequest) -> str:
    """The database's URL; on MariaDB once through each driver."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite has no server to lose")
    if request.param == "driver":
        return db_url
    url = sa.make_url(db_url)
    if url.get_backend_name() != "mysql":
        pytest.skip("one driver is tested on PostgreSQL")
    return url.set(drivername=f"mysql+{request.param}").render_as_string(hide_password=False)


def test_database_outage_answers_503_and_recovers(
    server_db_url: str,
    db: engine.Database,
    conf_factory: Callable[..., Any],
    deployments: list[Deployment],
) -> None:
    proxy, url = _proxied(server_db_url)
    api_db = engine.Database(url, pool_size=2, max_overflow=2, connect_timeout=2)
    try:
        d = Deployment(
            conf_factory,
            api_db=api_db,
            conductor_db=db,
            api_transport_url="inproc://",
            conductor_transport_url="inproc://",
        )
        deployments.append(d)
        bay = d.bay("before")
        d.wait_status(bay, "CREATE_COMPLETE")

        proxy.cut()
        requests = [
            ("GET", "/v1/bays", None),
            ("GET", f"/v1/bays/{bay}", None),
            ("GET", "/v1/baymodels", None),
            ("POST", "/v1/bays", {"name": "during", "baymodel_id": "m-before"}),
            ("PATCH", f"/v1/bays/{bay}", [{"op": "replace", "path": "/node_count", "value": 2}]),
            ("DELETE", f"/v1/bays/{bay}", None),
            ("GET", "/v1/mservices", None),
        ]
        for method, path, body in requests:
            res, _ = timed(method + path, functools.partial(d.request, method, path, body), 5)
            unavailable(res, "The database is unavailable")
            assert res.headers["retry-after"] == str(engine.DatabaseUnavailable.retry_after)

        proxy.restore()  # the same engine, no restart: its pool replaces what died
        res = d.request("GET", "/v1/bays")
        assert res.status_code == 200, res.text
        assert [b["uuid"] for b in res.json["bays"]] == [bay]
        assert d.request("DELETE", f"/v1/bays/{bay}").status_code == 204
        d.wait_status(bay, None)
    finally:
        proxy.close()
        api_db.dispose()


def test_database_that_never_answers_costs_the_connect_timeout(
    server_db_url: str, db: engine.Database
) -> None:
    """A database host that accepts connections and never answers (unreachable) costs a
    request the connect timeout, not forever."""
    proxy, url = _proxied(server_db_url)
    api_db = engine.Database(url, pool_size=1, max_overflow=0, connect_timeout=2)
    try:
        with api_db.session() as session:
            session.execute(sa.text("SELECT 1"))
        proxy.hang()  # the pooled connection is reset; a new one never gets an answer

        def select() -> None:
            with api_db.session() as session:
                session.execute(sa.text("SELECT 1"))

        with pytest.raises(engine.DatabaseUnavailable) as exc:
            timed("SELECT", select, 2 + 4)
        assert isinstance(exc.value.__cause__, sa.exc.OperationalError)
        proxy.restore()
        select()
    finally:
        proxy.close()
        api_db.dispose()


def test_statements_may_outlast_the_connect_timeout(server_db_url: str) -> None:
    """The connect timeout bounds connecting only: a statement (a lock wait) takes its time."""
    database = engine.Database(server_db_url, pool_size=1, max_overflow=0, connect_timeout=2)
    sleep = "SELECT pg_sleep(2.5)" if database.dialect == "postgresql" else "SELECT SLEEP(2.5)"
    try:
        with database.session() as session:
            session.execute(sa.text(sleep))
    finally:
        database.dispose()


def test_a_conductor_without_its_database_answers_503(
    server_db_url: str,
    db: engine.Database,
    conf_factory: Callable[..., Any],
    deployments: list[Deployment],
) -> None:
    """DatabaseUnavailable raised in a conductor crosses the call as itself: the API answers
    503 naming the database, not 500."""
    proxy, url = _proxied(server_db_url)
    conductor_db = engine.Database(url, pool_size=4, max_overflow=4, connect_timeout=2)
    try:
        d = Deployment(
            conf_factory,
            api_db=db,
            conductor_db=conductor_db,
            api_transport_url="inproc://",
            conductor_transport_url="inproc://",
        )
        deployments.append(d)
        bay = d.bay("b")
        d.wait_status(bay, "CREATE_COMPLETE")
        res = d.request("POST", "/v1/containers", {"image": IMAGE, "bay_uuid": bay})
        assert res.status_code == 201, res.text
        proxy.cut()
        res, _ = timed(
            "logs", lambda: d.request("GET", f"/v1/containers/{res.json['uuid']}/logs"), 10
        )
        unavailable(res, "The database is unavailable")
        proxy.restore()
    finally:
        proxy.close()
        conductor_db.dispose()


# --- the mapping itself ----------------------------------------------------------------
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_driver_errors_map_to_database_unavailable(db: engine.Database) -> None:
    def raising(error: Exception) -> None:
        with db.session():
            raise error

    orig = Exception("connection refused")
    cases = [
        (sa.exc.TimeoutError("QueuePool limit reached"), "no connection to it became free in time"),
        (sa.exc.DisconnectionError("gone"), "the connection to it was lost"),
        (
            sa.exc.OperationalError("SELECT 1", {}, orig, connection_invalidated=True),
            "the connection to it was lost",
        ),
        (sa.exc.OperationalError("SELECT 1", {}, orig), "it does not accept the request"),
        (sa.exc.InterfaceError("SELECT 1", {}, orig), "it does not accept the request"),
    ]
    for error, reason in cases:
        with pytest.raises(engine.DatabaseUnavailable) as caught:
            raising(error)
        assert caught.value.status == 503
        assert caught.value.message == f"The database is unavailable: {reason}. Try again later."
        assert caught.value.__cause__ is error
        assert "refused" not in caught.value.message  # the driver's words stay in the log
    with pytest.raises(sa.exc.IntegrityError):  # not an outage: left to whoever handles it
        raising(sa.exc.IntegrityError("INSERT", {}, orig))
    with pytest.raises(exceptions.ClusterNotFound):
        raising(exceptions.ClusterNotFound(cluster="x"))


def test_an_unusable_sqlite_file_is_503(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "db.sqlite").mkdir()  # a directory where the file should be
    database = engine.Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        with (
            caplog.at_level(logging.WARNING),
            pytest.raises(engine.DatabaseUnavailable),
            database.session() as session,
        ):
            session.execute(sa.text("SELECT 1"))
        assert any("unable to open database file" in r.getMessage() for r in caplog.records)
    finally:
        database.dispose()
