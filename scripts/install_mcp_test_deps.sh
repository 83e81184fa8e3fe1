#!/usr/bin/env bash
# The real MCP peers the end-to-end tests of `cordon mcp-proxy` run against,
# installed into target/mcp-deps (or $CORDON_MCP_DEPS); does nothing when
# they are already there as pinned:
#   node_modules/@modelcontextprotocol/server-filesystem  tests/mcp/package-lock.json (npm ci)
#   venv/ with the official Python SDK `mcp`             tests/mcp/requirements.txt
set -euo pipefail
cd "$(dirname "$0")/.."
deps=${CORDON_MCP_DEPS:-target/mcp-deps}
mkdir -p "$deps"

if ! command -v npm >/dev/null && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
  # A bare machine: Debian's Node.js and npm.
  apt-get install -y -qq nodejs npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
fi
if ! command -v npm >/dev/null || (( $(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0) < 20 )); then
  echo "install_mcp_test_deps: needs Node.js 20 or later with npm" >&2
  exit 1
fi
server=$deps/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js
if [[ ! -f $server ]] || ! cmp -s tests/mcp/package-lock.json "$deps/package-lock.json"; then
  cp tests/mcp/package.json tests/mcp/package-lock.json "$deps/"
  npm ci --prefix "$deps" --no-audit --no-fund --loglevel=error
fi

venv=$deps/venv
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
fi
if ! cmp -s tests/mcp/requirements.txt "$venv/installed-requirements.txt"; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/mcp/requirements.txt
  cp tests/mcp/requirements.txt "$venv/installed-requirements.txt"
fi
echo "install_mcp_test_deps: ready in $deps"
