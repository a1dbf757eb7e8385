# SPDX-License-Identifier: Apache-2.0
"""A throw-away real Keystone for development and the tests: `magnum-aio --keystone` and
tests/functional/keystone.

Keystone 30 (PyPI) runs from its own virtualenv, `.venv-keystone` beside `.venv` (made by
scripts/setup, pinned by constraints-keystone.txt: its pins conflict with ours), under
gunicorn on a free 127.0.0.1 port, with SQLite, fernet tokens, the in-memory cache (one
worker with threads, so the cache stays coherent: a revocation holds at once) and bcrypt's
lowest cost (a password login takes 10 ms, not 230).

Its state (database and keys) after `keystone-manage db_sync`, the key setups, `bootstrap`
and the users below is made once per machine and kept in a cache directory outside the
work tree (/var/cache/magnum/keystone/<version>-<recipe>, or the user's cache directory);
each Keystone starts from a copy of it in about 1.5 s. Only the catalog's URLs, which name
the port, are written on each start.

What it holds: the cloud admin `admin` (admin of project `admin` and of the system), the
service user `magnum` (role `service` in project `service`), and two projects, `alpha` and
`beta`, each with one user per persona: `<project>-reader`, `<project>-member` and
`<project>-admin`. Every password is PASSWORD: this Keystone is for one machine's loopback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import platformdirs

LOG = logging.getLogger(__name__)

VERSION = "30.0.0"
PASSWORD = "magnum-dev-password"  # noqa: S105 - a throw-away Keystone on loopback
ADMIN = "admin"
SERVICE_USER = "magnum"
SERVICE_PROJECT = "service"
PROJECTS = ("alpha", "beta")
PERSONAS = ("reader", "member", "admin")
REGION = "RegionOne"
START_TIMEOUT = 60.0
MACHINE_CACHE = pathlib.Path("/var/cache/magnum/keystone")

CONFIG = """\
[DEFAULT]
debug = false
log_file = {state}/keystone.log
use_stderr = false
[database]
connection = sqlite:///{state}/keystone.db
[token]
provider = fernet
expiration = {expiration}
[fernet_tokens]
key_repository = {state}/fernet-keys
max_active_keys = 3
[fernet_receipts]
key_repository = {state}/fernet-keys
[credential]
key_repository = {state}/credential-keys
[identity]
password_hash_rounds = 4
max_password_length = 72
[resource]
admin_project_name = admin
admin_project_domain_name = Default
[cache]
enabled = true
backend = dogpile.cache.memory
"""
# gunicorn's entry: keystone parses sys.argv with oslo.config, so gunicorn's own must go.
WSGI_ENTRY = "import sys\n\nsys.argv = sys.argv[:1]\nfrom keystone.wsgi.api import application\n"
# What the snapshot depends on: a change to any of these makes a new one.
RECIPE = hashlib.sha256(
    "\n".join([VERSION, CONFIG, WSGI_ENTRY, PASSWORD, *PROJECTS, *PERSONAS]).encode()
).hexdigest()[:12]


def default_venv() -> pathlib.Path:
    """`.venv-keystone` beside the virtualenv running us (the work tree's `.venv`), or
    $MAGNUM_KEYSTONE_VENV."""
    explicit = os.environ.get("MAGNUM_KEYSTONE_VENV")
    if explicit:
        return pathlib.Path(explicit)
    return pathlib.Path(sys.prefix).parent / ".venv-keystone"


def missing(venv: pathlib.Path) -> str | None:
    """Why Keystone cannot run from `venv`, or None when it can."""
    for tool in ("keystone-manage", "gunicorn"):
        if not (venv / "bin" / tool).exists():
            return f"{venv / 'bin' / tool} is missing: scripts/setup makes {venv.name}"
    return None


def cache_dir() -> pathlib.Path:
    """Where the snapshot of the bootstrapped state lives: the machine's cache when it is
    writable (root), else the user's."""
    for base in (MACHINE_CACHE, pathlib.Path(platformdirs.user_cache_dir("magnum")) / "keystone"):
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(base, os.W_OK):
            return base / f"{VERSION}-{RECIPE}"
    raise RuntimeError("no writable cache directory for the Keystone snapshot")


# --- the REST calls this module makes (urllib: no dependency) -----------------------------
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: no proxy


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any


def call(
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Answer:
    """One HTTP request to 127.0.0.1; any status is an answer (no exception)."""
    hdrs = {"Accept": "application/json"} | dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token is not None:
        hdrs["X-Auth-Token"] = token
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)  # noqa: S310 - http only
    try:
        with DIRECT.open(req, timeout=timeout) as resp:
            raw, status, got = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, dict(exc.headers)
    text = raw.decode() if raw else ""
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return Answer(status, got, parsed)


def _ok(answer: Answer, *expected: int) -> Any:
    if answer.status not in (expected or (200, 201, 204)):
        raise RuntimeError(f"keystone answered {answer.status}: {answer.body}")
    return answer.body


def password_token(
    auth_url: str,
    user: str,
    *,
    project: str | None = None,
    system: bool = False,
    password: str = PASSWORD,
) -> str:
    """A token of `user` (domain Default), scoped to `project` or to the system."""
    scope: dict[str, Any] | None = None
    if project is not None:
        scope = {"project": {"name": project, "domain": {"id": "default"}}}
    elif system:
        scope = {"system": {"all": True}}
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
        }
    }
    if scope is not None:
        auth["scope"] = scope
    answer = call("POST", f"{auth_url}/auth/tokens", {"auth": auth})
    _ok(answer, 201)
    return answer.headers["X-Subject-Token"]


