#!/usr/bin/env bash
# The test command: everything a fresh clone needs, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace
fi
# Doc tests are not run by nextest.
cargo test --workspace --doc -q
