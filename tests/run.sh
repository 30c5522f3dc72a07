#!/usr/bin/env bash
# Run every test binary given on the command line, print each one's
# PASS/FAIL lines, and end with the total "N passed, N failed".
# A binary that exits non-zero without printing a FAIL line (a crash, a
# sanitizer report, a timeout) counts as one failure under its own name.
set -u
passed=0
failed=0
recap=$(mktemp)
per_test_timeout_s=${TEST_TIMEOUT_S:-300}
for bin in "$@"; do
    name=$(basename "$bin")
    out=$(mktemp)
    start=$(date +%s)
    timeout --signal=KILL "$per_test_timeout_s" "$bin" >"$out" 2>"$out.err"
    rc=$?
    secs=$(( $(date +%s) - start ))
    p=$(grep -c '^PASS ' "$out")
    f=$(grep -c '^FAIL ' "$out")
    sed -e "s/^/[$name] /" "$out" | grep -E '^\[[^]]*\] (PASS|FAIL)'
    if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
        sed -e "s/^/[$name] /" "$out.err" | tail -n 60
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "[$name] FAIL $name (exit $rc after ${secs}s)"
        f=1
    fi
    if [ "$f" -gt 0 ]; then
        {
            sed -e "s/^/[$name] /" "$out" | grep -E '^\[[^]]*\] FAIL'
            [ "$rc" -ne 0 ] && echo "[$name] exit $rc after ${secs}s"
            sed -e "s/^/[$name] stderr: /" "$out.err" | tail -n 12
        } >>"$recap"
    fi
    echo "[$name] ${secs}s"
    passed=$((passed + p))
    failed=$((failed + f))
    rm -f "$out" "$out.err"
done
# CI keeps only the tail of the output: repeat what failed just above
# the total so the cause is never scrolled away.
if [ -s "$recap" ]; then
    echo "--- failures ---"
    cat "$recap"
fi
rm -f "$recap"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
