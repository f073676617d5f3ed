#!/usr/bin/env bash
# scripts/bench.sh -- `make bench`: how fast and how lean `waexport convert` is,
# side by side with what people would otherwise use and with the floors set by
# its own libraries.
#
#   scripts/bench.sh                 full run: 1M-message corpus, 5 runs a tool
#   BENCH_QUICK=1 scripts/bench.sh   smoke check: 100k messages, 3 runs
#
# Environment:
#   BENCH_RUNS=N      timed runs per tool (default 5, quick 3); the median counts
#   BENCH_QUICK=1     100k-message corpus, 3 runs, RSS scaling 10k->100k only
#   BENCH_TOOLS="..." subset of tools to time (default: all, see TOOLS below)
#   BENCH_SEED=S      generator seed (default 1)
#   BENCH_FETCH=0     skip the fetch section (scripts/bench/fetch_bench.sh, run
#                     last; its own knobs are described there)
#   BENCH_CONVERT=0   run only the fetch section
#   BENCH_XLSX=0      skip the workbook section (scripts/bench/xlsx_bench.sh:
#                     waexport -> .xlsx vs openpyxl and LibreOffice)
#
# What it does (results in build/bench/results.md, raw data in build/bench/run/):
#  1. Installs what is missing (jq, GNU time, node/npm, cc, libjsmn-dev,
#     zlib1g-dev via apt-get; @duckdb/node-api via npm into build/bench).
#  2. Generates corpora once, cached in build/bench/pages-{10k,100k,1m}.jsonl
#     (scripts/gen_history.py; one 50-message page per line, newest first,
#     PHP-style \uXXXX escaping); regenerated when missing or when the
#     generator is newer than the file.
#  3. Times every tool on the main corpus, R runs each, round-robin (run 1 of
#     every tool, then run 2 of every tool, ...) so machine noise hits all of
#     them alike; reports the median wall time and the peak RSS (GNU time %M).
#     Every tool writes a real file under build/bench/out/ (waexport renames
#     its temporary file into place, which /dev/null would not allow).
#  4. Checks the outputs agree (jq and DuckDB against waexport, row by row).
#  5. Measures waexport's peak RSS at 10k, 100k, 1M messages, both orders.
#  6. Prints a Markdown table and PASS/FAIL lines for the targets.
set -euo pipefail
export LC_ALL=C   # '.' decimal point in $EPOCHREALTIME and printf

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ${BENCH_CONVERT:-1} == 0 ]]; then
    [[ ${BENCH_FETCH:-1} == 0 ]] && exit 0
    exec scripts/bench/fetch_bench.sh
fi
BENCH=build/bench
OUT=$BENCH/out
RUN=$BENCH/run
BIN=$BENCH/bin
HELPERS=scripts/bench
W=$BIN/waexport        # snapshot of ./waexport, see ensure_waexport
GEN=scripts/gen_history.py
PY=/usr/bin/python3
DUCKDB_NODE_VERSION=${DUCKDB_NODE_VERSION:-1.5.6-r.1}

QUICK=${BENCH_QUICK:-0}
[[ $QUICK == 0 || -z $QUICK ]] && QUICK=0 || QUICK=1
if ((QUICK)); then
    RUNS=${BENCH_RUNS:-3}
    MAIN=100k
    RSS_SIZES=(10k 100k)
else
    RUNS=${BENCH_RUNS:-5}
    MAIN=1m
    RSS_SIZES=(10k 100k 1m)
fi
SEED=${BENCH_SEED:-1}
ALL_TOOLS=(waexport_csv waexport_csv_newest waexport_ndjson waexport_csv_gz
           jq duckdb jsmn_only zlib_only cat)
read -r -a TOOLS <<<"${BENCH_TOOLS:-${ALL_TOOLS[*]}}"

say() { printf '%s\n' "bench: $*" >&2; }
die() { say "$*"; exit 1; }
has_tool() { local t; for t in "${TOOLS[@]}"; do [[ $t == "$1" ]] && return 0; done; return 1; }
messages_of() { case $1 in 10k) echo 10000 ;; 100k) echo 100000 ;; 1m) echo 1000000 ;; esac; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, got '$RUNS'"
for t in "${TOOLS[@]}"; do
    case " ${ALL_TOOLS[*]} " in *" $t "*) ;; *) die "unknown tool '$t' in BENCH_TOOLS (known: ${ALL_TOOLS[*]})" ;; esac
done

