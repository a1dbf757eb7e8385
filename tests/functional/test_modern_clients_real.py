# SPDX-License-Identifier: Apache-2.0
"""The modern clients (python-magnumclient 4.11.0's `magnum`, python-openstackclient
10.5.0's `openstack coe`) against `magnum-aio` with the real drivers: one 1+1 Swarm bay for
the module, made with `openstack coe cluster create` and deleted with `magnum
cluster-delete`. Each client's `cluster config` writes the bay's TLS files (a key of its
own, signed by the bay's CA through the API) and prints the Docker environment; a shell
sources that output as written and the real `docker` CLI runs `docker info` and `docker ps`
against the bay.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local import network
from tests.functional.hostcheck import (
    REALHOST,
    assert_clean,
    snapshot,
    without_kept,
)
from tests.functional.test_magnumclient import real_aio
from tests.functional.test_modern_clients import (
    CLIENTS,
    Clients,
    make_template,
    needs_modern,
)

pytestmark = [*REALHOST, needs_modern]
DOCKER = shutil.which("docker")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Clients, Any]]:
    tmp = tmp_path_factory.mktemp("modern-real")
    with real_aio(tmp, "m") as (url, _proc, _lines, conf):
        yield Clients(url, tmp), conf


@pytest.fixture(scope="module")
def bay(real: tuple[Clients, Any]) -> Iterator[dict[str, Any]]:
    """One settled 1+1 Swarm bay, made by OSC; deleted by `magnum`, leaving the host clean."""
    c, conf = real
    dirs = (local_cluster.state_root(conf), pathlib.Path(conf.local.run_dir))
    before = without_kept(snapshot(*dirs), dirs[0])
    template = make_template(c, "openstack", "swarm-modern", "--flavor", "m1.small")
    ran = c.openstack(
        "cluster", "create", "--cluster-template", "swarm-modern", "--node-count", "1", "real"
    ).ok()
    assert "Request to create cluster" in ran.out, ran.shown()
    body = c.settled("real", timeout=180)
    assert body["status"] == "CREATE_COMPLETE", body
    try:
        yield body
    finally:
        deleted = c.magnum("cluster-delete", "real")
        assert "Request to delete cluster real has been accepted." in deleted.out, deleted.shown()
        c.gone(body["uuid"], timeout=180)
        c.magnum("cluster-template-delete", template).ok()
        assert_clean(
            before,
            lambda: without_kept(snapshot(*dirs), dirs[0]),
            tags=[network.short_id(body["uuid"])],
            dirs=dirs,
        )


def _docker(env_file: pathlib.Path, *commands: str) -> subprocess.CompletedProcess[str]:
    """Source the client's output as written, then run `commands` with the docker CLI (no
    DOCKER_* of ours, a HOME of its own)."""
    assert DOCKER is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env |= {"HOME": str(env_file.parent), "SHELL": "/bin/bash"}
    script = f". {env_file}\n" + "\n".join(f"{DOCKER} {c} || exit $?" for c in commands)
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=env_file.parent,
    )


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
@pytest.mark.parametrize("client", CLIENTS)
def test_cluster_config_drives_the_real_swarm(
    real: tuple[Clients, Any], bay: dict[str, Any], client: str
) -> None:
    c, _ = real
    where = c.tmp / f"config-{client}"
    where.mkdir()
    if client == "magnum":
        ran = c.magnum("cluster-config", "real", "--dir", str(where)).ok()
    else:  # a Swarm bay needs the certificate files: --output-certs with --use-certificate
        ran = c.openstack(
            "cluster", "config", "real", "--dir", str(where), "--output-certs", "--use-certificate"
        ).ok()
    assert f"export DOCKER_HOST={bay['api_address']}\n" in ran.out, ran.shown()
    assert f"export DOCKER_CERT_PATH={where}\n" in ran.out, ran.shown()
    assert "export DOCKER_TLS_VERIFY=True\n" in ran.out, ran.shown()
    assert {p.name for p in where.iterdir()} == {"ca.pem", "cert.pem", "key.pem"}
    env_file = where / "env.sh"
    env_file.write_text(ran.out)  # as the client printed it (4.11's `magnum` adds a warning)

    done = _docker(env_file, "info", "ps")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "Swarm: active" in done.stdout, done.stdout
    assert " Nodes: 2\n" in done.stdout, done.stdout
    assert "CONTAINER ID" in done.stdout, done.stdout
    # without the signed certificate the bay refuses the same CLI
    (where / "cert.pem").unlink()
    refused = _docker(env_file, "ps")
    assert refused.returncode != 0, refused.stdout


@pytest.fixture(scope="module")
def kube_bay(real: tuple[Clients, Any]) -> Iterator[dict[str, Any]]:
    """One settled 1+1 Kubernetes bay, made and deleted by OSC, leaving the host clean."""
    c, conf = real
    if not (pathlib.Path(conf.kubernetes.bin_dir) / "kube-apiserver").exists():
        pytest.skip("Kubernetes is not built here (scripts/build-kubernetes)")
    dirs = (local_cluster.state_root(conf), pathlib.Path(conf.local.run_dir))
    before = without_kept(snapshot(*dirs), dirs[0])
    template = make_template(
        c, "openstack", "k8s-modern", "--coe", "kubernetes", "--network-driver", "flannel"
    )
    ran = c.openstack(
        "cluster", "create", "--cluster-template", "k8s-modern", "--node-count", "1", "kube"
    ).ok()
    assert "Request to create cluster" in ran.out, ran.shown()
    body = c.settled("kube", timeout=180)
    assert body["status"] == "CREATE_COMPLETE", body
    try:
        yield body
    finally:
        c.openstack("cluster", "delete", "kube").ok()
        c.gone(body["uuid"], timeout=180)
        c.openstack("cluster", "template", "delete", template).ok()
        assert_clean(
            before,
            lambda: without_kept(snapshot(*dirs), dirs[0]),
            tags=[network.short_id(body["uuid"])],
            dirs=dirs,
        )


@pytest.mark.parametrize("client", CLIENTS)
def test_cluster_config_drives_the_real_kubernetes(
    real: tuple[Clients, Any], kube_bay: dict[str, Any], client: str
) -> None:
    """Each client's `cluster config` makes a key of its own and has the bay's CA sign it
    through the API (user admin, group system:masters). OSC's kubeconfig works with kubectl
    unedited. 4.11's `magnum cluster-config` writes the three PEM files but a kubeconfig
    without them (it never passes them on to the writer: a client bug), so kubectl is
    given the files by flag."""
    c, conf = real
    where = c.tmp / f"kube-config-{client}"
    where.mkdir()
    flags: list[str] = []
    if client == "magnum":
        ran = c.magnum("cluster-config", "kube", "--dir", str(where)).ok()
        assert "client-certificate" not in (where / "config").read_text()
        flags = [
            f"--certificate-authority={where}/ca.pem",
            f"--client-certificate={where}/cert.pem",
            f"--client-key={where}/key.pem",
        ]
    else:
        ran = c.openstack("cluster", "config", "kube", "--dir", str(where)).ok()
    assert f"export KUBECONFIG={where}/config" in ran.out, ran.shown()
    kubectl = pathlib.Path(conf.kubernetes.bin_dir) / "kubectl"
    env = {"PATH": os.environ["PATH"], "HOME": str(where), "KUBECONFIG": str(where / "config")}
    done = subprocess.run(
        [str(kubectl), *flags, "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout.split() == ["node/node-0"], done.stdout
