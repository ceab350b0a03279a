#!/usr/bin/env bash
# The SQLite store over HTTP, before and after a change, side by side in one run: introspection
# against the ceiling, and `client_credentials` issuance against the memory store, with
# `wrk -t1 -c32`, the servers alternating over ROUNDS rounds (order reversed every other round).
# Reports medians of requests per second, p99 and server CPU time per request.
#
#   bench/sqlite_http.sh                          # this tree's store only
#   BEFORE=/path/to/server bench/sqlite_http.sh   # also an older build of the example server
#
# Settings (environment): ROUNDS (3), DURATION (8s), CONNECTIONS (32), BEFORE (none),
# CARGO_TARGET_DIR (cargo's default). Every server listens on 127.0.0.1 on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-8s}"
CONNECTIONS="${CONNECTIONS:-32}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
CLIENT_ID=bench-client
CLIENT_SECRET=kV0wQm3m2b7Yx9cJtP4sH8eR1uZ6aN5dL0fG2hJ3kMq

log() { printf '%s\n' "$*" >&2; }
command -v wrk >/dev/null || { log "wrk is required (apt-get install wrk)"; exit 1; }

log "building the release examples"
cargo build --release --quiet -p oauth-endpoints-examples --example server --example ceiling \
    --all-features
BIN="$TARGET_DIR/release/examples"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/clients.json" <<JSON
[{"client_id": "$CLIENT_ID", "client_secret": "$CLIENT_SECRET",
  "grant_types": ["client_credentials"], "scope": "read write"}]
JSON
BASIC="$(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
declare -A URL=() PID=()
TICKS="$(getconf CLK_TCK)"

start() {
    local name="$1"
    shift
    RUST_LOG=warn NO_COLOR=1 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=("$!")
    PID[$name]="$!"
    for _ in $(seq 100); do
        URL[$name]="$(grep -m1 -oE 'http://127\.0\.0\.1:[0-9]+' "$WORK/$name.out" || true)"
        [ -n "${URL[$name]}" ] && return
        sleep 0.1
    done
    log "$name did not start"; cat "$WORK/$name.err" >&2; exit 1
}

lua() { # lua NAME BODY
    cat >"$WORK/$1.lua" <<LUA
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
LUA
}

SERVERS=(memory sqlite)
start memory "$BIN/server" --addr 127.0.0.1:0 --clients "$WORK/clients.json" --store memory
start sqlite "$BIN/server" --addr 127.0.0.1:0 --clients "$WORK/clients.json" \
    --store "sqlite:$WORK/after.db"
if [ -n "${BEFORE:-}" ]; then
    start sqlite-before "$BEFORE" --addr 127.0.0.1:0 --clients "$WORK/clients.json" \
        --store "sqlite:$WORK/before.db"
    SERVERS+=(sqlite-before)
fi
start ceiling "$BIN/ceiling" --addr 127.0.0.1:0
lua issue "grant_type=client_credentials&scope=read"
lua ceiling-introspect "token=ceiling-token"

# Runs: "SERVER SCENARIO" pairs (introspect on every server and the ceiling, issue on the stores).
RUNS=("ceiling introspect")
for name in "${SERVERS[@]}"; do
    token="$(curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=read \
        "${URL[$name]}/oauth/token" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')"
    curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d "token=$token" "${URL[$name]}/oauth/introspect" \
        | grep -q '"active":true' || { log "$name: the fresh token is not active"; exit 1; }
    lua "$name-introspect" "token=$token"
    RUNS+=("$name introspect" "$name issue")
done

run() { # run SERVER SCENARIO DURATION: prints "rps p99_ms cpu_us_per_request"
    local name="$1" scenario="$2" out="$WORK/run.wrk" path script before after
    case "$scenario" in
        introspect) path=/oauth/introspect; script="$WORK/$name-introspect.lua" ;;
        issue) path=/oauth/token; script="$WORK/issue.lua" ;;
    esac
    [ "$name" = ceiling ] && script="$WORK/ceiling-introspect.lua"
    before="$(awk '{print $14 + $15}' "/proc/${PID[$name]}/stat")"
    wrk -t1 -c"$CONNECTIONS" -d"$3" --timeout 5s --latency -s "$script" "${URL[$name]}$path" >"$out"
    if grep -q 'Non-2xx' "$out"; then
        log "$name $scenario: non-2xx answers"
        cat "$out" >&2
        tail -n 5 "$WORK/$name.err" >&2
        exit 1
    fi
    after="$(awk '{print $14 + $15}' "/proc/${PID[$name]}/stat")"
    awk -v a="$after" -v b="$before" -v t="$TICKS" '
        /requests in/ {n = $1}
        /^Requests\/sec:/ {rps = $2}
        $1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us$/, "", v); v /= 1000}
            else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v *= 1000}; p99 = v}
        END {printf "%s %s %.2f\n", rps, p99, (a - b) / t * 1e6 / n}' "$out"
}

log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for entry in "${RUNS[@]}"; do run $entry 2s >/dev/null; done
for round in $(seq "$ROUNDS"); do
    order=("${RUNS[@]}")
    if [ $((round % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#RUNS[@]} - 1; i >= 0; i--)); do order+=("${RUNS[$i]}"); done
    fi
    for entry in "${order[@]}"; do
        result="$(run $entry "$DURATION")"
        printf '%s\n' "$result" >>"$WORK/${entry/ /-}.results"
        log "round $round $entry: $result (load $(cut -d' ' -f1 /proc/loadavg))"
    done
done
log "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
printf '| server | scenario | req/s | p99 ms | CPU µs/request |\n| --- | --- | ---: | ---: | ---: |\n'
for entry in "${RUNS[@]}"; do
    file="$WORK/${entry/ /-}.results"
    printf '| %s | %s | %s | %s | %s |\n' ${entry} "$(cut -d' ' -f1 "$file" | median)" \
        "$(cut -d' ' -f2 "$file" | median)" "$(cut -d' ' -f3 "$file" | median)"
done
