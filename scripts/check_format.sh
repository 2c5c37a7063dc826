#!/usr/bin/env bash
# Fails when a C++ file is not clang-format clean. Fix with: scripts/check_format.sh --fix
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files --cached --others --exclude-standard '*.hpp' '*.cpp')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i $files
  exit 0
fi
bad=()
for f in $files; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -ne 0 ]; then
  echo "clang-format: these files need formatting: ${bad[*]}" >&2
  echo "fix with: scripts/check_format.sh --fix" >&2
  exit 1
fi
echo "clang-format: clean"
