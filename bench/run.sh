#!/usr/bin/env bash
# bench/run.sh -- `make bench` / `make bench-quick`: quotad against its
# Redis 7 + Lua peer on this machine, same population, same load.
#
#   1. install redis-server (Debian package) if missing
#   2. start quotad (memory only: --persist 0, like Redis with persistence
#      off) and redis-server on free loopback ports,
#      each started here in the background and stopped by its PID
#   3. load the same population into both (quotad creates the keys and
#      hands out the secrets; Redis gets sha256(secret) -> hash), reading
#      quotad's RSS and Redis's used_memory before and after
#   4. run each workload against quotad, then Redis, same conns/pipeline
#   5. if quotad persists (a file appears in its data dir after a write),
#      run the check workload on a quotad with fsync always as well, and
#      then (where /dev/shm is tmpfs) on one whose data dir is there: a
#      stand-in for a fast log device, which leaves quotad's own cost of
#      group commit once the disk is out of the way
#   6. one core each: a second quotad (1 worker) and the same Redis, each
#      pinned to CPU 1 with the client on CPU 0 (taskset), peak and half of
#      peak: the latency target is judged here, where neither server
#      shares its core with the load generator
#   7. print one table, write bench/results.md (quick: build/bench/)
#
# quotad runs also report quotad's own latency histogram (stats op,
# latency_*: request read off the socket -> reply queued), which
# quotad-bench resets as each measured phase starts and reads as it ends:
# the "srv p50/p99" columns and the server-side p99 target.
#
# Every knob is an environment variable (BENCH_KEYS, BENCH_WS, BENCH_CONNS,
# BENCH_PIPELINE, BENCH_BATCH, BENCH_DURATION, BENCH_WARMUP, BENCH_ROUNDS);
# the raw per-run JSON lines go to build/bench/results.jsonl. Each workload
# runs ROUNDS times alternating the two servers, and the table keeps each
# one's best round: other sessions share this machine, and a round they
# disturbed should not decide a ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    def_keys=20000 def_ws=200 def_dur=2 def_warm=0.5 def_rounds=1
    RESULTS=${BENCH_RESULTS:-build/bench/results-quick.md}
else
    def_keys=1000000 def_ws=10000 def_dur=5 def_warm=1 def_rounds=2
    RESULTS=${BENCH_RESULTS:-bench/results.md}
fi
KEYS=${BENCH_KEYS:-$def_keys}
WS=${BENCH_WS:-$def_ws}
CONNS=${BENCH_CONNS:-4}
PIPE=${BENCH_PIPELINE:-32}
BATCH=${BENCH_BATCH:-32}
DEEP=${BENCH_DEEP:-128}        # requests in flight per connection, deep rows
DEEPER=${BENCH_DEEPER:-512}    # ... and the deepest (where group commit amortises)
DUR=${BENCH_DURATION:-$def_dur}
WARM=${BENCH_WARMUP:-$def_warm}
ROUNDS=${BENCH_ROUNDS:-$def_rounds}   # quotad, Redis, quotad, Redis...: best kept
RUN_SLACK_S=60                 # per bench invocation, beyond DUR + WARM
LOAD_TIMEOUT_S=600
START_WAIT_TENTHS=150          # 15 s for a server to come up
STOP_WAIT_TENTHS=100           # 10 s after SIGTERM, then SIGKILL

BIN=build/rel
BENCH=$BIN/quotad-bench
QUOTAD=$BIN/quotad
OUT=build/bench
JSONL=$OUT/results.jsonl
WORK=$(mktemp -d /tmp/quotad-bench.XXXXXX)
PIDS=()
T_START=$(date +%s)

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# Stop one process we started: SIGTERM, bounded wait, then SIGKILL.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < STOP_WAIT_TENTHS; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_redis() {
    command -v redis-server >/dev/null 2>&1 &&
        command -v redis-cli >/dev/null 2>&1 && return 0
    log "installing redis-server (Debian package)"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server
}

