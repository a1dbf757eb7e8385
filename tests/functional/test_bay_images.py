# SPDX-License-Identifier: Apache-2.0
"""Images without a public registry, on real bays through the API:

* `POST /v1/bays/{bay}/images` loads a tenant's `docker save` archive into every node;
  the tenant then runs it on each node over TLS with a certificate the API signed;
* bad uploads get 400/404/409/413/415 naming the problem;
* a baymodel with registry_enabled gives the bay a registry on its gateway (in its router) that
  one node pushes to, a swarm service pulls from and another node pulls from;
* deleting the bays leaves the host as it was (no registry process, no INPUT rule).

SQLite only; needs root, the docker.io binaries and docker-registry; skipped otherwise.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import hashlib
import io
import json
import pathlib
import re
import shutil
import subprocess
import tarfile
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from magnum.db import migration, models
from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local import image, network
from magnum.drivers.infra.local.registry import answers as registry_answers
from tests.functional import _api
from tests.functional.conftest import Service
from tests.functional.hostcheck import (
    REALHOST,
    assert_clean,
    key_and_csr,
    poll,
    remove_leftover_clusters,
    skip_unless_possible,
    snapshot,
    tls_client,
    without_kept,
    write_creds,
)

pytestmark = REALHOST

SETTLE_TIMEOUT = 90.0
MAX_IMAGE = 4 * 1024 * 1024  # the tenant image is about 2 MB
TAR = {"Content-Type": "application/x-tar"}
MODEL = {
    "name": "swarm",
    "coe": "swarm",
    "image_id": "fedora-atomic",
    "keypair_id": "default",
    "external_network_id": "public",
    "flavor_id": "m1.small",
}


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only, overriding the three-database parametrisation of tests/conftest.py."""
    url = f"sqlite:///{tmp_path_factory.mktemp('imgdb') / 'magnum.sqlite'}"
    migration.upgrade(url)
    return url


# --- a tenant's image, built like `docker save` writes it ----------------------------
def _member(tar: tarfile.TarFile, name: str, data: bytes | None) -> None:
    info = tarfile.TarInfo(name)
    if data is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
    else:
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))


