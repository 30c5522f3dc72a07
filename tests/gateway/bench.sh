#!/usr/bin/env bash
# bench.sh -- what the auth hop costs: requests/s and latency of the same
# chat-completion request (a) straight to the fake upstream, (b) through
# quotad-gateway in proxy mode (check + hold, forward, settle), (c) through
# plain nginx, (d) through nginx + auth_request (quotad-gateway --mode
# auth_request, one debit per request). Run by `make bench-gateway`
# (release builds); not part of make test. Writes bench/gateway-results.md.
#
# One round per quotad fsync policy (BENCH_FSYNCS, default "always no"):
# quotad answers a state change only once it is durable, so under
# `always` the fsync latency is part of every gateway request.
# Everything listens on 127.0.0.1, lives in a temp dir and is stopped by
# its PID. Knobs (env): BENCH_SECONDS (10 per row), BENCH_CONNS (32),
# BENCH_THREADS (wrk, 2), BENCH_GW_THREADS (gateway workers; default one
# per CPU), BENCH_GW_BIN (the proxy and auth_request gateway binary, to
# compare builds; the fake upstream is always this build's),
# BENCH_KEEP=1 keeps the temp dirs (logs, wrk output).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
REL=$REPO/build/rel
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-32}
THREADS=${BENCH_THREADS:-2}
GW_THREADS=${BENCH_GW_THREADS:-$(nproc)}
GW_BIN=${BENCH_GW_BIN:-$REL/quotad-gateway}
FSYNCS=${BENCH_FSYNCS:-always no}
OUT=$REPO/bench/gateway-results.md
START_WAIT_TENTHS=150
UPSTREAM_KEY=bench-upstream-key
BODY='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello to the quota gateway."}],"max_tokens":64}'
PIDS=()
DIR=""
ROWS=""

stop_all() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
    if [ -n "$DIR" ] && [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$DIR"; fi
    [ -z "$DIR" ] || [ -z "${BENCH_KEEP:-}" ] || echo "kept $DIR" >&2
    DIR=""
}
trap stop_all EXIT

# wait_port FILE: until the port file exists and the port accepts.
wait_port() {
    for _ in $(seq "$START_WAIT_TENTHS"); do
        if [ -s "$1" ] && (exec 3<>"/dev/tcp/127.0.0.1/$(cat "$1")") 2>/dev/null; then
            cat "$1"; return 0
        fi
        sleep 0.1
    done
    echo "bench: nothing listening for $1" >&2; return 1
}

free_port() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

start_quotad() {   # FSYNC
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/root.cred"
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/gw.cred"
    chmod 600 "$DIR/root.cred" "$DIR/gw.cred"
    "$REL/quotad" --port 0 --port-file "$DIR/q.port" --data-dir "$DIR/data" \
        --fsync "$1" --log-level 1 --root-credential-file "$DIR/root.cred" \
        --gateway-credential-file "$DIR/gw.cred" 2>"$DIR/quotad.log" &
    PIDS+=($!)
    QP=$(wait_port "$DIR/q.port")
}

start_gateways() {
    "$REL/quotad-gateway" --mode fake_upstream --port 0 --port-file "$DIR/u.port" \
        --log-level 1 --fake-expect-auth "Bearer $UPSTREAM_KEY" 2>"$DIR/fake.log" &
    PIDS+=($!)
    UP=$(wait_port "$DIR/u.port")
    local common=(--threads "$GW_THREADS" --log-level 1 --quotad-port "$QP"
                  --quotad-credential-file "$DIR/gw.cred")
    "$GW_BIN" --mode proxy --port 0 --port-file "$DIR/g.port" \
        "${common[@]}" --upstream "http://127.0.0.1:$UP" \
        --upstream-key "$UPSTREAM_KEY" --prices tests/gateway/prices.conf \
        2>"$DIR/proxy.log" &
    PIDS+=($!)
    GP=$(wait_port "$DIR/g.port")
    "$GW_BIN" --mode auth_request --port 0 --port-file "$DIR/a.port" \
        "${common[@]}" --trust-forwarded 1 --auth-amount-micro 1000 \
        2>"$DIR/auth.log" &
    PIDS+=($!)
    AP=$(wait_port "$DIR/a.port")
}

