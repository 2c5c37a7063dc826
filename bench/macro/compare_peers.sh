#!/usr/bin/env bash
# Runs W1..W6 for eddy and the peers of ../shared/peers side by side (interleaved, A B A B), in
# a scratch copy so nothing is built inside shared/, and prints the harness's table.
#
#   bench/macro/compare_peers.sh [-p 'eddy|tokio|asio|tbb'] [-w w1,w2,w3,w4,w5,w6] [-r 3]
#
# Needs the peers' Debian packages (../shared/peers/README.md: librust-tokio-dev, golang-go,
# libasio-dev, python3-uvloop, libtbb-dev, time); a peer that fails to build is left out.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
peers_src=${PEERS:-$root/../shared/peers}
work=${WORK:-${TMPDIR:-/tmp}/eddy-peers}
pattern='eddy|tokio|asio|tbb'
workloads='w1,w2,w3,w4,w5,w6'
reps=3
while getopts "p:w:r:" opt; do
  case $opt in
    p) pattern=$OPTARG ;;
    w) workloads=$OPTARG ;;
    r) reps=$OPTARG ;;
    *) exit 2 ;;
  esac
done
[ -d "$peers_src" ] || { echo "compare_peers: no peers at $peers_src" >&2; exit 1; }
mkdir -p "$work"
rsync -a --exclude target --exclude bin --exclude results "$peers_src"/ "$work"/ 2>/dev/null ||
  cp -r "$peers_src"/. "$work"/
rm -rf "$work/eddy" && cp -r "$root/bench/macro/peer" "$work/eddy"
export EDDY_SRC="$root"
cd "$work"
./run_all.sh -I -p "$pattern" -w "$workloads" -r "$reps"
