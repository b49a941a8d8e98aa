#!/usr/bin/env bash
# Public JWKS `GET /api/keys/jwt/jwks/{accountId}` throughput and latency against a
# release build, and nginx serving the same bytes as a static file in the same run.
# Prints requests/s and p50/p99 latency for both and the ratio.
# Usage: bench/jwks.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
connections=${2:-64}

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

cat >"$work/keystead.toml" <<TOML
[log]
filter = "warn"
[rate_limit]
enabled = false
TOML
port=$(free_port)
KEYSTEAD_DATA_DIR="$work/data" KEYSTEAD_LISTEN="127.0.0.1:$port" KEYSTEAD_BOOTSTRAP_TOKEN=bench-token \
  ./target/release/keystead serve --config "$work/keystead.toml" 2>"$work/server.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

api() { curl -sf -H 'X-API-Key: bench-token' -H 'Content-Type: application/json' "$@"; }
# A realistic set: RSA, EC and Edwards keys, one rotated inside its rollover window.
for alg in RS256 ES256 EdDSA; do
  api -d "{\"name\":\"bench-$alg\",\"algorithm\":\"$alg\"}" "http://127.0.0.1:$port/api/keys/jwt/generate" >"$work/$alg.json"
done
rs_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/RS256.json")
api -X POST "http://127.0.0.1:$port/api/keys/jwt/$rs_id/rotate" >/dev/null
project=$(api "http://127.0.0.1:$port/api/v1/projects" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
jwks_url="http://127.0.0.1:$port/api/keys/jwt/jwks/$project"

# nginx serves the very same bytes as a static file.
mkdir -p "$work/www" "$work/nginx"
curl -sf "$jwks_url" -o "$work/www/jwks.json"
# nginx workers run as an unprivileged user: let them read the file.
chmod 755 "$work" "$work/www"
chmod 644 "$work/www/jwks.json"
nginx_port=$(free_port)
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    location = /jwks.json {
      root $work/www;
      default_type application/json;
      add_header Cache-Control "public, max-age=300";
    }
  }
}
CONF
"$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nginx_port/jwks.json" >/dev/null && break; sleep 0.1; done
cmp <(curl -sf "$jwks_url") <(curl -sf "http://127.0.0.1:$nginx_port/jwks.json")

run() { # name url
  wrk -t2 -c"$connections" -d"${duration}s" --latency "$2" >"$work/$1.txt"
  if grep -q 'Non-2xx' "$work/$1.txt"; then echo "error: some $1 requests failed" >&2; cat "$work/$1.txt" >&2; exit 1; fi
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$1.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/$1.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$1.txt")
  printf '%-9s %12s req/s   p50 %9s   p99 %9s\n' "$1" "$rps" "$p50" "$p99"
  echo "$rps" >"$work/$1.rps"
}

echo "GET JWKS ($(wc -c <"$work/www/jwks.json") bytes, 4 keys), wrk -t2 -c$connections -d${duration}s, $(nproc) cores shared by client and servers"
run keystead "$jwks_url"
run nginx "http://127.0.0.1:$nginx_port/jwks.json"
python3 -c 'import sys; k, n = (float(open(f).read()) for f in sys.argv[1:]); print(f"ratio keystead/nginx: {k / n:.2f}")' \
  "$work/keystead.rps" "$work/nginx.rps"
