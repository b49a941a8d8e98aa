#!/usr/bin/env bash
# Authenticated `GET /keys` throughput and latency against a release build.
# Prints requests/s and p50/p99 latency from wrk. Usage: bench/api-keys.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
connections=${2:-16}

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y wrk >/dev/null; }
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --release -p keystead --quiet

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/keystead.toml" <<TOML
[log]
filter = "warn"
[rate_limit]
enabled = false
TOML
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
KEYSTEAD_DATA_DIR="$work/data" KEYSTEAD_LISTEN="127.0.0.1:$port" KEYSTEAD_BOOTSTRAP_TOKEN=bench-token \
  ./target/release/keystead serve --config "$work/keystead.toml" 2>"$work/server.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

# A realistic list: 20 keys.
for i in $(seq 20); do
  curl -sf -X POST -H 'X-API-Key: bench-token' -H 'Content-Type: application/json' \
    -d "{\"alias\":\"bench-$i\"}" "http://127.0.0.1:$port/keys" >/dev/null
done

echo "GET /keys (20 keys, X-API-Key auth), wrk -t2 -c$connections -d${duration}s, $(nproc) cores shared by client and server"
wrk -t2 -c"$connections" -d"${duration}s" --latency -H 'X-API-Key: bench-token' "http://127.0.0.1:$port/keys" \
  | tee "$work/wrk.txt" | grep -E 'Requests/sec|50%|99%|Non-2xx|Socket errors' || true
if grep -q 'Non-2xx' "$work/wrk.txt"; then echo "error: some requests failed" >&2; exit 1; fi
