# SPDX-License-Identifier: Apache-2.0
"""The real clients log in to a real Keystone with a password and find Magnum in its
catalog (service type container-infra, registered by devkeystone.register_magnum): the
`magnum` CLI of python-magnumclient 2.1.0 (Mitaka, .venv-client; it looks for the type
`container` unless told --service-type), the `magnum` CLI of 4.11.0 and `openstack coe` of
python-openstackclient 10.5.0 (.venv-modern). Each lists only its own project's clusters;
an admin, with a token the client got by password, lists every project's with
?all_projects=true. The API runs in-process behind cheroot on a free port, on SQLite (the
tenant matrix covers the other databases).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from magnum.cli import devkeystone
from tests.functional import _http
from tests.functional.conftest import BAYMODEL, Service
from tests.functional.keystone.conftest import auth, keystone_groups
from tests.functional.test_magnumclient import REPO
from tests.functional.test_modern_clients import _env

MITAKA = REPO / ".venv-client" / "bin" / "magnum"
MODERN = REPO / ".venv-modern" / "bin"
LATEST = {"OpenStack-API-Version": "container-infra latest"}
pytestmark = [
    pytest.mark.keystone,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (MITAKA.exists() and (MODERN / "openstack").exists()),
        reason=".venv-client or .venv-modern is missing: run scripts/setup",
    ),
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


@pytest.fixture
def served(
    keystone: devkeystone.Keystone,
    service_factory: Callable[..., Service],
    tokens: dict[tuple[str, str], str],
) -> Iterator[tuple[str, Service]]:
    """The API on 127.0.0.1, in the catalog, with a settled cluster in each project
    (`<project>-c`, made by its member)."""
    svc = service_factory(**keystone_groups(keystone))
    with _http.serve(svc) as address:
        url = f"http://{address}/v1"
        keystone.register_magnum(url)
        for project in devkeystone.PROJECTS:
            token = tokens[project, "member"]
            headers = auth(token, **LATEST)
            res = svc.client.simulate_post(
                "/v1/clustertemplates", json=BAYMODEL | {"name": f"{project}-t"}, headers=headers
            )
            assert res.status_code == 201, res.text
            body = {"name": f"{project}-c", "cluster_template_id": res.json["uuid"]}
            res = svc.client.simulate_post("/v1/clusters", json=body, headers=headers)
            assert res.status_code == 202, res.text
            _settled(svc, token, res.json["uuid"])
        yield url, svc


def _settled(svc: Service, token: str, cluster: str) -> None:
    deadline, pause = time.monotonic() + 20, threading.Event()
    while True:
        res = svc.client.simulate_get(f"/v1/clusters/{cluster}", headers=auth(token, **LATEST))
        if res.json.get("status") == "CREATE_COMPLETE":
            return
        assert time.monotonic() < deadline, res.text
        pause.wait(0.05)


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=_env(**env), capture_output=True, text=True, timeout=120, check=False
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0 and "ERROR" not in done.stdout, (done.stdout, done.stderr)
    return done.stdout


def _names(table: str) -> set[str]:
    """The `name` column of a PrettyTable."""
    rows = [line.strip("|").split("|") for line in table.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0]]
    return {row[header.index("name")].strip() for row in rows[1:]}


@pytest.mark.parametrize("project", devkeystone.PROJECTS)
def test_each_client_lists_only_its_project(
    served: tuple[str, Service], keystone: devkeystone.Keystone, project: str
) -> None:
    env = keystone.os_env(project, "reader")
    shown = json.loads(
        _ok(_run([str(MODERN / "openstack"), "coe", "cluster", "list", "-f", "json"], env))
    )
    assert [c["name"] for c in shown] == [f"{project}-c"]
    modern = _ok(_run([str(MODERN / "magnum"), "cluster-list"], env))
    assert _names(modern) == {f"{project}-c"}
    # 2.1.0 knows OS_TENANT_NAME, not OS_PROJECT_NAME, and the catalog type `container`
    mitaka_env = env | {"OS_TENANT_NAME": project}
    mitaka = _ok(_run([str(MITAKA), "--service-type", "container-infra", "bay-list"], mitaka_env))
    assert _names(mitaka) == {f"{project}-c"}


def test_an_admin_lists_every_project(
    served: tuple[str, Service], keystone: devkeystone.Keystone
) -> None:
    url, _ = served
    env = keystone.os_env("alpha", "admin")
    token = _ok(_run([str(MODERN / "openstack"), "token", "issue", "-f", "value", "-c", "id"], env))
    req = urllib.request.Request(
        f"{url}/clusters?all_projects=true", headers=auth(token.strip(), **LATEST)
    )
    with devkeystone.DIRECT.open(req, timeout=30) as resp:
        body: dict[str, Any] = json.load(resp)
    every = {f"{p}-c" for p in devkeystone.PROJECTS}
    assert {c["name"] for c in body["clusters"]} == every
    # the clients cannot ask: an admin's list is every project's without asking (Magnum's),
    # through each client; ?all_projects=false keeps to its own project
    shown = json.loads(
        _ok(_run([str(MODERN / "openstack"), "coe", "cluster", "list", "-f", "json"], env))
    )
    assert {c["name"] for c in shown} == every
    assert _names(_ok(_run([str(MODERN / "magnum"), "cluster-list"], env))) == every
    mitaka_env = env | {"OS_TENANT_NAME": "alpha"}
    mitaka = _run([str(MITAKA), "--service-type", "container-infra", "bay-list"], mitaka_env)
    assert _names(_ok(mitaka)) == every
    req = urllib.request.Request(
        f"{url}/clusters?all_projects=false", headers=auth(token.strip(), **LATEST)
    )
    with devkeystone.DIRECT.open(req, timeout=30) as resp:
        own: dict[str, Any] = json.load(resp)
    assert [c["name"] for c in own["clusters"]] == ["alpha-c"]


def test_a_wrong_password_gets_nothing(
    served: tuple[str, Service], keystone: devkeystone.Keystone
) -> None:
    env = keystone.os_env("alpha", "member") | {"OS_PASSWORD": "wrong"}
    done = _run([str(MODERN / "openstack"), "coe", "cluster", "list"], env)
    assert done.returncode != 0
    assert "401" in done.stderr or "authenticate" in done.stderr.lower(), done.stderr
