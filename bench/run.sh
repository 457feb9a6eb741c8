#!/usr/bin/env bash
# End-to-end load comparison (not a test): Rampart vs nginx as reverse proxies to
# the same nginx origin, one worker each, wrk on the same machine, alternating runs.
#
#   bench/run.sh [--duration 10s] [--connections 50] [--rounds 2] [--waf] [--pgo] [--bolt]
#
# --pgo measures the profile-guided build of bench/pgo.sh (built first, about
# three times as long as the production build) instead of the production one;
# --bolt the post-link optimised build of bench/bolt.sh (the production build
# laid out by LLVM BOLT from a profile; with --pgo, bench/bolt.sh --pgo).
# RAMPART_BINARY=PATH measures that binary and builds nothing (a second run of
# a build already made: bench/pgo.sh and bench/bolt.sh retrain and rebuild
# every time).
# --waf adds nginx + ModSecurity v3 + Debian's CRS (paranoia 1, blocking, request
# body access on) and Rampart with the same CRS, plus a request that is blocked
# and the GET with a different token on every request (get-unique).
# nginx-eq is nginx configured to do Rampart's own per-request work (request ids,
# X-Forwarded-*, hiding upstream software headers, a JSON log line per request:
# bench/common.sh), next to plain nginx, which does none of it.
# Prints req/s, p50, p99 per target and workload, Rampart/nginx ratios, and a
# round-by-round verdict against plain nginx.
# Everything listens on 127.0.0.1; every server started here is stopped on exit.
set -euo pipefail
# Resolved before the cd below, so a path relative to the caller works.
if [ -n "${RAMPART_BINARY:-}" ]; then
  RAMPART_BINARY=$(realpath "$RAMPART_BINARY")
  [ -x "$RAMPART_BINARY" ] || { echo "RAMPART_BINARY: $RAMPART_BINARY is not an executable" >&2; exit 2; }
fi
cd "$(dirname "$0")/.."

DURATION=10s CONNECTIONS=50 ROUNDS=2 WAF=0 PGO=0 BOLT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --waf) WAF=1; shift ;;
    --pgo) PGO=1; shift ;;
    --bolt) BOLT=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
if [ "$WAF" = 1 ]; then
  [ -f /usr/lib/nginx/modules/ngx_http_modsecurity_module.so ] || need+=(libnginx-mod-http-modsecurity)
  [ -d /usr/share/modsecurity-crs ] || need+=(modsecurity-crs)