def revoke(auth_url: str, token: str, *, by: str | None = None) -> None:
    """Revoke `token` (DELETE /v3/auth/tokens, asked by `by`, or by the token itself)."""
    _ok(
        call(
            "DELETE",
            f"{auth_url}/auth/tokens",
            token=by or token,
            headers={"X-Subject-Token": token},
        ),
        204,
    )


def persona(project: str, role: str) -> str:
    return f"{project}-{role}"


# --- one Keystone ------------------------------------------------------------------------
class Keystone:
    """A Keystone server of this module (see there); start() and stop() it, or use it as
    a context manager."""

    def __init__(
        self,
        state: pathlib.Path,
        *,
        venv: pathlib.Path | None = None,
        token_expiration: int = 3600,
    ) -> None:
        """`token_expiration`: seconds a token it issues is valid. Every Keystone of this
        module holds the same keys and rows (copies of the one snapshot), so each
        validates the tokens of another: a short-lived one's tokens expire in a long-lived
        one's too."""
        self.venv = venv or default_venv()
        self.state = state
        self.token_expiration = token_expiration
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.projects: dict[str, str] = {}  # name -> id

    @property
    def url(self) -> str:
        """The identity endpoint: OS_AUTH_URL."""
        return f"http://127.0.0.1:{self.port}/v3"

    # life cycle
    def start(self) -> Keystone:
        if why := missing(self.venv):
            raise RuntimeError(why)
        snapshot = ensure_snapshot(self.venv)
        if self.state.exists():
            shutil.rmtree(self.state)
        shutil.copytree(snapshot, self.state)
        _write_config(self.state, token_expiration=self.token_expiration)
        self._serve()
        self._fix_catalog()
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Keystone:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        env = os.environ | {
            "OS_KEYSTONE_CONFIG_DIR": str(self.state),
            "PYTHONWARNINGS": "ignore",
        }
        env.pop("OS_KEYSTONE_CONFIG_FILES", None)
        try:
            with open(self.state / "gunicorn.log", "ab") as log:
                self.proc = subprocess.Popen(
                    [
                        str(self.venv / "bin" / "gunicorn"),
                        "--chdir",
                        str(self.state),
                        "--bind",
                        f"fd://{listener.fileno()}",
                        "--workers",
                        "1",
                        "--threads",
                        "4",
                        "--timeout",
                        "60",
                        "--graceful-timeout",
                        "2",  # stop() does not wait for the clients' idle connections
                        "--no-control-socket",
                        "--access-logfile",
                        str(self.state / "access.log"),
                        "magnum_keystone_wsgi:application",
                    ],
                    env=env,
                    stdout=log,
                    stderr=log,
                    pass_fds=(listener.fileno(),),
                    start_new_session=True,
                )
        finally:
            listener.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"keystone exited ({self.proc.returncode}); see {self.state}/gunicorn.log"
                )
            try:
                if call("GET", self.url, timeout=2).status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"keystone did not answer; see {self.state}/gunicorn.log")
            time.sleep(0.05)  # polling the new server's port

    # the catalog
    def admin_token(self) -> str:
        return password_token(self.url, ADMIN, project=ADMIN)

    def _fix_catalog(self) -> None:
        """The snapshot's identity endpoints name the port it was made on: this one now."""
        token = self.admin_token()
        services = _ok(call("GET", f"{self.url}/services?type=identity", token=token))
        for svc in services["services"]:
            endpoints = _ok(
                call("GET", f"{self.url}/endpoints?service_id={svc['id']}", token=token)
            )
            for ep in endpoints["endpoints"]:
                if ep["url"] != self.url:
                    _ok(
                        call(
                            "PATCH",
                            f"{self.url}/endpoints/{ep['id']}",
                            {"endpoint": {"url": self.url}},
                            token=token,
                        )
                    )
        projects = _ok(call("GET", f"{self.url}/projects", token=token))
        self.projects = {p["name"]: p["id"] for p in projects["projects"]}

    def register_magnum(self, magnum_url: str) -> None:
        """The catalog entry of service type `container-infra` (name magnum), public and
        internal, at `magnum_url` (the API's /v1): clients find Magnum with nothing but
        OS_AUTH_URL, user, password and project."""
        token = self.admin_token()
        found = _ok(call("GET", f"{self.url}/services?type=container-infra", token=token))
        if found["services"]:
            service_id = found["services"][0]["id"]
        else:
            created = call(
                "POST",
                f"{self.url}/services",
                {"service": {"type": "container-infra", "name": "magnum", "enabled": True}},
                token=token,
            )
            service_id = _ok(created, 201)["service"]["id"]
        old = _ok(call("GET", f"{self.url}/endpoints?service_id={service_id}", token=token))
        for ep in old["endpoints"]:
            _ok(call("DELETE", f"{self.url}/endpoints/{ep['id']}", token=token), 204)
        for interface in ("public", "internal"):
            body = {
                "endpoint": {
                    "service_id": service_id,
                    "interface": interface,
                    "url": magnum_url,
                    "region_id": REGION,
                }
            }
            _ok(call("POST", f"{self.url}/endpoints", body, token=token), 201)

    # what the API's configuration needs
    def authtoken_options(self, *, token_cache_time: int | None = None) -> dict[str, Any]:
        """[keystone_authtoken] for a Magnum API validating this Keystone's tokens."""
        options: dict[str, Any] = {
            "www_authenticate_uri": self.url,
            "auth_url": self.url,
            "auth_type": "password",
            "username": SERVICE_USER,
            "password": PASSWORD,
            "project_name": SERVICE_PROJECT,
            "user_domain_id": "default",
            "project_domain_id": "default",
            "interface": "public",
            "service_token_roles_required": True,
        }
        if token_cache_time is not None:
            options["token_cache_time"] = token_cache_time
        return options

    def os_env(self, project: str, role: str) -> dict[str, str]:
        """The OS_* variables of a persona user (see the module)."""
        return {
            "OS_AUTH_URL": self.url,
            "OS_AUTH_TYPE": "password",
            "OS_USERNAME": persona(project, role),
            "OS_PASSWORD": PASSWORD,
            "OS_PROJECT_NAME": project,
            "OS_USER_DOMAIN_ID": "default",
            "OS_PROJECT_DOMAIN_ID": "default",
            "OS_IDENTITY_API_VERSION": "3",
            "OS_REGION_NAME": REGION,
        }


