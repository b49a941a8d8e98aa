#!/usr/bin/env bash
# Webhook throughput through the outbox, release build, against nginx answering 204 on
# loopback (http-hmac transport: a WASM call, an HMAC signature and an HTTP POST each).
#
# 0. Issuance with no webhook subscribed, for comparison.
# 1. Issuance with a subscribed webhook, delivery off ([webhooks] deliver = false): wrk
#    drives certificate issuance; every issuance writes its certificate, its audit event
#    and its webhook event in one transaction. Prints issuances/s.
# 2. Drain: the server restarts with delivery on; the time until the last of those events
#    is delivered gives events/s through the outbox.
# 3. Live: issuance and delivery at once; prints issuances/s and events delivered/s.
# Usage: bench/webhooks.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
connections=${2:-16}

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y wrk >/dev/null; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "installing nginx"; apt-get install -y nginx >/dev/null; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --release -p keystead --quiet

work=$(mktemp -d)
pid=""
nginx_pid=""
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  [ -n "$nginx_pid" ] && { kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
now() { python3 -c 'import time; print(time.time())'; }

# ---- the receiver: nginx, 204 for every POST ----
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 204; }
  }
}
CONF
"$nginx_bin" -c "$work/nginx/nginx.conf" &
nginx_pid=$!

# ---- Keystead ----
port=$(free_port)
base="http://127.0.0.1:$port"
start_server() { # deliver=true|false
  cat >"$work/keystead.toml" <<TOML
[log]
filter = "warn"
[rate_limit]
enabled = false
[webhooks]
deliver = $1
TOML
  KEYSTEAD_DATA_DIR="$work/data" KEYSTEAD_LISTEN="127.0.0.1:$port" KEYSTEAD_BOOTSTRAP_TOKEN=bench-token \
    KEYSTEAD_ALLOW_LOOPBACK=true ./target/release/keystead serve --config "$work/keystead.toml" 2>>"$work/server.log" &
  pid=$!
  for _ in $(seq 200); do curl -sf "$base/healthz" >/dev/null && return 0; sleep 0.05; done
  echo "the server did not start" >&2; cat "$work/server.log" >&2; exit 1
}
stop_server() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
k() { curl -sf -H 'X-API-Key: bench-token' -H 'Content-Type: application/json' "$@"; }
pending() { k "$base/api/webhooks/$hook/deliveries?status=pending&per_page=1" | json 'd["pagination"]["total"]'; }
delivered() { k "$base/api/webhooks/$hook/deliveries?status=delivered&per_page=1" | json 'd["pagination"]["total"]'; }

start_server false
ca=$(k -d '{"name":"bench-root","kind":"root","subject":{"common_name":"Bench Root"},"key_algorithm":"ECDSA","key_size":256}' \
  "$base/api/v1/cas" | json 'd["id"]')
template=$(k -d "{\"name\":\"bench\",\"ca_id\":\"$ca\",\"rules\":{\"approval\":\"automatic\"}}" "$base/api/v1/templates" | json 'd["id"]')
project=$(k "$base/api/v1/projects" | json 'd["data"][0]["id"]')
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" \
  -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com -out "$work/leaf.csr" 2>/dev/null
csr_json=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$work/leaf.csr")
echo "{\"template_id\":\"$template\",\"project_id\":\"$project\",\"csr_source_mode\":\"uploaded_csr\",\"csr_pem\":$csr_json}" >"$work/issue.json"
cat >"$work/issue.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-API-Key"] = "bench-token"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("$work/issue.json"):read("*a")
LUA
issue() { # name
  wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$work/issue.lua" "$base/api/v1/certificates/csr" >"$work/$1.txt"
  if grep -q 'Non-2xx' "$work/$1.txt"; then echo "error: issuance answered errors" >&2; cat "$work/$1.txt" >&2; exit 1; fi
  awk '/Requests\/sec/ {print $2}' "$work/$1.txt"
}

echo "== 0. issuance, no webhook subscribed (wrk -t2 -c$connections -d${duration}s)"
rate=$(issue plain)
grep -E '50%|99%' "$work/plain.txt"
echo "issuances/s: $rate"

hook=$(k -d "{\"url\":\"http://127.0.0.1:$nginx_port/hook\",\"events\":[\"certificate.issued\"],\"secret\":\"bench-secret\"}" \
  "$base/api/webhooks" | json 'd["id"]')
echo "== 1. issuance with a subscribed webhook, delivery off (wrk -t2 -c$connections -d${duration}s)"
rate=$(issue queued)
grep -E '50%|99%' "$work/queued.txt"
queued=$(pending)
echo "issuances/s: $rate; events queued: $queued"

echo "== 2. drain: restart with delivery on"
stop_server
t0=$(now)
start_server true
while [ "$(pending)" != "0" ]; do sleep 0.1; done
t1=$(now)
python3 -c "import sys; n,a,b=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'delivered {n} events in {b-a:.2f} s (start-up included): {n/(b-a):,.0f} events/s')" "$queued" "$t0" "$t1"

echo "== 3. live: issuance and delivery at once (wrk -t2 -c$connections -d${duration}s)"
before=$(delivered)
t0=$(now)
rate=$(issue live)
grep -E '50%|99%' "$work/live.txt"
while [ "$(pending)" != "0" ]; do sleep 0.1; done
t1=$(now)
after=$(delivered)
python3 -c "import sys; r,n,a,b=float(sys.argv[1]),int(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]); print(f'issuances/s: {r:,.0f}; delivered {n} events in {b-a:.2f} s: {n/(b-a):,.0f} events/s')" \
  "$rate" "$((after - before))" "$t0" "$t1"
dead=$(k "$base/api/webhooks/$hook/deliveries?status=dead&per_page=1" | json 'd["pagination"]["total"]')
echo "dead deliveries: $dead"
