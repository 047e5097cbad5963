#!/usr/bin/env bash
# What the static (.plg) build needs: Rust's musl target and a musl C compiler (for ring's C
# code). Installs whichever is missing; used by `make export` and `.ci/run`.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
  rustup target add x86_64-unknown-linux-musl
fi
if ! command -v musl-gcc >/dev/null 2>&1; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends musl-tools >/dev/null
fi
