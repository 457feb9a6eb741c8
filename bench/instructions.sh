#!/usr/bin/env bash
# Instructions per proxied request of Rampart builds (not a test): the steady
# A/B figure for speed work on a shared machine, where CPU time and req/s move
# with the neighbours but instruction counts do not.
#
#   bench/instructions.sh [--workload get|get-unique|post|blocked] [--waf] [--cache] [--keep DIR] NAME=BINARY...
#
# NAME=nginx (the word, no path) measures nginx as bench/run.sh's proxy
# instead (one process: `master_process off`), for comparison. --cache adds
# callgrind's cache and branch simulation and prints, per request, the
# simulated first-level instruction-cache misses, data-cache misses (reads and
# writes) and mispredicted branches: instructions are not the whole cost, and
# these say where the rest goes (a simulation of the machine's caches, not a
# measurement; this VM exposes no hardware counters).
#
# Each binary runs under valgrind's callgrind (one worker, the bench/run.sh
# configuration, or bench/rampart-waf.yaml.in with --waf) in front of an nginx
# origin. After a warm-up, counting is switched on for a fixed wrk run
# (-t1 -c4 -d8s) and off again; the instructions of every thread of the process
# (the audit writer's included) are divided by the requests wrk completed, and
# so are the worker's alone (the main thread, which runs the one worker): with
# one worker, its instructions per request bound the throughput; work moved to
# another thread (the audit writer) leaves the first figure and lowers the second.
# --keep DIR keeps the worker's callgrind file as DIR/NAME.callgrind (each
# thread's as DIR/NAME.thread-TT.callgrind) for
# callgrind_annotate (build with debug line tables: the release profile has them).
# Needs valgrind (installed here if missing). Everything listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKLOAD=get WAF=0 KEEP="" CACHE=0
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workload) WORKLOAD=$2; shift 2 ;;
    --waf) WAF=1; shift ;;
    --cache) CACHE=1; shift ;;
    --keep) KEEP=$2; shift 2 ;;
    *=*) TARGETS+=("$1"); shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || { echo "give at least one NAME=BINARY" >&2; exit 2; }
need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -n "$KEEP" ] && mkdir -p "$KEEP"

# shellcheck source=bench/common.sh
source bench/common.sh rampart-instr

ORIGIN=$(free_port); used_ports+=("$ORIGIN")
nginx_conf origin "$ORIGIN" "$ORIGIN_BODY"
nginx -c "$WORK/origin/nginx.conf" & PIDS+=($!)

# Instructions in the callgrind files given; INSTRUCTIONS per request of $requests.
sum_of() { cat "$@" 2>/dev/null | awk '/^(summary|totals):/ { s += $2 } END { print s + 0 }'; }
per_request() { awk -v i="$1" -v n="${requests:-0}" 'BEGIN { if (n > 0) printf "%.0f", i / n; else print "-" }'; }

# Simulated misses per request, summed over the callgrind files given (--cache).
misses_of() {
  cat "$@" 2>/dev/null | awk -v n="${requests:-0}" '
    /^events:/ { for (i = 2; i <= NF; i++) at[$i] = i }
    /^(summary|totals):/ { i1 += $at["I1mr"]; d1 += $at["D1mr"] + $at["D1mw"]; bm += $at["Bcm"] + $at["Bim"] }
    END { if (n > 0) printf "%12.0f %12.0f %12.0f", i1 / n, d1 / n, bm / n }'
}

SIM=()
[ "$CACHE" = 1 ] && SIM=(--cache-sim=yes --branch-sim=yes)
printf '%-14s %12s %10s %16s %16s' target instructions requests instr/request worker/request
[ "$CACHE" = 1 ] && printf ' %12s %12s %12s' I1-misses D1-misses mispredicts
printf '   (%s)\n' "$WORKLOAD"
for target in "${TARGETS[@]}"; do
  name=${target%%=*} binary=${target#*=}
  port=$(free_port); used_ports+=("$port")
  if [ "$binary" = nginx ]; then
    nginx_conf "$name" "$port" "$PROXY_BODY"
    sed -i 's/^daemon off;/daemon off;\nmaster_process off;/' "$WORK/$name/nginx.conf"
    valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes "${SIM[@]}" \
      --callgrind-out-file="$WORK/$name/callgrind.%p" \
      nginx -c "$WORK/$name/nginx.conf" > "$WORK/$name/valgrind.log" 2>&1 &
  else
    admin=$(free_port); used_ports+=("$admin")
    rampart_target_conf "$WORK/$name" "$port" "$admin"
    RAMPART_WORKERS=1 RAMPART_LOG=warn valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes "${SIM[@]}" \
      --callgrind-out-file="$WORK/$name/callgrind.%p" \
      "$binary" serve --config "$WORK/$name/rampart.yaml" > "$WORK/$name/valgrind.log" 2>&1 &
  fi
  vpid=$!
  PIDS+=("$vpid")
  for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.5; done
  workload_args "$WORKLOAD" "$port"
  # Warm-up (pool, caches, allocator), not counted.
  wrk -t1 -c4 -d3s "${WRK_ARGS[@]}" > /dev/null 2>&1 || true
  callgrind_control -i on "$vpid" > /dev/null 2>&1
  wrk -t1 -c4 -d8s "${WRK_ARGS[@]}" > "$WORK/$name/wrk.out" 2>&1 || true
  callgrind_control -i off "$vpid" > /dev/null 2>&1
  callgrind_control -d "$vpid" > /dev/null 2>&1
  sleep 1
  kill "$vpid" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
  requests=$(awk '/ requests in / { print $1 }' "$WORK/$name/wrk.out")
  # The dump taken above (callgrind.PID.1-TT, one file per thread TT; 01 is
  # the main thread) holds the counted run.
  instructions=$(sum_of "$WORK/$name"/callgrind.*.1-*)
  worker=$(sum_of "$WORK/$name"/callgrind.*.1-01)
  printf '%-14s %12s %10s %16s %16s' "$name" "$instructions" "${requests:-0}" \
    "$(per_request "$instructions")" "$(per_request "$worker")"
  [ "$CACHE" = 1 ] && printf ' %s' "$(misses_of "$WORK/$name"/callgrind.*.1-*)"
  printf '\n'
  if [ -n "$KEEP" ]; then
    # NAME.callgrind: the worker (main thread); every thread as NAME.thread-TT.callgrind.
    cp "$WORK/$name"/callgrind.*.1-01 "$KEEP/$name.callgrind"
    for f in "$WORK/$name"/callgrind.*.1-*; do
      cp "$f" "$KEEP/$name.thread-${f##*-}.callgrind"
    done
  fi
done
