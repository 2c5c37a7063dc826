#!/usr/bin/env bash
# The main job: builds eddy (release) and runs the demo program on the event loop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target demo
./build/release/examples/demo "$@"
