#!/usr/bin/env bash
# curl_fanout.sh K PAGES URL OUT -- the best a shell user can do with plain
# curl: K curl processes in the background, process i (0..K-1) fetching pages
# i+1, i+1+K, i+1+2K, ... <= PAGES in ONE invocation (the URLs chained with
# --next, so each process keeps its connection alive); then wait for all.
# Process i writes its pages, one per line, to OUT.i.
#
# Unlike waexport and curl_loop.sh it is told PAGES in advance (it cannot stop
# at the first empty page), which only flatters it.
#
# Environment: BENCH_KEY (the API key), BENCH_FROM (the account number).
# Used by fetch_bench.sh; exits 1 when any of the curls fails.
set -u
k=$1 pages=$2 url=$3 out=$4
pids=()
for ((i = 0; i < k; i++)); do
    args=()
    for ((p = i + 1; p <= pages; p += k)); do
        ((${#args[@]})) && args+=(--next)
        args+=(-s -X POST -H 'Content-Type: application/json' -w '\n'
               --data "{\"apiKey\":\"$BENCH_KEY\",\"from\":\"$BENCH_FROM\",\"page\":$p}" "$url")
    done
    if ((${#args[@]})); then
        curl "${args[@]}" >"$out.$i" &
        pids+=($!)
    else
        : >"$out.$i"
    fi
done
rc=0
for pid in "${pids[@]}"; do
    wait "$pid" || rc=1
done
exit "$rc"
