#!/usr/bin/env bash
# HTTP load benchmark: introspection throughput and p99 latency of the example server with the
# memory, SQLite and PostgreSQL stores, side by side with the ceiling of this machine (the
# `ceiling` example: the same tokio/hyper/axum stack, one handler that parses the same form and
# answers a constant JSON body). Runs alternate between the servers over ROUNDS rounds; the
# report gives each server's median throughput, p99 latency and server CPU time per request, and
# its throughput as a ratio of the ceiling's median. CPU per request is the steadier figure on a
# machine that other programs share: throughput moves with their load, CPU per request less.
#
#   bench/http.sh                       # 3 rounds of 10 s per server
#   ROUNDS=5 DURATION=20s bench/http.sh
#
# Settings (environment): ROUNDS (3), DURATION (10s), THREADS (2), CONNECTIONS (32),
# WARMUP (3s), PG_URL (postgres://postgres@127.0.0.1:5432/test), SERVER_LOG (warn: the
# server's request log is off, as the ceiling has none; `info` measures it on),
# CARGO_TARGET_DIR (cargo's default).
#
# Every server listens on 127.0.0.1 on a free port and only loopback is targeted; every load
# run is bounded by DURATION; servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
WARMUP="${WARMUP:-3s}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
SERVER_LOG="${SERVER_LOG:-warn}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

CLIENT_ID=bench-client
CLIENT_SECRET=kV0wQm3m2b7Yx9cJtP4sH8eR1uZ6aN5dL0fG2hJ3kMq

log() { printf '%s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
    log "wrk is missing: installing it"
    sudo_=""
    [ "$(id -u)" -eq 0 ] || sudo_=sudo
    $sudo_ apt-get update -qq
    $sudo_ apt-get install -y -qq wrk >/dev/null
fi
for tool in curl wrk; do
    command -v "$tool" >/dev/null || { log "$tool is required"; exit 1; }
done

log "building the release examples"
cargo build --release --quiet -p oauth-endpoints-examples --examples --all-features
BIN="$TARGET_DIR/release/examples"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/clients.json" <<EOF
[{"client_id": "$CLIENT_ID", "client_secret": "$CLIENT_SECRET",
  "grant_types": ["client_credentials"], "scope": "read write"}]
EOF

# start NAME COMMAND...: runs a server on a free loopback port; sets STARTED to its base URL, or
# to nothing if it did not start within 10 s (its stderr is kept in $WORK/NAME.err).
start() {
    local name="$1"
    shift
    RUST_LOG="$SERVER_LOG" NO_COLOR=1 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    PID[$name]="$pid"
    STARTED=""
    for _ in $(seq 100); do
        STARTED="$(grep -m1 -oE 'http://127\.0\.0\.1:[0-9]+' "$WORK/$name.out" || true)"
        [ -n "$STARTED" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
}

# token URL: a client_credentials access token from the server at URL.
token() {
    curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=read \
        "$1/oauth/token" | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

# script NAME TOKEN: the wrk script POSTing an introspection request with Basic credentials.
script() {
    local basic
    basic="$(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
    cat >"$WORK/$1.lua" <<EOF
wrk.method = "POST"
wrk.body = "token=$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
EOF
}

declare -A URL=()
declare -A PID=()
TICKS="$(getconf CLK_TCK)"

# cpu PID: the CPU time (user + system) the process has used, in clock ticks.
cpu() {
    awk '{print $14 + $15}' "/proc/$1/stat"
}
TARGETS=()
NOTES=()

prepare() {
    local name="$1" store="$2"
    start "$name" "$BIN/server" --addr 127.0.0.1:0 --clients "$WORK/clients.json" --store "$store"
    local url="$STARTED"
    if [ -z "$url" ]; then
        if [ "$name" = postgres ]; then
            local why
            why="$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/$name.err" | tail -n1)"
            if grep -q 'postgres` feature' "$WORK/$name.err"; then
                NOTES+=("postgres: skipped (no postgres support in this build)")
            else
                NOTES+=("postgres: skipped (the server did not start with $PG_URL: $why)")
            fi
        else
            log "the $name server did not start:"
            cat "$WORK/$name.err" >&2
            exit 1
        fi
        return
    fi
    local value
    value="$(token "$url")"
    local answer
    answer="$(curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d "token=$value" "$url/oauth/introspect")"
    case "$answer" in
        *'"active":true'*) ;;
        *) log "$name: introspection of a fresh token answered $answer"; exit 1 ;;
    esac
    script "$name" "$value"
    URL[$name]="$url"
    TARGETS+=("$name")
}

