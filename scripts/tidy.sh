#!/usr/bin/env bash
# clang-tidy over eddy's library sources and examples (and, through HeaderFilterRegex, their
# headers), using the compile commands of a configured build (default: build/release).
# Two files at a time (the machine has two cores).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
[ -f "$build/compile_commands.json" ] || cmake --preset release >/dev/null
files=$(git ls-files 'future/src/*.cpp' 'scheduler/src/*.cpp' 'io/src/*.cpp' 'examples/*.cpp')
if ! printf '%s\n' $files | xargs -P 2 -n 1 \
    clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option 2>/dev/null; then
  echo "clang-tidy: problems found (see above)" >&2
  exit 1
fi
echo "clang-tidy: clean"
