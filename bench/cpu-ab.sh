#!/usr/bin/env bash
# CPU per request of Rampart builds side by side (not a test): an A/B tool for
# speed work. Starts an nginx origin, nginx as a reverse proxy, and one Rampart
# per given binary (each with one worker, the bench/run.sh configuration; plus
# nginx-eq, nginx doing Rampart's per-request work, see bench/common.sh), then
# runs `wrk -t1 -c50` against each in alternation and prints, per target, the
# median user and system CPU microseconds per request (/proc/PID/stat of the
# process and its children) and the median req/s. Beside them, the CPU per
# request of the two other processes every request runs through, the nginx
# origin and wrk itself (`all_us`: proxy + origin + wrk, user + system), and
# the whole machine's busy time per request (`machine_us`: every CPU's
# non-idle time in /proc/stat, interrupt time included, which no process is
# charged with). On a machine whose cores all three share, a proxy's saving
# is worth at most its share of the whole. Last, how the proxy's busiest
# thread (its one worker) spent the wrk run's wall time (/proc/.../schedstat,
# read right before and after wrk): running (`run%`) and runnable but waiting
# for a core (`wait%`); the rest it slept, with nothing to do.
#
# nginx, wrk and GNU time are installed from Debian's packages when missing
# (apt-get: run as root).
#
#   bench/cpu-ab.sh [--rounds 5] [--duration 3s] [--workload get|get-unique|post|blocked] [--waf] NAME=BINARY...
#
# --waf runs each Rampart with bench/rampart-waf.yaml.in (Debian's CRS, paranoia 1,
# blocking), the configuration bench/run.sh --waf measures.
#
# e.g. bench/cpu-ab.sh before=/tmp/rampart-old after=target/release/rampart
# CPU per request is the figure to compare the proxy's own work by on a shared
# machine; req/s is not.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=5 DURATION=3s WORKLOAD=get WAF=0
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --workload) WORKLOAD=$2; shift 2 ;;
    --waf) WAF=1; shift ;;
    *=*) TARGETS+=("$1"); shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || { echo "give at least one NAME=BINARY" >&2; exit 2; }

# nginx, wrk and GNU time (wrk's CPU), from Debian's packages when missing.
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# shellcheck source=bench/common.sh
source bench/common.sh rampart-cpu-ab

# busy_ticks: clock ticks all CPUs spent not idle (user, nice, system, irq,
# softirq, steal; not idle or iowait), from /proc/stat's first line.
busy_ticks() {
  awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# thread_times PID: "TID RUN_NS WAIT_NS" for every thread of the process and
# of its direct children.
thread_times() {
  local pid f
  for pid in "$1" $(pgrep -P "$1" || true); do
    for f in /proc/"$pid"/task/*/schedstat; do
      [ -r "$f" ] || continue
      f=${f%/schedstat}
      echo "${f##*/} $(cut -d' ' -f1,2 "$f/schedstat")"
    done
  done
}

ORIGIN=$(free_port); used_ports+=("$ORIGIN")
NGINX=$(free_port); used_ports+=("$NGINX")
nginx_conf origin $ORIGIN "$ORIGIN_BODY"
nginx_conf nginx $NGINX "$PROXY_BODY"
nginx -c "$WORK/origin/nginx.conf" & PIDS+=($!)
ORIGIN_PID=$!
nginx -c "$WORK/nginx/nginx.conf" & PIDS+=($!)
ALL=("nginx:$!:$NGINX")
# nginx doing Rampart's per-request work too (bench/common.sh).
NGINX_EQ=$(free_port); used_ports+=("$NGINX_EQ")
nginx_conf nginx-eq $NGINX_EQ "$(nginx_eq_body "$WORK/nginx-eq/access.log")" "$NGINX_EQ_HTTP"
nginx -c "$WORK/nginx-eq/nginx.conf" & PIDS+=($!)
ALL+=("nginx-eq:$!:$NGINX_EQ")

