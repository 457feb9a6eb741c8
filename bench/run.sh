#!/usr/bin/env bash
# End-to-end load comparison (not a test): Rampart vs nginx as reverse proxies to
# the same nginx origin, one worker each, wrk on the same machine, alternating runs.
#
#   bench/run.sh [--duration 10s] [--connections 50] [--rounds 2] [--waf]
#
# --waf adds nginx + ModSecurity v3 + Debian's CRS (paranoia 1, blocking, request
# body access on) and Rampart with the same CRS, plus a request that is blocked.
# Prints req/s, p50, p99 per target and workload, and Rampart/nginx ratios.
# Everything listens on 127.0.0.1; every server started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10s CONNECTIONS=50 ROUNDS=2 WAF=0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --waf) WAF=1; shift ;;
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

cargo build --release -q -p rampart
RAMPART=${CARGO_TARGET_DIR:-$PWD/target}/release/rampart

WORK=$(mktemp -d /tmp/rampart-bench.XXXXXX)
declare -A PID_OF
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ORIGIN=18080 NGINX=18081 RAMPART_PORT=18082 NGINX_WAF=18083 RAMPART_WAF=18084 ADMIN=19901 ADMIN_WAF=19902

# The origin: a fixed JSON answer, for GET and POST alike.
nginx_conf() { # name port body
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/error.log warn;
$( [ "$1" = nginx-waf ] && echo "load_module /usr/lib/nginx/modules/ngx_http_modsecurity_module.so;" )
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/$1/body;
  proxy_temp_path $WORK/$1/proxy;
  upstream origin { server 127.0.0.1:$ORIGIN; keepalive 64; }
  server {
    listen 127.0.0.1:$2 reuseport backlog=4096;
    $3
  }
}
CONF
}
nginx_conf origin $ORIGIN 'location / { default_type application/json; return 200 "{\"ok\":true,\"items\":[1,2,3]}"; }'
nginx_conf nginx $NGINX 'location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }'
nginx -c "$WORK/origin/nginx.conf" & PIDS+=($!)
nginx -c "$WORK/nginx/nginx.conf" & PIDS+=($!); NGINX_PID=$!

# The audit log goes to its own directory, as in a real deployment: Rampart
# watches its configuration's directory for changes, and an audit file written
# there would wake that watcher on every flush.
mkdir -p "$WORK/log"
cat > "$WORK/rampart.yaml" <<YAML
listeners:
  - bind: 127.0.0.1:$RAMPART_PORT
admin:
  bind: 127.0.0.1:$ADMIN
audit:
  sinks:
    - file: {path: $WORK/log/audit.jsonl, max_bytes: 256MiB, keep: 1}
apis:
  - name: bench
    upstream:
      url: http://127.0.0.1:$ORIGIN
YAML
RAMPART_WORKERS=1 RAMPART_LOG=warn "$RAMPART" serve --config "$WORK/rampart.yaml" & PIDS+=($!); RAMPART_PID=$!

TARGETS=("nginx:$NGINX" "rampart:$RAMPART_PORT")
PID_OF[nginx]=$NGINX_PID PID_OF[rampart]=$RAMPART_PID
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
  nginx_conf nginx-waf $NGINX_WAF "modsecurity on; modsecurity_rules_file $WORK/modsecurity.conf; location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\"; }"
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
for port in $ORIGIN $NGINX $RAMPART_PORT $( [ "$WAF" = 1 ] && echo "$NGINX_WAF $RAMPART_WAF" ); do
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
sleep 1

TOKEN=$(head -c 525 /dev/zero | tr '\0' 'a' | base64 -w0 | head -c 700)
cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local items = {}
for i = 1, 16 do items[#items + 1] = string.format('{"id":%d,"name":"item-%02d","qty":%d}', i, i, i * 3) end
wrk.body = '{"order":{"customer":"alice@example.com","note":"deliver to the back door","items":[' .. table.concat(items, ",") .. ']}}'
LUA
cat > "$WORK/attack.lua" <<'LUA'
wrk.path = "/search?q=1'%20OR%20'1'%3D'1&id=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
LUA

# CPU ticks (user + system, all threads) of a server: the process with that
# pid and its direct children (nginx's worker is a child of its master).
cpu_ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$pid/stat" ] || continue
    total=$(( total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat") ))
  done
  echo "$total"
}
TICK_HZ=$(getconf CLK_TCK)

run() { # target-name port workload -> "rps p50 p99 non2xx cpu_us_per_request"
  local port=$2 workload=$3 args=() before after
  case "$workload" in
    get) args=(-H "Authorization: Bearer $TOKEN" -H "Accept: application/json" -H "User-Agent: bench/1.0" -H "Accept-Language: en" "http://127.0.0.1:$port/api/users?page=2") ;;
    post) args=(-s "$WORK/post.lua" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/orders") ;;
    blocked) args=(-s "$WORK/attack.lua" "http://127.0.0.1:$port/") ;;
  esac
  before=$(cpu_ticks "${PID_OF[$1]}")
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "${args[@]}" > "$WORK/wrk.out" 2>&1 || true
  after=$(cpu_ticks "${PID_OF[$1]}")
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
[ "$WAF" = 1 ] && WORKLOADS+=(blocked)
printf '%-14s %-8s %-6s %12s %10s %10s %10s %12s\n' target workload round req/s p50 p99 non-2xx cpu_us/req
declare -A SUM CPU
for round in $(seq 1 "$ROUNDS"); do
  for workload in "${WORKLOADS[@]}"; do
    for target in "${TARGETS[@]}"; do
      name=${target%%:*} port=${target##*:}
      read -r rps p50 p99 non2xx cpu < <(run "$name" "$port" "$workload")
      printf '%-14s %-8s %-6s %12s %10s %10s %10s %12s\n' "$name" "$workload" "$round" "$rps" "$p50" "$p99" "$non2xx" "$cpu"
      CPU[$name/$workload]=$(awk -v a="${CPU[$name/$workload]:-0}" -v b="$cpu" 'BEGIN { print a + b }')
      SUM[$name/$workload]=$(awk -v a="${SUM[$name/$workload]:-0}" -v b="$rps" 'BEGIN { print a + b }')
    done
  done
done
echo
for workload in "${WORKLOADS[@]}"; do
  n=${SUM[nginx/$workload]:-0} r=${SUM[rampart/$workload]:-0}
  awk -v n="$n" -v r="$r" -v w="$workload" 'BEGIN { if (n > 0) printf "rampart/nginx %-8s req/s ratio: %.2f\n", w, r / n }'
  nc=${CPU[nginx/$workload]:-0} rc=${CPU[rampart/$workload]:-0}
  awk -v n="$nc" -v r="$rc" -v w="$workload" 'BEGIN { if (r > 0) printf "nginx/rampart %-8s CPU-per-request ratio: %.2f (above 1: Rampart spends less CPU per request)\n", w, n / r }'
  if [ "$WAF" = 1 ]; then
    m=${SUM[nginx-modsec/$workload]:-0} rw=${SUM[rampart-waf/$workload]:-0}
    awk -v m="$m" -v r="$rw" -v w="$workload" 'BEGIN { if (m > 0 && r > 0) printf "rampart-waf/nginx-modsec %-8s req/s ratio: %.1f\n", w, r / m }'
  fi
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
