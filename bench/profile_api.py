# SPDX-License-Identifier: Apache-2.0
"""Where an API request's time goes: py-spy samples a real `magnum-api` (gunicorn, 2
workers, one conductor, PostgreSQL, RabbitMQ; api_bench.multi) while the same closed-loop
client as api_bench drives one scenario, and every sample's innermost frame is charged to
a layer by the file it runs in:

  http            gunicorn, the socket, http.client-level parsing (the server's side)
  framework       falcon (routing, request and response objects, media handling)
  auth            keystonemiddleware, keystoneauth (token validation, its cache)
  policy          oslo.policy and magnum.api.policy/policies
  sql             SQLAlchemy, psycopg, the connection pool
  serialisation   json, the views and schemas that shape answers
  magnum          the rest of this project's code (middleware, handlers, objects)
  other           the standard library and everything else

Reported per request (microseconds of a worker thread busy on it: samples x sampling
interval / requests served; with --gil only samples holding the GIL, i.e. Python CPU time
without the waits on the database) and as a share, with the costliest functions.
--auth keystone runs it behind a real Keystone (magnum.cli.devkeystone), every request a
project member's token.

Run:  .venv/bin/python bench/profile_api.py [--scenario get|list|post+delete]
      [--auth noauth|keystone] [--duration 10] [--rate 1000]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading

import api_bench

from magnum.cli import devkeystone

PY_SPY = api_bench.VENV_BIN / "py-spy"
# (layer, pattern on the frame's file path), first match wins
LAYERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("auth", r"/(keystonemiddleware|keystoneauth1)/"),
        ("policy", r"/oslo_policy/|/magnum/api/polic(y|ies)"),
        ("sql", r"/(sqlalchemy|psycopg|psycopg_pool|pymysql)/"),
        ("serialisation", r"/json/|/magnum/api/(views|schemas|openapi)\.py|/pydantic"),
        ("framework", r"/falcon/"),
        ("http", r"/gunicorn/|/socket\.py|/selectors\.py|/ssl\.py"),
        ("magnum", r"/magnum/"),
    )
)
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]+)(:\d+)?\)$")


def layer_of(path: str) -> str:
    for name, pattern in LAYERS:
        if pattern.search(path):
            return name
    return "other"


def parse_raw(text: str) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """py-spy's raw (collapsed) stacks: samples per layer and per function, by the innermost
    frame; idle samples (threads waiting in the selector or for a lock) are left out."""
    layers: collections.Counter[str] = collections.Counter()
    funcs: collections.Counter[str] = collections.Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.split(";")[-1]
        match = FRAME.match(leaf)
        path, func = (match["file"], match["func"]) if match else (leaf, leaf)
        layer = layer_of(path)
        layers[layer] += int(count)
        funcs[f"{func} ({pathlib.Path(path).name}) [{layer}]"] += int(count)
        total += int(count)
    return layers, funcs, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=("get", "list", "post+delete"), default="get")
    parser.add_argument("--auth", choices=("noauth", "keystone"), default="noauth")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    parser.add_argument(
        "--gil",
        action="store_true",
        help="only samples holding the GIL (Python CPU time; leaves out waits on the database)",
    )
    args = parser.parse_args()

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="magnum-profile-"))
    try:
        with contextlib.ExitStack() as stack:
            keystone = None
            if args.auth == "keystone":
                keystone = stack.enter_context(devkeystone.Keystone(tmp / "keystone"))
                api_bench.HEADERS["X-Auth-Token"] = devkeystone.password_token(
                    keystone.url, devkeystone.persona("alpha", "member"), project="alpha"
                )
            host, port, pids = stack.enter_context(api_bench.multi(tmp, 2, keystone))
            ops = api_bench._scenarios(
                host, port, "clustertemplates", api_bench.COLLECTIONS["clustertemplates"]
            )
            op = ops[args.scenario]
            api_bench.run_load(host, port, op, concurrency=args.concurrency, warmup=0, duration=2)
            result, raw = _profiled(args, host, port, op, pids[0], tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _report(args, result, raw)
    return 0


def _profiled(
    args: argparse.Namespace,
    host: str,
    port: int,
    op: api_bench.Op,
    api_pid: int,
    tmp: pathlib.Path,
) -> tuple[dict[str, float], str]:
    out = tmp / "profile.txt"
    spy = subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--pid",
            str(api_pid),
            "--subprocesses",
            "--rate",
            str(args.rate),
            "--duration",
            str(int(args.duration)),
            "--format",
            "raw",
            "--nonblocking",
            "--full-filenames",
            *(("--gil",) if args.gil else ()),
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    result: dict[str, float] = {}

    def load() -> None:
        result.update(
            api_bench.run_load(
                host, port, op, concurrency=args.concurrency, warmup=0, duration=args.duration
            )
        )

    driver = threading.Thread(target=load)
    driver.start()
    _, err = spy.communicate(timeout=args.duration + 60)
    driver.join()
    if spy.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed ({spy.returncode}): {err.decode()[-2000:]}")
    return result, out.read_text()


def _report(args: argparse.Namespace, result: dict[str, float], raw: str) -> None:
    layers, funcs, total = parse_raw(raw)
    requests = result["n"] * (2 if args.scenario == "post+delete" else 1)
    per_sample_us = 1e6 / args.rate
    print(
        f"\n{args.scenario} on /v1/clustertemplates, {args.auth}, c={args.concurrency}, "
        f"{args.duration:g} s: {result['ops']:.1f} ops/s, p50 {result['p50']:.2f} ms, "
        f"p99 {result['p99']:.2f} ms, {requests} requests, {total} busy samples at "
        f"{args.rate}/s\n"
    )
    print(f"{'layer':<14} {'share':>6} {'us/request':>11}")
    for name, count in layers.most_common():
        share = count / total if total else 0.0
        print(f"{name:<14} {share:6.1%} {count * per_sample_us / max(requests, 1):11.0f}")
    print(f"{'all':<14} {1:6.0%} {total * per_sample_us / max(requests, 1):11.0f}")
    print("\ncostliest functions (innermost frame):")
    for func, count in funcs.most_common(15):
        print(f"  {count / total:6.1%}  {func}")


if __name__ == "__main__":
    sys.exit(main())