def _tar(files: dict[str, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            _member(tar, name, data)
    return buf.getvalue()


def tenant_archive(tag: str, message: str, *, tags: list[str] | None = None) -> bytes:
    """busybox (the same layer as local/busybox) plus /hello.txt, tagged `tag`."""
    layers = [image.layer_tar("/bin/busybox"), _tar({"hello.txt": f"{message}\n".encode()})]
    diff_ids = [hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["cat", "/hello.txt"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in diff_ids]},
        }
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = [
        {
            "Config": config_name,
            "RepoTags": [tag] if tags is None else tags,
            "Layers": [f"{d}/layer.tar" for d in diff_ids],
        }
    ]
    files: dict[str, bytes | None] = {}
    for d, layer in zip(diff_ids, layers, strict=True):
        files[d] = None
        files[f"{d}/layer.tar"] = layer
    files[config_name] = config
    files["manifest.json"] = json.dumps(manifest).encode()
    return _tar(files)


# --- the service with real drivers --------------------------------------------------
class Real:
    def __init__(self, svc: Service, run: pathlib.Path) -> None:
        self.svc = svc
        self.state = pathlib.Path(svc.conf.state_path)
        self.run = run
        self.clusters: list[str] = []

    def snapshot(self) -> dict[str, Any]:
        snap = without_kept(snapshot(self.state, self.run), local_cluster.state_root(self.svc.conf))
        # What a bay registry could leave behind, beyond what hostcheck looks at: its INPUT
        # rule (named after the bay) and its process (its config is under our state dir).
        snap["input"] = [
            line
            for line in _out("iptables", "-w", "-S", "INPUT").splitlines()
            if any(b in line for b in self.clusters)
        ]
        snap["registries"] = [
            line
            for line in _out("pgrep", "-a", "-f", "docker-registry serve").splitlines()
            if str(self.state) in line
        ]
        return snap

    def assert_clean(self, before: dict[str, Any]) -> None:
        """Nothing of our bays is left (other sessions' bays on this host do not count)."""
        tags = [b.replace("-", "")[:10] for b in self.clusters]
        assert_clean(before, self.snapshot, tags=tags, dirs=[self.state, self.run])

    def cluster_template(self, **fields: Any) -> str:
        res = self.svc.post("/v1/baymodels", MODEL | fields)
        assert res.status_code == 201, res.text
        return str(res.json["uuid"])

    def create(self, name: str, model: str, *, nodes: int = 1) -> dict[str, Any]:
        res = self.svc.post("/v1/bays", {"name": name, "baymodel_id": model, "node_count": nodes})
        assert res.status_code == 201, res.text
        self.clusters.append(res.json["uuid"])
        body: dict[str, Any] = res.json
        return body

    def settled(self, ident: str) -> dict[str, Any]:
        body = self.svc.wait_cluster(
            ident,
            lambda b: b is None or not b["status"].endswith("IN_PROGRESS"),
            timeout=SETTLE_TIMEOUT,
        )
        assert body is not None, f"bay {ident} vanished"
        return body

    def delete(self, ident: str) -> None:
        res = self.svc.delete(f"/v1/bays/{ident}")
        assert res.status_code in (204, 404), res.text
        self.svc.wait_cluster(ident, lambda b: b is None, timeout=60.0)

    def upload(self, ident: str, body: bytes, headers: dict[str, str] = TAR) -> Any:
        return self.svc.request("POST", f"/v1/bays/{ident}/images", body=body, headers=headers)

    def credentials(self, cluster_uuid: str, where: pathlib.Path) -> pathlib.Path:
        ca = self.svc.get(f"/v1/certificates/{cluster_uuid}").json["pem"]
        key, csr = key_and_csr("tenant")
        res = self.svc.post("/v1/certificates", {"bay_uuid": cluster_uuid, "csr": csr})
        assert res.status_code == 201, res.text
        return write_creds(where, ca=ca, cert=res.json["pem"], key=key)

    def cleanup(self) -> None:
        """Delete every bay through the API; tear down with the driver whatever is left."""
        for ident in self.clusters:
            with contextlib.suppress(AssertionError):
                self.delete(ident)
        remove_leftover_clusters(self.svc.conf)  # nodes, registry, network: everything


def _out(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


@pytest.fixture
def real(service_factory: Callable[..., Service]) -> Iterator[Real]:
    skip_unless_possible()
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    run = pathlib.Path(f"/run/mgn-i{uuid.uuid4().hex[:8]}")  # short: socket paths
    svc = service_factory(
        conductor={"enabled_infra_drivers": ["local"], "enabled_coe_drivers": ["swarm"]},
        local={"run_dir": str(run)},
        api={"max_image_size": MAX_IMAGE},
    )
    real = Real(svc, run)
    try:
        yield real
    finally:
        real.cleanup()  # removes the run dir too


# --- tests -----------------------------------------------------------------------------
def _run(address: str, creds: pathlib.Path, tag: str, *cmd: str) -> str:
    client = tls_client(address, creds, creds, timeout=60)
    try:
        return bytes(
            client.containers.run(tag, list(cmd), remove=True, network_mode="none")
        ).decode()
    finally:
        client.close()


def test_tenant_archive_loads_into_every_node(real: Real, tmp_path: pathlib.Path) -> None:
    before = real.snapshot()
    model = real.cluster_template()
    created = real.create("imgs", model, nodes=1)
    # Not settled yet: 409 before any byte of the body matters.
    _api.error(real.upload(created["uuid"], b"x"), 409, contains=("CREATE_IN_PROGRESS",))
    cluster = real.settled(created["uuid"])
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    ident = cluster["uuid"]
    nodes = [*cluster["master_addresses"], *cluster["node_addresses"]]
    assert len(nodes) == 2

    res = real.upload(ident, tenant_archive("tenant/hello:1", "hello from a tenant"))
    assert res.status_code == 201, res.text
    assert res.json["bay_uuid"] == ident
    assert res.json["images"] == ["tenant/hello:1"]
    assert res.json["nodes"] == 2

    creds = real.credentials(ident, tmp_path / "creds")
    for address in nodes:
        assert (
            _run(address, creds, "tenant/hello:1", "cat", "/hello.txt") == "hello from a tenant\n"
        )

    # Compressed archives are what `docker save | gzip` gives; by name works too.
    archive = gzip.compress(tenant_archive("tenant/hello:2", "compressed"), compresslevel=1)
    res = real.upload("imgs", archive, {"Content-Type": "application/gzip"})
    assert res.status_code == 201, res.text
    assert res.json["images"] == ["tenant/hello:2"]
    assert _run(nodes[1], creds, "tenant/hello:2", "cat", "/hello.txt") == "compressed\n"

    _bad_uploads(real, ident)
    assert not any((real.state / "uploads").iterdir()), "uploads must not outlive the request"

    real.delete(ident)
    real.assert_clean(before)


def _bad_uploads(real: Real, ident: str) -> None:
    _api.error(real.upload(ident, b"this is not a tar archive" * 40), 400, contains=("not a tar",))
    _api.error(
        real.upload(ident, _tar({"hello.txt": b"hi"})),
        400,
        contains=("not a docker image archive", "manifest.json"),
    )
    _api.error(
        real.upload(ident, tenant_archive("x:1", "untagged", tags=[])),
        400,
        contains=("names no repo:tag",),
    )
    broken = _tar({"manifest.json": b'[{"Config": "c.json", "Layers": ["l/layer.tar"]}]'})
    _api.error(real.upload(ident, broken), 400, contains=("lacks it",))
    # A well-formed manifest whose layer is garbage: the nodes' daemons refuse it.
    lying = tenant_archive("tenant/lying:1", "x")
    with tarfile.open(fileobj=io.BytesIO(lying)) as tar:
        files: dict[str, bytes | None] = {}
        for m in tar.getmembers():
            f = tar.extractfile(m)
            data = f.read() if f is not None else None
            files[m.name] = b"garbage" if m.name.endswith("layer.tar") else data
    _api.error(real.upload(ident, _tar(files)), 400, contains=("refused the image archive",))
    _api.error(real.upload(ident, b""), 400, contains=("Missing image archive",))
    _api.error(
        real.upload(ident, b"{}", {"Content-Type": "application/json"}),
        415,
        contains=("application/x-tar",),
    )
    _api.error(real.upload(ident, b"\0" * (MAX_IMAGE + 1)), 413, contains=("max_image_size",))
    _api.error(real.upload(str(uuid.uuid4()), b"x"), 404)
    _api.error(real.upload("no-such-bay", b"x"), 404)
    # Another project does not see the bay.
    res = real.svc.request(
        "POST", f"/v1/bays/{ident}/images", body=b"x", headers=TAR, project="other"
    )
    _api.error(res, 404)
    # Held by another conductor's action (its lease alive): 409 from the conductor.
    _hold_by_other(real, ident)
    _api.error(
        real.upload(ident, tenant_archive("tenant/hello:3", "busy")), 409, contains=("busy",)
    )
    with real.svc.db.session() as session:
        session.execute(
            sa.update(models.Cluster)
            .where(models.Cluster.uuid == ident)
            .values(lease_owner=None, lease_expires_at=None)
        )


def _hold_by_other(real: Real, ident: str) -> None:
    with real.svc.db.session() as session:
        session.execute(
            sa.update(models.Cluster)
            .where(models.Cluster.uuid == ident)
            .values(
                lease_owner="someone-else",
                lease_expires_at=datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
                + datetime.timedelta(minutes=5),
            )
        )


REGISTRY = re.compile(r"registry at (\d+\.\d+\.\d+\.\d+:\d+)")


def _input_packets(cluster_uuid: str, address: str) -> int:
    """Packets the INPUT rule of the bay's router for its registry has accepted."""
    _, port = address.split(":")
    total = 0
    listing = _out(
        *network.in_router(cluster_uuid, "iptables", "-w", "-L", "INPUT", "-v", "-x", "-n")
    )
    for line in listing.splitlines():
        if f"dpt:{port}" in line and "registry" in line:
            total += int(line.split()[0])
    return total


def test_registry_enabled_bay_push_and_pull(real: Real, tmp_path: pathlib.Path) -> None:
    before = real.snapshot()
    model = real.cluster_template(name="withreg", registry_enabled=True)
    cluster = real.settled(real.create("reg", model, nodes=1)["uuid"])
    assert cluster["status"] == "CREATE_COMPLETE", cluster["status_reason"]
    match = REGISTRY.search(cluster["status_reason"] or "")
    assert match, cluster["status_reason"]
    registry = match.group(1)
    gateway = registry.split(":")[0]
    assert gateway.endswith(".1") and cluster["master_addresses"][0].startswith(gateway[:-1])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{registry}/v2/_catalog", timeout=5) as resp:
        assert json.loads(resp.read()) == {"repositories": []}

    creds = real.credentials(cluster["uuid"], tmp_path / "creds")
    master, worker = cluster["master_addresses"][0], cluster["node_addresses"][0]
    packets = _input_packets(cluster["uuid"], registry)
    pusher = tls_client(master, creds, creds, timeout=60)
    try:
        assert registry in pusher.info()["RegistryConfig"]["IndexConfigs"]
        base_image = pusher.images.get(image.TAG)
        for tag in ("1", "2"):
            base_image.tag(f"{registry}/demo", tag)
            out = pusher.images.push(f"{registry}/demo", tag=tag)
            assert "error" not in out.lower(), out
    finally:
        pusher.close()
    with opener.open(f"http://{registry}/v2/_catalog", timeout=5) as resp:
        assert json.loads(resp.read()) == {"repositories": ["demo"]}
    # Node -> gateway traffic is addressed to the bay's router: its INPUT, not FORWARD.
    assert _input_packets(cluster["uuid"], registry) > packets

    puller = tls_client(worker, creds, creds, timeout=60)
    try:
        assert not puller.images.list(name=f"{registry}/demo")
        # A swarm service pins the digest from the registry; the worker's agent pulls it.
        manager = tls_client(master, creds, creds, timeout=60)
        try:
            service = manager.services.create(
                f"{registry}/demo:2",
                ["sleep", "600"],
                name="pulled",
                constraints=["node.role==worker"],
            )
            poll(
                "the service task running on the worker",
                lambda: any(t["Status"]["State"] == "running" for t in service.tasks()),
                timeout=60,
            )
            service.remove()
        finally:
            manager.close()
        assert puller.images.list(name=f"{registry}/demo")
        puller.images.pull(f"{registry}/demo", tag="1")
        out = puller.containers.run(
            f"{registry}/demo:1", ["echo", "pulled"], remove=True, network_mode="none"
        )
        assert out == b"pulled\n"
    finally:
        puller.close()

    real.delete(cluster["uuid"])
    real.assert_clean(before)
    assert registry not in _out("iptables", "-w", "-S", "INPUT")
    assert not registry_answers(registry)