def _write_config(state: pathlib.Path, *, token_expiration: int = 3600) -> None:
    (state / "keystone.conf").write_text(CONFIG.format(state=state, expiration=token_expiration))
    (state / "magnum_keystone_wsgi.py").write_text(WSGI_ENTRY)
    for keys in ("fernet-keys", "credential-keys"):
        (state / keys).mkdir(mode=0o700, exist_ok=True)
        (state / keys).chmod(0o700)


@contextlib.contextmanager
def _locked(path: pathlib.Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


SNAPSHOT_FILES = ("keystone.db", "fernet-keys", "credential-keys")


def ensure_snapshot(venv: pathlib.Path) -> pathlib.Path:
    """The bootstrapped state (SNAPSHOT_FILES), made once per machine (about 10 s; see the
    module); concurrent callers (test workers) wait for the first."""
    target = cache_dir()
    if (target / "keystone.db").exists():
        return target
    with _locked(target.with_name(target.name + ".lock")):
        if (target / "keystone.db").exists():
            return target
        with tempfile.TemporaryDirectory(prefix="keystone-", dir=target.parent) as tmp:
            state = pathlib.Path(tmp) / "state"
            state.mkdir()
            _bootstrap(venv, state)
            built = pathlib.Path(tmp) / "snapshot"
            built.mkdir()
            for name in SNAPSHOT_FILES:
                src = state / name
                if src.is_dir():
                    shutil.copytree(src, built / name)
                else:
                    shutil.copy2(src, built / name)
            built.rename(target)
    return target


def _bootstrap(venv: pathlib.Path, state: pathlib.Path) -> None:
    _write_config(state)
    manage = [str(venv / "bin" / "keystone-manage"), "--config-file", str(state / "keystone.conf")]
    env = os.environ | {"PYTHONWARNINGS": "ignore"}
    owner = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
    steps = [
        ["db_sync"],
        ["fernet_setup", *owner],
        ["credential_setup", *owner],
        [
            "bootstrap",
            "--bootstrap-password",
            PASSWORD,
            "--bootstrap-username",
            ADMIN,
            "--bootstrap-project-name",
            ADMIN,
            "--bootstrap-role-name",
            "admin",
            "--bootstrap-service-name",
            "keystone",
            "--bootstrap-region-id",
            REGION,
            "--bootstrap-public-url",
            "http://127.0.0.1:5000/v3",
            "--bootstrap-internal-url",
            "http://127.0.0.1:5000/v3",
        ],
    ]
    for step in steps:
        done = subprocess.run(
            [*manage, *step], env=env, capture_output=True, check=False, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"keystone-manage {step[0]} failed: {done.stderr.decode(errors='replace')[-2000:]}"
            )
    server = Keystone(state, venv=venv)
    server._serve()
    try:
        _populate(server)
    finally:
        server.stop()


def _populate(server: Keystone) -> None:
    """The service user and the persona users (see the module)."""
    url, token = server.url, server.admin_token()
    roles = {r["name"]: r["id"] for r in _ok(call("GET", f"{url}/roles", token=token))["roles"]}

    def project(name: str) -> str:
        body = {"project": {"name": name, "domain_id": "default", "enabled": True}}
        return str(_ok(call("POST", f"{url}/projects", body, token=token), 201)["project"]["id"])

    def user(name: str, project_id: str, role: str) -> None:
        body = {
            "user": {
                "name": name,
                "domain_id": "default",
                "password": PASSWORD,
                "default_project_id": project_id,
                "enabled": True,
            }
        }
        user_id = _ok(call("POST", f"{url}/users", body, token=token), 201)["user"]["id"]
        grant = f"{url}/projects/{project_id}/users/{user_id}/roles/{roles[role]}"
        _ok(call("PUT", grant, token=token), 204)

    user(SERVICE_USER, project(SERVICE_PROJECT), "service")
    for name in PROJECTS:
        project_id = project(name)
        for role in PERSONAS:
            user(persona(name, role), project_id, role)
