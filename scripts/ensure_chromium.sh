#!/usr/bin/env bash
# Make sure Debian's `chromium` is on PATH (Playwright's own browser download
# does not work here; tests launch it via executable_path=shutil.which("chromium")).
# Also Debian's `nodejs`: the widgets' pure ES modules are unit-tested with node's
# built-in test runner (tests/js, run by tests/widgets/test_js.py).
# Idempotent and quiet when both are already installed.
set -euo pipefail

PKGS=()
command -v chromium >/dev/null 2>&1 || PKGS+=(chromium)
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
if [ "${#PKGS[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    echo "ensure_chromium: ${PKGS[*]} not installed and we are neither root nor have sudo." >&2
    echo "ensure_chromium: install with: apt-get install -y ${PKGS[*]}" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: ${PKGS[*]} missing and apt-get not available; install manually." >&2
    exit 1
fi

echo "ensure_chromium: installing ${PKGS[*]} with apt-get (this takes a minute or two)..." >&2
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${PKGS[@]}" </dev/null >/dev/null

for cmd in chromium node; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "ensure_chromium: apt-get finished but $cmd is still not on PATH." >&2
        exit 1
    fi
done
echo "ensure_chromium: $(chromium --version 2>/dev/null || echo chromium) installed in $((SECONDS - start))s" >&2
