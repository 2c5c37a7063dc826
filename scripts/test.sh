#!/usr/bin/env bash
# Builds eddy and runs every test: formatting and clang-tidy, the release suites with g++
# and clang++, then the ASan+UBSan+LSan and ThreadSanitizer suites. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CTEST_PARALLEL_LEVEL=${CTEST_PARALLEL_LEVEL:-2}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}

step() { printf '\n=== %s ===\n' "$*"; }

step "set-up"
scripts/setup.sh
git config --global --add safe.directory "$PWD" 2>/dev/null || true

step "format"
scripts/check_format.sh

step "release (g++)"
cmake --workflow --preset release

step "clang-tidy"
scripts/tidy.sh build/release

step "release (clang++)"
cmake --workflow --preset clang-release

step "asan (g++: address + undefined + leak)"
cmake --workflow --preset asan

step "tsan (g++)"
cmake --workflow --preset tsan

step "all suites passed"
