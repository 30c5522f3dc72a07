#!/usr/bin/env bash
# Run each libFuzzer target for a bounded time on a scratch copy of its
# committed corpus; print executions, exec/s and the verdict per target;
# exit non-zero if any target found something (crash, sanitizer report,
# broken invariant, timeout, OOM, leak).
#
#   tests/fuzz/run.sh BIN_DIR SECONDS TARGET...
#
# Committed seeds: tests/fuzz/corpus/<target>/ (never written to).
# Extra libFuzzer flags of a target: tests/fuzz/<target>.options (one line).
# Scratch corpus:  BIN_DIR/corpus-work/<target>/ (fresh copy each run).
# Findings:        BIN_DIR/findings/<target>/ (crash-*, timeout-*, ...),
# logs:            BIN_DIR/logs/<target>.log
set -u
if [ $# -lt 3 ]; then
    echo "usage: $0 BIN_DIR SECONDS TARGET..." >&2
    exit 2
fi
bin_dir=$1
secs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
corpus_src="$here/corpus"
work="$bin_dir/corpus-work"
findings="$bin_dir/findings"
logs="$bin_dir/logs"
# Grace on top of -max_total_time before the run is killed as hung.
kill_after=$((secs + 180))
# Per-input time limit (s) and memory limit (MB) for libFuzzer.
unit_timeout=${FUZZ_UNIT_TIMEOUT:-30}
rss_mb=${FUZZ_RSS_MB:-2048}

mkdir -p "$work" "$findings" "$logs"
bad=0
summary=""
for t in "$@"; do
    bin="$bin_dir/$t"
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin missing" >&2
        bad=1
        continue
    fi
    rm -rf "${work:?}/$t" "${findings:?}/$t"
    mkdir -p "$work/$t" "$findings/$t"
    if [ -d "$corpus_src/$t" ]; then
        cp -rp "$corpus_src/$t"/. "$work/$t"/
    fi
    seeds=$(find "$work/$t" -type f | wc -l)
    opts=""
    [ -f "$here/$t.options" ] && opts=$(head -n 1 "$here/$t.options")
    log="$logs/$t.log"
    echo "fuzz: $t for ${secs}s ($seeds seeds) ..."
    start=$(date +%s)
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        timeout --signal=KILL "$kill_after" "$bin" \
        -max_total_time="$secs" -print_final_stats=1 \
        -timeout="$unit_timeout" -rss_limit_mb="$rss_mb" \
        -artifact_prefix="$findings/$t/" $opts "$work/$t" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    rate=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | grep -o 'exec/s: [0-9]*' | tail -n 1 | awk '{print $2}')
    [ -n "$rate" ] || rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
    [ -n "$execs" ] || execs="?"
    if { [ -z "$rate" ] || [ "$rate" = 0 ]; } && [ "$execs" != "?" ] && [ "$took" -gt 0 ]; then
        rate=$((execs / took))
    fi
    [ -n "$rate" ] || rate="?"
    crash=$(find "$findings/$t" -type f | head -n 1)
    if [ "$rc" -eq 0 ] && [ -z "$crash" ]; then
        verdict="no findings"
    else
        bad=1
        what=""
        for pat in 'FUZZ INVARIANT BROKEN' 'Assertion .* failed' 'runtime error:' \
                   'SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer' \
                   'ERROR: libFuzzer' 'SUMMARY: libFuzzer'; do
            what=$(grep -m 1 -oE "$pat.*" "$log" | cut -c1-160)
            [ -n "$what" ] && break
        done
        verdict="FINDING (exit $rc): ${crash:-no artifact} -- ${what:-see $log}"
        echo "---- $t: $log (project frames only) ----"
        grep -E 'INVARIANT|Assertion|runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|SUMMARY|Test unit written' "$log" | head -n 8
        grep -E '^ +#[0-9]+ 0x[0-9a-f]+ in .* [^ ]*/(server|persistence|proto|client|tests)/' "$log" | \
            sed -E 's/ 0x[0-9a-f]+ in / /' | head -n 16
        echo "----"
    fi
    line=$(printf '%-14s %10s execs  %8s exec/s  %4ss  %s' "$t" "$execs" "$rate" "$took" "$verdict")
    echo "$line"
    summary="$summary$line"$'\n'
done
echo "==== fuzz summary (FUZZ_SECONDS=$secs) ===="
printf '%s' "$summary"
exit $bad
