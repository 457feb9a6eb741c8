#!/usr/bin/env bash
# Runs the OWASP CRS 3.3.4 regression suite (../shared/crs-tests/v3.3.4) against
# Rampart with Debian's CRS, through Rampart's audit log:
#
#   scripts/crs-conformance.sh [--paranoia N] [--release] [extra crs_ftw.py args]
#
# Installs what it needs (modsecurity-crs, python3-yaml), starts a trivial upstream
# and Rampart on free loopback ports, runs ../shared/tools/crs_ftw.py, stops both.
# The last line is the runner's summary: "N passed, M failed, K skipped".
set -euo pipefail
cd "$(dirname "$0")/.."

PARANOIA=1 PROFILE=debug EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --paranoia) PARANOIA=$2; shift 2 ;;
    --release) PROFILE=release; shift ;;
    *) EXTRA+=("$1"); shift ;;
  esac
done

SHARED=${RAMPART_SHARED:-../shared}
TESTS=$SHARED/crs-tests/v3.3.4
RUNNER=$SHARED/tools/crs_ftw.py
[ -d "$TESTS" ] && [ -f "$RUNNER" ] || { echo "missing $TESTS or $RUNNER" >&2; exit 2; }

need=()
[ -d /usr/share/modsecurity-crs/rules ] || need+=(modsecurity-crs)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# RAMPART_BIN: a binary already built (scripts/test.sh passes the one `cargo
# test` built: `cargo build -p rampart` resolves features apart from the
# workspace's test build and would compile a second copy of every crate).
if [ -n "${RAMPART_BIN:-}" ]; then
  RAMPART=$RAMPART_BIN
else
  if [ "$PROFILE" = release ]; then cargo build -q --release -p rampart; else cargo build -q -p rampart; fi
  RAMPART=${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE/rampart
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK=$(mktemp -d /tmp/rampart-crs.XXXXXX)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

UPSTREAM=$(free_port) GATEWAY=$(free_port) ADMIN=$(free_port)
python3 scripts/crs-upstream.py "$UPSTREAM" & PIDS+=($!)
cat > "$WORK/rampart.yaml" <<YAML
listeners:
  - bind: 127.0.0.1:$GATEWAY
admin:
  bind: 127.0.0.1:$ADMIN
limits:
  max_body_bytes: 13MiB
  # Below the runner's 10 s per exchange, so a stalled request gets its 408 in time.
  header_read_timeout: 5s
audit:
  sinks:
    - file: {path: $WORK/audit.jsonl}
apis:
  - name: crs
    upstream:
      url: http://127.0.0.1:$UPSTREAM
    waf:
      rules:
        - /etc/modsecurity/crs/crs-setup.conf
        - /usr/share/modsecurity-crs/rules/*.conf
      paranoia_level: $PARANOIA
YAML
RAMPART_LOG=warn "$RAMPART" serve --config "$WORK/rampart.yaml" 2> "$WORK/rampart.log" & PIDS+=($!)
ready=0
for _ in $(seq 1 150); do
  if curl -s -o /dev/null "http://127.0.0.1:$ADMIN/readyz"; then ready=1; break; fi
  sleep 0.2
done
if [ "$ready" != 1 ]; then
  echo "rampart did not become ready; its log:" >&2
  cat "$WORK/rampart.log" >&2
  exit 2
fi

python3 "$RUNNER" --target "127.0.0.1:$GATEWAY" --tests "$TESTS" \
  --log "$WORK/audit.jsonl" --log-format jsonl \
  --rules /usr/share/modsecurity-crs/rules --paranoia "$PARANOIA" \
  --results "${CRS_RESULTS:-crs-ftw-results.txt}" "${EXTRA[@]}" | tail -n 40
