#!/usr/bin/env bash
# scripts/bench/fetch_bench.sh -- the fetch section of `make bench`: how fast
# `waexport fetch` pages through getHistory, side by side with what a shell
# user would write with curl, against the local mock API
# (scripts/mock_api.py). scripts/bench.sh calls it at the end; it also runs
# on its own.
#
#   scripts/bench/fetch_bench.sh                 full: 400 pages at 50 ms, 3 runs,
#                                                plus a 20,000-page fetch
#   BENCH_QUICK=1 scripts/bench/fetch_bench.sh   smoke check: 40 pages, no 20,000
#   scripts/bench/fetch_bench.sh --report        rebuild the report from the last
#                                                run's raw data
#
# Environment:
#   BENCH_QUICK=1               2,000 messages (40 pages), no 20,000-page fetch
#   BENCH_FETCH_RUNS=N          timed runs per client and phase (default 3)
#   BENCH_FETCH_LATENCY_MS=L    mock latency of the main phase (default 50)
#   BENCH_FETCH_MESSAGES=N      history of the main phases (default 20000, quick
#                               2000; a multiple of 50, so an empty page ends it)
#   BENCH_FETCH_BIG_MESSAGES=N  history of the big fetch (default 1000000; 0 skips)
#   BENCH_FETCH_TIMEOUT=S       a run taking longer is killed and FAILED (default 900)
#   BENCH_FETCH_BIN=PATH        the waexport to benchmark (default ./waexport,
#                               built by make when missing)
#
# What it does (report appended to build/bench/results.md and written alone to
# build/bench/fetch-results.md; raw data in build/bench/fetch-run/):
#  1. Starts one mock (loopback, port 0, its own key) with the history and
#     the latency, and reuses it for every run; POST /__reset before each run,
#     GET /__log after it for the request count and the mock's max_in_flight.
#  2. Phase "lat" (50 ms a request): waexport fetch --concurrency 1, 4, 8, 16,
#     a sequential curl loop (curl_loop.sh: one curl process per page, until
#     the empty page) and 8 keep-alive curl processes (curl_fanout.sh: pages
#     split round-robin, each process chaining its URLs with --next).
#     Round-robin runs, median wall time, pages/s = history pages / wall (the
#     empty page that ends the history counts: 401 for 20,000 messages).
#     Peak RSS is GNU time's %M (for the curl clients: the largest single
#     process). Client CPU = user + sys of the whole client process tree.
#  3. Phase "zero" (same mock, latency set to 0 by POST /__control): waexport
#     --concurrency 8 and 16 against the 8 keep-alive curl processes and one
#     curl process with --parallel --parallel-max 8 and 16 (curl_parallel.sh);
#     the fastest curl estimates the mock's own ceiling, and the mock's CPU time
#     per run (from /proc/PID/stat) gives a second estimate (pages per CPU
#     second of the mock, which the GIL holds to about one CPU).
#  4. Phase "big" (not in quick mode): a new mock serving 1,000,000 messages
#     (build/bench/pages-1m.jsonl via --samples when the convert section made
#     it and it is newer than the generator, else generated), 0 ms; waexport
#     --concurrency 8 to CSV (wall, pages/s, peak RSS) and, as the ceiling at
#     that size, the one-process curl --parallel-max 8 and 16; then the perf
#     profile of waexport there (steady state: start-up is noise at 20,000
#     pages; in quick mode the profile is taken in phase "zero").
#  5. scripts/bench/fetch_report.py prints the tables and PASS/FAIL lines.
set -euo pipefail
export LC_ALL=C   # '.' decimal point in $EPOCHREALTIME and printf

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BENCH=build/bench
OUT=$BENCH/out
RUN=$BENCH/fetch-run      # not under build/bench/run: bench.sh empties that with rm -f
BIN=$BENCH/bin
HELPERS=scripts/bench
MOCK=scripts/mock_api.py
GEN=scripts/gen_history.py
PY=/usr/bin/python3
W=$BIN/waexport-fetch      # snapshot of the binary under test
SRC_BIN=${BENCH_FETCH_BIN:-./waexport}
ACCOUNT=972501234567       # gen_history.DEFAULT_ACCOUNT: the mock's account
MARK='<!-- waexport fetch benchmark -->'

QUICK=${BENCH_QUICK:-0}
[[ $QUICK == 0 || -z $QUICK ]] && QUICK=0 || QUICK=1
RUNS=${BENCH_FETCH_RUNS:-3}
LAT=${BENCH_FETCH_LATENCY_MS:-50}
TMO=${BENCH_FETCH_TIMEOUT:-900}
if ((QUICK)); then
    MESSAGES=${BENCH_FETCH_MESSAGES:-2000}
    BIG=0
