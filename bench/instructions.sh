#!/usr/bin/env bash
# Instructions per in-process dispatch, for each scenario of the `dispatch` benchmark, counted
# by valgrind (cachegrind without cache simulation: virtual machines often expose no hardware
# counters to `perf`). Each scenario runs twice, building COUNT requests only and building and
# dispatching them; the difference over COUNT is one dispatch. Counts move by well under 1%
# between runs, on a busy machine too, where wall time can move by 30%.
#
#   bench/instructions.sh                            # every scenario, COUNT=20000
#   SCENARIOS="route-4 route-1000" bench/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-20000}"
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
cargo build --release --quiet -p oauth-endpoints-bench --example count
bin="${CARGO_TARGET_DIR:-target}/release/examples/count"
instructions() {
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" "$@" 2>&1 \
        >/dev/null | awk '/I +refs:/ {gsub(",", "", $NF); print $NF}'
}
printf '%-20s %14s\n' scenario "instr/dispatch"
for scenario in ${SCENARIOS:-introspect-active introspect-unknown introspect-jwt revoke token token-jwt route-4 route-1000}; do
    build="$(instructions "$scenario" "$COUNT" build)"
    full="$(instructions "$scenario" "$COUNT" dispatch)"
    awk -v s="$scenario" -v b="$build" -v f="$full" -v n="$COUNT" \
        'BEGIN {printf "%-20s %14.0f\n", s, (f - b) / n}'
done
