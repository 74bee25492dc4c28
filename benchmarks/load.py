"""HTTP load on `graphrec serve`: throughput and latency of /recommendations at several concurrencies, read-only and
with a share of writes (POST /v1/interactions) mixed in.

The generator is closed-loop: C connections (HTTP/1.1 keep-alive, raw asyncio streams, spread over --procs worker
processes) each send a request, wait for the whole answer, and send the next. Latency is measured per request from
just before the write to the end of the body. It runs on the same machine as the server and shares its cores,
so the figures are a lower bound on what the server alone would do.

    python benchmarks/load.py RUN_DIR [--concurrency 1 16 64] [--seconds 30] [--write-share 0 0.05]
                                      [--rate 500 --rate-concurrency 16] [--malformed-share 0.1] [--out FILE]

With --rate, extra open-loop phases send at a fixed total rate (evenly paced per connection); their latency is
counted from each request's scheduled send time.

Starts `graphrec serve RUN_DIR` itself (event log in a temporary directory, a random token), or targets --url.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np


def _request(method: str, path: str, host: str, token: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nAuthorization: Bearer {token}\r\n"
    return head.encode() + b"\r\n" + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length framed); return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


def _malformed(rng: random.Random, plan: dict, host: str) -> bytes:
    """One request a client gets wrong (each must answer 4xx on a kept-alive connection, never 5xx): a bad or
    out-of-range k, body that is not JSON, a missing field, an unknown item, an id the write path refuses, a wrong
    token, an unknown route."""
    user, token = rng.choice(plan["users"]), plan["token"]
    kind = rng.randrange(8)
    if kind == 0:
        return _request("GET", f"/v1/users/{user}/recommendations?k=abc", host, token)
    if kind == 1:
        return _request("GET", f"/v1/users/{user}/recommendations?k=0", host, token)
    if kind == 2:
        return _request("POST", "/v1/interactions", host, token, b'{"interactions": [')
    if kind == 3:
        return _request("POST", "/v1/interactions", host, token, b'{"interactions": [{"user_id": 1}]}')
    if kind == 4:
        body = json.dumps({"interactions": [{"user_id": user, "item_id": "no-such-item"}]}).encode()
        return _request("POST", "/v1/interactions", host, token, body)
    if kind == 5:
        body = json.dumps({"interactions": [{"user_id": "a/b", "item_id": rng.choice(plan["items"])}]}).encode()
        return _request("POST", "/v1/interactions", host, token, body)
    if kind == 6:
        body = json.dumps({"interactions": [{"user_id": user, "item_id": rng.choice(plan["items"])}]}).encode()
        return _request("POST", "/v1/interactions", host, "wrong-token", body)
    return _request("GET", f"/v1/users/{user}/nothing-here", host, token)


async def _connection(
    host: str, port: int, plan: dict, deadline: float, warmup_end: float, seed: int, out: dict
) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
    users, items, k, share = plan["users"], plan["items"], plan["k"], plan["write_share"]
    interval = plan["interval"]  # seconds between this connection's sends (open loop), or 0 (closed loop)
    scheduled = time.perf_counter() + rng.random() * interval
    counter = 0
    while time.perf_counter() < deadline:
        counter += 1
        if interval:
            scheduled += interval
            wait = scheduled - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        draw = rng.random()
        if draw < plan["malformed_share"]:
            kind = "malformed"
            payload = _malformed(rng, plan, host)
        elif share and draw < plan["malformed_share"] + share:
            kind = "write"
            body = json.dumps(
                {
                    "interactions": [
                        {
                            "user_id": rng.choice(users),
                            "item_id": rng.choice(items),
                            "timestamp": 1_700_000_000 + counter,
                        }
                    ]
                }
            ).encode()
            payload = _request("POST", "/v1/interactions", host, plan["token"], body)
        else:
            kind = "read"
            payload = _request("GET", f"/v1/users/{rng.choice(users)}/recommendations?k={k}", host, plan["token"])
        # Open loop: latency counts from the scheduled send time, so a server that falls behind is charged for
        # the wait (no coordinated omission).
        started = min(time.perf_counter(), scheduled) if interval else time.perf_counter()
        writer.write(payload)
        status = await _read_response(reader)
        ended = time.perf_counter()
        if started >= warmup_end:
            out[kind].append(ended - started)
            if status >= 500:
                out["server_errors"] += 1
            if (status >= 300) != (kind == "malformed"):  # a read or write refused, or a malformed one accepted
                out["errors"] += 1
    writer.close()


def _worker(args: tuple) -> dict:
    host, port, plan, connections, start_at, warmup, seconds, seed = args
    out: dict = {"read": [], "write": [], "malformed": [], "errors": 0, "server_errors": 0}

    async def main() -> None:
        delay = start_at - time.time()  # all workers start together
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.perf_counter()
        await asyncio.gather(
            *(
                _connection(host, port, plan, now + warmup + seconds, now + warmup, seed * 1000 + c, out)
                for c in range(connections)
            )
        )

    asyncio.run(main())
    return out


def run_phase(
    host: str,
    port: int,
    plan: dict,
    concurrency: int,
    seconds: float,
    warmup: float,
    procs: int,
    rate: float | None = None,
) -> dict:
    """One measurement: closed loop (each connection sends as soon as its answer is in), or with `rate` an open
    loop (requests/s over all connections, evenly paced)."""
    plan = {**plan, "interval": concurrency / rate if rate else 0.0}
    procs = max(1, min(procs, concurrency))
    split = [concurrency // procs + (1 if i < concurrency % procs else 0) for i in range(procs)]
    start_at = time.time() + 1.0
    jobs = [(host, port, plan, n, start_at, warmup, seconds, i + 1) for i, n in enumerate(split)]
    with mp.get_context("spawn").Pool(procs) as pool:
        parts = pool.map(_worker, jobs)
    reads = np.array([x for p in parts for x in p["read"]]) * 1e3
    writes = np.array([x for p in parts for x in p["write"]]) * 1e3
    malformed = sum(len(p["malformed"]) for p in parts)
    total = len(reads) + len(writes) + malformed

    def pct(values: np.ndarray, q: float) -> float | None:
        return round(float(np.percentile(values, q)), 2) if len(values) else None

    return {
        "concurrency": concurrency,
        "write_share": plan["write_share"],
        "seconds": seconds,
        "offered_rps": rate,
        "requests": total,
        "throughput_rps": round(total / seconds, 1),
        "reads": len(reads),
        "read_p50_ms": pct(reads, 50),
        "read_p95_ms": pct(reads, 95),
        "read_p99_ms": pct(reads, 99),
        "writes": len(writes),
        "write_p50_ms": pct(writes, 50),
        "write_p99_ms": pct(writes, 99),
        "malformed_share": plan["malformed_share"],
        "malformed": malformed,
        "errors": sum(p["errors"] for p in parts),
        "server_errors": sum(p["server_errors"] for p in parts),
    }


def markdown_table(results: list[dict]) -> str:
    """The results as the BENCHMARKS.md table."""
    lines = [
        "| load | writes | requests/s | read p50 ms | read p95 ms | read p99 ms | write p50 ms | write p99 ms "
        "| errors | malformed (5xx) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        load = (
            f"open loop, {r['offered_rps']:.0f} req/s offered, {r['concurrency']} connections"
            if r.get("offered_rps")
            else f"closed loop, concurrency {r['concurrency']}"
        )
        cells = [
            load,
            f"{r['write_share']:.0%}",
            f"{r['throughput_rps']:.0f}",
            r["read_p50_ms"],
            r["read_p95_ms"],
            r["read_p99_ms"],
            r["write_p50_ms"] or "–",
            r["write_p99_ms"] or "–",
            r["errors"],
            f"{r['malformed_share']:.0%} ({r['server_errors']})" if r.get("malformed_share") else "–",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen | None, timeout: float = 300.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"graphrec serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.5)
    raise SystemExit("graphrec serve did not become healthy in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--write-share", type=float, nargs="+", default=[0.0, 0.05])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    parser.add_argument(
        "--rate",
        type=float,
        nargs="*",
        default=[],
        help="also run open-loop phases at these request rates, at --rate-concurrency connections",
    )
    parser.add_argument("--rate-concurrency", type=int, default=16)
    parser.add_argument(
        "--malformed-share",
        type=float,
        default=0.0,
        help="also run one closed-loop phase at --rate-concurrency with the last --write-share of writes and this "
        "share of malformed requests (each must get a 4xx; 5xx are counted)",
    )
    parser.add_argument("--index", default="hnsw")
    parser.add_argument("--url", help="target a running server instead (needs GRAPHREC_API_TOKEN for writes)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()

    run_dir = Path(args.run_dir)
    users = json.loads((run_dir / "user_ids.json").read_text())
    items = json.loads((run_dir / "item_ids.json").read_text())
    process, token = None, os.environ.get("GRAPHREC_API_TOKEN") or secrets.token_hex(16)
    workdir = tempfile.mkdtemp(prefix="graphrec-load-")
    if args.url:
        url = args.url.rstrip("/")
    else:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "graphrec",
                "-q",
                "serve",
                str(run_dir),
                "--port",
                str(port),
                "--db",
                str(Path(workdir) / "events.sqlite3"),
                "--index",
                args.index,
            ],
            env={**os.environ, "GRAPHREC_API_TOKEN": token},
        )
    started = time.time()
    load_before = os.getloadavg()
    health = _wait_healthy(url, process)
    host, port_text = url.removeprefix("http://").split(":")
    plan = {"users": users, "items": items, "k": args.k, "token": token, "malformed_share": 0.0}
    results = []
    try:
        for share in args.write_share:
            for concurrency in args.concurrency:
                result = run_phase(
                    host,
                    int(port_text),
                    {**plan, "write_share": share},
                    concurrency,
                    args.seconds,
                    args.warmup,
                    args.procs,
                )
                print(json.dumps(result), flush=True)
                results.append(result)
            for rate in args.rate:
                result = run_phase(
                    host,
                    int(port_text),
                    {**plan, "write_share": share},
                    args.rate_concurrency,
                    args.seconds,
                    args.warmup,
                    args.procs,
                    rate=rate,
                )
                print(json.dumps(result), flush=True)
                results.append(result)
        if args.malformed_share:
            share = args.write_share[-1]
            bad = {**plan, "write_share": share, "malformed_share": args.malformed_share}
            result = run_phase(host, int(port_text), bad, args.rate_concurrency, args.seconds, args.warmup, args.procs)
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    report = {
        "run_dir": str(run_dir),
        "server": health,
        "startup_seconds": round(time.time() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        "generator": f"{args.procs} processes, keep-alive, same machine",
        "k": args.k,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "results": results,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(markdown_table(results))


if __name__ == "__main__":
    main()
