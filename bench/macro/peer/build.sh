#!/bin/sh
# eddy as one more peer of ../shared/peers' harness: builds eddy_workloads (release) and points
# w1..w6, w7_server and w8_server at it. EDDY_SRC is the eddy checkout (set by bench/macro/compare_peers.sh).
set -e
cd "$(dirname "$0")"
: "${EDDY_SRC:?EDDY_SRC must point at the eddy checkout}"
cmake -S "$EDDY_SRC" -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDDY_BUILD_TESTS=OFF \
      -DEDDY_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build --target eddy_workloads eddy_servers >/dev/null
for w in w1 w2 w3 w4 w5 w6; do
  printf '#!/bin/sh\nexec "$(dirname "$0")/build/bench/eddy_workloads" %s --workers "${EDDY_WORKERS:-2}"\n' "$w" > "$w"
  chmod +x "$w"
done
# Servers: called as ./wN_server <variant> <port>; EDDY_STYLE=protocol|streams (default protocol).
for w in w7 w8; do
  printf '#!/bin/sh\nexec "$(dirname "$0")/build/bench/eddy_servers" %s "$2" --style "${EDDY_STYLE:-protocol}" --workers "${EDDY_WORKERS:-2}"\n' "$w" > "${w}_server"
  chmod +x "${w}_server"
done
