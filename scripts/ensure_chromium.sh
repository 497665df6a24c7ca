#!/usr/bin/env bash
# Make sure Debian's `chromium` is on PATH (Playwright's own browser download
# does not work here; tests launch it via executable_path=shutil.which("chromium")).
# Idempotent and quiet when chromium is already installed.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    echo "ensure_chromium: chromium is not installed and we are neither root nor have sudo." >&2
    echo "ensure_chromium: install it with: apt-get install -y chromium" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: chromium missing and apt-get not available; install chromium manually." >&2
    exit 1
fi

echo "ensure_chromium: installing chromium with apt-get (this takes a minute or two)..." >&2
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends chromium </dev/null >/dev/null

if ! command -v chromium >/dev/null 2>&1; then
    echo "ensure_chromium: apt-get finished but chromium is still not on PATH." >&2
    exit 1
fi
echo "ensure_chromium: $(chromium --version 2>/dev/null || echo chromium) installed in $((SECONDS - start))s" >&2
