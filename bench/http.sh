#!/usr/bin/env bash
# HTTP load benchmark, all in one run with alternating rounds:
#
# - introspection (`POST /oauth/introspect`) of the example server with the memory store (request
#   log off, and on), the SQLite store and the PostgreSQL store, and of the ceiling (the
#   `ceiling` example: the same tokio/hyper/axum stack, one handler that parses the same form and
#   answers a constant JSON body);
# - `client_credentials` issuance (`POST /oauth/token`) on the memory, SQLite and PostgreSQL
#   stores;
# - on the same PostgreSQL database, `pgbench -S -M prepared -c 32 -j 1` (one primary-key read
#   per transaction) and a pgbench script of one prepared token-shaped INSERT per transaction
#   (into a copy of the token table, with its indexes).
#
# Each round runs every scenario once for DURATION, the order reversed every other round. The
# report gives each scenario's median throughput, median p99, the worst maximum latency, and the
# server's CPU time per request, then the ratios of issue 15's table beside their goals.
#
#   bench/http.sh                       # 3 rounds of 10 s per scenario: about 6 minutes
#   ROUNDS=5 DURATION=20s bench/http.sh
#
# Settings (environment): ROUNDS (3), DURATION (10s), THREADS (1: wrk's threads, as pgbench's
# -j 1), CONNECTIONS (32, for wrk and pgbench alike), WARMUP (3s), ONLY (a regular expression:
# only the scenarios whose names match, e.g. 'postgres|pgbench'), PG_URL
# (postgres://postgres@127.0.0.1:5432/test; empty to skip PostgreSQL), SERVER_LOG (warn: the
# request log of the "log off" servers; the ceiling has none), CARGO_TARGET_DIR (cargo's
# default).
#
# Every server listens on 127.0.0.1 on a free port and only loopback is targeted; every load
# run is bounded by DURATION; servers are stopped and the PostgreSQL schema of the run is dropped
# on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-1}"
CONNECTIONS="${CONNECTIONS:-32}"
WARMUP="${WARMUP:-3s}"
PG_URL="${PG_URL-postgres://postgres@127.0.0.1:5432/test}"
SERVER_LOG="${SERVER_LOG:-warn}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

CLIENT_ID=bench-client
CLIENT_SECRET=kV0wQm3m2b7Yx9cJtP4sH8eR1uZ6aN5dL0fG2hJ3kMq

log() { printf '%s\n' "$*" >&2; }