else
    MESSAGES=${BENCH_FETCH_MESSAGES:-20000}
    BIG=${BENCH_FETCH_BIG_MESSAGES:-1000000}
fi
CONCS=(1 4 8 16)

say() { printf '%s\n' "fetch-bench: $*" >&2; }
die() { say "$*"; exit 1; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_FETCH_RUNS must be a positive integer, got '$RUNS'"
[[ $LAT =~ ^[1-9][0-9]*$ ]] || die "BENCH_FETCH_LATENCY_MS must be a positive integer, got '$LAT'"
[[ $TMO =~ ^[1-9][0-9]*$ ]] || die "BENCH_FETCH_TIMEOUT must be a positive integer, got '$TMO'"
for v in MESSAGES BIG; do
    [[ ${!v} =~ ^[0-9]+$ ]] && ((${!v} % 50 == 0)) ||
        die "$v must be a multiple of 50 (so an empty page ends the history), got '${!v}'"
done
((MESSAGES > 0)) || die "BENCH_FETCH_MESSAGES must be > 0"
PAGES=$((MESSAGES / 50 + 1))      # the full pages plus the empty one that ends it
BIG_PAGES=$((BIG / 50 + 1))

# The mock's key: a throwaway, but still kept off command lines where it can
# be (waexport reads it from the environment; the curl baselines cannot).
export BENCH_KEY=bench-key-$RANDOM$RANDOM BENCH_FROM=$ACCOUNT
export WAEXPORT_API_KEY=$BENCH_KEY
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
unset WAEXPORT_URL

# write_report: the Markdown report from $RUN, to stdout, to
# $BENCH/fetch-results.md and into $BENCH/results.md (replacing an earlier
# fetch section there, keeping the convert one).
write_report() {
    "$PY" "$HELPERS/fetch_report.py" "$RUN" >"$BENCH/fetch-results.md"
    cat "$BENCH/fetch-results.md"
    local tmp=$BENCH/.results.md.tmp
    if [[ -f $BENCH/results.md ]]; then
        awk -v m="$MARK" '$0 == m {exit} {print}' "$BENCH/results.md" >"$tmp"
    else
        : >"$tmp"
    fi
    {
        if [[ -s $tmp ]]; then
            sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$tmp"   # drop trailing blank lines
            echo
        fi
        echo "$MARK"
        echo
        cat "$BENCH/fetch-results.md"
    } >"$tmp.2"
    mv -f "$tmp.2" "$BENCH/results.md"
    rm -f "$tmp"
    say "written to $BENCH/results.md and $BENCH/fetch-results.md (raw data in $RUN/)"
}
if [[ ${1:-} == --report ]]; then   # only rebuild the report from the last run's data
    [[ -f $RUN/meta.txt ]] || die "no data in $RUN: run the benchmark first"
    write_report
    exit 0
fi

# ---------------------------------------------------------------- set-up
ensure_deps() {
    local -a pkgs=()
    command -v curl >/dev/null || pkgs+=(curl)
    [[ -x /usr/bin/time ]] || pkgs+=(time)
    [[ -x $PY ]] || pkgs+=(python3)
    command -v timeout >/dev/null || pkgs+=(coreutils)
    if ((${#pkgs[@]})); then
        local sudo=
        ((EUID == 0)) || sudo=sudo
        say "installing ${pkgs[*]} (apt-get)"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
    fi
}

ensure_waexport() {
    if [[ ! -x $SRC_BIN && $SRC_BIN == ./waexport ]]; then
        say "./waexport missing: running make"
        "${MAKE:-make}" >&2 || die "make failed; cannot benchmark without ./waexport"
    fi
    [[ -x $SRC_BIN ]] || die "$SRC_BIN: not an executable"
    "$SRC_BIN" fetch --help >/dev/null 2>&1 || die "$SRC_BIN fetch --help failed"
    mkdir -p "$BIN"
    cp "$SRC_BIN" "$W.tmp" && mv -f "$W.tmp" "$W"
}

meta() { printf '%s=%s\n' "$1" "$2" >>"$RUN/meta.txt"; }

# ---------------------------------------------------------------- the mock
MOCK_PID=
BASE=
URL=
start_mock() {   # start_mock ARGS...: sets MOCK_PID, BASE, URL and MOCK_START_S
    local pf=$RUN/mock.port t0 t1 us
    rm -f "$pf"
    t0=$EPOCHREALTIME
    "$PY" "$MOCK" --port 0 --port-file "$pf" --api-key "$BENCH_KEY" --log-max 1000 "$@" \
        >"$RUN/mock.stdout" 2>>"$RUN/mock.stderr" &
    MOCK_PID=$!
    local waited=0
    until [[ -s $pf ]]; do
        kill -0 "$MOCK_PID" 2>/dev/null || { MOCK_PID=; tail -n 5 "$RUN/mock.stderr" >&2; die "the mock exited"; }
        ((waited++ < 6000)) || die "the mock did not start within 600 s"
        sleep 0.1
    done
    t1=$EPOCHREALTIME
    BASE=http://127.0.0.1:$(<"$pf")
    URL=$BASE/getHistory
    us=$((${t1/./} - ${t0/./}))
    MOCK_START_S=$(printf '%d.%03d' $((us / 1000000)) $((us % 1000000 / 1000)))
}

stop_mock() {
    if [[ -n $MOCK_PID ]]; then
        kill "$MOCK_PID" 2>/dev/null || true
        wait "$MOCK_PID" 2>/dev/null || true
        MOCK_PID=
    fi
}
trap stop_mock EXIT
trap 'exit 130' INT TERM

mock_get() { curl -s --max-time 10 "$BASE$1"; }
mock_post() { curl -s --max-time 10 -X POST -H 'Content-Type: application/json' --data "$2" "$BASE$1"; }
json_int() {     # json_int KEY JSON: an integer member of the mock's answers
    local v
    v=$(grep -o "\"$1\": *[0-9]*" <<<"$2" | head -n 1 | grep -o '[0-9]*$') || true
    printf '%s\n' "${v:-?}"
}
# The mock's CPU time (user + sys) so far, in clock ticks.
mock_ticks() {
    local stat
    stat=$(<"/proc/$MOCK_PID/stat")
    stat=${stat##*) }
    awk '{print $12 + $13}' <<<"$stat"
}
# Requests cancelled past the end may still be sleeping in the mock: wait for
# them so they do not count in the next run's max_in_flight.
wait_idle() {
    local i n
    for ((i = 0; i < 100; i++)); do
        n=$(json_int in_flight "$(mock_get '/__log?since=999999999999')")
        [[ $n == 0 ]] && return 0
        sleep 0.05
    done
    say "warning: the mock still has $n requests in flight"
}

# ---------------------------------------------------------------- clients
# client_cmd CLIENT PHASE NPAGES: sets CMD (argv) and OUTF (output file, or
# prefix of OUTF.0 ... for the fan-outs).
client_cmd() {
    local c=$1 phase=$2 npages=$3
    case $c in
    waexport_c*)
        OUTF=$OUT/fetch-$phase-c${c#waexport_c}.csv
        CMD=("$W" fetch --from "$ACCOUNT" --url "$URL" --concurrency "${c#waexport_c}" -o "$OUTF") ;;
    curl_loop)
        OUTF=$OUT/fetch-$phase-curl-loop.txt
        CMD=(bash "$HELPERS/curl_loop.sh" "$URL" "$OUTF") ;;
    curl_par*)
        OUTF=$OUT/fetch-$phase-curl-par${c#curl_par}
        CMD=(bash "$HELPERS/curl_fanout.sh" "${c#curl_par}" "$npages" "$URL" "$OUTF") ;;
    curl_multi*)
        OUTF=$OUT/fetch-$phase-curl-multi${c#curl_multi}
        bash "$HELPERS/curl_parallel.sh" "${c#curl_multi}" "$npages" "$URL" "$OUTF" \
            >"$RUN/$phase-$c.curlrc"
        CMD=(curl -K "$RUN/$phase-$c.curlrc") ;;
    *) die "unknown client $c" ;;
    esac
}

# Messages the client wrote: waexport's own summary, else "unique" keys counted.
count_messages() {
    local c=$1 stderr=$2
    case $c in
    waexport_c*) sed -n 's/.*wrote \([0-9][0-9]*\) messages.*/\1/p' "$stderr" | tail -n 1 ;;
    *) cat "$OUTF" "$OUTF".* 2>/dev/null | grep -o '"unique":' | wc -l ;;
    esac
}

# measure PHASE CLIENT RUN NPAGES: one timed run; a line in $RUN/times.tsv:
# phase client run wall_s rss_kib user_s sys_s rc requests max_in_flight
# mock_cpu_s messages out_bytes
measure() {
    local phase=$1 c=$2 r=$3 npages=$4
    local tag=$phase-$c t0 t1 k0 k1 rc=0 log rss user sys msgs bytes
    client_cmd "$c" "$phase" "$npages"
    rm -f "$OUTF" "$OUTF".*
    wait_idle
    mock_post /__reset '{}' >/dev/null
    k0=$(mock_ticks)
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%M %U %S' -o "$RUN/$tag.time" timeout "$TMO" "${CMD[@]}" \
        >"$RUN/$tag.stdout" 2>"$RUN/$tag.stderr" || rc=$?
    t1=$EPOCHREALTIME
    k1=$(mock_ticks)
    log=$(mock_get '/__log?since=999999999999')
    read -r rss user sys < <(tail -n 1 "$RUN/$tag.time")
    msgs=$(count_messages "$c" "$RUN/$tag.stderr")
    bytes=$(cat "$OUTF" "$OUTF".* 2>/dev/null | wc -c)
    local us=$((${t1/./} - ${t0/./}))
    printf '%s\t%s\t%d\t%d.%06d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$c" "$r" \
        $((us / 1000000)) $((us % 1000000)) "$rss" "$user" "$sys" "$rc" \
        "$(json_int total "$log")" "$(json_int max_in_flight "$log")" \
        "$(awk -v a="$k0" -v b="$k1" -v hz="$HZ" 'BEGIN {printf "%.2f", (b - a) / hz}')" \
        "${msgs:-0}" "$bytes" >>"$RUN/times.tsv"
    rm -f "$RUN/$tag.curlrc"
    if ((rc != 0)); then
        say "$tag run $r FAILED (exit $rc$( ((rc == 124)) && echo ", killed after $TMO s"))"
        sed 's/^/    /' "$RUN/$tag.stderr" | tail -n 5 >&2
    fi
    return "$rc"
}

# profile PHASE NPAGES: one untimed `perf record` of waexport --concurrency 8
# against the mock as it is; the listings go to $RUN/perf-{dso,sym}.txt.
profile() {
    local phase=$1 npages=$2
    if ! command -v perf >/dev/null || ! perf record -o /dev/null -q -- true >/dev/null 2>&1; then
        say "perf not available (or not permitted): no profile"
        return 0
    fi
    say "profiling waexport --concurrency 8 ($phase, $((npages - 1)) pages, perf record, untimed)"
    client_cmd waexport_c8 perf "$npages"
    wait_idle
    mock_post /__reset '{}' >/dev/null
    meta perf_phase "$phase"
    local t0 t1 us
    t0=$EPOCHREALTIME
    if perf record -F 999 -g -o "$RUN/perf.data" -- "${CMD[@]}" >/dev/null 2>"$RUN/perf.stderr"; then
        t1=$EPOCHREALTIME
        us=$((${t1/./} - ${t0/./}))
        meta perf_wall_s "$(printf '%d.%06d' $((us / 1000000)) $((us % 1000000)))"
        perf report -i "$RUN/perf.data" --stdio --no-children --sort dso -g none \
            --percent-limit 0.5 >"$RUN/perf-dso.txt" 2>/dev/null || true
        perf report -i "$RUN/perf.data" --stdio --no-children --sort dso,sym -g none \
            --percent-limit 1 >"$RUN/perf-sym.txt" 2>/dev/null || true
        perf report -i "$RUN/perf.data" --stdio --no-children --sort sym -g caller \
            --percent-limit 5 >"$RUN/perf-callers.txt" 2>/dev/null || true
    else
        say "perf record failed; no profile"
        tail -n 3 "$RUN/perf.stderr" >&2
    fi
    rm -f "$OUTF"
}

# timed_phase PHASE NPAGES CLIENT...: RUNS round-robin runs of every client.
timed_phase() {
    local phase=$1 npages=$2 r c
    shift 2
    local -A failed=()
    for ((r = 1; r <= RUNS; r++)); do
        for c in "$@"; do
            [[ -n ${failed[$c]:-} ]] && continue
            measure "$phase" "$c" "$r" "$npages" || failed[$c]=1
        done
        say "$phase: run $r/$RUNS done"
    done
}

# ---------------------------------------------------------------- main
ensure_deps
ensure_waexport
HZ=$(getconf CLK_TCK)
mkdir -p "$OUT" "$RUN"
rm -f "$RUN"/* "$OUT"/fetch-*

meta date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta quick "$QUICK"
meta runs "$RUNS"
meta latency_ms "$LAT"
meta messages "$MESSAGES"
meta pages "$PAGES"
meta big_messages "$BIG"
meta big_pages "$BIG_PAGES"
meta nproc "$(nproc)"
meta cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
meta mem "$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta load "$(cut -d' ' -f1-3 /proc/loadavg)"
v=$("$W" --version 2>&1 | head -n 1)
meta v_waexport "${v%% (*}"
meta waexport_bin "$SRC_BIN"
meta waexport_sha "$(sha256sum "$W" | cut -c1-12)"
meta waexport_mtime "$(date -u -r "$SRC_BIN" '+%Y-%m-%d %H:%M:%S UTC')"
meta v_curl "$(curl --version | head -n 1 | cut -d' ' -f1-2)"
meta v_libcurl "$(curl --version | head -n 1 | grep -o 'libcurl/[^ ]*')"
meta v_python "$("$PY" --version 2>&1)"
meta timeout "$TMO"

# ---- phase "lat": 50 ms a request
say "starting the mock: $MESSAGES messages ($PAGES pages with the empty end page), $LAT ms latency"
start_mock --messages "$MESSAGES" --latency-ms "$LAT"
meta mock_start_s "$MOCK_START_S"
LAT_CLIENTS=()
for c in "${CONCS[@]}"; do LAT_CLIENTS+=("waexport_c$c"); done
LAT_CLIENTS+=(curl_loop curl_par8)
ZERO_CLIENTS=(waexport_c8 waexport_c16 curl_par8 curl_multi8 curl_multi16)
meta clients_lat "${LAT_CLIENTS[*]}"
for c in "${LAT_CLIENTS[@]}" curl_multi8 curl_multi16; do
    client_cmd "$c" lat "$PAGES"
    line="${CMD[*]}"
    line=${line//$W/waexport}
    line=${line//$URL/URL}
    [[ $c == curl_multi* ]] && line+=" (CONFIG from: bash $HELPERS/curl_parallel.sh ${c#curl_multi} $PAGES URL OUT)"
    meta "cmd_$c" "$line"
done
rm -f "$RUN"/lat-curl_multi*.curlrc
# Warm-up (untimed): the mock's page cache, the binary, the loopback path.
client_cmd waexport_c8 warm "$PAGES"
"${CMD[@]}" 2>"$RUN/warmup.stderr" || { cat "$RUN/warmup.stderr" >&2; die "warm-up waexport fetch failed"; }
rm -f "$OUTF"
say "phase lat: ${LAT_CLIENTS[*]}; $RUNS runs each, round-robin"
timed_phase lat "$PAGES" "${LAT_CLIENTS[@]}"

# ---- phase "zero": the same mock at 0 ms
mock_post /__control '{"latency_ms": 0}' >/dev/null
meta clients_zero "${ZERO_CLIENTS[*]}"
say "phase zero (0 ms): ${ZERO_CLIENTS[*]}; $RUNS runs each, round-robin"
timed_phase zero "$PAGES" "${ZERO_CLIENTS[@]}"

((BIG > 0)) || profile zero "$PAGES"

# ---- output checks
{
    ref=$OUT/fetch-lat-c1.csv
    for f in "$OUT"/fetch-lat-c*.csv "$OUT"/fetch-zero-c*.csv; do
        [[ -f $f && -f $ref && $f != "$ref" ]] || continue
        if cmp -s "$ref" "$f"; then
            echo "$(basename "$f"): identical to $(basename "$ref")"
        else
            echo "$(basename "$f"): DIFFERS from $(basename "$ref")"
        fi
    done
} >"$RUN/validation.txt"
stop_mock

# ---- phase "big": a 20,000-page fetch
if ((BIG > 0)); then
    src=(--messages "$BIG")
    if ((BIG == 1000000)) && [[ -s $BENCH/pages-1m.jsonl && ! $GEN -nt $BENCH/pages-1m.jsonl ]]; then
        src=(--samples "$BENCH/pages-1m.jsonl")
    fi
    say "starting the mock: $BIG messages ($BIG_PAGES pages), 0 ms, from ${src[*]} (takes a while)"
    meta big_source "${src[*]}"
    start_mock "${src[@]}" --latency-ms 0
    meta big_mock_start_s "$MOCK_START_S"
    client_cmd waexport_c8 big "$BIG_PAGES"
    meta cmd_big "$(line="${CMD[*]}"; line=${line//$W/waexport}; echo "${line//$URL/URL}")"
    meta big_mock_rss_kib "$(awk '/^VmRSS/ {print $2}' "/proc/$MOCK_PID/status")"
    BIG_CLIENTS=(waexport_c8 curl_multi8 curl_multi16)
    meta clients_big "${BIG_CLIENTS[*]}"
    say "phase big: ${BIG_CLIENTS[*]}, one run each"
    for c in "${BIG_CLIENTS[@]}"; do
        measure big "$c" 1 "$BIG_PAGES" || true
        rm -f "$OUTF" "$OUTF".*
    done
    profile big "$BIG_PAGES"
    stop_mock
fi

# ---------------------------------------------------------------- report
meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
write_report