# ---------------------------------------------------------------- 1. set-up
ensure_deps() {
    local -a pkgs=()
    command -v jq >/dev/null || pkgs+=(jq)
    [[ -x /usr/bin/time ]] || pkgs+=(time)
    command -v node >/dev/null || pkgs+=(nodejs)
    command -v npm >/dev/null || pkgs+=(npm)
    command -v cc >/dev/null || pkgs+=(gcc libc6-dev)
    [[ -f /usr/include/jsmn.h ]] || pkgs+=(libjsmn-dev)
    [[ -f /usr/include/zlib.h ]] || pkgs+=(zlib1g-dev)
    [[ -x $PY ]] || pkgs+=(python3)
    command -v gzip >/dev/null || pkgs+=(gzip)
    if ((${#pkgs[@]})); then
        local sudo=
        ((EUID == 0)) || sudo=sudo
        say "installing ${pkgs[*]} (apt-get)"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
    fi
    if [[ ! -f $BENCH/node_modules/@duckdb/node-api/package.json ]]; then
        say "installing @duckdb/node-api@$DUCKDB_NODE_VERSION (npm, into $BENCH)"
        npm install --prefix "$BENCH" --no-audit --no-fund --loglevel=error \
            "@duckdb/node-api@$DUCKDB_NODE_VERSION" >&2
    fi
}

build_helpers() {
    mkdir -p "$BIN"
    if [[ ! -x $BIN/jsmn_only || $HELPERS/jsmn_only.c -nt $BIN/jsmn_only ]]; then
        cc -O2 -o "$BIN/jsmn_only" "$HELPERS/jsmn_only.c"
    fi
    if [[ ! -x $BIN/zlib_only || $HELPERS/zlib_only.c -nt $BIN/zlib_only ]]; then
        cc -O2 -o "$BIN/zlib_only" "$HELPERS/zlib_only.c" -lz
    fi
}

# Benchmarks a copy of ./waexport taken now, so a rebuild while the bench
# runs cannot mix two binaries into one table.
ensure_waexport() {
    if [[ ! -x ./waexport ]]; then
        say "./waexport missing: running make"
        "${MAKE:-make}" >&2 || die "make failed; cannot benchmark without ./waexport"
    fi
    ./waexport convert --help >/dev/null 2>&1 || die "./waexport convert --help failed"
    cp ./waexport "$W.tmp" && mv -f "$W.tmp" "$W"
}

# Corpora are cached; an interrupted generation leaves only a temporary file.
corpus() {
    local size=$1 n path tmp
    n=$(messages_of "$size")
    path=$BENCH/pages-$size.jsonl
    if [[ ! -s $path || $GEN -nt $path ]]; then
        [[ -f $GEN ]] || die "$GEN not found: cannot generate the $size corpus"
        tmp=$BENCH/.tmp-pages-$size.jsonl
        say "generating $path ($n messages, seed $SEED)"
        "$PY" "$GEN" --messages "$n" --seed "$SEED" --out "$tmp" >&2
        mv -f "$tmp" "$path"
    fi
    printf '%s\n' "$path"
}

# ---------------------------------------------------------------- 3. timing
# measure NAME STDOUT_FILE CMD...: one timed run; appends to $RUN/times.tsv.
# Wall time from bash's $EPOCHREALTIME around GNU time (which adds ~1 ms of
# fork/exec to every tool alike); peak RSS is GNU time's %M (KiB).
measure() {
    local name=$1 stdout=$2 run=$3
    shift 3
    local t0 t1 rc=0 rss
    t0=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$RUN/$name.rss" "$@" >"$stdout" 2>"$RUN/$name.stderr" || rc=$?
    t1=$EPOCHREALTIME
    rss=$(tail -n 1 "$RUN/$name.rss")
    local us=$((${t1/./} - ${t0/./}))
    printf '%s\t%d\t%d.%06d\t%s\t%d\n' "$name" "$run" $((us / 1000000)) $((us % 1000000)) "$rss" "$rc" >>"$RUN/times.tsv"
    if ((rc != 0)); then
        say "$name run $run FAILED (exit $rc):"
        sed 's/^/    /' "$RUN/$name.stderr" | head -n 5 >&2
    fi
    return "$rc"
}

# tool_cmd NAME: sets CMD (argv array), STDOUT (file) and OUTFILE (the file
# the tool produces, removed before each run so every tool starts equal).
tool_cmd() {
    local w=$W
    STDOUT=$RUN/$1.stdout
    case $1 in
    waexport_csv)        OUTFILE=$OUT/w.csv;        CMD=("$w" convert --format csv -o "$OUTFILE" "$IN") ;;
    waexport_csv_newest) OUTFILE=$OUT/w-newest.csv; CMD=("$w" convert --format csv --order newest -o "$OUTFILE" "$IN") ;;
    waexport_ndjson)     OUTFILE=$OUT/w.ndjson;     CMD=("$w" convert --format ndjson -o "$OUTFILE" "$IN") ;;
    waexport_csv_gz)     OUTFILE=$OUT/w.csv.gz;     CMD=("$w" convert --format csv -o "$OUTFILE" "$IN") ;;
    jq)       OUTFILE=$OUT/jq.csv;   STDOUT=$OUTFILE; CMD=(jq -rn -f "$HELPERS/jq_csv.jq" "$IN") ;;
    duckdb)   OUTFILE=$OUT/duckdb.csv; CMD=(node "$HELPERS/duckdb_csv.mjs" "$IN" "$OUTFILE") ;;
    jsmn_only) OUTFILE=;             CMD=("$BIN/jsmn_only" "$IN") ;;
    zlib_only) OUTFILE=$OUT/zlib.csv.gz; CMD=("$BIN/zlib_only" "$ZLIB_IN" "$OUTFILE" 6) ;;
    cat)      OUTFILE=$OUT/cat.jsonl; STDOUT=$OUTFILE; CMD=(cat "$IN") ;;
    esac
}

