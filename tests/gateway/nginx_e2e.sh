#!/usr/bin/env bash
# nginx_e2e.sh -- nginx auth_request in front of the fake upstream, asking
# quotad through quotad-gateway --mode auth_request, driven with curl.
#
# Run by tests/integ/it_gateway.c, which sets NGINX_URL, QUOTADCTL,
# QUOTAD_PORT, QUOTAD_CREDENTIAL_FILE (root) and AUTH_AMOUNT_MICRO (the
# auth gateway's debit per request). nginx uses tests/gateway/nginx.conf.in,
# which includes examples/nginx/quotad-auth.conf.
# Prints "PASS name" / "FAIL name" (tests/t.h format); exit 1 on any FAIL.
set -u
: "${NGINX_URL:?}" "${QUOTADCTL:?}" "${QUOTAD_PORT:?}" "${AUTH_AMOUNT_MICRO:?}"
CURL_TIMEOUT_S=15
failed=0
out=$(mktemp)
hdr=$(mktemp)
ctl_err=$(mktemp)
trap 'rm -f "$out" "$hdr" "$ctl_err"' EXIT

ctl() {
    local o
    o=$("$QUOTADCTL" --port "$QUOTAD_PORT" --json "$@" 2>"$ctl_err") ||
        echo "  quotadctl $1 $2: $(cat "$ctl_err")" >&2
    printf '%s\n' "$o" | tail -n 1
}
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=process.argv[1].split(".").reduce((o,k)=>o?.[k],JSON.parse(s));console.log(v??"")})' "$1"; }

# post SECRET [MODEL] [BODY]: status code on stdout; body in $out, headers in $hdr.
post() {
    local model=${2:-gpt-4o} body=${3:-} auth=()
    [ -n "$1" ] && auth=(-H "Authorization: Bearer $1")
    [ -n "$body" ] ||
        body='{"model":"'"$model"'","messages":[{"role":"user","content":"hi"}]}'
    curl -sS -m "$CURL_TIMEOUT_S" -o "$out" -D "$hdr" -w '%{http_code}' \
        "${auth[@]}" -H "X-Model: $model" -H 'Content-Type: application/json' \
        -d "$body" "$NGINX_URL/v1/chat/completions"
}

# RPM windows are UTC minutes: start a counting test with room left.
minute_room() {
    local left=$((60000 - $(date +%s%3N) % 60000))
    [ "$left" -ge "$1" ] || sleep "$(((left + 200) / 1000 + 1))"
}

# expect NAME CONDITION-COMMAND...
result() {
    if [ "$2" = 0 ]; then echo "PASS $1"; else
        echo "FAIL $1"; failed=1
        echo "  $1: status/body: $(head -c 400 "$out")" >&2
    fi
}

code_is() { [ "$(json error.code <"$out")" = "$1" ]; }

ws=$(ctl ws create --name nginx-e2e --max-keys 100 | json workspace.workspace_id)
ctl wallet topup "$ws" 5.00 >/dev/null
quota_key=$(ctl key create --ws "$ws" --name q --quota "$((2 * AUTH_AMOUNT_MICRO + AUTH_AMOUNT_MICRO / 2))")
q_secret=$(echo "$quota_key" | json secret)
revoked=$(ctl key create --ws "$ws" --name r)
r_id=$(echo "$revoked" | json key.key_id); r_secret=$(echo "$revoked" | json secret)
rpm_secret=$(ctl key create --ws "$ws" --name rpm --rpm 1 | json secret)
model_secret=$(ctl key create --ws "$ws" --name m --model gpt-4o | json secret)
balance0=$(ctl ws get "$ws" | json workspace.balance)

s=$(post "$q_secret"); rc=1
[ "$s" = 200 ] && grep -q '"object":"chat.completion"' "$out" && rc=0
result nginx_allowed_request_reaches_the_upstream $rc

s=$(post "$q_secret" gpt-4o '{"model":"gpt-4o","stream":true,"messages":[]}'); rc=1
[ "$s" = 200 ] && grep -q '^data: \[DONE\]' "$out" && rc=0
result nginx_streams_sse_through $rc

s=$(post "$q_secret"); rc=1
[ "$s" = 429 ] && code_is quota_exceeded && rc=0
result nginx_exhausted_quota_is_429_quota_exceeded $rc

balance1=$(ctl ws get "$ws" | json workspace.balance); rc=1
[ "$((balance0 - balance1))" = "$((2 * AUTH_AMOUNT_MICRO))" ] && rc=0
result nginx_each_allowed_request_debits_the_fixed_amount $rc

s=$(post "$r_secret"); [ "$s" = 200 ] || echo "  revoked key did not work before revoking ($s)" >&2
ctl key revoke "$r_id" >/dev/null
s=$(post "$r_secret"); rc=1
[ "$s" = 401 ] && code_is revoked_api_key && grep -qi '^content-type: application/json' "$hdr" && rc=0
result nginx_revoked_key_is_401_json $rc

s=$(post ""); rc=1
[ "$s" = 401 ] && code_is invalid_api_key && rc=0
result nginx_missing_key_is_401_invalid_api_key $rc

minute_room 5000
s=$(post "$rpm_secret"); s=$(post "$rpm_secret"); rc=1
retry=$(grep -i '^retry-after:' "$hdr" | tr -dc '0-9')
[ "$s" = 429 ] && code_is rate_limit_exceeded && [ -n "$retry" ] && [ "$retry" -ge 1 ] && rc=0
result nginx_rate_limit_is_429_with_retry_after $rc

s=$(post "$model_secret" gpt-4o-mini); rc=1
[ "$s" = 403 ] && code_is model_not_allowed && rc=0
result nginx_model_from_x_model_header_is_403 $rc

exit "$failed"
