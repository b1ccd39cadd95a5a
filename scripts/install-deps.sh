#!/usr/bin/env bash
# Installs the Debian 12 packages that building, running and testing meshlens
# need. Safe to run again; installs only what is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git ca-certificates curl
  libmicrohttpd-dev libprotobuf-c-dev protobuf-c-compiler liblmdb-dev lmdb-utils
  libzstd-dev zlib1g-dev libsnappy-dev libpcre2-dev libxxhash-dev libjansson-dev
)
TEST_PKGS=(libcriterion-dev nodejs npm prometheus zstd)
# libFuzzer targets (cmake -DMESHLENS_FUZZ=ON) need clang.
FUZZ_PKGS=(clang)

want=("${PKGS[@]}")
for arg in "$@"; do
  case "$arg" in
    --test) want+=("${TEST_PKGS[@]}") ;;
    --fuzz) want+=("${FUZZ_PKGS[@]}") ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from elsewhere than Debian (a newer build on PATH): accept it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do
    case "$p" in nodejs|npm) ;; *) tmp+=("$p") ;; esac
  done
  missing=("${tmp[@]}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
