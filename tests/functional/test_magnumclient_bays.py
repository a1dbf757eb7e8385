# SPDX-License-Identifier: Apache-2.0
"""The real python-magnumclient 2.1.0 against `magnum-aio` with the real drivers: it creates
a 1+2 Swarm bay, fetches the bay's CA and has our CSR signed; a docker client with that
certificate then lists the swarm's nodes. The client runs in .venv-client
(tests/functional/magnumclient_bay_script.py); keys and CSR are made here.
"""

from __future__ import annotations

import pathlib
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from magnum.drivers.infra.local import cluster as local_cluster
from magnum.drivers.infra.local import network
from tests.functional.hostcheck import (
    REALHOST,
    assert_clean,
    key_and_csr,
    snapshot,
    tls_client,
    without_kept,
    write_creds,
)
from tests.functional.test_magnumclient import CLIENT_PYTHON, Lines, real_aio, run_script

pytestmark = [
    *REALHOST,
    pytest.mark.skipif(
        not CLIENT_PYTHON.exists(),
        reason=".venv-client is missing: run scripts/setup to install python-magnumclient 2.1.0",
    ),
]
SCRIPT = pathlib.Path(__file__).with_name("magnumclient_bay_script.py")


class Aio:
    def __init__(self, url: str, proc: subprocess.Popen[str], lines: Lines, conf: Any) -> None:
        self.url, self.proc, self.lines, self.conf = url, proc, lines, conf


@pytest.fixture
def aio(tmp_path: pathlib.Path) -> Iterator[Aio]:
    with real_aio(tmp_path, "c") as (url, proc, lines, conf):
        yield Aio(url, proc, lines, conf)


def run_client(*args: str) -> dict[str, Any]:
    return run_script(SCRIPT, *args, timeout=180)


def test_magnumclient_real_bay_and_certificates(aio: Aio, tmp_path: pathlib.Path) -> None:
    dirs = (local_cluster.state_root(aio.conf), pathlib.Path(aio.conf.local.run_dir))
    before = without_kept(snapshot(*dirs), dirs[0])
    key, csr = key_and_csr("magnumclient-user")
    (tmp_path / "client.csr").write_text(csr)
    out = run_client("create", aio.url, str(tmp_path / "client.csr"))

    cluster = out["bay_created"]
    assert cluster["status"] == "CREATE_COMPLETE", out
    assert cluster["node_count"] == 2 and cluster["master_count"] == 1
    (master,) = cluster["master_addresses"]
    assert cluster["api_address"] == f"tcp://{master}:2376"
    assert len(cluster["node_addresses"]) == 2
    print(f"\nmagnumclient: 1+2 bay CREATE_COMPLETE after {out['create_seconds']}s")
    assert out["ca"]["bay_uuid"] == cluster["uuid"]
    assert out["signed"]["bay_uuid"] == cluster["uuid"]

    creds = write_creds(tmp_path / "certs", ca=out["ca"]["pem"], cert=out["signed"]["pem"], key=key)
    client = tls_client(master, creds, creds)
    try:
        nodes = client.nodes.list()
    finally:
        client.close()
    assert len(nodes) == 3
    assert {n.attrs["Status"]["Addr"] for n in nodes} == {master, *cluster["node_addresses"]}
    assert {n.attrs["Status"]["State"] for n in nodes} == {"ready"}
    assert sorted(n.attrs["Spec"]["Labels"]["magnum.role"] for n in nodes) == [
        "master",
        "worker",
        "worker",
    ]

    gone = run_client("delete", aio.url, cluster["uuid"], out["baymodel"]["uuid"])
    assert gone == {"bay_delete": "ok", "bay_deleted": {"gone": True}, "baymodel_delete": "ok"}
    assert_clean(
        before,
        lambda: without_kept(snapshot(*dirs), dirs[0]),
        tags=[network.short_id(cluster["uuid"])],
        dirs=dirs,
    )
    aio.proc.send_signal(signal.SIGTERM)
    assert aio.proc.wait(timeout=30) == 0
