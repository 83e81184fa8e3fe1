#!/usr/bin/env bash
# The test command: everything a fresh clone needs, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The real MCP server (npm) and client (the Python SDK) the proxy's end-to-end
# tests run against, pinned, into target/mcp-deps; a no-op once installed.
./scripts/install_mcp_test_deps.sh
# openssh-server for the sandbox tests' fake outside host (Debian package; a no-op once installed).
./scripts/install_sandbox_test_deps.sh
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace
fi
# Doc tests are not run by nextest.
cargo test --workspace --doc -q
# The Python package (PyO3): pinned venv in target/py-venv, tests against a fake API on loopback.
./scripts/test_python.sh
