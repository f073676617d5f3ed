#!/usr/bin/env bash
# curl_loop.sh URL OUT -- the baseline a shell user would write: one `curl`
# process per page, pages 1, 2, 3, ... until the API answers the empty page
# "[]"; every page appended to OUT. A new process (and a new connection) per
# page, nothing in parallel.
#
# Environment: BENCH_KEY (the API key), BENCH_FROM (the account number).
# Used by fetch_bench.sh; exits 1 when a curl fails.
set -u
url=$1 out=$2
: >"$out"
p=1
while :; do
    body=$(curl -s -X POST -H 'Content-Type: application/json' \
        --data "{\"apiKey\":\"$BENCH_KEY\",\"from\":\"$BENCH_FROM\",\"page\":$p}" "$url") || exit 1
    [[ $body == '[]' ]] && break
    printf '%s\n' "$body" >>"$out"
    p=$((p + 1))
done
