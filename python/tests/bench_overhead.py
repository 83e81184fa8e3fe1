"""Overhead of a guarded client against the unguarded one, on the fake API
server, in the same run: N requests each (interleaved, so drift hits both
alike), every response carrying one benign bash tool call.

    target/py-venv/bin/python python/tests/bench_overhead.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import cordon
from conftest import make_client
from fakeapi import FakeAPI

CALL = ("bash", {"command": "git status && cargo test --workspace -q"})


def timed(api: FakeAPI, create: Any, **kwargs: Any) -> float:
    api.reply([CALL])
    start = time.perf_counter()
    create(**kwargs)
    return time.perf_counter() - start


def main(n: int) -> None:
    messages = [{"role": "user", "content": "Run the tests."}]
    with FakeAPI() as api:
        for sdk in ("anthropic", "openai-chat"):
            plain, guarded = make_client(api, sdk, False), cordon.guard(make_client(api, sdk, False))
            if sdk == "anthropic":
                calls = [(c.messages.create, {"model": "m", "max_tokens": 10, "messages": messages}) for c in (plain, guarded)]
            else:
                calls = [(c.chat.completions.create, {"model": "m", "messages": messages}) for c in (plain, guarded)]
            for create, kwargs in calls * 20:  # warm up connections and the engine
                timed(api, create, **kwargs)
            times: list[list[float]] = [[], []]
            for _ in range(n):
                for i, (create, kwargs) in enumerate(calls):
                    times[i].append(timed(api, create, **kwargs))
            (p50, p99), (g50, g99) = [(statistics.median(t), statistics.quantiles(t, n=100)[98]) for t in times]
            print(f"{sdk}: {n} calls each: unguarded median {p50 * 1e6:.0f} us p99 {p99 * 1e6:.0f} us; "
                  f"guarded median {g50 * 1e6:.0f} us p99 {g99 * 1e6:.0f} us; "
                  f"overhead median {(g50 - p50) * 1e6:+.0f} us p99 {(g99 - p99) * 1e6:+.0f} us")  # fmt: skip
    direct = []
    guard = cordon.Guard()
    for _ in range(n):
        start = time.perf_counter()
        guard.check_call(*CALL)
        direct.append(time.perf_counter() - start)
    print(f"Guard.check_call alone: median {statistics.median(direct) * 1e6:.0f} us p99 {statistics.quantiles(direct, n=100)[98] * 1e6:.0f} us")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