# A loopback port nobody listens on (checked, then used at once).
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM * 7 + i) % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# start_quotad NAME [quotad options...] -> QD_PID QD_PORT QD_DIR
# (QD_PREFIX, e.g. "taskset -c 1", runs it pinned)
start_quotad() {
    QD_DIR=$WORK/$1
    shift
    mkdir -p "$QD_DIR/data"
    local args=(--port 0 --port-file "$QD_DIR/port" --data-dir "$QD_DIR/data"
                --log-level 1 "$@")
    # shellcheck disable=SC2086
    ${QD_PREFIX:-} "$QUOTAD" "${args[@]}" >"$QD_DIR/log" 2>&1 &
    QD_PID=$!
    PIDS+=("$QD_PID")
    local i
    for ((i = 0; i < START_WAIT_TENTHS; i++)); do
        [ -s "$QD_DIR/port" ] && break
        kill -0 "$QD_PID" 2>/dev/null || { cat "$QD_DIR/log" >&2; die "quotad $1 exited"; }
        sleep 0.1
    done
    [ -s "$QD_DIR/port" ] || die "quotad $1 did not start"
    QD_PORT=$(cat "$QD_DIR/port")
}

# start_redis -> REDIS_PID REDIS_PORT
start_redis() {
    local dir=$WORK/redis i
    mkdir -p "$dir"
    REDIS_PORT=$(free_port) || die "no free port"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --daemonize no --protected-mode yes \
        --dir "$dir" --logfile "$dir/redis.log" &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    for ((i = 0; i < START_WAIT_TENTHS; i++)); do
        [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0
        kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited (log: $dir/redis.log)"
        sleep 0.1
    done
    die "redis-server did not start"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
redis_mem() { redis-cli -p "$REDIS_PORT" info memory | tr -d '\r' | awk -F: -v k="$1" '$1 == k {print $2}'; }

# CPU busy fraction of the whole machine over one second (other sessions
# share it: their load skews results, so it is recorded).
machine_busy_pct() {
    local a b
    read -r -a a </proc/stat
    sleep 1
    read -r -a b </proc/stat
    local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

# run_bench LABEL TARGET PORT PID SECRETS [args...]: one JSON line into
# $JSONL; the progress line goes to stderr.
run_bench() {
    local label=$1 target=$2 port=$3 pid=$4 secrets=$5 line limit
    shift 5
    limit=$(awk -v d="$DUR" -v w="$WARM" -v s="$RUN_SLACK_S" 'BEGIN {print int(d + w + s)}')
    # shellcheck disable=SC2086
    line=$(timeout "$limit" ${BENCH_PREFIX:-} "$BENCH" --target "$target" --port "$port" \
        --server-pid "$pid" --secrets "$secrets" --conns "$CONNS" \
        --pipeline "$PIPE" --duration "$DUR" --warmup "$WARM" \
        --label "$label" --json "$@") ||
        die "run $label against $target failed"
    echo "$line" >>"$JSONL"
}

# jget LABEL TARGET FIELD: a field of the best round (highest ops/s) of
# that run ("" if none)
jget() {
    grep "\"target\":\"$2\",\"label\":\"$1\"" "$JSONL" |
        awk -F'"ops_per_s":' '{split($2, a, ","); print a[1] "\t" $0}' |
        sort -t$'\t' -k1,1 -g | tail -1 | cut -f2- |
        sed -n "s/.*\"$3\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}

# load_quotad SECRETS: create the population, secrets into SECRETS
load_quotad() {
    timeout "$LOAD_TIMEOUT_S" "$BENCH" --target quotad --port "$QD_PORT" \
        --load --keys "$KEYS" --workspaces "$WS" --conns 2 --secrets "$1" ||
        die "loading quotad failed"
}

# load_durable_quotad SECRETS: load_quotad, then snapshot the bulk load
# (as an operator would after an import), so the automatic snapshot the
# load's log would trigger does not land inside a measured round
load_durable_quotad() {
    load_quotad "$1"
    [ -x "$BIN/quotadctl" ] || return 0
    timeout "$LOAD_TIMEOUT_S" "$BIN/quotadctl" --port "$QD_PORT" \
        snapshot --wait >/dev/null || die "snapshot after load failed"
}

# load_redis SECRETS: the same keys (by hash) and wallets into Redis
load_redis() {
    timeout "$LOAD_TIMEOUT_S" "$BENCH" --target redis --port "$REDIS_PORT" \
        --load --secrets "$1" || die "loading redis failed"
}

# Does this quotad write anything to its data dir? (persistence is being
# added; an empty data dir after writes means in-memory only)
quotad_persists() {
    [ -n "$(find "$QD_DIR/data" -type f -size +0 2>/dev/null | head -1)" ]
}

# ---- the run ----

[ -x "$BENCH" ] && [ -x "$QUOTAD" ] || die "build first (make bench does)"
install_redis
mkdir -p "$OUT" "$(dirname "$RESULTS")"
: >"$JSONL"
BUSY_PCT=$(machine_busy_pct)
log "machine busy before start: ${BUSY_PCT}% (other sessions' load skews results)"
FSYNC_OPT=""
"$QUOTAD" --help 2>&1 | grep -q -- '--fsync' && FSYNC_OPT=no
MEM_OPTS=()
MEM_DESC="default options"
if "$QUOTAD" --help 2>&1 | grep -q -- '--persist'; then
    MEM_OPTS=(--persist 0)
    MEM_DESC="--persist 0 (memory only, no log)"
elif [ -n "$FSYNC_OPT" ]; then
    MEM_OPTS=(--fsync no)
    MEM_DESC="--fsync no"
fi

log "quotad ($MEM_DESC) and redis-server on loopback; $KEYS keys over $WS workspaces"
start_quotad quotad-fast "${MEM_OPTS[@]}"
QF_PID=$QD_PID QF_PORT=$QD_PORT QF_SECRETS=$OUT/population-quotad-fast.secrets
sleep 0.5
QD_RSS0=$(rss_kb "$QF_PID")
load_quotad "$QF_SECRETS"
QD_RSS1=$(rss_kb "$QF_PID")

start_redis
RD_MEM0=$(redis_mem used_memory)
RD_RSS0=$(rss_kb "$REDIS_PID")
load_redis "$QF_SECRETS"
RD_MEM1=$(redis_mem used_memory)
RD_RSS1=$(rss_kb "$REDIS_PID")

# label|description|arguments for both targets
WORKLOADS=(
    "check-uniform|check-and-debit, uniform keys|--mix check --dist uniform"
    "check-zipf|check-and-debit, zipf s=0.99|--mix check --dist zipf"
    "hold-settle|hold, then settle (ops count both)|--mix hold"
    "admin-1pct|checks + 1% admin writes|--mix admin"
    "batch-$BATCH|$BATCH checks/frame (Redis: pipeline $BATCH)|--batch $BATCH"
    "check-p1|check-and-debit, pipeline 1|--pipeline 1"
    "check-deep|check-and-debit, $DEEP in flight per connection|--pipeline $DEEP"
    "check-deeper|check-and-debit, $DEEPER in flight per connection|--pipeline $DEEPER"
)
# pair LABEL ARGS...: the workload on quotad then Redis, ROUNDS times
pair() {
    local label=$1 round
    shift
    for ((round = 1; round <= ROUNDS; round++)); do
        log "$label (round $round of $ROUNDS)"
        run_bench "$label" quotad "$QF_PORT" "$QF_PID" "$QF_SECRETS" "$@"
        run_bench "$label" redis "$REDIS_PORT" "$REDIS_PID" "$QF_SECRETS" "$@"
    done
}

for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r label _ args <<<"$w"
    # shellcheck disable=SC2086
    pair "$label" $args
done

# p99 at half of each one's own peak (check-uniform), open loop, one
# request per due time, at most PIPE in flight per connection. One client
# thread paces every connection (--threads 1): with a thread per
# connection on a loaded core, late threads sent bursts of up to PIPE
# requests, and the servers' latency measured the client's scheduling.
PACED=(--threads 1)
QF_HALF=$(awk -v x="$(jget check-uniform quotad ops_per_s)" 'BEGIN {print int(x / 2)}')
RD_HALF=$(awk -v x="$(jget check-uniform redis ops_per_s)" 'BEGIN {print int(x / 2)}')
for ((round = 1; round <= ROUNDS; round++)); do
    log "half-peak: quotad at $QF_HALF ops/s, redis at $RD_HALF ops/s (round $round of $ROUNDS)"
    run_bench half-peak quotad "$QF_PORT" "$QF_PID" "$QF_SECRETS" --rate "$QF_HALF" "${PACED[@]}"
    run_bench half-peak redis "$REDIS_PORT" "$REDIS_PID" "$QF_SECRETS" --rate "$RD_HALF" "${PACED[@]}"
done
# both at the same modest rate: the latency floor under light load
FIXED_RATE=${BENCH_FIXED_RATE:-10000}
pair "rate-$FIXED_RATE" --rate "$FIXED_RATE" "${PACED[@]}"
pair ping --mix ping
stop_pid "$QF_PID"

# One core each: quotad with one worker and Redis (one thread), each
# pinned to CPU 1, the client to CPU 0. Peak, then half of it (open loop).
PIN_NOTE="not run (needs taskset and 2+ cores)"
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    QD_PREFIX="taskset -c 1" start_quotad quotad-pinned "${MEM_OPTS[@]}" --workers 1
    QP_PID=$QD_PID QP_PORT=$QD_PORT QP_SECRETS=$OUT/population-quotad-pinned.secrets
    load_quotad "$QP_SECRETS"
    taskset -a -p -c 1 "$REDIS_PID" >/dev/null
    for ((round = 1; round <= ROUNDS; round++)); do
        log "pinned peak (round $round of $ROUNDS)"
        BENCH_PREFIX="taskset -c 0" run_bench pin-peak quotad "$QP_PORT" "$QP_PID" "$QP_SECRETS" --mix check
        BENCH_PREFIX="taskset -c 0" run_bench pin-peak redis "$REDIS_PORT" "$REDIS_PID" "$QF_SECRETS" --mix check
    done
    QP_HALF=$(awk -v x="$(jget pin-peak quotad ops_per_s)" 'BEGIN {print int(x / 2)}')
    RP_HALF=$(awk -v x="$(jget pin-peak redis ops_per_s)" 'BEGIN {print int(x / 2)}')
    for ((round = 1; round <= ROUNDS; round++)); do
        log "pinned half-peak: quotad at $QP_HALF ops/s, redis at $RP_HALF ops/s (round $round of $ROUNDS)"
        BENCH_PREFIX="taskset -c 0" run_bench pin-half quotad "$QP_PORT" "$QP_PID" "$QP_SECRETS" --rate "$QP_HALF" "${PACED[@]}"
        BENCH_PREFIX="taskset -c 0" run_bench pin-half redis "$REDIS_PORT" "$REDIS_PID" "$QF_SECRETS" --rate "$RP_HALF" "${PACED[@]}"
    done
    stop_pid "$QP_PID"
    PIN_NOTE="server pinned to CPU 1 (quotad --workers 1), client to CPU 0"
fi
stop_pid "$REDIS_PID"

# log_stats PORT [STAT...] -> "records commits fsyncs fsync_us [STAT...]" (empty if unknown)
log_stats() {
    [ -x "$BIN/quotadctl" ] || return 0
    local port=$1; shift
    "$BIN/quotadctl" --port "$port" --json stats 2>/dev/null | tr ',{}' '\n\n\n' |
        awk -F: -v x="$*" '{gsub(/"/, "", $1); v[$1] = $2}
                 END {if (v["log_fsync_us"] == "") exit
                      s = v["log_records"] " " v["log_commits"] " " v["log_fsyncs"] " " v["log_fsync_us"]
                      n = split(x, k, " "); for (i = 1; i <= n; i++) s = s " " v[k[i]] + 0
                      print s}'
}
# log_delta BEFORE AFTER -> the group commits in between, in words
log_delta() {
    [ -n "$1" ] && [ -n "$2" ] || return 0
    echo "$1 $2" | awk '{r = $5 - $1; c = $6 - $2; f = $7 - $3; u = $8 - $4
        if (c > 0 && f > 0) printf "durable check rounds: %.1f records per group commit, fsync %.0f µs on average", r / c, u / f}'
}

DURABLE_NOTE="quotad has no --fsync option: durable row skipped"
DURABLE_LOG=""
DISK_PROBE=""
if [ -n "$FSYNC_OPT" ]; then
    # What one durable acknowledgement costs on this disk, measured with
    # nothing else running (same filesystem as the data dirs).
    DISK_PROBE=$("$BENCH" --disk-probe "$WORK" --json 2>/dev/null) || DISK_PROBE=""
    [ -n "$DISK_PROBE" ] && log "disk probe: $DISK_PROBE"
    start_quotad quotad-durable --fsync always
    QDUR_PID=$QD_PID QDUR_PORT=$QD_PORT QDUR_SECRETS=$OUT/population-quotad-durable.secrets
    # one write (a workspace and a key) to see whether anything persists
    "$BENCH" --target quotad --port "$QDUR_PORT" --load --keys 1 \
        --workspaces 1 --secrets "$WORK/probe.secrets" >/dev/null 2>&1 || true
    if quotad_persists; then
        log "durable quotad (fsync always)"
        load_durable_quotad "$QDUR_SECRETS"
        LOG0=$(log_stats "$QDUR_PORT")
        for ((round = 1; round <= ROUNDS; round++)); do
            run_bench durable-check quotad "$QDUR_PORT" "$QDUR_PID" "$QDUR_SECRETS" --mix check
        done
        DURABLE_LOG=$(log_delta "$LOG0" "$(log_stats "$QDUR_PORT")")
        for ((round = 1; round <= ROUNDS; round++)); do
            run_bench durable-hold quotad "$QDUR_PORT" "$QDUR_PID" "$QDUR_SECRETS" --mix hold
            run_bench durable-deep quotad "$QDUR_PORT" "$QDUR_PID" "$QDUR_SECRETS" --mix check --pipeline "$DEEP"
            run_bench durable-deeper quotad "$QDUR_PORT" "$QDUR_PID" "$QDUR_SECRETS" --mix check --pipeline "$DEEPER"
        done
        DURABLE_NOTE="durable = quotad --fsync always (group commit), same load; a snapshot of the loaded population is taken before the durable rounds"
        FASTLOG_ON=1
    else
        DURABLE_NOTE="quotad --fsync always wrote nothing to its data dir after a write: persistence not active in this build, durable row skipped"
    fi
    stop_pid "$QDUR_PID"
fi
log "$DURABLE_NOTE"

# The durable path again with the data dir on tmpfs, whose "flush" is
# free: a stand-in for a log device with fast flushes (NOT durable). What
# is left there is quotad's own cost of group commit, apart from the disk.
FASTLOG_NOTE=""
if [ "${FASTLOG_ON:-0}" = 1 ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
    FASTLOG_DIR=$(mktemp -d /dev/shm/quotad-bench-XXXXXX); then
    log "durable quotad with its log on tmpfs ($FASTLOG_DIR)"
    start_quotad quotad-fastlog --fsync always --data-dir "$FASTLOG_DIR"
    QFL_PID=$QD_PID QFL_PORT=$QD_PORT QFL_SECRETS=$OUT/population-quotad-fastlog.secrets
    load_durable_quotad "$QFL_SECRETS"
    FL0=$(log_stats "$QFL_PORT" log_gate_waits log_inline_commits)
    for ((round = 1; round <= ROUNDS; round++)); do
        run_bench fastlog-check quotad "$QFL_PORT" "$QFL_PID" "$QFL_SECRETS" --mix check
        run_bench fastlog-deeper quotad "$QFL_PORT" "$QFL_PID" "$QFL_SECRETS" --mix check --pipeline "$DEEPER"
    done
    FASTLOG_NOTE=$(echo "$FL0 $(log_stats "$QFL_PORT" log_gate_waits log_inline_commits)" | awk 'NF == 12 {
        c = $8 - $2; if (c > 0) printf "%.1f records per group commit, %.0f%% of the commits run by the workers inline (log_inline_commits), %d held back for the workers (log_gate_waits)", ($7 - $1) / c, 100 * ($12 - $6) / c, $11 - $5}')
    stop_pid "$QFL_PID"
    rm -rf "$FASTLOG_DIR"
fi

# ---- the report ----

num() { awk -v x="${1:-0}" -v f="$2" 'BEGIN {printf f, x}'; }
# numor VALUE FORMAT: like num, but "-" when the value is missing
numor() { if [ -n "$1" ]; then num "$1" "$2"; else echo -; fi; }
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN {if (b + 0 > 0) printf "%.1fx", a / b; else print "-"}'; }

# table_row LABEL DESCRIPTION
table_row() {
    local l=$1 q r
    q="$(num "$(jget "$l" quotad ops_per_s)" %.0f) | $(num "$(jget "$l" quotad p50_us)" %.0f) | $(num "$(jget "$l" quotad p99_us)" %.0f) | $(numor "$(jget "$l" quotad srv_p50_us)" %.0f) | $(numor "$(jget "$l" quotad srv_p99_us)" %.0f) | $(num "$(jget "$l" quotad server_us_per_op)" %.1f)"
    if [ -n "$(jget "$l" redis ops_per_s)" ]; then
        r="$(num "$(jget "$l" redis ops_per_s)" %.0f) | $(num "$(jget "$l" redis p50_us)" %.0f) | $(num "$(jget "$l" redis p99_us)" %.0f) | $(num "$(jget "$l" redis server_us_per_op)" %.1f)"
        echo "| $2 | $q | $r | $(ratio "$(jget "$l" quotad ops_per_s)" "$(jget "$l" redis ops_per_s)") |"
    else
        echo "| $2 | $q | - | - | - | - | - |"
    fi
}

results_table() {
    echo "| workload | quotad ops/s | p50 µs | p99 µs | srv p50 µs | srv p99 µs | srv CPU µs/op | Redis+Lua ops/s | p50 µs | p99 µs | srv CPU µs/op | quotad/Redis |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    local w label desc
    for w in "${WORKLOADS[@]}"; do
        IFS='|' read -r label desc _ <<<"$w"
        table_row "$label" "$desc"
    done
    table_row half-peak "open loop at half of own check peak"
    table_row "rate-$FIXED_RATE" "open loop at $FIXED_RATE ops/s (both)"
    [ -n "$(jget durable-check quotad ops_per_s)" ] &&
        table_row durable-check "durable (fsync always): check" &&
        table_row durable-hold "durable (fsync always): hold+settle" &&
        table_row durable-deep "durable (fsync always): check, $DEEP in flight per connection" &&
        table_row durable-deeper "durable (fsync always): check, $DEEPER in flight per connection"
    [ -n "$(jget fastlog-check quotad ops_per_s)" ] &&
        table_row fastlog-check "durable, log on tmpfs (fast-flush stand-in): check" &&
        table_row fastlog-deeper "durable, log on tmpfs (fast-flush stand-in): check, $DEEPER in flight per connection"
    table_row ping "ping / PING (loopback floor)"
    [ -n "$(jget pin-peak quotad ops_per_s)" ] &&
        table_row pin-peak "one core each: check-and-debit peak" &&
        table_row pin-half "one core each: open loop at half of own peak"
}

memory_table() {
    local qb rb rrb
    qb=$(awk -v a="$QD_RSS0" -v b="$QD_RSS1" -v k="$KEYS" 'BEGIN {printf "%.0f", (b - a) * 1024 / k}')
    rb=$(awk -v a="$RD_MEM0" -v b="$RD_MEM1" -v k="$KEYS" 'BEGIN {printf "%.0f", (b - a) / k}')
    rrb=$(awk -v a="$RD_RSS0" -v b="$RD_RSS1" -v k="$KEYS" 'BEGIN {printf "%.0f", (b - a) * 1024 / k}')
    echo "| server | measure | before | after | bytes per key |"
    echo "|---|---|---:|---:|---:|"
    echo "| quotad | RSS (VmRSS) | $((QD_RSS0 / 1024)) MiB | $((QD_RSS1 / 1024)) MiB | $qb |"
    echo "| Redis | used_memory | $((RD_MEM0 / 1048576)) MiB | $((RD_MEM1 / 1048576)) MiB | $rb |"
    echo "| Redis | RSS (VmRSS) | $((RD_RSS0 / 1024)) MiB | $((RD_RSS1 / 1024)) MiB | $rrb |"
    QD_BPK=$qb
}

late() { echo "$(num "$(jget "$1" "$2" late_p50_us)" %.0f) / $(num "$(jget "$1" "$2" late_p99_us)" %.0f)"; }

verdict() { if [ "${1:-0}" = 1 ]; then echo "**met**"; else echo "**missed**"; fi; }

targets() {
    local r p99 sp99 dur fast
    r=$(awk -v a="$(jget check-uniform quotad ops_per_s)" -v b="$(jget check-uniform redis ops_per_s)" 'BEGIN {printf "%.1f", (b > 0 ? a / b : 0)}')
    local row=half-peak where="both servers sharing the 2 cores with the client"
    if [ -n "$(jget pin-half quotad srv_p99_us)" ]; then
        row=pin-half where="one core each: $PIN_NOTE; with the cores shared (half-peak row) srv p99 was $(jget half-peak quotad srv_p99_us) µs"
    fi
    p99=$(jget $row quotad p99_us)
    sp99=$(jget $row quotad srv_p99_us)
    echo "- check-and-debit throughput ≥ 5× Redis+Lua (same conns/pipeline, in-memory, uniform keys): ${r}× — $(verdict "$(awk -v r="$r" 'BEGIN {print (r >= 5)}')"); one core each: $(ratio "$(jget pin-peak quotad ops_per_s)" "$(jget pin-peak redis ops_per_s)")"
    if [ -n "$sp99" ]; then
        # srv_p99_us is a whole-microsecond slot: 99 means below 100 µs
        echo "- p99 server latency < 100 µs at half of peak (open loop, $(jget $row quotad rate) ops/s, $where; quotad's own histogram, request read -> reply queued, over $(jget $row quotad srv_count) frames): p99 $sp99 µs — $(verdict "$(awk -v p="$sp99" 'BEGIN {print (p + 0 < 100)}')"); as seen by the client (send -> reply, includes loopback and the client's own scheduling): p99 $(num "$p99" %.0f) µs"
    else
        echo "- p99 < 100 µs at half of peak (open loop, $(jget half-peak quotad rate) ops/s, send -> reply as seen by a client on the same cores; this quotad reported no server-side latency): p99 $(num "$p99" %.0f) µs — $(verdict "$(awk -v p="$p99" 'BEGIN {print (p != "" && p + 0 < 100)}')")"
    fi
    echo "- ≤ 150 bytes per key at $KEYS keys: $QD_BPK — $(verdict "$((QD_BPK <= 150))")"
    if [ -n "$(jget durable-check quotad ops_per_s)" ]; then
        echo "- durable within 20% of in-memory (same connections and requests in flight): at $PIPE in flight per connection $(durable_vs durable-check check-uniform)${DURABLE_LOG:+ ($DURABLE_LOG)}; at $DEEP: $(durable_vs durable-deep check-deep); at $DEEPER: $(durable_vs durable-deeper check-deeper). Each commit waits for one fsync, so at a fixed number of requests in flight durable throughput is at most in-flight / commit time: group commit needs enough requests in flight to fill its groups"
        disk_bound
        [ -n "$(jget fastlog-check quotad ops_per_s)" ] &&
            echo "- the same durable target with the log on tmpfs (its flush is free: a stand-in for a fast log device, not durable; what is left is quotad's own cost of group commit): at $PIPE in flight per connection $(durable_vs fastlog-check check-uniform); at $DEEPER: $(durable_vs fastlog-deeper check-deeper)${FASTLOG_NOTE:+ ($FASTLOG_NOTE)}"
    else
        echo "- durable within 20% of in-memory: not measured ($DURABLE_NOTE)"
    fi
}

# probe_get FIELD -> a number from the disk probe's JSON (empty if none)
probe_get() {
    echo "$DISK_PROBE" | tr ',{}' '\n\n\n' |
        awk -F: -v k="\"$1\"" '$1 == k {print $2}'
}

# ceiling_at PER_CONN MEMORY_LABEL -> "N ops/s (P% of in-memory)": the
# most CONNS x PER_CONN requests in flight could give if each waited for
# exactly one write + fdatasync of the probe and nothing else
ceiling_at() {
    awk -v c="$CONNS" -v p="$1" -v s="$(probe_get fdatasync_us_mean)" \
        -v f="$(jget "$2" quotad ops_per_s)" 'BEGIN {
            x = c * p * 1e6 / s
            printf "%.0f ops/s", x
            if (f > 0) printf " (%.0f%% of in-memory)", 100 * x / f }'
}

# The disk's share of the durable verdict, from the probe.
disk_bound() {
    [ -n "$(probe_get fdatasync_us_mean)" ] || return 0
    echo "- what bounds the durable rows: on this disk one write + fdatasync of $(probe_get write_bytes) bytes into a synced, zero-filled file (quotad's commit) took $(num "$(probe_get fdatasync_us_mean)" %.0f) µs on average with nothing else running (p99 $(num "$(probe_get fdatasync_us_p99)" %.0f) µs): the data write $(num "$(probe_get data_write_us_mean)" %.0f) µs, then the cache flush $(num "$(probe_get flush_us_mean)" %.0f) µs (\`quotad-bench --disk-probe DIR\`). Were every request to wait for exactly one such commit and nothing else (no client, no network, no wait for the commit already in progress), $CONNS connections could reach at most: at $PIPE in flight each $(ceiling_at "$PIPE" check-uniform); at $DEEP $(ceiling_at "$DEEP" check-deep); at $DEEPER $(ceiling_at "$DEEPER" check-deeper). A ceiling under 80% of in-memory means that row cannot meet the target on this disk, whatever the server does"
}

# durable_vs DURABLE_LABEL MEMORY_LABEL -> "N% of in-memory — verdict"
durable_vs() {
    local d f
    d=$(jget "$1" quotad ops_per_s)
    f=$(jget "$2" quotad ops_per_s)
    [ -n "$d" ] && [ -n "$f" ] || { echo "not measured"; return 0; }
    echo "$(awk -v d="$d" -v f="$f" 'BEGIN {printf "%.0f%%", 100 * d / f}') of in-memory — $(verdict "$(awk -v d="$d" -v f="$f" 'BEGIN {print (f > 0 && d >= 0.8 * f)}')")"
}

write_results() {
    local cpu mem rev
    cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
    rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    local dirty
    dirty=$(git status --porcelain 2>/dev/null | grep -vc '^??' || true)
    [ "${dirty:-0}" -gt 0 ] && rev="$rev + $dirty modified files"
    cat <<MD
# quotad vs Redis 7 + Lua: \`make bench\` results

Generated by \`make bench\` (bench/run.sh) on $(date -u +%Y-%m-%dT%H:%MZ),
tree at $rev$([ "$QUICK" = 1 ] && echo " -- **bench-quick: short smoke run, not a measurement**").
Total run time $(( $(date +%s) - T_START )) s. Raw runs: \`$JSONL\`.
Profile and analysis: [ANALYSIS.md](ANALYSIS.md).

**Machine:** $(nproc) cores ($cpu), $mem, $(uname -r).
**The load generator and the server under test share these $(nproc) cores**
(4 client threads + quotad's workers, or + Redis's one thread); ratios
are the headline, absolute numbers are context. CPU busy before the run
(other sessions of this machine): ${BUSY_PCT}%; load average at the end:
$(cut -d' ' -f1-3 /proc/loadavg).

**Setup.** quotad $MEM_DESC, default
workers (one per core) and 64 shards; redis-server
$(redis-server --version | awk '{print $3}' | tr -d 'v=') with \`--save '' --appendonly no\`,
one thread. Population: $KEYS keys over
$WS workspaces (key i in workspace i mod $WS), loaded into both; every key
has a quota, a daily spend cap, RPM/TPM limits and two-entry model and IP
allowlists; every check names an allowed model and IP, 100 micro-units,
50 tokens. $CONNS connections, $PIPE requests in flight per connection
(windows of $PIPE, timed per request from the window's send to each
reply), ${DUR} s measured after ${WARM} s warm-up, $ROUNDS round(s) per
workload alternating the servers, best round shown. "srv CPU" is the
server process's user+system CPU per operation in that round. "srv
p50/p99" is quotad's own latency histogram over the measured phase
(\`stats\` op, \`latency_*\`): per frame, from when its bytes were read
off the socket to when its reply was queued for sending (durable rows:
released after the fsync), in whole µs slots ("99" = below 100 µs); it
leaves out loopback, kernel and client time. A batch frame counts once.
No Redis column: its \`INFO latencystats\` times command execution only,
not the wait in its event loop.

## Throughput and latency

$(results_table)

half-peak: each server at half its own check-uniform peak, open loop
(one request per due time per connection, at most $PIPE in flight;
"ops/s" is the rate achieved; one client thread paces all connections,
\`--threads 1\`, so late wake-ups of per-connection threads do not turn
into bursts). The fixed-rate row runs both at the same
modest rate. Open-loop latency is send -> reply; how late the client
itself sent (send - due, p50 / p99 in µs: the client's wake-ups on the
shared cores) was: half-peak quotad $(late half-peak quotad), Redis
$(late half-peak redis); fixed rate quotad $(late "rate-$FIXED_RATE" quotad),
Redis $(late "rate-$FIXED_RATE" redis). ping: quotad's \`ping\` / Redis \`PING\`
with the same connections and pipeline: the loopback and framing floor.
"one core each": $PIN_NOTE; quotad's workers and Redis's thread then
never wait for the load generator's threads, which is what a server on
its own machine sees. Peak is closed loop; the half row runs each at half
of its own one-core peak, open loop.

## Memory at $KEYS keys

$(memory_table)

## Targets (issue 4)

$(targets)

## What favours whom

- Redis gets the key pre-hashed (SHA-256 computed by the client): quotad
  parses every secret, checks its checksum and hashes it
  (BLAKE2b-256, 128 bits kept) server-side.
- The Lua peer matches allowlists exactly (a ",a,b," string); quotad
  parses the client IP and matches addresses and CIDRs (v4/v6).
- The Lua peer keeps only the daily spend window (quotad: day, ISO week,
  month), has no idempotency ids, and drops expired holds instead of
  refunding them.
- quotad runs one worker per core (here $(nproc)); Redis executes commands
  on one thread. Both share the cores with the client, whose cost per op
  differs (libquotad decodes protobuf; RESP is cheaper to parse).
- $DURABLE_NOTE.

## Reproduce

    make bench          # this file; ~10 min
    make bench-quick    # smoke run, small population, short runs
    BENCH_KEYS=100000 BENCH_WS=1000 BENCH_CONNS=8 BENCH_PIPELINE=16 make bench

Single runs: \`build/rel/quotad-bench --help\` (e.g. \`--target redis
--mix hold --dist zipf --rate 20000\`).
MD
}

memory_table >/dev/null  # sets QD_BPK
echo
results_table
echo
memory_table
echo
targets
write_results >"$RESULTS"
log "done in $(( $(date +%s) - T_START )) s; results: $RESULTS"
