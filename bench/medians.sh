#!/usr/bin/env bash
# Prints the median of each criterion benchmark's last run (from its estimates.json), in
# nanoseconds and microseconds: the figures BENCHMARKS.md reports.
#
#   cargo bench -p oauth-endpoints-bench && bench/medians.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${CARGO_TARGET_DIR:-target}/criterion"
[ -d "$dir" ] || { echo "no criterion results in $dir: run cargo bench first" >&2; exit 1; }
find "$dir" -path '*/new/estimates.json' | sort | while read -r file; do
    name="${file#"$dir"/}"
    name="${name%/new/estimates.json}"
    median="$(grep -oE '"median":\{[^}]*\}[^}]*"point_estimate":[0-9.e+-]+' "$file" |
        grep -oE '"point_estimate":[0-9.e+-]+$' | cut -d: -f2)"
    awk -v n="$name" -v m="$median" 'BEGIN {printf "%-40s %12.1f ns %10.3f us\n", n, m, m / 1000}'
done
