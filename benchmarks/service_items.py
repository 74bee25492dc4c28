"""Milliseconds per `POST /v1/items` on a trained run, through the HTTP app (in-process test client).

    python benchmarks/service_items.py --run RUN_DIR [--calls 50] [--users 10] [--index exact] [--out FILE.json]

Each call adds one new item with `--users` existing users (drawn with a fixed seed) and waits for the answer
(durable in the event log, embedded, indexed). Only the HTTP API is used, so the same script times any version of
graphrec. The event log goes to a temporary directory, so the run directory is not changed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a run directory written by graphrec train")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--users", type=int, default=10, help="users per new item")
    parser.add_argument("--index", default="exact", help="hnsw | ivf | exact")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the result JSON here too")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from graphrec.service import ServeConfig, create_app

    user_ids = json.loads((Path(args.run) / "user_ids.json").read_text(encoding="utf-8"))
    rng = np.random.default_rng(args.seed)
    os.environ.setdefault("GRAPHREC_API_TOKEN", "bench")
    auth = {"Authorization": f"Bearer {os.environ['GRAPHREC_API_TOKEN']}"}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        client = TestClient(create_app(args.run, ServeConfig(db=str(Path(tmp) / "events.sqlite3"), index=args.index)))
        with client:
            ready = time.perf_counter() - started
            before = client.get("/healthz").json()["items"]
            times = []
            for call in range(args.calls):
                users = [user_ids[i] for i in rng.choice(len(user_ids), args.users, replace=False)]
                body = {"item_id": f"bench-item-{call}", "users": users, "features": None}
                tick = time.perf_counter()
                answer = client.post("/v1/items", json=body, headers=auth)
                times.append((time.perf_counter() - tick) * 1000)
                if answer.status_code != 201:
                    raise SystemExit(f"call {call}: HTTP {answer.status_code}: {answer.text}")
            after = client.get("/healthz").json()["items"]
    result = {
        "run": args.run,
        "calls": args.calls,
        "users_per_item": args.users,
        "index": args.index,
        "items_before": before,
        "items_after": after,
        "startup_s": round(ready, 2),
        "ms_median": round(statistics.median(times), 2),
        "ms_mean": round(statistics.fmean(times), 2),
        "ms_p95": round(float(np.percentile(times, 95)), 2),
        "ms_first": round(times[0], 2),
    }
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
