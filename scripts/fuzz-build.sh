#!/usr/bin/env bash
# Builds every cargo-fuzz target (stable toolchain: no sanitizer). Run one with
#   cargo fuzz run -s none <target>      (from the repo root)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz@0.13.2 --locked -q
fi
cargo fuzz build -s none --dev
if [ "${RAMPART_DISCARD_FUZZ_BUILD:-0}" = 1 ]; then
  rm -rf fuzz/target
fi
