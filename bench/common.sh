# Shared by bench/run.sh and bench/cpu-ab.sh (sourced, not run): the nginx and
# Rampart configurations, the request token, the wrk workloads and CPU ticks,
# so that both tools measure the same setup. The configuration writers expect
# $ORIGIN.

# Sourced as `source bench/common.sh NAME`: a scratch directory $WORK
# (/tmp/NAME.*), removed at exit after the processes whose PIDs were added to
# $PIDS are stopped.
WORK=$(mktemp -d "/tmp/${1:?source bench/common.sh NAME}.XXXXXX")
PIDS=()
bench_cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap bench_cleanup EXIT

# nginx_conf NAME PORT SERVER-BODY [HTTP-SNIPPET]: one worker, keep-alive to the
# origin; the snippet goes in the http block (log formats).
nginx_conf() {
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
  ${4:-}
  server {
    listen 127.0.0.1:$2 reuseport backlog=4096;
    $3
  }
}
CONF
}

# The origin (a fixed JSON answer, for GET and POST alike) and nginx proxying to it.
ORIGIN_BODY='location / { default_type application/json; return 200 "{\"ok\":true,\"items\":[1,2,3]}"; }'
PROXY_BODY='location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }'

# nginx doing what Rampart does on every request without any stage: a request
# id kept or made, sent upstream and returned; X-Forwarded-For/-Proto/-Host;
# X-Powered-By hidden (nginx drops the upstream's Server by itself); and one
# JSON log line per request with the audit record's fields, buffered (Rampart
# batches its writes too). Differences left: nginx's durations are seconds,
# its time has a `msec` beside the cached second, and the query is logged
# without redaction. Plain nginx above does none of this (no log at all).
NGINX_EQ_HTTP='map $http_x_request_id $rid { "~^[A-Za-z0-9._:-]{1,128}$" $http_x_request_id; default $request_id; }
  log_format audit escape=json '"'"'{"ts":"$time_iso8601","msec":"$msec","request_id":"$rid","client_ip":"$remote_addr","method":"$request_method","host":"$host","path":"$uri","query":"$args","status":$status,"bytes_in":$request_length,"bytes_out":$bytes_sent,"duration_s":$request_time,"upstream_s":"$upstream_response_time"}'"'"';'
nginx_eq_body() { # LOG-FILE
  echo "access_log $1 audit buffer=256k flush=1s; server_tokens off;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_set_header X-Request-Id \$rid; add_header X-Request-Id \$rid always;
      proxy_set_header X-Forwarded-For \$remote_addr; proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host; proxy_hide_header X-Powered-By; }"
}

# rampart_conf FILE PORT ADMIN LOG-DIR: Rampart in front of the origin. The audit
# log goes to its own directory, as in a real deployment: Rampart watches its
# configuration's directory for changes, and an audit file written there would
# wake that watcher on every flush.
rampart_conf() {
  mkdir -p "$4"
  cat > "$1" <<YAML
listeners:
  - bind: 127.0.0.1:$2
admin:
  bind: 127.0.0.1:$3
audit:
  sinks:
    - file: {path: $4/audit.jsonl, max_bytes: 256MiB, keep: 1}
apis:
  - name: bench
    upstream:
      url: http://127.0.0.1:$ORIGIN
YAML
}

# rampart_target_conf DIR PORT ADMIN: DIR/rampart.yaml for one Rampart under
# test, its audit log in DIR/log; with WAF=1 bench/rampart-waf.yaml.in (the
# CRS at paranoia 1), else the plain proxy of rampart_conf.
rampart_target_conf() {
  mkdir -p "$1/log"
  if [ "${WAF:-0}" = 1 ]; then
    sed -e "s#@PORT@#$2#; s#@ADMIN@#$3#; s#@ORIGIN@#$ORIGIN#; s#@WORK@#$1#" \
      bench/rampart-waf.yaml.in > "$1/rampart.yaml"
  else
    rampart_conf "$1/rampart.yaml" "$2" "$3" "$1/log"
  fi
}

# Free ports, picked at random below the ephemeral range (other benchmarks may
# be running, and wrk's own connections take ephemeral ports). `$(free_port)`
# runs in a subshell: the caller adds the port to used_ports.
used_ports=()
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    [[ " ${used_ports[*]} " == *" $p "* ]] && continue
    [ -z "$(ss -Htan "sport = :$p")" ] && { echo "$p"; return; }
  done
}