meta() { printf '%s=%s\n' "$1" "$2" >>"$RUN/meta.txt"; }

# ---------------------------------------------------------------- main
ensure_deps
build_helpers
WAEXPORT=0
if has_tool waexport_csv || has_tool waexport_csv_newest || has_tool waexport_ndjson || has_tool waexport_csv_gz; then
    ensure_waexport
    WAEXPORT=1
fi

mkdir -p "$OUT" "$RUN"
rm -f "$RUN"/* "$OUT"/*   # so the checks below only see this run's outputs
IN=$(corpus "$MAIN")
N=$(messages_of "$MAIN")
IN_BYTES=$(stat -c %s "$IN")

# Warm-up (untimed): page cache, and the CSV that zlib_only compresses --
# waexport's own output, copied aside so the timed runs cannot change it.
say "warm-up on $IN ($N messages, $IN_BYTES bytes)"
cat "$IN" >/dev/null
ZLIB_IN=$OUT/zlib-in.csv
if ((WAEXPORT)); then
    "$W" convert --format csv -o "$OUT/w.csv" "$IN" 2>"$RUN/warmup.stderr" ||
        { cat "$RUN/warmup.stderr" >&2; die "warm-up waexport convert failed"; }
    cp "$OUT/w.csv" "$ZLIB_IN"
    ZLIB_SRC="waexport CSV"
else
    jq -rn -f "$HELPERS/jq_csv.jq" "$IN" >"$ZLIB_IN"
    ZLIB_SRC="jq CSV (waexport not benchmarked)"
fi

meta input "$IN"
meta input_bytes "$IN_BYTES"
meta messages "$N"
meta runs "$RUNS"
meta quick "$QUICK"
meta tools "${TOOLS[*]}"
meta zlib_input_bytes "$(stat -c %s "$ZLIB_IN")"
meta zlib_input_src "$ZLIB_SRC"
meta date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
meta nproc "$(nproc)"
meta cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
meta mem "$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta fs "$(df -PT "$OUT" | awk 'NR == 2 {print $2}')"
meta load "$(cut -d' ' -f1-3 /proc/loadavg)"
if ((WAEXPORT)); then
    v=$("$W" --version 2>&1 | head -n 1)
    meta v_waexport "${v%% (*}"
    meta waexport_sha "$(sha256sum "$W" | cut -c1-12)"
    meta waexport_mtime "$(date -u -r ./waexport '+%Y-%m-%d %H:%M:%S UTC')"
fi
meta v_jq "$(jq --version)"
meta v_node "$(node --version)"
meta v_duckdb "$(node -p "require('./$BENCH/node_modules/@duckdb/node-bindings/package.json').version" 2>/dev/null || echo '?')"
meta v_zlib "$(dpkg-query -W -f '${Version}' zlib1g-dev 2>/dev/null || echo '?')"
meta v_jsmn "$(dpkg-query -W -f '${Version}' libjsmn-dev 2>/dev/null || echo '?')"
for t in "${TOOLS[@]}"; do
    tool_cmd "$t"
    line="${CMD[*]}"
    [[ ${CMD[0]} == "$W" ]] && line="./waexport ${CMD[*]:1}"
    [[ $STDOUT == "$OUTFILE" ]] && line+=" > $OUTFILE"
    meta "cmd_$t" "$line"
done

say "timing ${TOOLS[*]}: $RUNS runs each, round-robin"
declare -A FAILED=()
for ((r = 1; r <= RUNS; r++)); do
    for t in "${TOOLS[@]}"; do
        [[ -n ${FAILED[$t]:-} ]] && continue
        tool_cmd "$t"
        [[ -n $OUTFILE ]] && rm -f "$OUTFILE"
        measure "$t" "$STDOUT" "$r" "${CMD[@]}" || FAILED[$t]=1
    done
    say "run $r/$RUNS done"
done

# ---------------------------------------------------------------- 4. checks
say "checking outputs"
{
    if ((WAEXPORT)) && [[ -f $OUT/w-newest.csv || -f $OUT/w.csv ]]; then
        ref=$OUT/w-newest.csv
        [[ -f $ref ]] || ref=$OUT/w.csv
        others=()
        [[ -f $OUT/jq.csv ]] && others+=("jq=$OUT/jq.csv")
        [[ -f $OUT/duckdb.csv ]] && others+=("duckdb=$OUT/duckdb.csv")
        [[ -f $OUT/w.csv && $ref != "$OUT/w.csv" ]] && others+=("waexport --order oldest=$OUT/w.csv")
        "$PY" "$HELPERS/compare_csv.py" "waexport=$ref" "${others[@]}" || true
        if [[ -f $OUT/w.csv.gz && -f $OUT/w.csv ]]; then
            if gzip -dc "$OUT/w.csv.gz" | cmp -s - "$OUT/w.csv"; then
                echo "waexport csv.gz: decompresses to exactly the CSV output -> OK"
            else
                echo "waexport csv.gz: decompressed bytes differ from the CSV output -> MISMATCH"
            fi
        fi
        if [[ -f $OUT/w.ndjson ]]; then
            lines=$(wc -l <"$OUT/w.ndjson")
            echo "waexport ndjson: $lines lines (expected $N) -> $([[ $lines == "$N" ]] && echo OK || echo MISMATCH)"
        fi
    elif [[ -f $OUT/jq.csv && -f $OUT/duckdb.csv ]]; then
        echo "(waexport not benchmarked: jq used as the reference)"
        "$PY" "$HELPERS/compare_csv.py" "jq=$OUT/jq.csv" "duckdb=$OUT/duckdb.csv" || true
    fi
    [[ -f $RUN/duckdb.stdout ]] && echo "duckdb reported: $(cat "$RUN/duckdb.stdout") (expected $N)"
    [[ -f $RUN/jsmn_only.stdout ]] && echo "jsmn_only: $(cat "$RUN/jsmn_only.stdout")"
    if [[ -f $OUT/zlib.csv.gz ]]; then
        gzip -t "$OUT/zlib.csv.gz" && echo "zlib_only: $(cat "$RUN/zlib_only.stdout"); gzip -t OK"
    fi
} >"$RUN/validation.txt" 2>&1
cat "$RUN/validation.txt" >&2

# ---------------------------------------------------------------- 5. RSS
if ((WAEXPORT)); then
    say "peak RSS at ${RSS_SIZES[*]} messages, --order oldest and newest"
    for size in "${RSS_SIZES[@]}"; do
        path=$(corpus "$size")
        for order in oldest newest; do
            t0=$EPOCHREALTIME
            rc=0
            /usr/bin/time -f %M -o "$RUN/rss.tmp" "$W" convert --format csv --order "$order" \
                -o "$OUT/rss.csv" "$path" 2>"$RUN/rss.stderr" || rc=$?
            t1=$EPOCHREALTIME
            us=$((${t1/./} - ${t0/./}))
            printf '%s\t%d\t%s\t%s\t%d.%06d\t%d\n' "$size" "$(messages_of "$size")" "$order" \
                "$(tail -n 1 "$RUN/rss.tmp")" $((us / 1000000)) $((us % 1000000)) "$rc" >>"$RUN/rss.tsv"
            ((rc == 0)) || { say "RSS run $size $order FAILED (exit $rc)"; head -n 5 "$RUN/rss.stderr" >&2; }
        done
    done
    rm -f "$OUT/rss.csv" "$RUN/rss.tmp"
fi

# ---------------------------------------------------------------- 6. report
meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$HELPERS/report.py" "$RUN" | tee "$BENCH/results.md"
say "written to $BENCH/results.md (raw data in $RUN/)"

# ---------------------------------------------------------------- 6b. workbooks
# waexport -> .xlsx against openpyxl write-only and LibreOffice headless (issue
# 15); appends its section to results.md.
if [[ ${BENCH_XLSX:-1} != 0 ]]; then
    scripts/bench/xlsx_bench.sh
fi

# ---------------------------------------------------------------- 7. fetch
# `waexport fetch` against the mock API; appends its section to results.md.
if [[ ${BENCH_FETCH:-1} != 0 ]]; then
    scripts/bench/fetch_bench.sh
fi