# seconds 10s|10: whole seconds, for pgbench -T.
seconds() {
    case "$1" in
        *[0-9]s) echo "${1%s}" ;;
        *[0-9]) echo "$1" ;;
        *) log "DURATION and WARMUP are whole seconds (10s or 10), not $1"; exit 1 ;;
    esac
}
DURATION_S="$(seconds "$DURATION")"
WARMUP_S="$(seconds "$WARMUP")"

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
# postgres_tool NAME: NAME on PATH, else the newest /usr/lib/postgresql/*/bin/NAME, else nothing.
postgres_tool() {
    command -v "$1" && return
    local found=""
    for candidate in /usr/lib/postgresql/*/bin/"$1"; do
        [ -x "$candidate" ] && found="$candidate"
    done
    echo "$found"
}
PGBENCH="$(postgres_tool pgbench)"
PSQL="$(postgres_tool psql)"

log "building the release examples"
cargo build --release --quiet -p oauth-endpoints-examples --examples --all-features
BIN="$TARGET_DIR/release/examples"

WORK="$(mktemp -d)"
PIDS=()
SCHEMA=""
cleanup() {
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$SCHEMA" ]; then
        "$PSQL" -q -X "$PG_URL" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/clients.json" <<EOF
[{"client_id": "$CLIENT_ID", "client_secret": "$CLIENT_SECRET",
  "grant_types": ["client_credentials"], "scope": "read write"}]
EOF

declare -A URL=()  # scenario -> full URL wrk targets
declare -A PID=()  # server -> process id
declare -A OF=()   # scenario -> the server it loads ("" for pgbench)
SCENARIOS=()
NOTES=()
TICKS="$(getconf CLK_TCK)"

# start NAME LOG COMMAND...: runs a server on a free loopback port with RUST_LOG=LOG; sets
# STARTED to its base URL, or to nothing if it did not start within 10 s. Its stderr (the
# request log) is appended to $WORK/NAME.err, which is emptied after each run.
start() {
    local name="$1" level="$2"
    shift 2
    RUST_LOG="$level" NO_COLOR=1 "$@" >"$WORK/$name.out" 2>>"$WORK/$name.err" &
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

BASIC="$(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"

# script SCENARIO BODY: the wrk script POSTing BODY as a form with Basic credentials.
script() {
    cat >"$WORK/$1.lua" <<EOF
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
EOF
}

declare -A BASE_OF=() # server -> base URL

# scenario NAME SERVER PATH BODY: a wrk scenario POSTing BODY to PATH of SERVER.
scenario() {
    script "$1" "$4"
    URL[$1]="${BASE_OF[$2]}$3"
    OF[$1]="$2"
    SCENARIOS+=("$1")
}

# server NAME STORE LOG: starts the example server over STORE with RUST_LOG=LOG and checks that
# it issues a token that introspects active; sets TOKEN to that token. Returns 1 if the server
# did not start.
server() {
    local name="$1" store="$2" level="$3"
    start "$name" "$level" "$BIN/server" --addr 127.0.0.1:0 --clients "$WORK/clients.json" \
        --store "$store"
    local url="$STARTED"
    if [ -z "$url" ]; then
        log "the $name server did not start:"
        sed 's/\x1b\[[0-9;]*m//g' "$WORK/$name.err" | tail -n5 >&2
        return 1
    fi
    TOKEN="$(curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials \
        -d scope=read "$url/oauth/token" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')"
    local answer
    answer="$(curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d "token=$TOKEN" "$url/oauth/introspect")"
    case "$answer" in
        *'"active":true'*) ;;
        *) log "$name: introspection of a fresh token answered $answer"; exit 1 ;;
    esac
    BASE_OF[$name]="$url"
}

ISSUE="grant_type=client_credentials&scope=read"

server memory memory "$SERVER_LOG" || exit 1
scenario introspect-memory memory /oauth/introspect "token=$TOKEN"
scenario issue-memory memory /oauth/token "$ISSUE"

server memory-log memory info || exit 1
scenario introspect-memory-log memory-log /oauth/introspect "token=$TOKEN"

server sqlite "sqlite:$WORK/bench.db" "$SERVER_LOG" || exit 1
scenario introspect-sqlite sqlite /oauth/introspect "token=$TOKEN"
scenario issue-sqlite sqlite /oauth/token "$ISSUE"

# PostgreSQL: a schema of this run's own, for the server's tables and pgbench's alike.
if [ -z "$PG_URL" ]; then
    NOTES+=("postgres: skipped (PG_URL is empty)")
elif [ -z "$PSQL" ] || [ -z "$PGBENCH" ]; then
    NOTES+=("postgres: skipped (psql or pgbench is missing)")
elif ! "$PSQL" -q -X "$PG_URL" -c "SELECT 1" >/dev/null 2>&1; then
    NOTES+=("postgres: skipped (cannot connect to $PG_URL)")
else
    SCHEMA="bench_http_$$"
    "$PSQL" -q -X "$PG_URL" -c "CREATE SCHEMA $SCHEMA" >/dev/null
    separator='?'
    case "$PG_URL" in *'?'*) separator='&' ;; esac
    PG_SCHEMA_URL="$PG_URL${separator}options=-c%20search_path%3D$SCHEMA"
    if server postgres "$PG_SCHEMA_URL" "$SERVER_LOG"; then
        scenario introspect-postgres postgres /oauth/introspect "token=$TOKEN"
        scenario issue-postgres postgres /oauth/token "$ISSUE"
        # pgbench's tables (scale 1: 100,000 accounts) and a copy of the token table with its
        # indexes, in the same schema.
        PGOPTIONS="-c search_path=$SCHEMA" "$PGBENCH" -i -q -s 1 "$PG_URL" \
            >"$WORK/pgbench-init.log" 2>&1
        "$PSQL" -q -X "$PG_SCHEMA_URL" \
            -c "CREATE TABLE bench_tokens (LIKE oauth_tokens INCLUDING ALL)" >/dev/null
        # One token-shaped row per transaction, as the store inserts a client_credentials
        # access token: a 32-byte hash, a 16-byte id and grant id, the client, scope and times.
        cat >"$WORK/insert.sql" <<'SQL'
\set now 1767222000
INSERT INTO bench_tokens (hash, id, kind, client_id, scope, subject, audience, grant_id, issued_at, expires_at, not_before, revoked_at, rotated_at) VALUES (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), uuid_send(gen_random_uuid()), 'access', 'bench-client', 'read', NULL, '[]', uuid_send(gen_random_uuid()), :now, :now + 3600, NULL, NULL, NULL);
SQL
        OF[pgbench-select]=""
        OF[pgbench-insert]=""
        SCENARIOS+=(pgbench-select pgbench-insert)
    else
        NOTES+=("postgres: skipped (the server did not start with $PG_URL)")
    fi
fi

start ceiling warn "$BIN/ceiling" --addr 127.0.0.1:0
[ -n "$STARTED" ] || { log "the ceiling did not start"; cat "$WORK/ceiling.err" >&2; exit 1; }
BASE_OF[ceiling]="$STARTED"
scenario introspect-ceiling ceiling /oauth/introspect "token=ceiling-token"

# cpu PID: the CPU time (user + system) the process has used, in clock ticks.
cpu() {
    awk '{print $14 + $15}' "/proc/$1/stat"
}

# ms VALUE: a wrk latency (850.00us, 1.20ms, 2.00s, 1.00m) in milliseconds.
ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v) }
        else if (v ~ /m$/) { sub(/m$/, "", v); v *= 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
        printf "%.3f", v }'
}

# run SCENARIO SECONDS: one run; prints "per_second p99_ms max_ms cpu_us_per_request errors",
# where per_second counts only 2xx answers (pgbench: tps, and "-" for what it does not measure).
run() {
    local name="$1" secs="$2" out="$WORK/$1.run"
    case "$name" in
        pgbench-*)
            local args=(-S)
            [ "$name" = pgbench-insert ] && args=(-f "$WORK/insert.sql")
            PGOPTIONS="-c search_path=$SCHEMA" "$PGBENCH" -n "${args[@]}" -M prepared \
                -c "$CONNECTIONS" -j 1 -T "$secs" "$PG_URL" >"$out" 2>&1 || true
            local tps failed
            tps="$(awk '/^tps = / {print $3; exit}' "$out")"
            failed="$(awk '/number of failed transactions:/ {print $5; exit}' "$out")"
            [ -n "$tps" ] || { log "$name: pgbench failed:"; cat "$out" >&2; exit 1; }
            printf '%s - - - %s\n' "$tps" "${failed:-0}"
            return
            ;;
    esac
    local server="${OF[$name]}" before after
    before="$(cpu "${PID[$server]}")"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 5s --latency \
        -s "$WORK/$name.lua" "${URL[$name]}" >"$out"
    after="$(cpu "${PID[$server]}")"
    local requests non2xx socket rps p99 max cpu_us lines
    requests="$(awk '/requests in/ {print $1}' "$out")"
    non2xx="$(awk '/Non-2xx/ {print $NF}' "$out")"
    non2xx="${non2xx:-0}"
    socket="$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")"
    socket="${socket:-0}"
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    rps="$(awk -v r="$rps" -v n="$requests" -v b="$non2xx" \
        'BEGIN {printf "%.2f", n ? r * (n - b) / n : 0}')"
    p99="$(ms "$(awk '$1 == "99%" {print $2}' "$out")")"
    max="$(ms "$(awk '$1 == "Latency" {print $4}' "$out")")"
    cpu_us="$(awk -v a="$after" -v b="$before" -v t="$TICKS" -v n="$requests" \
        'BEGIN {printf "%.2f", n ? (a - b) / t * 1e6 / n : 0}')"
    if [ "$server" = memory-log ]; then
        # The request log is on: about one line per request should have reached the file.
        lines="$(wc -l <"$WORK/$server.err")"
        log "  ($server: $lines log lines for $requests requests)"
    fi
    : >"$WORK/$server.err"
    printf '%s %s %s %s %s\n' "$rps" "$p99" "$max" "$cpu_us" "$((non2xx + socket))"
}

# ONLY=REGEX: run only the scenarios whose names match (the servers start all the same).
if [ -n "${ONLY:-}" ]; then
    kept=()
    for name in "${SCENARIOS[@]}"; do
        if [[ "$name" =~ $ONLY ]]; then kept+=("$name"); fi
    done
    SCENARIOS=("${kept[@]+"${kept[@]}"}")
fi

log "warming up (${WARMUP_S} s each)"
for name in "${SCENARIOS[@]}"; do
    run "$name" "$WARMUP_S" >/dev/null
done

for round in $(seq "$ROUNDS"); do
    # Alternate the order each round so no scenario always runs right after the same one.
    order=("${SCENARIOS[@]}")
    if [ $((round % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#SCENARIOS[@]} - 1; i >= 0; i--)); do order+=("${SCENARIOS[$i]}"); done
    fi
    for name in "${order[@]}"; do
        result="$(run "$name" "$DURATION_S")"
        printf '%s\n' "$result" >>"$WORK/$name.results"
        log "round $round/$ROUNDS $name: $(awk '{printf "%.0f/s, p99 %s ms, max %s ms, %s us CPU/request, %s errors", $1, $2, $3, $4, $5}' <<<"$result")"
    done
done

median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
field() { cut -d' ' -f"$2" "$WORK/$1.results"; }
declare -A RPS=() P99=() MAX=()
for name in "${SCENARIOS[@]}"; do
    RPS[$name]="$(field "$name" 1 | median)"
    if [ -n "${OF[$name]}" ]; then
        P99[$name]="$(field "$name" 2 | median)"
        MAX[$name]="$(field "$name" 3 | sort -g | tail -n1)"
    fi
done

echo
echo "HTTP: wrk -t$THREADS -c$CONNECTIONS; pgbench -M prepared -c$CONNECTIONS -j1; ${DURATION_S} s per run, median of $ROUNDS alternating rounds"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(per second: 2xx answers, or pgbench transactions; p99: median of the runs; max: the worst run's;"
echo " server CPU: user + system time of the server process per request; errors: non-2xx, socket errors or failed transactions over all runs)"
printf '%-24s %10s %9s %9s %11s %7s\n' scenario "per second" "p99 ms" "max ms" "CPU us/req" errors
for name in "${SCENARIOS[@]}"; do
    errors="$(field "$name" 5 | awk '{s += $1} END {print s}')"
    if [ -n "${OF[$name]}" ]; then
        printf '%-24s %10.0f %9.2f %9.2f %11.1f %7s\n' "$name" "${RPS[$name]}" "${P99[$name]}" \
            "${MAX[$name]}" "$(field "$name" 4 | median)" "$errors"
    else
        printf '%-24s %10.0f %9s %9s %11s %7s\n' "$name" "${RPS[$name]}" - - - "$errors"
    fi
done

# ratio LABEL A B GOAL [EXTRA]: A's median over B's, beside the goal (a minimum, or -), if both
# ran.
ratio() {
    local label="$1" a="$2" b="$3" goal="$4" extra="${5:-}"
    { [ -n "${RPS[$a]:-}" ] && [ -n "${RPS[$b]:-}" ]; } || return 0
    awk -v l="$label" -v a="${RPS[$a]}" -v b="${RPS[$b]}" -v g="$goal" -v e="$extra" 'BEGIN {
        r = a / b
        verdict = "-"; target = "-"
        if (g != "-") { verdict = (r >= g + 0) ? "met" : "NOT MET"; target = ">= " g }
        printf "%-42s %7.0f / %7.0f = %5.3f  goal %-7s %-7s %s\n", l, a, b, r, target, verdict, e }'
}
echo
echo "ratios (issue 15):"
ratio "introspection, memory, log off / ceiling" introspect-memory introspect-ceiling -
ratio "introspection, memory, log on / ceiling" introspect-memory-log introspect-ceiling -
ratio "introspection, memory, log on / log off" introspect-memory-log introspect-memory -
ratio "introspection, SQLite / ceiling" introspect-sqlite introspect-ceiling 0.6
ratio "introspection, PostgreSQL / pgbench -S" introspect-postgres pgbench-select 0.6
if [ -n "${P99[issue-sqlite]:-}" ]; then
    p99_verdict="$(awk -v p="${P99[issue-sqlite]}" 'BEGIN {print (p <= 5) ? "met" : "NOT MET"}')"
    ratio "issuance, SQLite / memory" issue-sqlite issue-memory 0.3 \
        "SQLite p99 ${P99[issue-sqlite]} ms (goal <= 5: $p99_verdict), max ${MAX[issue-sqlite]} ms"
fi
ratio "issuance, PostgreSQL / pgbench INSERT" issue-postgres pgbench-insert 0.5
for note in "${NOTES[@]+"${NOTES[@]}"}"; do
    echo "$note"
done