# The workloads: a 700-byte bearer token (the same on every request, or a
# different one each time), a ~1 KB JSON POST, an attack.
TOKEN=$(head -c 525 /dev/zero | tr '\0' 'a' | base64 -w0 | head -c 700)
cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local items = {}
for i = 1, 16 do items[#items + 1] = string.format('{"id":%d,"name":"item-%02d","qty":%d}', i, i, i * 3) end
wrk.body = '{"order":{"customer":"alice@example.com","note":"deliver to the back door","items":[' .. table.concat(items, ",") .. ']}}'
LUA
# The GET with a different token on every request: what the GET costs when no
# value of it was seen before (the WAF remembers scans of values it has seen).
cat > "$WORK/get-unique.lua" <<'LUA'
local n = 0
local base = string.rep("YWFh", 170)
request = function()
  n = n + 1
  local headers = {
    ["Authorization"] = "Bearer " .. base .. string.format("%020d", n),
    ["Accept"] = "application/json",
    ["User-Agent"] = "bench/1.0",
    ["Accept-Language"] = "en",
  }
  return wrk.format("GET", "/api/users?page=2", headers)
end
LUA
cat > "$WORK/attack.lua" <<'LUA'
wrk.path = "/search?q=1'%20OR%20'1'%3D'1&id=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
LUA

# workload_args WORKLOAD PORT: sets the array WRK_ARGS (wrk's arguments after -d).
workload_args() {
  case "$1" in
    get) WRK_ARGS=(-H "Authorization: Bearer $TOKEN" -H "Accept: application/json" -H "User-Agent: bench/1.0" -H "Accept-Language: en" "http://127.0.0.1:$2/api/users?page=2") ;;
    get-unique) WRK_ARGS=(-s "$WORK/get-unique.lua" "http://127.0.0.1:$2/api/users?page=2") ;;
    post) WRK_ARGS=(-s "$WORK/post.lua" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$2/api/orders") ;;
    blocked) WRK_ARGS=(-s "$WORK/attack.lua" "http://127.0.0.1:$2/") ;;
    *) echo "unknown workload $1" >&2; exit 2 ;;
  esac
}

# cpu_ticks PID: "user system" clock ticks of the process and its direct
# children (nginx's worker is a child of its master).
cpu_ticks() {
  local u=0 s=0 pid a b
  for pid in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$pid/stat" ] || continue
    read -r a b < <(awk '{ sub(/^.*\) /, ""); print $12, $13 }' "/proc/$pid/stat")
    u=$((u + a)) s=$((s + b))
  done
  echo "$u $s"
}
TICK_HZ=$(getconf CLK_TCK)

# train_on_bench_traffic BINARY: the training runs of the profile-guided builds
# (bench/pgo.sh, bench/bolt.sh), each a few seconds of wrk against BINARY in
# front of the origin at $ORIGIN: the plain proxy's GET and POST, then the CRS
# WAF configuration's GET, POST, blocked and unique-token requests. BINARY is
# stopped with SIGTERM after each configuration (instrumented builds write
# their profiles when they exit). Fails if a run did not answer as it should.
# Sets TRAINED_PROCESSES: how many processes ran.
train_on_bench_traffic() {
  local WAF port admin pid workloads workload served refused expected
  TRAINED_PROCESSES=0
  for WAF in 0 1; do
    port=$(free_port); used_ports+=("$port")
    admin=$(free_port); used_ports+=("$admin")
    rampart_target_conf "$WORK/waf$WAF" "$port" "$admin"
    RAMPART_WORKERS=1 RAMPART_LOG=warn "$1" serve --config "$WORK/waf$WAF/rampart.yaml" \
      > "$WORK/waf$WAF/rampart.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    TRAINED_PROCESSES=$((TRAINED_PROCESSES + 1))
    for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    workloads=(get post)
    [ "$WAF" = 1 ] && workloads+=(blocked get-unique)
    for workload in "${workloads[@]}"; do
      workload_args "$workload" "$port"
      wrk -t1 -c50 -d5s "${WRK_ARGS[@]}" > "$WORK/wrk.out" 2>&1 || true
      served=$(awk '/ requests in / { print $1 }' "$WORK/wrk.out")
      refused=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$WORK/wrk.out")
      # A profile of a server that did not answer as it should (no answers,
      # errors for legitimate requests, an attack let through) would steer the
      # build wrong.
      expected=ok
      if [ "$workload" = blocked ]; then
        [ "${refused:-0}" -gt 0 ] || expected=bad
      else
        [ "${refused:-0}" -eq 0 ] || expected=bad
      fi
      if [ "${served:-0}" -lt 1000 ] || [ "$expected" = bad ]; then
        echo "training: $workload (WAF=$WAF) served ${served:-0} requests, ${refused:-0} not 2xx/3xx:" >&2
        cat "$WORK/wrk.out" "$WORK/waf$WAF/rampart.log" >&2
        exit 1
      fi
    done
    kill -TERM "$pid"
    wait "$pid" || true
  done
}
