#!/usr/bin/env bash
# Builds the Python plugins into components with componentize-py.
# Usage: plugins/python/build.sh OUT_DIR
# The venv lives under target/ so a clean checkout only needs python3 and
# network access to PyPI (or a warm pip cache).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$root/target/python-plugins}"
venv="$root/target/python-venv"
version="0.25.1"

mkdir -p "$out"
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -q "$version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$version"
fi

for app in "$here"/*/app.py; do
    dir="$(dirname "$app")"
    name="$(basename "$dir")"
    wasm="$out/$name.wasm"
    # Rebuild only when the source or the WIT changed.
    if [ -f "$wasm" ] && [ -z "$(find "$dir" "$root/wit" -newer "$wasm" -type f | head -1)" ]; then
        continue
    fi
    world="$(cat "$dir/world")"
    (cd "$dir" && "$venv/bin/componentize-py" -d "$root/wit" -w "$world" \
        componentize app -o "$wasm.tmp")
    mv "$wasm.tmp" "$wasm"
done
echo "$out"
