"""Latency `cordon mcp-proxy` adds to a tools/call: one client (the official Python SDK) calls
the same tool of the same server directly and through the proxy, alternating, and reports the
median and p99 of each and of the difference.

    latency.py --cordon target/release/cordon --tool read_text_file --arguments '{"path": "/tmp/r/a.txt"}' \
        [--calls 200] [--proxy-args '--store /tmp/s.db'] -- SERVER_CMD...
"""

import argparse
import json
import shlex
import statistics
import time
from contextlib import AsyncExitStack

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

WARMUP = 20


async def connect(stack, command):
    read, write = await stack.enter_async_context(stdio_client(StdioServerParameters(command=command[0], args=command[1:])))
    session = await stack.enter_async_context(ClientSession(read, write))
    await session.initialize()
    await session.list_tools()  # the proxy pins and registers here, as a real client makes it do
    return session


async def timed(session, tool, arguments):
    start = time.perf_counter()
    result = await session.call_tool(tool, arguments)
    elapsed = (time.perf_counter() - start) * 1000
    assert not result.is_error, result
    return elapsed


def stats(samples):
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered), 3), "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)}


async def main(args):
    arguments = json.loads(args.arguments)
    async with AsyncExitStack() as stack:
        direct = await connect(stack, args.server)
        proxied = await connect(stack, [args.cordon, "mcp-proxy", *shlex.split(args.proxy_args), "--", *args.server])
        for _ in range(WARMUP):
            await timed(direct, args.tool, arguments)
            await timed(proxied, args.tool, arguments)
        d, p = [], []
        for i in range(args.calls):
            # Alternate which goes first, so that neither always runs on a warmer server.
            if i % 2:
                p.append(await timed(proxied, args.tool, arguments))
                d.append(await timed(direct, args.tool, arguments))
            else:
                d.append(await timed(direct, args.tool, arguments))
                p.append(await timed(proxied, args.tool, arguments))
    report = {
        "calls": args.calls,
        "direct": stats(d),
        "proxied": stats(p),
        "added_median_ms": round(statistics.median(p) - statistics.median(d), 3),
        "added_p99_ms": round(stats(p)["p99_ms"] - stats(d)["p99_ms"], 3),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cordon", required=True)
    parser.add_argument("--tool", required=True)
    parser.add_argument("--arguments", default="{}")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--proxy-args", default="", help="options for the proxy, as one shell-quoted string")
    parser.add_argument("server", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.server[:1] == ["--"]:
        args.server = args.server[1:]
    anyio.run(main, args)
