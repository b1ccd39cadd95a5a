#!/usr/bin/env bash
# Installs what is missing, builds meshlens (Release) and runs it with its
# store in ./data. Extra arguments are passed to meshlens (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DMESHLENS_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)" --target meshlens
exec ./build-release/meshlens --storage.path=./data "$@"
