# SPDX-License-Identifier: Apache-2.0
"""An in-process magnum (API + conductor over the inproc:// transport) on each real database."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import falcon.testing
import futurist._thread
import pytest

from magnum.api import app as api_app
from magnum.common import rpc
from magnum.conductor import service
from magnum.db import engine

# oslo.messaging's executor threads (futurist) notice a shutdown only when an idle wait of
# MAX_IDLE_FOR seconds ends; every test stops its conductor, so let them notice sooner.
futurist._thread.ThreadWorker.MAX_IDLE_FOR = 0.05  # type: ignore[assignment]  # int in futurist


@dataclasses.dataclass
class Service:
    client: falcon.testing.TestClient
    db: engine.Database
    conductor: service.Conductor
    conf: Any

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        project: str = "p1",
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> falcon.testing.Result:
        hdrs = {"X-Project-Id": project, "X-User-Id": f"{project}-user"} | (headers or {})
        return self.client.simulate_request(method, path, json=json, headers=hdrs, **kw)

    def get(self, path: str, **kw: Any) -> falcon.testing.Result:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> falcon.testing.Result:
        return self.request("POST", path, json=body, **kw)

    def patch(self, path: str, ops: Any, **kw: Any) -> falcon.testing.Result:
        return self.request("PATCH", path, json=ops, **kw)

    def delete(self, path: str, **kw: Any) -> falcon.testing.Result:
        return self.request("DELETE", path, **kw)

    def wait_cluster(
        self,
        ident: str,
        until: Callable[[dict[str, Any] | None], bool],
        *,
        project: str = "p1",
        timeout: float = 20.0,
    ) -> dict[str, Any] | None:
        """Poll GET /v1/bays/<ident> until `until(body)` holds (body None once it is gone)."""
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while True:
            res = self.get(f"/v1/bays/{ident}", project=project)
            body = res.json if res.status_code == 200 else None
            if until(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"bay {ident} never got there; last: {body}")
            pause.wait(0.05)


@pytest.fixture
def service_factory(
    db: engine.Database, conf_factory: Callable[..., Any]
) -> Iterator[Callable[..., Service]]:
    started: list[tuple[service.Conductor, Any]] = []

    def make(**groups: dict[str, Any]) -> Service:
        conf = conf_factory(**groups)
        transport = rpc.transport(conf)
        conductor = service.Conductor(conf, db, transport=transport)
        conductor.start()
        started.append((conductor, transport))
        app = api_app.build(conf, db, transport)
        return Service(falcon.testing.TestClient(app), db, conductor, conf)

    yield make
    for conductor, transport in started:
        conductor.stop()
        transport.cleanup()


@pytest.fixture
def svc(service_factory: Callable[..., Service]) -> Service:
    return service_factory()


BAYMODEL = {
    "name": "m1",
    "image_id": "fedora-atomic",
    "keypair_id": "kp",
    "coe": "swarm",
    "external_network_id": "public",
}


@pytest.fixture
def cluster_template(svc: Service) -> dict[str, Any]:
    res = svc.post("/v1/baymodels", BAYMODEL)
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json
    return body
