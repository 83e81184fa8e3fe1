#!/usr/bin/env bash
# The Python package's tests: a venv at target/py-venv with pinned build tools
# and SDKs, the extension built by maturin (python/ is its own cargo workspace,
# built in target/python), then pytest against a fake API server on loopback.
# Quiet and quick once everything is installed and built.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/py-venv
pins="maturin==1.16.0 pytest==9.2.0 anthropic==2.12.0 openai==3.54.0"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]; then
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check $pins
  echo "$pins" > "$venv/.pins"
fi
export CARGO_TARGET_DIR="$PWD/target/python"
# A reproducible wheel: an unchanged build is not reinstalled.
export SOURCE_DATE_EPOCH=315532800
wheels="$CARGO_TARGET_DIR/wheels"
mkdir -p "$wheels"
if ! "$venv/bin/maturin" build --release -m python/Cargo.toml -i "$venv/bin/python" -o "$wheels" > "$CARGO_TARGET_DIR/build.log" 2>&1; then
  cat "$CARGO_TARGET_DIR/build.log" >&2
  exit 1
fi
wheel=$(ls -t "$wheels"/cordon-*.whl | head -n 1)
if ! cmp -s "$wheel" "$venv/.cordon.whl"; then
  "$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  cp "$wheel" "$venv/.cordon.whl"
fi
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
