#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then checks
# formatting, lints and every test (unit, plugin runtime, end-to-end against the binary).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The plugins' own unit tests, natively: the SDK's helpers, the SigV4 signer against
# AWS's published test vectors, and the JKS reader.
cargo test --manifest-path plugins/Cargo.toml --locked -p keystead-plugin-sdk -p aws-secrets-manager \
    -p jwk-keystore
