# SPDX-License-Identifier: Apache-2.0
"""The main job: start magnum-aio, create a Swarm baymodel and a 1+2 bay, show progress.

Run through scripts/run-aio, which sets everything up first. Talks to the service only
through its public HTTP API, exactly as a tenant would.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADERS = {"Content-Type": "application/json", "X-Auth-Token": "demo", "X-Project-Id": "demo"}


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=HEADERS)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def start_aio(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    cmd = [str(ROOT / ".venv/bin/magnum-aio"), "--bind", args.bind, "--state-dir", args.state_dir]
    if args.config_file:
        cmd += ["--config-file", args.config_file]
    log = open(pathlib.Path(args.state_dir) / "aio.log", "a", encoding="utf-8")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("magnum-aio: API at "):
        proc.kill()
        sys.exit(f"magnum-aio did not start; see {log.name}")
    print(line.strip())
    return proc, line.split()[3]


def bar(done: float, width: int = 30) -> str:
    filled = int(done * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def wait_bay(api: str, uuid: str, nodes: int) -> dict[str, Any]:
    started = time.monotonic()
    pause = threading.Event()
    reason = ""
    while True:
        status, bay = call(f"{api}/bays/{uuid}")
        if status != 200:
            sys.exit(f"bay vanished: {bay}")
        reason = bay["status_reason"] or bay["status"]
        joined = reason.split("/")[0] if "/" in reason else "0"
        frac = int(joined) / nodes if joined.isdigit() else 0.0
        if not bay["status"].endswith("IN_PROGRESS"):
            frac = 1.0
        print(f"\r{bar(frac)} {time.monotonic() - started:5.1f}s  {reason[:60]:<60}",
              end="", flush=True)
        if not bay["status"].endswith("IN_PROGRESS"):
            print()
            return dict(bay)
        pause.wait(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bind", default="127.0.0.1:9511")
    parser.add_argument("--state-dir", default=os.path.expanduser("~/.local/share/magnum"))
    parser.add_argument("--config-file")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--exit", action="store_true", help="delete the bay and stop at the end")
    args = parser.parse_args()
    pathlib.Path(args.state_dir).mkdir(parents=True, exist_ok=True)
    proc, api = start_aio(args)
    try:
        return run(api, args)
    finally:
        if args.exit or proc.poll() is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def run(api: str, args: argparse.Namespace) -> int:
    model = {"name": "swarm-demo", "coe": "swarm", "image_id": "fedora-atomic",
             "keypair_id": "default", "external_network_id": "public",
             "flavor_id": "m1.small", "dns_nameserver": "127.0.0.1"}
    status, body = call(f"{api}/baymodels/swarm-demo")
    if status == 404:
        status, body = call(f"{api}/baymodels", "POST", model)
        print(f"baymodel swarm-demo: HTTP {status}")
    status, bay = call(f"{api}/bays", "POST",
                       {"name": "demo", "baymodel_id": "swarm-demo", "node_count": args.nodes})
    if status != 201:
        print(f"bay create refused: HTTP {status}: {bay['errors'][0]['detail']}")
        return 1
    print(f"bay demo ({bay['uuid']}): {bay['status']}")
    bay = wait_bay(api, bay["uuid"], args.nodes + 1)
    print(f"bay demo: {bay['status']}: {bay['status_reason']}")
    if bay["status"] != "CREATE_COMPLETE":
        return 1
    print(f"  api_address      {bay['api_address']}")
    print(f"  master_addresses {', '.join(bay['master_addresses'])}")
    print(f"  node_addresses   {', '.join(bay['node_addresses'])}")
    if args.exit:
        call(f"{api}/bays/{bay['uuid']}", "DELETE")
        return 0
    print(f"\nThe service keeps running at {api} (Ctrl-C to stop).")
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    sys.exit(main())
