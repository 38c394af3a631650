#!/usr/bin/env bash
# The shed path against the machine's physical limit, in one run: wrk
# against a bare net/http handler answering 200, then against fairslot's
# front door refusing (429 from the address-prefix limit; 503 from a full
# public lane). Loopback only; each wrk run lasts DURATION.
# Usage: bash bench/shed.sh [DURATION]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-10s}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/fairslot" ./cmd/fairslot
go build -o "$tmp/fairsim" ./cmd/fairsim

wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return; sleep 0.2; done; echo "not up: $1"; exit 1; }
rate() { wrk -t2 -c64 -d"$D" "$1" | tee -a "$tmp/wrk.log" | awk '/Requests\/sec/ {print $2}'; }
codes() { curl -s -o /dev/null -w '%{http_code}' "$1"; }

"$tmp/fairsim" bare --addr 127.0.0.1:18090 --for 10m >/dev/null &
wait_up http://127.0.0.1:18090/
bare=$(rate http://127.0.0.1:18090/)

serve() { # $1: port, $2: config file
  "$tmp/fairslot" serve --demo --addr 127.0.0.1:$1 --data-dir "$tmp/data$1" --keyset "$tmp/keys$1.json" --config "$2" \
    >/dev/null 2>"$tmp/log$1" &
  wait_up http://127.0.0.1:$1/healthz
}
echo '{"log_level":"error"}' >"$tmp/limited.json"
serve 18091 "$tmp/limited.json"
limited=$(rate http://127.0.0.1:18091/api/v1/departments)

cat >"$tmp/full.json" <<'JSON'
{"log_level":"error","front_door":{"prefix_limit":{"rate":100000000,"per":"1s","burst":100000000},
 "public_lane":{"active":1,"queue":0,"deadline":"100ms"}}}
JSON
serve 18092 "$tmp/full.json"
full=$(rate http://127.0.0.1:18092/api/v1/departments/1/sessions)

echo "bare net/http 200:                    $bare req/s"
echo "fairslot 429 (prefix limit):          $limited req/s  ratio $(echo "$limited / $bare" | bc -l | cut -c1-4)"
echo "fairslot full public lane (503/200):  $full req/s  ratio $(echo "$full / $bare" | bc -l | cut -c1-4)"
grep -h -A1 'Non-2xx' "$tmp/wrk.log" || true