fi
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The deployable build (Cargo.toml [profile.production]: fat LTO, one codegen
# unit); BENCH_PROFILE=release measures the everyday release build instead.
PROFILE=${BENCH_PROFILE:-production}
if [ -n "${RAMPART_BINARY:-}" ]; then
  RAMPART=$RAMPART_BINARY
elif [ "$BOLT" = 1 ]; then
  bolt_args=()
  [ "$PGO" = 1 ] && bolt_args+=(--pgo)
  RAMPART=$(bench/bolt.sh "${bolt_args[@]}" | tail -1)
elif [ "$PGO" = 1 ]; then
  RAMPART=$(bench/pgo.sh | tail -1)
else
  cargo build --profile "$PROFILE" -q -p rampart
  RAMPART=${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE/rampart
fi

# shellcheck source=bench/common.sh
source bench/common.sh rampart-bench
declare -A PID_OF

ORIGIN=18080 NGINX=18081 RAMPART_PORT=18082 NGINX_WAF=18083 RAMPART_WAF=18084 NGINX_EQ=18085 ADMIN=19901 ADMIN_WAF=19902

nginx_conf origin $ORIGIN "$ORIGIN_BODY"
nginx_conf nginx $NGINX "$PROXY_BODY"
nginx -c "$WORK/origin/nginx.conf" & PIDS+=($!)
nginx -c "$WORK/nginx/nginx.conf" & PIDS+=($!); NGINX_PID=$!
nginx_conf nginx-eq $NGINX_EQ "$(nginx_eq_body "$WORK/nginx-eq/access.log")" "$NGINX_EQ_HTTP"
nginx -c "$WORK/nginx-eq/nginx.conf" & PIDS+=($!); NGINX_EQ_PID=$!

rampart_conf "$WORK/rampart.yaml" $RAMPART_PORT $ADMIN "$WORK/log"
RAMPART_WORKERS=1 RAMPART_LOG=warn "$RAMPART" serve --config "$WORK/rampart.yaml" & PIDS+=($!); RAMPART_PID=$!

TARGETS=("nginx:$NGINX" "nginx-eq:$NGINX_EQ" "rampart:$RAMPART_PORT")
PID_OF[nginx]=$NGINX_PID PID_OF[nginx-eq]=$NGINX_EQ_PID PID_OF[rampart]=$RAMPART_PID
if [ "$WAF" = 1 ]; then
  cat > "$WORK/modsecurity.conf" <<CONF
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecResponseBodyAccess Off
SecAuditEngine Off
SecDebugLogLevel 0
SecArgumentSeparator &
SecCookieFormat 0
SecTmpDir $WORK
SecDataDir $WORK
# ModSecurity's recommended body-processor rules (modsecurity.conf-recommended,
# 200000-200003), which Rampart's WAF stage also loads: JSON and XML bodies are
# parsed into ARGS, so both engines inspect the same values.
SecRule REQUEST_HEADERS:Content-Type "@rx (?:application(?:/soap\\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "@rx application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation'"
# libmodsecurity has no IncludeOptional (used by Debian's owasp-crs.load).
Include /etc/modsecurity/crs/crs-setup.conf
Include /etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf
Include /usr/share/modsecurity-crs/rules/*.conf
Include /etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf
CONF
  nginx_conf nginx-waf $NGINX_WAF "modsecurity on; modsecurity_rules_file $WORK/modsecurity.conf; $PROXY_BODY"
  nginx -c "$WORK/nginx-waf/nginx.conf" & PIDS+=($!); NGINX_WAF_PID=$!
  PID_OF[nginx-modsec]=$NGINX_WAF_PID
  if [ -f bench/rampart-waf.yaml.in ]; then
    sed -e "s#@PORT@#$RAMPART_WAF#; s#@ADMIN@#$ADMIN_WAF#; s#@ORIGIN@#$ORIGIN#; s#@WORK@#$WORK#" bench/rampart-waf.yaml.in > "$WORK/rampart-waf.yaml"
    RAMPART_WORKERS=1 RAMPART_LOG=warn "$RAMPART" serve --config "$WORK/rampart-waf.yaml" & PIDS+=($!); RAMPART_WAF_PID=$!
    TARGETS+=("nginx-modsec:$NGINX_WAF" "rampart-waf:$RAMPART_WAF")
    PID_OF[rampart-waf]=$RAMPART_WAF_PID
  else
    TARGETS+=("nginx-modsec:$NGINX_WAF")
  fi
fi

# Wait for every port.
for port in $ORIGIN $NGINX $NGINX_EQ $RAMPART_PORT $( [ "$WAF" = 1 ] && echo "$NGINX_WAF $RAMPART_WAF" ); do
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
sleep 1

run() { # target-name port workload -> "rps p50 p99 non2xx cpu_us_per_request"
  local before after
  workload_args "$3" "$2"
  read -r u s < <(cpu_ticks "${PID_OF[$1]}"); before=$((u + s))
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "${WRK_ARGS[@]}" > "$WORK/wrk.out" 2>&1 || true
  read -r u s < <(cpu_ticks "${PID_OF[$1]}"); after=$((u + s))
  awk -v ticks=$(( after - before )) -v hz="$TICK_HZ" '
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    /Non-2xx/ { non2xx = $NF }
    / requests in / { total = $1 }
    END {
      cpu = (total > 0) ? ticks * 1e6 / hz / total : 0
      printf "%s %s %s %s %.1f\n", rps, p50, p99, (non2xx == "" ? 0 : non2xx), cpu
    }' "$WORK/wrk.out"
}

WORKLOADS=(get post)
[ "$WAF" = 1 ] && WORKLOADS+=(blocked get-unique)
printf '%-14s %-8s %-6s %12s %10s %10s %10s %12s\n' target workload round req/s p50 p99 non-2xx cpu_us/req
declare -A SUM CPU
# Every result line, for the per-round verdict below.
: > "$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
  # Targets in the opposite order every other round: the first of a round
  # neither always nor never runs right after the previous round's last.
  order=("${TARGETS[@]}")
  if [ $((round % 2)) = 0 ]; then
    order=()
    for ((i = ${#TARGETS[@]} - 1; i >= 0; i--)); do order+=("${TARGETS[$i]}"); done
  fi
  for workload in "${WORKLOADS[@]}"; do
    for target in "${order[@]}"; do
      name=${target%%:*} port=${target##*:}
      read -r rps p50 p99 non2xx cpu < <(run "$name" "$port" "$workload")
      printf '%-14s %-8s %-6s %12s %10s %10s %10s %12s\n' "$name" "$workload" "$round" "$rps" "$p50" "$p99" "$non2xx" "$cpu"
      # A run wrk could not report leaves fields empty: marked, not shifted.
      echo "$name $workload $round ${rps:-0} ${p99:--} ${non2xx:-0}" >> "$WORK/results"
      CPU[$name/$workload]=$(awk -v a="${CPU[$name/$workload]:-0}" -v b="$cpu" 'BEGIN { print a + b }')
      SUM[$name/$workload]=$(awk -v a="${SUM[$name/$workload]:-0}" -v b="$rps" 'BEGIN { print a + b }')
    done
  done
done
echo
for workload in "${WORKLOADS[@]}"; do
  n=${SUM[nginx/$workload]:-0} r=${SUM[rampart/$workload]:-0}
  awk -v n="$n" -v r="$r" -v w="$workload" 'BEGIN { if (n > 0) printf "rampart/nginx %-8s req/s ratio: %.2f\n", w, r / n }'
  e=${SUM[nginx-eq/$workload]:-0}
  awk -v n="$e" -v r="$r" -v w="$workload" 'BEGIN { if (n > 0) printf "rampart/nginx-eq %-8s req/s ratio: %.2f (nginx doing the same per-request work: ids, X-Forwarded-*, a JSON log line)\n", w, r / n }'
  nc=${CPU[nginx/$workload]:-0} rc=${CPU[rampart/$workload]:-0} ec=${CPU[nginx-eq/$workload]:-0}
  awk -v n="$nc" -v r="$rc" -v w="$workload" 'BEGIN { if (r > 0) printf "nginx/rampart %-8s CPU-per-request ratio: %.2f (above 1: Rampart spends less CPU per request)\n", w, n / r }'
  awk -v n="$ec" -v r="$rc" -v w="$workload" 'BEGIN { if (r > 0) printf "nginx-eq/rampart %-8s CPU-per-request ratio: %.2f\n", w, n / r }'
  if [ "$WAF" = 1 ]; then
    m=${SUM[nginx-modsec/$workload]:-0} rw=${SUM[rampart-waf/$workload]:-0}
    awk -v m="$m" -v r="$rw" -v w="$workload" 'BEGIN { if (m > 0 && r > 0) printf "rampart-waf/nginx-modsec %-8s req/s ratio: %.1f\n", w, r / m }'
  fi
done
# Round by round against plain nginx: how often Rampart answered more requests
# and had a p99 no higher, and the median p99 of each (wrk's units made ms).
# A round where either failed (no report from wrk, or any non-2xx answer) is
# left out and counted as such.
for workload in get post; do
  awk -v w="$workload" '
    function ms(t) {
      if (t ~ /us$/) return substr(t, 1, length(t) - 2) / 1000
      if (t ~ /ms$/) return substr(t, 1, length(t) - 2) + 0
      if (t ~ /s$/) return substr(t, 1, length(t) - 1) * 1000
      return t + 0
    }
    function median(a, n,    i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    $2 == w && ($1 == "nginx" || $1 == "rampart") {
      rounds[$3] = 1
      if ($4 + 0 > 0 && $5 != "-" && $6 + 0 == 0) { rps[$1, $3] = $4; p99[$1, $3] = ms($5) } else failed[$3] = 1
    }
    END {
      for (r in rounds) {
        if ((r in failed) || !((("nginx", r) in rps) && (("rampart", r) in rps))) { left_out++; continue }
        n++; np[n] = p99["nginx", r]; rp[n] = p99["rampart", r]
        if (rps["rampart", r] >= rps["nginx", r]) ahead++
        if (p99["rampart", r] <= p99["nginx", r]) lower++
      }
      if (n > 0) printf "rampart vs nginx %-8s rounds with more req/s: %d/%d; with p99 no higher: %d/%d; median p99 nginx %.2f ms, rampart %.2f ms\n", w, ahead, n, lower, n, median(np, n), median(rp, n)
      if (left_out > 0) printf "rampart vs nginx %-8s rounds left out (a failed run or non-2xx answers): %d\n", w, left_out
    }' "$WORK/results"
done
if [ "$WAF" = 1 ]; then
  r=${SUM[rampart/get]:-0} rw=${SUM[rampart-waf/get]:-0}
  awk -v r="$r" -v rw="$rw" 'BEGIN { if (r > 0) printf "rampart-waf/rampart get      req/s kept with the CRS: %.0f%%\n", 100 * rw / r }'
fi

# Resident memory after the run (peak and current), each server with its children.
echo
for name in "${!PID_OF[@]}"; do
  pids=("${PID_OF[$name]}" $(pgrep -P "${PID_OF[$name]}" || true))
  awk -v name="$name" '/^VmHWM/ { hwm += $2 } /^VmRSS/ { rss += $2 }
    END { printf "%-14s RSS %6.1f MB (peak %.1f MB)\n", name, rss / 1024, hwm / 1024 }' \
    $(for pid in "${pids[@]}"; do [ -r "/proc/$pid/status" ] && echo "/proc/$pid/status"; done)
done
