#!/usr/bin/env bash
# CPU per request of Rampart builds side by side (not a test): an A/B tool for
# speed work. Starts an nginx origin, nginx as a reverse proxy, and one Rampart
# per given binary (each with one worker, the bench/run.sh configuration), then
# runs `wrk -t1 -c50` against each in alternation and prints, per target, the
# median user and system CPU microseconds per request (/proc/PID/stat of the
# process and its children) and the median req/s.
#
#   bench/cpu-ab.sh [--rounds 5] [--duration 3s] [--workload get|post] NAME=BINARY...
#
# e.g. bench/cpu-ab.sh before=/tmp/rampart-old after=target/release/rampart
# CPU per request is the figure to compare on a shared machine; req/s is not.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=5 DURATION=3s WORKLOAD=get
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --workload) WORKLOAD=$2; shift 2 ;;
    *=*) TARGETS+=("$1"); shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || { echo "give at least one NAME=BINARY" >&2; exit 2; }

WORK=$(mktemp -d /tmp/rampart-cpu-ab.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Free ports, picked at random below the ephemeral range (other benchmarks may
# be running, and wrk's own connections take ephemeral ports).
used_ports=()
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    [[ " ${used_ports[*]} " == *" $p "* ]] && continue
    [ -z "$(ss -Htan "sport = :$p")" ] && { echo "$p"; return; }
  done
}
ORIGIN=$(free_port); used_ports+=("$ORIGIN")
NGINX=$(free_port); used_ports+=("$NGINX")
nginx_conf() { # name port body
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/error.log warn;
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
nginx -c "$WORK/nginx/nginx.conf" & PIDS+=($!)
ALL=("nginx:$!:$NGINX")

for target in "${TARGETS[@]}"; do
  name=${target%%=*} binary=${target#*=}
  port=$(free_port); used_ports+=("$port")
  admin=$(free_port); used_ports+=("$admin")
  mkdir -p "$WORK/$name/log"
  cat > "$WORK/$name/rampart.yaml" <<YAML
listeners:
  - bind: 127.0.0.1:$port
admin:
  bind: 127.0.0.1:$admin
audit:
  sinks:
    - file: {path: $WORK/$name/log/audit.jsonl, max_bytes: 256MiB, keep: 1}
apis:
  - name: bench
    upstream:
      url: http://127.0.0.1:$ORIGIN
YAML
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

TOKEN=$(head -c 525 /dev/zero | tr '\0' 'a' | base64 -w0 | head -c 700)
cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local items = {}
for i = 1, 16 do items[#items + 1] = string.format('{"id":%d,"name":"item-%02d","qty":%d}', i, i, i * 3) end
wrk.body = '{"order":{"customer":"alice@example.com","note":"deliver to the back door","items":[' .. table.concat(items, ",") .. ']}}'
LUA
ticks() { # pid -> "user system" clock ticks of it and its children
  local u=0 s=0 pid a b
  for pid in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$pid/stat" ] || continue
    read -r a b < <(awk '{ sub(/^.*\) /, ""); print $12, $13 }' "/proc/$pid/stat")
    u=$((u + a)) s=$((s + b))
  done
  echo "$u $s"
}
HZ=$(getconf CLK_TCK)
for round in $(seq 1 "$ROUNDS"); do
  for entry in "${ALL[@]}"; do
    IFS=: read -r name pid p <<< "$entry"
    case "$WORKLOAD" in
      get) args=(-H "Authorization: Bearer $TOKEN" -H "Accept: application/json" -H "User-Agent: bench/1.0" -H "Accept-Language: en" "http://127.0.0.1:$p/api/users?page=2") ;;
      post) args=(-s "$WORK/post.lua" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$p/api/orders") ;;
      *) echo "unknown workload $WORKLOAD" >&2; exit 2 ;;
    esac
    read -r u0 s0 < <(ticks "$pid")
    wrk -t1 -c50 -d"$DURATION" "${args[@]}" > "$WORK/wrk.out" 2>&1 || true
    read -r u1 s1 < <(ticks "$pid")
    awk -v n="$name" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$HZ" '
      / requests in / { total = $1 } /Requests\/sec/ { rps = $2 }
      END { if (total > 0) printf "%s %.2f %.2f %d\n", n, u * 1e6 / hz / total, s * 1e6 / hz / total, rps }' \
      "$WORK/wrk.out" >> "$WORK/results"
  done
done
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
printf '%-12s %10s %10s %10s   (%s, %s rounds of %s, medians)\n' target user_us sys_us req/s "$WORKLOAD" "$ROUNDS" "$DURATION"
for entry in "${ALL[@]}"; do
  name=${entry%%:*}
  printf '%-12s %10s %10s %10s\n' "$name" \
    "$(awk -v n="$name" '$1 == n { print $2 }' "$WORK/results" | median)" \
    "$(awk -v n="$name" '$1 == n { print $3 }' "$WORK/results" | median)" \
    "$(awk -v n="$name" '$1 == n { print $4 }' "$WORK/results" | median)"
done
