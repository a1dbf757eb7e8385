# SPDX-License-Identifier: Apache-2.0
"""auth_strategy = keystone against a real Keystone: who gets in and what the refusals
look like. No token, garbage, a revoked token: 401 in Magnum's error shape with
`WWW-Authenticate: Keystone uri=<the identity endpoint>`; Keystone unreachable: 503 with
Retry-After, never 500, never served. The identity headers a caller sends are ignored."""

from __future__ import annotations

import pathlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from magnum.cli import devkeystone
from tests.functional import _api
from tests.functional.conftest import BAYMODEL, Service
from tests.functional.keystone.conftest import TOKEN_CACHE_TIME, auth, keystone_groups

# What auth does is the same on every database: SQLite (the tenant matrix runs on all three).
pytestmark = [pytest.mark.keystone, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


def _unauthenticated(res: object, keystone: devkeystone.Keystone) -> None:
    _api.error(res, 401, contains=("Authentication required",))  # type: ignore[arg-type]
    assert res.headers["www-authenticate"] == f'Keystone uri="{keystone.url}"'  # type: ignore[attr-defined]


def test_a_valid_token_gets_in_as_its_project(
    ks_svc: Service, keystone: devkeystone.Keystone, tokens: dict[tuple[str, str], str]
) -> None:
    res = ks_svc.post("/v1/baymodels", BAYMODEL, headers=auth(tokens["alpha", "member"]))
    assert res.status_code == 201, res.text
    model = res.json["uuid"]
    assert (
        ks_svc.get(f"/v1/baymodels/{model}", headers=auth(tokens["alpha", "reader"])).status_code
        == 200
    )
    # The project a caller names in X-Project-Id is not the one it gets: auth_token strips
    # every identity header, then sets the token's.
    spoofed = auth(
        tokens["beta", "member"],
        **{
            "X-Project-Id": keystone.projects["alpha"],
            "X-Roles": "admin",
            "X-Identity-Status": "Confirmed",
        },
    )
    _api.error(ks_svc.get(f"/v1/baymodels/{model}", headers=spoofed), 404)
    assert ks_svc.get("/v1/baymodels", headers=spoofed).json["baymodels"] == []
    _api.error(ks_svc.get("/v1/mservices", headers=spoofed), 403)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Auth-Token": "garbage"}, {"X-Auth-Token": "gAAAAAB" + "x" * 180}],
    ids=["none", "garbage", "fernet-shaped-garbage"],
)
def test_no_or_a_bad_token_is_401(
    ks_svc: Service, keystone: devkeystone.Keystone, headers: dict[str, str]
) -> None:
    for method, path in (("GET", "/v1/bays"), ("POST", "/v1/baymodels"), ("GET", "/v1/mservices")):
        res = ks_svc.request(method, path, json=BAYMODEL, headers=headers)
        _unauthenticated(res, keystone)
        assert res.headers["x-openstack-request-id"].startswith("req-")
    # the version documents stay public
    assert ks_svc.get("/", headers=headers).status_code == 200
    assert ks_svc.get("/v1", headers=headers).status_code == 200


def test_a_revoked_token_is_401_within_the_cache_time(
    ks_svc: Service, keystone: devkeystone.Keystone
) -> None:
    """auth_token caches a validation for token_cache_time (TOKEN_CACHE_TIME = 2 s here,
    300 s by default): a revoked token this service has seen works at most that long; one
    it has not seen is refused at once."""
    seen = devkeystone.password_token(keystone.url, "alpha-member", project="alpha")
    unseen = devkeystone.password_token(keystone.url, "alpha-member", project="alpha")
    assert ks_svc.get("/v1/bays", headers=auth(seen)).status_code == 200
    devkeystone.revoke(keystone.url, seen)
    devkeystone.revoke(keystone.url, unseen)
    _unauthenticated(ks_svc.get("/v1/bays", headers=auth(unseen)), keystone)
    revoked_at = time.monotonic()
    pause = threading.Event()
    while (res := ks_svc.get("/v1/bays", headers=auth(seen))).status_code == 200:
        assert time.monotonic() - revoked_at < TOKEN_CACHE_TIME + 2, "revocation never held"
        pause.wait(0.1)
    _unauthenticated(res, keystone)


def _dead_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v3"


