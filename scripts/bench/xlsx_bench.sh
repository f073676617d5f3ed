#!/usr/bin/env bash
# scripts/bench/xlsx_bench.sh -- the workbook section of `make bench` (issue 15):
# waexport -> .xlsx, side by side with python3-openpyxl in write-only mode on the
# same pages (scripts/bench/xlsx_openpyxl.py) and with LibreOffice headless
# converting waexport's CSV to .xlsx, at 10k and 1M messages (10k and 100k with
# BENCH_QUICK=1). Median wall time of R runs (round-robin) and peak RSS (GNU time
# %M) per tool; appends a Markdown section to build/bench/results.md.
#
# Environment: BENCH_XLSX_RUNS=N (default 3), BENCH_QUICK=1, BENCH_SEED=S,
# BENCH_XLSX_TOOLS="waexport_xlsx openpyxl libreoffice" (a subset).
# Targets: waexport >= 5x faster than openpyxl; peak RSS <= 32 MiB and flat.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BENCH=build/bench
OUT=$BENCH/out/xlsx
RUN=$BENCH/run/xlsx
PY=/usr/bin/python3
GEN=scripts/gen_history.py
RUNS=${BENCH_XLSX_RUNS:-3}
SEED=${BENCH_SEED:-1}
if [[ ${BENCH_QUICK:-0} != 0 ]]; then SIZES=(10k 100k); else SIZES=(10k 1m); fi
read -r -a TOOLS <<<"${BENCH_XLSX_TOOLS:-waexport_xlsx openpyxl libreoffice}"

say() { printf '%s\n' "bench xlsx: $*" >&2; }
messages_of() { case $1 in 10k) echo 10000 ;; 100k) echo 100000 ;; 1m) echo 1000000 ;; esac; }

mkdir -p "$OUT" "$RUN" "$BENCH/bin"
rm -rf "${OUT:?}"/* "${RUN:?}"/*
[[ -x ./waexport ]] || make >&2
cp ./waexport "$BENCH/bin/waexport-xlsx"
W=$BENCH/bin/waexport-xlsx
SOFFICE=$(command -v soffice || command -v libreoffice || true)
$PY -c 'import openpyxl' 2>/dev/null || say "python3-openpyxl missing (scripts/deps.sh bench): openpyxl skipped"
PROFILE=$(mktemp -d /tmp/waexport-bench-lo.XXXXXX)
trap 'rm -rf "$PROFILE"' EXIT

corpus() {
    local size=$1 path=$BENCH/pages-$1.jsonl
    if [[ ! -s $path || $GEN -nt $path ]]; then
        say "generating $path"
        "$PY" "$GEN" --messages "$(messages_of "$size")" --seed "$SEED" --out "$path.tmp" >&2
        mv -f "$path.tmp" "$path"
    fi
    printf '%s\n' "$path"
}

# run_tool TOOL SIZE IN RUN: one timed run, a line in times.tsv.
run_tool() {
    local tool=$1 size=$2 in=$3 r=$4 t0 t1 rc=0 us
    local -a cmd
    case $tool in
    waexport_xlsx) cmd=("$W" convert -q -o "$OUT/w-$size.xlsx" "$in") ;;
    openpyxl) $PY -c 'import openpyxl' 2>/dev/null || return 0
        cmd=("$PY" scripts/bench/xlsx_openpyxl.py "$in" "$OUT/openpyxl-$size.xlsx") ;;
    libreoffice) [[ -n $SOFFICE ]] || return 0
        cmd=("$SOFFICE" --headless --norestore --nolockcheck "-env:UserInstallation=file://$PROFILE"
             "--infilter=CSV:44,34,76,1,,1033,true,true" --convert-to xlsx --outdir "$OUT/lo-$size"
             "$OUT/w-$size.csv") ;;
    esac
    t0=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$RUN/rss.tmp" "${cmd[@]}" >/dev/null 2>"$RUN/$tool-$size.stderr" || rc=$?
    t1=$EPOCHREALTIME
    us=$((${t1/./} - ${t0/./}))
    printf '%s\t%s\t%d\t%d.%06d\t%s\t%d\n' "$tool" "$size" "$r" $((us / 1000000)) $((us % 1000000)) \
        "$(tail -n 1 "$RUN/rss.tmp")" "$rc" >>"$RUN/times.tsv"
    ((rc == 0)) || { say "$tool $size run $r FAILED (exit $rc)"; head -n 5 "$RUN/$tool-$size.stderr" >&2; }
}

for size in "${SIZES[@]}"; do
    in=$(corpus "$size")
    # LibreOffice's input: waexport's CSV of the same pages, made once, untimed.
    "$W" convert -q --excel -o "$OUT/w-$size.csv" "$in"
    [[ -n $SOFFICE ]] && "$SOFFICE" --headless --norestore "-env:UserInstallation=file://$PROFILE" \
        --convert-to csv --outdir "$OUT/warm" "$OUT/w-$size.csv" >/dev/null 2>&1 || true
    say "$size: ${TOOLS[*]}, $RUNS runs each, round-robin"
    for ((r = 1; r <= RUNS; r++)); do
        for t in "${TOOLS[@]}"; do run_tool "$t" "$size" "$in" "$r"; done
    done
done

# Median wall time and peak RSS per tool and size, and the targets.
{
    echo
    echo "## Workbooks (.xlsx): waexport vs openpyxl write-only vs LibreOffice (CSV -> xlsx)"
    echo
    echo "Median of $RUNS runs, round-robin; peak RSS is GNU time's maximum resident set."
    echo "Load at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (a shared machine is noisy)."
    echo
    echo "| messages | tool | median s | peak RSS MiB | vs waexport |"
    echo "|---|---|---|---|---|"
    awk -F'\t' '$6 == 0 { k = $2 "\t" $1; t[k] = t[k] " " $4; if ($5 > m[k]) m[k] = $5 }
        END { for (k in t) print k "\t" t[k] "\t" m[k] }' "$RUN/times.tsv" |
        sort | while IFS=$'\t' read -r size tool times rss; do
            med=$(printf '%s\n' $times | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
            printf '%s\t%s\t%s\t%s\n' "$size" "$tool" "$med" "$rss"
        done >"$RUN/medians.tsv"
    while IFS=$'\t' read -r size tool med rss; do
        base=$(awk -F'\t' -v s="$size" '$1 == s && $2 == "waexport_xlsx" {print $3}' "$RUN/medians.tsv")
        printf '| %s | %s | %.2f | %.1f | %s |\n' "$(messages_of "$size")" "$tool" "$med" \
            "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" \
            "$(awk -v a="$med" -v b="${base:-0}" 'BEGIN {if (b > 0) printf "%.1fx", a / b; else print "-"}')"
    done <"$RUN/medians.tsv"
    echo
    awk -F'\t' '
        $2 == "waexport_xlsx" { w[$1] = $3; r[$1] = $4 }
        $2 == "openpyxl" { o[$1] = $3 }
        END {
            for (s in w) {
                if (s in o) printf "%s: waexport %.1fx faster than openpyxl (target >= 5x) -> %s\n",
                    s, o[s] / w[s], ((o[s] / w[s] >= 5) ? "PASS" : "FAIL")
                printf "%s: waexport peak RSS %.1f MiB (target <= 32 MiB) -> %s\n", s, r[s] / 1024,
                    ((r[s] <= 32768) ? "PASS" : "FAIL")
            }
        }' "$RUN/medians.tsv" | sort
} | tee -a "$BENCH/results.md"
