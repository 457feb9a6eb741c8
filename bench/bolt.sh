#!/usr/bin/env bash
# Post-link optimised build of Rampart (not a test): the production build,
# linked with its relocations kept, rewritten by LLVM BOLT from a profile of
# the benchmark's traffic so that the code the request path runs sits
# together (hot functions ordered by call graph, basic blocks ordered within
# them, cold blocks split off). The request path's cost is mostly
# instruction-cache misses, spread thin over large async state machines
# (bench/README.md); a layout from a profile is what attacks them.
#
#   bench/bolt.sh            # prints the path of the built binary
#   bench/bolt.sh --pgo      # BOLT applied to bench/pgo.sh's build instead
#
# Training: bench/common.sh's train_on_bench_traffic, against a copy of the
# binary instrumented by BOLT, which writes its counts when it exits after
# SIGTERM. Needs Debian's bolt package (installed here if missing, with nginx,
# wrk and the CRS). Work files in target/bolt; the result is
# target/bolt/rampart. About as long as the build it starts from, plus two
# minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

FROM_PGO=0
while [ $# -gt 0 ]; do
  case "$1" in
    --pgo) FROM_PGO=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

BOLT_VERSION=22
need=()
command -v "llvm-bolt-$BOLT_VERSION" >/dev/null || need+=("bolt-$BOLT_VERSION")
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
[ -d /usr/share/modsecurity-crs ] || need+=(modsecurity-crs)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# BOLT moves whole functions only in a binary that kept its relocations.
RELOCS="-C link-arg=-Wl,--emit-relocs"
TRIPLE=$(rustc -vV | awk '/^host:/ { print $2 }')
if [ "$FROM_PGO" = 1 ]; then
  INPUT=$(PGO_EXTRA_RUSTFLAGS="$RELOCS" bench/pgo.sh | tail -1)
else
  # --target: RUSTFLAGS then reach only the binary and its dependencies, and
  # the separate target directory keeps the production build's cache.
  RUSTFLAGS="$RELOCS" \
    cargo build --profile production -q -p rampart --target "$TRIPLE" --target-dir target/bolt-input
  INPUT=$PWD/target/bolt-input/$TRIPLE/production/rampart
fi

OUT=$PWD/target/bolt
rm -rf "$OUT"
mkdir -p "$OUT/profile"
"llvm-bolt-$BOLT_VERSION" "$INPUT" -o "$OUT/rampart-instrumented" -instrument \
  -instrumentation-file="$OUT/profile/rampart.fdata" -instrumentation-file-append-pid \
  > "$OUT/instrument.log" 2>&1 || { cat "$OUT/instrument.log" >&2; exit 1; }

# shellcheck source=bench/common.sh
source bench/common.sh rampart-bolt
ORIGIN=$(free_port); used_ports+=("$ORIGIN")
nginx_conf origin "$ORIGIN" "$ORIGIN_BODY"
nginx -c "$WORK/origin/nginx.conf" & PIDS+=($!)

train_on_bench_traffic "$OUT/rampart-instrumented"
# One profile per process trained (a process that died without writing its
# own would leave the layout to part of the training).
written=$(find "$OUT/profile" -name '*.fdata' | wc -l)
[ "$written" -eq "$TRAINED_PROCESSES" ] || { echo "$written profiles written for $TRAINED_PROCESSES trained processes" >&2; exit 1; }
"merge-fdata-$BOLT_VERSION" "$OUT"/profile/*.fdata > "$OUT/rampart.fdata"

# ext-tsp orders blocks for fall-through and locality, cdsort orders
# functions by the call graph; split-* move never-run blocks (and landing
# pads) out of the hot functions; icf folds identical functions.
"llvm-bolt-$BOLT_VERSION" "$INPUT" -o "$OUT/rampart" -data="$OUT/rampart.fdata" \
  -reorder-blocks=ext-tsp -reorder-functions=cdsort -split-functions -split-all-cold \
  -split-eh -icf=all -use-gnu-stack -dyno-stats \
  > "$OUT/optimize.log" 2>&1 || { cat "$OUT/optimize.log" >&2; exit 1; }
rm -f "$OUT/rampart-instrumented"
echo "$OUT/rampart"