def test_keystone_unreachable_is_503_never_served(
    keystone: devkeystone.Keystone,
    tokens: dict[tuple[str, str], str],
    service_factory: Callable[..., Service],
) -> None:
    dead = _dead_url()
    svc = service_factory(
        **keystone_groups(
            keystone, auth_url=dead, www_authenticate_uri=dead, http_request_max_retries=0
        )
    )
    for headers in (auth(tokens["alpha", "admin"]), auth("garbage")):
        res = svc.get("/v1/bays", headers=headers)
        _api.error(res, 503, contains=("Keystone",), code="server")
        assert res.headers["retry-after"] == "5"
    # a request without a token needs no Keystone to be refused
    res = svc.get("/v1/bays")
    assert res.status_code == 401, res.text


TOKEN_LIFE = 3  # seconds: the tokens of the short-lived Keystone below


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devkeystone.Keystone]:
    """A second Keystone issuing tokens valid TOKEN_LIFE seconds; the session's validates
    them (the same keys and rows: devkeystone.Keystone)."""
    state = tmp_path_factory.mktemp("keystone-short") / "state"
    server = devkeystone.Keystone(state, token_expiration=TOKEN_LIFE)
    server.start()
    yield server
    server.stop()


def test_an_expired_token_is_401(
    ks_svc: Service, keystone: devkeystone.Keystone, short_lived: devkeystone.Keystone
) -> None:
    """auth_token checks a token's expiry on every request, a cached validation too."""
    token = devkeystone.password_token(short_lived.url, "alpha-member", project="alpha")
    issued = time.monotonic()
    assert ks_svc.get("/v1/bays", headers=auth(token)).status_code == 200
    pause = threading.Event()
    while (res := ks_svc.get("/v1/bays", headers=auth(token))).status_code == 200:
        assert time.monotonic() - issued < TOKEN_LIFE + 2, "the token never expired"
        pause.wait(0.1)
    _unauthenticated(res, keystone)


def test_keystone_gone_is_503(
    keystone: devkeystone.Keystone,
    tokens: dict[tuple[str, str], str],
    service_factory: Callable[..., Service],
    tmp_path: pathlib.Path,
) -> None:
    """A Keystone that worked goes away: a token the service has not validated yet gets
    503 with Retry-After (never served, never 500)."""
    own = devkeystone.Keystone(tmp_path / "keystone")
    own.start()
    try:
        svc = service_factory(
            **keystone_groups(own, http_request_max_retries=0, http_connect_timeout=2)
        )
        assert svc.get("/v1/bays", headers=auth(tokens["alpha", "member"])).status_code == 200
        own.stop()
        res = svc.get("/v1/bays", headers=auth(tokens["alpha", "reader"]))
        _api.error(res, 503, contains=("Keystone",), code="server")
        assert int(res.headers["retry-after"]) > 0
    finally:
        own.stop()


@pytest.mark.parametrize("catalog", [None, True], ids=["default", "asked-for"])
def test_validation_leaves_the_catalog_out_unless_asked(
    keystone: devkeystone.Keystone,
    tokens: dict[tuple[str, str], str],
    catalog: bool | None,
    db_url: str,
) -> None:
    """By default auth_token validates without the service catalog (Magnum calls no other
    service for a caller), so no X-Service-Catalog reaches the application; an operator who
    sets include_service_catalog = true gets it back."""
    del db_url  # the module's parametrization: auth_token alone, no database
    from magnum import conf as magnum_conf  # noqa: PLC0415
    from magnum.api import keystone as api_keystone  # noqa: PLC0415

    extra = {} if catalog is None else {"include_service_catalog": catalog}
    conf = magnum_conf.load([], config_files=[], overrides=keystone_groups(keystone, **extra))
    seen: list[dict[str, object]] = []

    def app(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        seen.append(dict(environ))
        start_response("204 No Content", [])
        return []

    wrapped = api_keystone.wrap(app, conf)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/v1/bays",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "9511",
        "wsgi.url_scheme": "http",
        "HTTP_X_AUTH_TOKEN": tokens["alpha", "member"],
    }
    list(wrapped(environ, lambda status, headers, exc_info=None: None))
    (got,) = seen
    assert got["HTTP_X_PROJECT_ID"] == keystone.projects["alpha"]
    assert ("HTTP_X_SERVICE_CATALOG" in got) is bool(catalog), sorted(got)
