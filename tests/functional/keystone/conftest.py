# SPDX-License-Identifier: Apache-2.0
"""A real Keystone (magnum.cli.devkeystone), started once per test session (per xdist
worker), and in-process magnum services validating its tokens with keystonemiddleware.

Without .venv-keystone these tests are skipped, saying why; with MAGNUM_REQUIRE_KEYSTONE=1
(scripts/test, CI: scripts/setup makes the venv) they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from magnum.cli import devkeystone
from tests.functional.conftest import Service

# auth_token's token cache in these services: a revoked token keeps working at most this
# long in a service that validated it before (tests/functional/keystone/test_auth.py).
TOKEN_CACHE_TIME = 2


@pytest.fixture(scope="session")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devkeystone.Keystone]:
    venv = devkeystone.default_venv()
    if why := devkeystone.missing(venv):
        if os.environ.get("MAGNUM_REQUIRE_KEYSTONE") == "1":
            pytest.fail(f"no Keystone to test against: {why}")
        pytest.skip(f"no Keystone to test against: {why}")
    server = devkeystone.Keystone(tmp_path_factory.mktemp("keystone") / "state", venv=venv)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tokens(keystone: devkeystone.Keystone) -> dict[tuple[str, str], str]:
    """(project, role) -> a token of that persona user, scoped to its project."""
    return {
        (project, role): devkeystone.password_token(
            keystone.url, devkeystone.persona(project, role), project=project
        )
        for project in devkeystone.PROJECTS
        for role in devkeystone.PERSONAS
    }


def keystone_groups(keystone: devkeystone.Keystone, **authtoken: Any) -> dict[str, Any]:
    return {
        "api": {"auth_strategy": "keystone"},
        "keystone_authtoken": keystone.authtoken_options(token_cache_time=TOKEN_CACHE_TIME)
        | authtoken,
    }


@pytest.fixture
def ks_svc(keystone: devkeystone.Keystone, service_factory: Callable[..., Service]) -> Service:
    """An in-process API + conductor under auth_strategy = keystone."""
    return service_factory(**keystone_groups(keystone))


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"X-Auth-Token": token} | headers