for target in "${TARGETS[@]}"; do
  name=${target%%=*} binary=${target#*=}
  port=$(free_port); used_ports+=("$port")
  admin=$(free_port); used_ports+=("$admin")
  rampart_target_conf "$WORK/$name" "$port" "$admin"
  RAMPART_WORKERS=1 RAMPART_LOG=warn "$binary" serve --config "$WORK/$name/rampart.yaml" & PIDS+=($!)
  ALL+=("$name:$!:$port")
done
for entry in "${ALL[@]}"; do
  p=${entry##*:}
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
done
sleep 1
for pid in "${PIDS[@]}"; do
  kill -0 "$pid" 2>/dev/null || { echo "a server did not start (pid $pid); see the messages above" >&2; exit 1; }
done

for round in $(seq 1 "$ROUNDS"); do
  for entry in "${ALL[@]}"; do
    IFS=: read -r name pid p <<< "$entry"
    workload_args "$WORKLOAD" "$p"
    read -r u0 s0 < <(cpu_ticks "$pid")
    read -r ou0 os0 < <(cpu_ticks "$ORIGIN_PID")
    read -r b0 < <(busy_ticks)
    thread_times "$pid" > "$WORK/threads.before"
    t0=$(date +%s%N)
    # wrk's own CPU: its rusage, as it exits (GNU time's seconds, 10 ms steps).
    /usr/bin/time -f "%U %S" -o "$WORK/wrk.time" \
      wrk -t1 -c50 -d"$DURATION" "${WRK_ARGS[@]}" > "$WORK/wrk.out" 2>&1 || true
    t1=$(date +%s%N)
    thread_times "$pid" > "$WORK/threads.after"
    read -r u1 s1 < <(cpu_ticks "$pid")
    read -r ou1 os1 < <(cpu_ticks "$ORIGIN_PID")
    read -r b1 < <(busy_ticks)
    # The thread that ran the most: its running and waiting shares, in %
    # (threads matched by id; one that started or ended meanwhile is left out).
    read -r run wait < <(awk -v wall=$((t1 - t0)) '
      NR == FNR { run[$1] = $2; waited[$1] = $3; next }
      $1 in run && $2 - run[$1] > best { best = $2 - run[$1]; w = $3 - waited[$1] }
      END { printf "%.1f %.1f\n", best * 100 / wall, w * 100 / wall }' \
      "$WORK/threads.before" "$WORK/threads.after")
    read -r wu ws < <(tail -n 1 "$WORK/wrk.time")
    awk -v n="$name" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$TICK_HZ" \
      -v o=$((ou1 - ou0 + os1 - os0)) -v w="$wu $ws" -v b=$((b1 - b0)) -v rw="$run $wait" '
      / requests in / { total = $1 } /Requests\/sec/ { rps = $2 }
      END {
        if (total == 0) exit
        split(w, ws, " "); proxy = (u + s) * 1e6 / hz / total
        origin = o * 1e6 / hz / total; wrk = (ws[1] + ws[2]) * 1e6 / total
        printf "%s %.2f %.2f %d %.2f %.2f %.2f %.2f %s\n", n, u * 1e6 / hz / total, s * 1e6 / hz / total, rps, origin, wrk, proxy + origin + wrk, b * 1e6 / hz / total, rw
      }' "$WORK/wrk.out" >> "$WORK/results"
  done
done
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
printf '%-12s %10s %10s %10s %10s %10s %10s %10s %6s %6s   (%s, %s rounds of %s, medians; µs per request)\n' \
  target user_us sys_us req/s origin_us wrk_us all_us machine_us run% wait% "$WORKLOAD" "$ROUNDS" "$DURATION"
for entry in "${ALL[@]}"; do
  name=${entry%%:*}
  row=()
  for column in 2 3 4 5 6 7 8 9 10; do
    row+=("$(awk -v n="$name" -v c="$column" '$1 == n { print $c }' "$WORK/results" | median)")
  done
  printf '%-12s %10s %10s %10s %10s %10s %10s %10s %6s %6s\n' "$name" "${row[@]}"
done
