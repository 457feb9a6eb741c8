#!/usr/bin/env bash
# Profile-guided build of Rampart (not a test): the production profile built
# once with instrumentation, trained on the benchmark's traffic, then built
# again with the profile, so the compiler lays out and inlines the request
# path for how it actually runs.
#
#   bench/pgo.sh            # prints the path of the built binary
#
# PGO_EXTRA_RUSTFLAGS is added to both builds' flags (bench/bolt.sh --pgo
# keeps the relocations BOLT needs this way).
#
# Training: bench/common.sh's train_on_bench_traffic (wrk against an nginx
# origin, as bench/run.sh: the plain proxy's GET and POST, then the CRS WAF
# configuration's). The instrumented binary writes its counts when it exits
# after SIGTERM.
#
# Needs llvm-profdata. rustc's own LLVM is newer than any Debian packages;
# llvm-profdata from Debian's llvm-19 reads its raw profiles and writes an
# indexed profile rustc accepts (checked on rustc 1.95 / LLVM 22). Installed
# here if missing, with nginx, wrk and the CRS. The profile lives in
# target/pgo-data; the binaries in target/pgo-gen (instrumented) and
# target/pgo-use (the result). Builds take three times the production build.
set -euo pipefail
cd "$(dirname "$0")/.."

TRIPLE=$(rustc -vV | awk '/^host:/ { print $2 }')
# The newest llvm-profdata installed, if it is LLVM 19 or later (older ones
# cannot read the raw profiles of rustc's LLVM).
profdata() {
  local tool
  tool=$( (find /usr/lib/llvm-*/bin -name llvm-profdata 2>/dev/null || true) | sort -V | tail -1)
  [ -n "$tool" ] || return 0
  local major
  major=$("$tool" --version 2>/dev/null | sed -n 's/.*LLVM version \([0-9]*\).*/\1/p' | head -1)
  [ "${major:-0}" -ge 19 ] && echo "$tool"
  return 0
}
need=()
[ -n "$(profdata)" ] || need+=(llvm-19)
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
[ -d /usr/share/modsecurity-crs ] || need+=(modsecurity-crs)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
PROFDATA=$(profdata)
[ -n "$PROFDATA" ] || { echo "no llvm-profdata of LLVM 19 or later" >&2; exit 1; }

# Other flags, other directories: bench/bolt.sh --pgo's build with relocations
# kept does not replace this script's plain one.
SUFFIX=${PGO_EXTRA_RUSTFLAGS:+-$(echo "$PGO_EXTRA_RUSTFLAGS" | sha256sum | head -c 8)}
DATA=$PWD/target/pgo-data$SUFFIX
rm -rf "$DATA"
mkdir -p "$DATA"
# --target: RUSTFLAGS then reach only the binary and its dependencies, not
# build scripts and proc macros (which would write profiles of the build).
RUSTFLAGS="-Cprofile-generate=$DATA ${PGO_EXTRA_RUSTFLAGS:-}" \
  cargo build --profile production -q -p rampart --target "$TRIPLE" --target-dir "target/pgo-gen$SUFFIX"
INSTRUMENTED=$PWD/target/pgo-gen$SUFFIX/$TRIPLE/production/rampart

# shellcheck source=bench/common.sh
source bench/common.sh rampart-pgo
ORIGIN=$(free_port); used_ports+=("$ORIGIN")
nginx_conf origin "$ORIGIN" "$ORIGIN_BODY"
nginx -c "$WORK/origin/nginx.conf" & PIDS+=($!)

train_on_bench_traffic "$INSTRUMENTED"
# The processes merge their counts into one file as they exit (rustc's
# default `%m` file name), so the files cannot be counted per process.
ls "$DATA"/*.profraw > /dev/null || { echo "no profile written" >&2; exit 1; }
"$PROFDATA" merge -o "$DATA/merged.profdata" "$DATA"/*.profraw
# Named by its content: cargo does not look into the file RUSTFLAGS names, so
# a new profile must change the flags for every crate to be built with it.
PROFILE_FILE=$DATA/rampart-$(sha256sum "$DATA/merged.profdata" | head -c 16).profdata
mv "$DATA/merged.profdata" "$PROFILE_FILE"

RUSTFLAGS="-Cprofile-use=$PROFILE_FILE ${PGO_EXTRA_RUSTFLAGS:-}" \
  cargo build --profile production -q -p rampart --target "$TRIPLE" --target-dir "target/pgo-use$SUFFIX"
echo "$PWD/target/pgo-use$SUFFIX/$TRIPLE/production/rampart"
