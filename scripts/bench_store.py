#!/usr/bin/env python3
"""Whole-process throughput of `cordon check --jsonl` with and without the
episode store, over the given corpora (labels stripped), run alternately so
both see the same machine; prints the median events/s of each, their ratio,
and the store's bytes per event.

    python3 scripts/bench_store.py --cordon target/release/cordon ../shared/corpus/dev/*.jsonl
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

LABELS = ("expect", "label", "category", "source", "technique", "group")

ap = argparse.ArgumentParser()
ap.add_argument("--cordon", default="target/release/cordon")
ap.add_argument("--runs", type=int, default=7)
ap.add_argument("corpora", nargs="+")
args = ap.parse_args()

lines = []
for path in args.corpora:
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            for k in LABELS:
                e.pop(k, None)
            lines.append(json.dumps(e))
data = ("\n".join(lines) + "\n").encode()
n = len(lines)

with tempfile.TemporaryDirectory() as tmp:
    rates = {"no store": [], "store": []}
    size = 0
    for _ in range(args.runs):
        for name in rates:
            cmd = [args.cordon, "check", "--jsonl"]
            db = os.path.join(tmp, "bench.db")
            if name == "store":
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(db + suffix):
                        os.remove(db + suffix)
                cmd += ["--store", db]
            t = time.perf_counter()
            out = subprocess.run(cmd, input=data, capture_output=True)
            dt = time.perf_counter() - t
            assert out.stdout.count(b"\n") == n, out.stderr[-300:]
            rates[name].append(n / dt)
            if name == "store":
                size = sum(os.path.getsize(db + s) for s in ("", "-wal") if os.path.exists(db + s))
    base = statistics.median(rates["no store"])
    with_store = statistics.median(rates["store"])
    print(f"{n} events, {args.runs} runs each, medians:")
    print(f"  no store  {base:10.0f} events/s")
    print(f"  --store   {with_store:10.0f} events/s  ({with_store / base:.2f}x the no-store run)")
    print(f"  store file {size / n:.0f} bytes/event ({size} bytes)")
