#!/usr/bin/env bash
# Builds bench_scheduler in Release, runs it and its Python twins (asyncio, uvloop) one after
# the other on this machine, and prints one markdown table of medians:
#
#   benchmark | eddy items/s | asyncio | uvloop | eddy/uvloop ratio
#
# Usage: bench/micro/compare.sh [build-dir]
#   build-dir    where to configure and build (default: $TMPDIR/eddy-bench-release)
# Environment:
#   JOBS=2       parallel compile jobs
#   REPS=5       repetitions (eddy: --benchmark_repetitions; Python: timed batches); medians
#   PYTHON=/usr/bin/python3   the interpreter for asyncio and uvloop (python3-uvloop on Debian)
#   FILTER=      only benchmarks whose name contains this (both sides)
#
# The raw results stay in <build-dir>/bench-results/ (eddy.json, asyncio.txt, uvloop.txt).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-${TMPDIR:-/tmp}/eddy-bench-release}
jobs=${JOBS:-2}
reps=${REPS:-5}
python=${PYTHON:-/usr/bin/python3}
filter=${FILTER:-}
results="$build/bench-results"

# Tests and examples are not needed here; leaving them out keeps this independent of doctest
# and of whatever the test tree holds at the moment.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=OFF -DEDDY_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target bench_scheduler -j "$jobs"
bin="$build/bench/bench_scheduler"
if [[ ! -x "$bin" ]]; then
    echo "compare.sh: $bin was not built (is libbenchmark-dev installed?)" >&2
    exit 1
fi

mkdir -p "$results"
rm -f "$results"/eddy.json "$results"/asyncio.txt "$results"/uvloop.txt

echo "== eddy ($reps repetitions)" >&2
# Console output goes to stderr as progress; the JSON file is what the table is made from.
"$bin" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
    ${filter:+--benchmark_filter="$filter"} \
    --benchmark_out="$results/eddy.json" --benchmark_out_format=json >&2

for kind in asyncio uvloop; do
    echo "== $kind ($reps repetitions)" >&2
    if ! "$python" "$root/bench/micro/python/micro_asyncio.py" --loop "$kind" \
        --repetitions "$reps" --filter "$filter" >"$results/$kind.txt"; then
        echo "compare.sh: the $kind run failed; its column will read n/a" >&2
        : >"$results/$kind.txt"
    fi
done

"$python" - "$results" <<'EOF'
import json
import sys
from pathlib import Path

results = Path(sys.argv[1])


def human(v):
    if v is None:
        return "n/a"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


# Google Benchmark: the "median" aggregate of each run; run_name is "<name>/<N>/real_time".
eddy = {}
order = []
for b in json.loads((results / "eddy.json").read_text())["benchmarks"]:
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median":
        name = b["run_name"].split("/")[0]
        eddy[name] = b.get("items_per_second")
        order.append(name)


def read_python(kind):
    out = {}
    path = results / f"{kind}.txt"
    for line in path.read_text().splitlines() if path.exists() else []:
        name, rate = line.split()
        out[name] = float(rate)
    return out


aio = read_python("asyncio")
uv = read_python("uvloop")

print("| benchmark | eddy items/s | asyncio | uvloop | eddy/uvloop ratio |")
print("| --- | ---: | ---: | ---: | ---: |")
for name in order:
    e, a, u = eddy.get(name), aio.get(name), uv.get(name)
    ratio = f"{e / u:.1f}x" if e and u else "n/a"
    print(f"| {name} | {human(e)} | {human(a)} | {human(u)} | {ratio} |")
EOF