prepare memory memory
prepare sqlite "sqlite:$WORK/bench.db"
prepare postgres "$PG_URL"

start ceiling "$BIN/ceiling" --addr 127.0.0.1:0
url="$STARTED"
[ -n "$url" ] || { log "the ceiling did not start"; cat "$WORK/ceiling.err" >&2; exit 1; }
script ceiling "ceiling-token"
URL[ceiling]="$url"
TARGETS+=(ceiling)

# run NAME DURATION: one wrk run; prints "rps p99_ms cpu_us_per_request".
run() {
    local name="$1" duration="$2" out="$WORK/$1.wrk"
    local before
    before="$(cpu "${PID[$name]}")"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --timeout 5s --latency \
        -s "$WORK/$name.lua" "${URL[$name]}/oauth/introspect" >"$out"
    if grep -q 'Non-2xx' "$out"; then
        log "$name: some answers were not 2xx:"
        cat "$out" >&2
        exit 1
    fi
    local after rps p99 requests cpu_us
    after="$(cpu "${PID[$name]}")"
    requests="$(awk '/requests in/ {print $1}' "$out")"
    cpu_us="$(awk -v a="$after" -v b="$before" -v t="$TICKS" -v n="$requests" \
        'BEGIN {printf "%.2f", (a - b) / t * 1e6 / n}')"
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p99="$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' "$out")"
    printf '%s %s %s\n' "$rps" "$p99" "$cpu_us"
}

log "warming up (${WARMUP} each)"
for name in "${TARGETS[@]}"; do
    run "$name" "$WARMUP" >/dev/null
done

for round in $(seq "$ROUNDS"); do
    # Alternate the order each round so no server always runs right after the same one.
    order=("${TARGETS[@]}")
    if [ $((round % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#TARGETS[@]} - 1; i >= 0; i--)); do order+=("${TARGETS[$i]}"); done
    fi
    for name in "${order[@]}"; do
        result="$(run "$name" "$DURATION")"
        printf '%s\n' "$result" >>"$WORK/$name.results"
        log "round $round/$ROUNDS $name: $(awk '{printf "%.0f req/s, p99 %.2f ms, %.1f us CPU/request", $1, $2, $3}' <<<"$result")"
    done
done

median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

ceiling_rps="$(cut -d' ' -f1 "$WORK/ceiling.results" | median)"
ceiling_cpu="$(cut -d' ' -f3 "$WORK/ceiling.results" | median)"
echo
echo "introspection over HTTP: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, median of $ROUNDS alternating runs"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "(server CPU: user + system time of the server process over the run, per request answered)"
printf '%-10s %10s %10s %14s %16s %14s\n' server "req/s" "p99 (ms)" "ratio of ceil" "CPU us/request" "CPU vs ceil"
for name in "${TARGETS[@]}"; do
    rps="$(cut -d' ' -f1 "$WORK/$name.results" | median)"
    p99="$(cut -d' ' -f2 "$WORK/$name.results" | median)"
    cpu_us="$(cut -d' ' -f3 "$WORK/$name.results" | median)"
    ratio="$(awk -v a="$rps" -v b="$ceiling_rps" 'BEGIN {printf "%.3f", a / b}')"
    cpu_ratio="$(awk -v a="$cpu_us" -v b="$ceiling_cpu" 'BEGIN {printf "%.2fx", a / b}')"
    printf '%-10s %10.0f %10.2f %14s %16.1f %14s\n' "$name" "$rps" "$p99" "$ratio" "$cpu_us" "$cpu_ratio"
done
for note in "${NOTES[@]+"${NOTES[@]}"}"; do
    echo "$note"
done
