#!/usr/bin/env bash
# curl_parallel.sh K PAGES URL OUT > CONFIG -- prints a curl config (for
# `curl -K CONFIG`) that makes ONE curl process fetch pages 1..PAGES with
# --parallel --parallel-max K (libcurl's multi interface, up to K transfers at
# once on kept-alive connections), page p into OUT.p: the leanest client
# plain curl offers, which fetch_bench.sh uses to estimate the mock's own
# ceiling. The config is written before the timed run, so neither a shell
# loop nor the argument list limit is part of what is measured.
#
# Like curl_fanout.sh the client is told PAGES in advance.
#
# Environment: BENCH_KEY (the API key), BENCH_FROM (the account number).
set -u
k=$1 pages=$2 url=$3 out=$4
printf 'parallel\nparallel-max = %d\n' "$k"
for ((p = 1; p <= pages; p++)); do
    ((p > 1)) && printf 'next\n'
    printf 'url = "%s"\nsilent\nheader = "Content-Type: application/json"\n' "$url"
    printf 'data = "{\\"apiKey\\":\\"%s\\",\\"from\\":\\"%s\\",\\"page\\":%d}"\n' \
        "$BENCH_KEY" "$BENCH_FROM" "$p"
    printf 'output = "%s.%d"\n' "$out" "$p"
done
