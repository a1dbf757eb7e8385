# SPDX-License-Identifier: Apache-2.0
"""schemathesis over the whole of /v1/openapi.json against a real magnum-aio (the test-double
drivers), every check on (tests/fuzz/schemathesis.toml): no server error, every answer as
the document says (status, content type, headers, body schema), negative data rejected.

Its examples, coverage and fuzzing phases try every operation with generated and broken
inputs; its stateful phase follows the document's links (a POST's `uuid` to the new item's
GET, PATCH, DELETE and actions; a baymodel to a bay's create, a bay to a container's), so
PATCH and DELETE reach real rows; a seeded baymodel, bays and a container give the fuzzing
phase rows to find too. At least MIN_REQUESTS requests; the counts are printed.

Run alone (scripts/test does, after the other tests): `pytest -m fuzz`; a selection that
does not name the marker skips it. MAGNUM_FUZZ_SEED and
MAGNUM_FUZZ_SECONDS change the seed (1) and the time budget (120 s).
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.functional.test_magnumclient import started_aio

pytestmark = pytest.mark.fuzz

HERE = pathlib.Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
SCHEMATHESIS = pathlib.Path(sys.executable).parent / "schemathesis"
SEED = int(os.environ.get("MAGNUM_FUZZ_SEED", "1"))
BUDGET = int(os.environ.get("MAGNUM_FUZZ_SECONDS", "120"))
MIN_REQUESTS = 5000
SELF = ("GET", "/v1/openapi.json")
AIO_CONF = (
    "[conductor]\n"
    "enabled_infra_drivers = fake\n"
    "enabled_coe_drivers = fakecoe, fakek8s\n"  # swarm bays, and Kubernetes with workloads
    "heartbeat_interval = 0.5\n"
    "sync_interval = 1\n"
)
Counts = dict[tuple[str, str], collections.Counter[int]]
SEED_BAYS = tuple(f"seed-{i}" for i in range(1, 7))  # as in schemathesis.toml's seed-bays


_CONTAINERS = {"containers": [{"name": "seed", "image": "busybox"}]}
WORKLOADS = {
    "pods": json.dumps(
        {"metadata": {"name": "seed", "labels": {"app": "seed"}}, "spec": _CONTAINERS}
    ),
    "rcs": json.dumps(
        {
            "metadata": {"name": "seed"},
            "spec": {
                "replicas": 1,
                "selector": {"app": "seed"},
                "template": {"metadata": {"labels": {"app": "seed"}}, "spec": _CONTAINERS},
            },
        }
    ),
    "services": json.dumps(
        {
            "metadata": {"name": "seed"},
            "spec": {"selector": {"app": "seed"}, "ports": [{"port": 80}]},
        }
    ),
}


def _seed(client: httpx.Client) -> None:
    """A baymodel, six CREATE_COMPLETE bays and a container, for the fuzzing phase to find
    (the stateful phase makes its own; schemathesis.toml's dictionaries name these in the
    item paths, so that a PATCH or DELETE reaches a row whatever the random order), and a
    Kubernetes bay with a pod, an rc and a service."""
    model = client.post(
        "/v1/baymodels",
        json={"name": "seed", "image_id": "fedora-atomic", "keypair_id": "kp", "coe": "swarm"},
    )
    assert model.status_code == 201, model.text
    bays = []
    for name in SEED_BAYS:
        bay = client.post("/v1/bays", json={"name": name, "baymodel_id": model.json()["uuid"]})
        assert bay.status_code == 201, bay.text
        bays.append(bay.json()["uuid"])
    deadline = time.monotonic() + 30
    while {b["status"] for b in client.get("/v1/bays").json()["bays"]} != {"CREATE_COMPLETE"}:
        assert time.monotonic() < deadline, client.get("/v1/bays").text
        time.sleep(0.1)
    container = client.post(
        "/v1/containers",
        json={"name": "seed", "image": "busybox", "bay_uuid": bays[0], "command": "sleep 1"},
    )
    assert container.status_code == 201, container.text
    # A Kubernetes bay (the test double) holding pods, rcs and services named "seed-q" and
    # "seed-p":
    # the fuzzer's workload paths name them (schemathesis.toml's dictionaries).
    k8s = client.post(
        "/v1/baymodels",
        json={
            "name": "seed-k8s",
            "image_id": "fedora-atomic",
            "keypair_id": "kp",
            "coe": "kubernetes",
            "network_driver": "flannel",
        },
    )
    assert k8s.status_code == 201, k8s.text
    bay = client.post("/v1/bays", json={"name": "seed-k8s", "baymodel_id": k8s.json()["uuid"]})
    assert bay.status_code == 201, bay.text
    while client.get("/v1/bays/seed-k8s").json()["status"] != "CREATE_COMPLETE":
        assert time.monotonic() < deadline + 30, client.get("/v1/bays/seed-k8s").text
        time.sleep(0.1)
    for collection, manifest in WORKLOADS.items():
        for name in ("seed-q", "seed-p"):
            text = manifest.replace('"name": "seed"', f'"name": "{name}"', 1)
            made = client.post(
                f"/v1/{collection}", json={"bay_uuid": bay.json()["uuid"], "manifest": text}
            )
            assert made.status_code == 201, made.text


def _counts(ndjson: pathlib.Path) -> Counts:
    """(method, path template) -> answers by status, of every request the run sent."""
    counts: Counts = collections.defaultdict(collections.Counter)
    for line in ndjson.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished is None:
            continue
        recorder = finished["recorder"]
        for case_id, interaction in (recorder.get("interactions") or {}).items():
            case = recorder["cases"][case_id]["value"]
            status = (interaction.get("response") or {}).get("status_code", 0)
            counts[(case["method"].upper(), case["path"])][status] += 1
    return counts


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }


def _print_summary(counts: Counts, documented: set[tuple[str, str]], report: Any) -> None:
    total = sum(sum(c.values()) for c in counts.values())
    print(
        f"\nschemathesis {report['schemathesis_version']}, seed {report['seed']}: "
        f"{total} requests in {report['running_time']:.0f} s, "
        f"{len(documented)} documented operations, {len(report['failures'])} failures, "
        f"{len(report['errors'])} errors"
    )
    server_errors = sum(n for c in counts.values() for s, n in c.items() if s >= 500)
    print(f"server errors (5xx): {server_errors}")
    for key in sorted(documented, key=lambda k: (k[1], k[0])):
        answers = ", ".join(f"{s}: {n}" for s, n in sorted(counts.get(key, {}).items()))
        print(f"  {sum(counts.get(key, {}).values()):6d}  {key[0]:6s} {key[1]:35s} {answers}")
    undocumented = sum(sum(c.values()) for k, c in counts.items() if k not in documented)
    print(f"  {undocumented:6d}  (methods the document does not declare: 405 expected)")


def test_schemathesis_over_the_whole_document(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    if "fuzz" not in str(request.config.getoption("markexpr") or ""):
        pytest.skip("the fuzz run is a pass of its own: pytest -m fuzz (scripts/test runs it)")
    conf = tmp_path / "magnum.conf"
    conf.write_text(AIO_CONF)
    reports = tmp_path / "report"
    with started_aio(tmp_path, tmp_path / "state", conf) as (url, _, _):
        origin = url.removesuffix("/v1")
        with httpx.Client(base_url=origin, timeout=30) as client:
            _seed(client)
            document = client.get("/v1/openapi.json").json()
        done = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(CONFIG),
                "run",
                f"{url}/openapi.json",
                "--seed",
                str(SEED),
                "--max-time",
                str(BUDGET),
                "--report",
                "json,ndjson",
                "--report-dir",
                str(reports),
                "--no-color",
            ],
            cwd=tmp_path,  # hypothesis and schemathesis write nothing into the checkout
            capture_output=True,
            text=True,
            timeout=BUDGET + 120,
            check=False,
        )
    aio_log = (tmp_path / "aio.log").read_text()
    (tmp_path / "schemathesis.log").write_text(done.stdout + done.stderr)
    assert reports.is_dir(), done.stdout[-20000:] + done.stderr[-5000:]
    (report_file,) = reports.glob("*.json")
    (events,) = reports.glob("*.ndjson")
    report = json.loads(report_file.read_text())
    counts = _counts(events)
    documented = _documented(document)
    with capsys.disabled():
        _print_summary(counts, documented, report)

    output = done.stdout[done.stdout.find("FAILURES") :] if "FAILURES" in done.stdout else ""
    assert done.returncode == 0, (output or done.stdout)[-20000:] + done.stderr[-5000:]
    assert report["failures"] == [] and report["errors"] == [], report
    total = sum(sum(c.values()) for c in counts.values())
    assert total >= MIN_REQUESTS, f"{total} requests"
    assert not [k for k, c in counts.items() for s in c if s >= 500], counts
    # every documented operation was answered by its own route (not 405), but the document
    # itself, which schemathesis read (and does not test as an operation)...
    untried = [k for k in documented - {SELF} if not set(counts.get(k, {})) - {405}]
    assert untried == [], untried
    # ...and every PATCH and DELETE reached rows that exist (an answer other than 404)
    for key in documented:
        if key[0] in ("PATCH", "DELETE"):
            assert set(counts[key]) - {404, 405}, (key, counts[key])
    assert "Traceback" not in aio_log, aio_log[-5000:]
