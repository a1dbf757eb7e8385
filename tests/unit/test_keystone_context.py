# SPDX-License-Identifier: Apache-2.0
"""magnum.api.middleware.KeystoneContext alone (no Keystone): the context from what
auth_token set, and no trust in headers auth_token did not vouch for. The whole path, with
a real Keystone, is tests/functional/keystone."""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any

import falcon
import falcon.testing
import pytest

from magnum import conf as magnum_conf
from magnum.api import errors, middleware
from magnum.api.v1 import common

VALIDATED = {
    "X-Identity-Status": "Confirmed",
    "X-Project-Id": "p-alpha",
    "X-User-Id": "u-1",
    "X-User-Name": "alpha-member",
    "X-Project-Domain-Id": "default",
    "X-User-Domain-Id": "default",
    "X-Roles": "member,reader",
    "X-Auth-Token": "tok",
}


class Echo:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx = common.ctx(req)
        resp.media = ctx.to_dict() | {"has_token": ctx.auth_token is not None}


def _client(environ: dict[str, Any] | None = None) -> falcon.testing.TestClient:
    pipeline: list[Any] = [
        middleware.RequestId(),
        middleware.Paths(),
        middleware.KeystoneContext(lambda ctx: "admin" in ctx.roles),
    ]
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App(middleware=pipeline)
    errors.install(app)
    app.add_route("/v1/echo", Echo())
    app.add_route("/v1", Echo())
    extra = environ or {}

    def wsgi(env: dict[str, Any], start_response: Any) -> Any:
        env.update(extra)
        return app(env, start_response)

    return falcon.testing.TestClient(wsgi)


def test_the_context_is_what_auth_token_validated() -> None:
    client = _client({middleware.KEYSTONE_VALIDATED: object()})
    body = client.simulate_get("/v1/echo", headers=VALIDATED).json
    assert (body["project_id"], body["user_id"], body["roles"]) == (
        "p-alpha",
        "u-1",
        ["member", "reader"],
    )
    assert (body["user_domain_id"], body["project_domain_id"], body["is_admin"]) == (
        "default",
        "default",
        False,
    )
    assert body["has_token"] and body["system_scope"] is None
    admin = client.simulate_get("/v1/echo", headers=VALIDATED | {"X-Roles": "admin,member,reader"})
    assert admin.json["is_admin"] is True
    system = client.simulate_get(
        "/v1/echo",
        headers={k: v for k, v in VALIDATED.items() if k != "X-Project-Id"}
        | {"X-System-Scope": "all"},
    )
    assert (system.json["project_id"], system.json["system_scope"]) == ("", "all")


def test_headers_alone_are_not_trusted() -> None:
    """Without auth_token's mark in the environ, Confirmed headers are a caller's: 401."""
    res = _client().simulate_get("/v1/echo", headers=VALIDATED)
    assert res.status_code == 401
    assert json.loads(res.text)["errors"][0]["status"] == 401


@pytest.mark.parametrize(
    ("failure", "status"),
    [(None, 401), ("unauthenticated", 401), (middleware.KEYSTONE_UNAVAILABLE, 503)],
)
def test_a_refused_request_is_answered_but_public_paths_are_read(
    failure: str | None, status: int
) -> None:
    client = _client({} if failure is None else {middleware.KEYSTONE_FAILURE: failure})
    res = client.simulate_get("/v1/echo")
    assert res.status_code == status, res.text
    assert (res.headers.get("retry-after") is not None) == (status == 503)
    public = client.simulate_get("/v1")
    assert public.status_code == 200
    assert (public.json["project_id"], public.json["roles"]) == ("", [])


def test_noauth_says_so_on_start_up(caplog: pytest.LogCaptureFixture) -> None:
    conf = magnum_conf.load([], config_files=[])
    with caplog.at_level(logging.WARNING, logger="magnum.api.middleware"):
        middleware.pipeline(conf, own_bodies=(), is_admin=lambda ctx: False)
    assert any("auth_strategy = noauth" in r.getMessage() for r in caplog.records)


def test_a_config_file_with_keystone_sets_keystone_authtoken(tmp_path: pathlib.Path) -> None:
    """magnum-api reads [keystone_authtoken] from its file when auth_strategy = keystone;
    under noauth the group is not even registered (keystonemiddleware is not imported)."""
    path = tmp_path / "magnum.conf"
    path.write_text(
        "[api]\nauth_strategy = keystone\n"
        "[keystone_authtoken]\nauth_type = password\nusername = magnum\ntoken_cache_time = 7\n"
    )
    conf = magnum_conf.load([], config_files=[str(path)])
    assert conf.keystone_authtoken.username == "magnum"
    assert conf.keystone_authtoken.token_cache_time == 7
    noauth = magnum_conf.load([], config_files=[])
    assert magnum_conf.KEYSTONE_GROUP not in noauth