# The test's nginx config (which includes the shipped sample) plus a
# plain proxy server for the no-auth row.
start_nginx() {
    NP=$(free_port); PP=$(free_port)
    sed -e "s#@DIR@#$DIR#g; s#@REPO@#$REPO#g; s#@NGINX_PORT@#$NP#g" \
        -e "s#@AUTH_PORT@#$AP#g; s#@UPSTREAM_PORT@#$UP#g" \
        -e "s#error_log .*#error_log $DIR/nginx-error.log error;#" \
        -e "s#access_log .*#access_log off;#" \
        -e "s#test-upstream-key#$UPSTREAM_KEY#" tests/gateway/nginx.conf.in |
        sed -e '$d' >"$DIR/nginx.conf"
    cat >>"$DIR/nginx.conf" <<EOF
    server {
        listen 127.0.0.1:$PP;
        location / {
            proxy_set_header Authorization "Bearer $UPSTREAM_KEY";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://llm_backend;
        }
    }
}
EOF
    /usr/sbin/nginx -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/nginx-error.log" &
    PIDS+=($!)
    echo "$NP" >"$DIR/n.port"; wait_port "$DIR/n.port" >/dev/null
    echo "$PP" >"$DIR/p.port"; wait_port "$DIR/p.port" >/dev/null
}

ctl() { "$REL/quotadctl" --port "$QP" --json "$@" 2>/dev/null | tail -n 1; }

lua() {   # lua FILE BEARER
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $2"
wrk.headers["X-Model"] = "gpt-4o"
EOF
}

# row LABEL NAME URL LUA: one wrk run, one table row in ROWS.
row() {
    wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency -s "$4" "$3" \
        >"$DIR/$2.wrk" 2>&1 || true
    local rps p50 p99 errs
    rps=$(awk '/^Requests\/sec:/ {printf "%d", $2}' "$DIR/$2.wrk")
    p50=$(awk '$1 == "50%" {print $2}' "$DIR/$2.wrk")
    p99=$(awk '$1 == "99%" {print $2}' "$DIR/$2.wrk")
    errs=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$DIR/$2.wrk")
    ROWS+="| $1 | ${rps:-0} | ${p50:-?} | ${p99:-?} | ${errs:-0} |"$'\n'
}

round() {   # FSYNC
    DIR=$(mktemp -d /tmp/quotad-gw-bench.XXXXXX)
    start_quotad "$1"
    start_gateways
    start_nginx
    export QUOTAD_CREDENTIAL_FILE=$DIR/root.cred
    local ws key
    ws=$(ctl ws create --name bench | sed -E 's/.*"workspace_id":([0-9]+).*/\1/')
    ctl wallet topup "$ws" 1000000.00 >/dev/null
    key=$(ctl key create --ws "$ws" --name bench | sed -E 's/.*"secret":"([^"]+)".*/\1/')
    lua "$DIR/up.lua" "$UPSTREAM_KEY"
    lua "$DIR/key.lua" "$key"
    echo "round fsync=$1: warming up" >&2
    wrk -t1 -c4 -d2s -s "$DIR/key.lua" "http://127.0.0.1:$GP/v1/chat/completions" >/dev/null 2>&1 || true
    local url=/v1/chat/completions
    row "fake upstream, direct" upstream "http://127.0.0.1:$UP$url" "$DIR/up.lua"
    row "**quotad-gateway** (check+hold, forward, settle), fsync $1" gateway \
        "http://127.0.0.1:$GP$url" "$DIR/key.lua"
    row "nginx → upstream" nginx "http://127.0.0.1:$PP$url" "$DIR/up.lua"
    row "**nginx + auth_request** (one debit), fsync $1" nginx_auth \
        "http://127.0.0.1:$NP$url" "$DIR/key.lua"
    HOLDS+="fsync $1: $(ctl ws get "$ws" | sed -E 's/.*"reserved":(-?[0-9]+).*/\1/') micro reserved. "
    stop_all
}

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
HOLDS=""
for f in $FSYNCS; do round "$f"; done
mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<EOF
# Gateway load: the cost of the auth hop

\`make bench-gateway\` (tests/gateway/bench.sh), $(date -u +%Y-%m-%dT%H:%MZ),
$(nproc) cores shared by wrk, nginx, quotad, the gateways and the fake
upstream; load average before the runs: $LOAD (other work was running on
this machine: compare rows with each other, not across machines). wrk:
$THREADS threads, $CONNS connections, ${SECONDS_PER_RUN} s per row; every
request is one POST /v1/chat/completions (gpt-4o, max_tokens 64) answered
by the fake upstream. quotad: release build, with credentials;
quotad-gateway: $GW_THREADS workers.

| path | requests/s | p50 | p99 | non-2xx |
|---|---:|---:|---:|---:|
$ROWS
A gateway request is a check-and-hold plus a settle in quotad (two logged
state changes) and the upstream call; an auth_request one is a single
debit. A gateway worker never waits on quotad: every request's calls are
in flight at once on the worker's one quotad connection, so under
\`fsync always\` one group commit covers the calls of many requests.
Holds left after the runs: $HOLDS
(0 = every hold was settled).
EOF
cat "$OUT"
