#!/usr/bin/python3
"""report.py RUN_DIR -- turn scripts/bench.sh's raw measurements into the
Markdown report (stdout): machine, side-by-side table, RSS scaling, output
checks, and PASS/FAIL lines for the targets.

Reads RUN_DIR/meta.txt (key=value), times.tsv (tool, run, wall s, peak RSS
KiB, exit code), rss.tsv (size, messages, order, peak RSS KiB, wall s, exit
code) and validation.txt.  MB are 10^6 bytes, MiB 2^20.
"""
import os
import statistics
import sys

LABELS = {
    "waexport_csv": "waexport CSV",
    "waexport_csv_newest": "waexport CSV `--order newest`",
    "waexport_ndjson": "waexport NDJSON",
    "waexport_csv_gz": "waexport CSV.gz (level 6)",
    "jq": "jq → CSV",
    "duckdb": "DuckDB (node) → CSV",
    "jsmn_only": "jsmn only (tokenize, no output)",
    "zlib_only": "zlib only (gzip -6 of the CSV)",
    "cat": "cat (I/O floor)",
}

# Targets (issue 12): waexport CSV >= 15x jq, >= 5x DuckDB, >= 80% of jsmn-only
# throughput; --order oldest within 10% of newest; NDJSON at most 15% slower than
# CSV; peak RSS <= 16 MiB and flat from 10k to 1M messages; CSV.gz at most 0.7x
# the time of zlib alone (the workers deflate in parallel).
JQ_FACTOR = 15.0
DUCKDB_FACTOR = 5.0
JSMN_SHARE = 0.80
OLDEST_SLOWDOWN = 1.10
NDJSON_SLOWDOWN = 1.15
RSS_LIMIT_KIB = 16 * 1024
RSS_FLAT_KIB = 1024          # "flat": 1M-message peak within 1 MiB of 10k's
GZ_SLOWDOWN = 0.70
NOISY = 1.25                 # flag tools whose slowest run exceeds 1.25x the fastest


def read_meta(run):
    meta = {}
    with open(os.path.join(run, "meta.txt"), encoding="utf-8") as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            meta[k] = v
    return meta


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def mib(kib):
    return kib / 1024.0


def main(run):
    meta = read_meta(run)
    tools = meta["tools"].split()
    in_bytes = int(meta["input_bytes"])
    n = int(meta["messages"])
    zin = int(meta["zlib_input_bytes"])

    walls, rss, failed = {}, {}, set()
    for name, _run, wall, kib, rc in read_tsv(os.path.join(run, "times.tsv")):
        if rc != "0":
            failed.add(name)
            continue
        walls.setdefault(name, []).append(float(wall))
        rss[name] = max(rss.get(name, 0), int(kib))
    med = {t: statistics.median(v) for t, v in walls.items() if t not in failed}
    base = med.get("waexport_csv")

    out = []
    p = out.append
    p(f"# waexport convert benchmark ({'quick' if meta['quick'] == '1' else 'full'})")
    p("")
    p(f"- date: {meta['date']}")
    p(f"- machine: {meta['nproc']} CPUs ({meta['cpu']}), {meta['mem']} RAM, "
      f"{meta['kernel']}, output on {meta['fs']}, load average at start "
      f"{meta['load']}, at end {meta.get('load_end', '?')}")
    vers = [f"{meta['v_waexport']} (binary built {meta.get('waexport_mtime')}, "
            f"sha256 {meta.get('waexport_sha')}…, benchmarked as a copy)"
            if "v_waexport" in meta else None,
            meta.get("v_jq"), f"node {meta.get('v_node')}",
            f"DuckDB node bindings {meta.get('v_duckdb')}",
            f"zlib {meta.get('v_zlib')}", f"jsmn {meta.get('v_jsmn')}"]
    p("- versions: " + ", ".join(v for v in vers if v))
    p(f"- input: `{meta['input']}`, {n:,} messages in {n // 50:,} pages, "
      f"{in_bytes / 1e6:.1f} MB; runs per tool: {meta['runs']}, round-robin, "
      f"median wall time; peak RSS = max over runs (GNU time %M)")
    p("")
    p("| tool | median s | min–max s | MB/s (input .jsonl) | messages/s | time ÷ waexport CSV | peak RSS MiB |")
    p("|---|---:|---:|---:|---:|---:|---:|")
    for t in tools:
        label = LABELS.get(t, t)
        if t in failed or t not in med:
            p(f"| {label} | FAILED | | | | | |")
            continue
        m = med[t]
        ratio = f"{m / base:.2f}×" if base else "–"
        p(f"| {label} | {m:.3f} | {min(walls[t]):.3f}–{max(walls[t]):.3f} | "
          f"{in_bytes / 1e6 / m:,.1f} | {n / m:,.0f} | {ratio} | {mib(rss[t]):.1f} |")
    p("")
    noisy = [LABELS.get(t, t) for t in tools
             if t in med and len(walls[t]) > 1 and max(walls[t]) > NOISY * min(walls[t])]
    if noisy:
        p(f"**Noisy:** slowest run > {NOISY:.2f}× fastest for {', '.join(noisy)} — "
          f"something else was using the machine; medians are less trustworthy, rerun "
          f"on an idle machine for final numbers.")
        p("")
    if "zlib_only" in med:
        p(f"zlib only compresses {meta['zlib_input_src']} ({zin / 1e6:.1f} MB), not the "
          f".jsonl: its own input rate is {zin / 1e6 / med['zlib_only']:,.1f} MB/s; the "
          f"table's MB/s divides the .jsonl size by its time so the rows compare.")
        p("")
    p("Every tool writes a real file under build/bench/out/ (removed before each run). "
      "waexport also fsyncs it and renames it into place (SPEC 4.4); the others do not "
      "fsync. DuckDB's time includes starting node and loading DuckDB; it uses all CPUs, "
      "the other tools one.")
    p("")
    p("Commands (IN = the input above):")
    p("")
    for t in tools:
        cmd = meta.get(f"cmd_{t}", "").replace(meta["input"], "IN")
        p(f"- {LABELS.get(t, t)}: `{cmd}`")
    p("")

    rss_rows = read_tsv(os.path.join(run, "rss.tsv"))
    scaling = {}
    if rss_rows:
        p("Peak RSS of `waexport convert --format csv` by history size (one run each):")
        p("")
        p("| messages | order | peak RSS MiB | wall s |")
        p("|---:|---|---:|---:|")
        for size, msgs, order, kib, wall, rc in rss_rows:
            if rc != "0":
                p(f"| {int(msgs):,} | {order} | FAILED (exit {rc}) | |")
                continue
            scaling[(int(msgs), order)] = int(kib)
            p(f"| {int(msgs):,} | {order} | {mib(int(kib)):.1f} | {float(wall):.3f} |")
        p("")

    vpath = os.path.join(run, "validation.txt")
    if os.path.exists(vpath):
        p("Output checks (jq and DuckDB parsed as CSV and compared row by row with waexport, by `unique`):")
        p("")
        p("```")
        with open(vpath, encoding="utf-8", errors="replace") as f:
            out.extend(line.rstrip("\n") for line in f)
        p("```")
        p("")

    p("## Targets")
    p("")
    checks = []

    def check(ok, text):
        checks.append(ok)
        verdict = "N/A " if ok is None else ("PASS" if ok else "FAIL")
        p(f"- {verdict} {text}")

    def need(*names):
        return all(x in med for x in names)

    if need("waexport_csv", "jq"):
        f = med["jq"] / base
        check(f >= JQ_FACTOR, f"waexport CSV ≥ {JQ_FACTOR:g}× faster than jq: "
              f"jq {med['jq']:.3f} s ÷ waexport {base:.3f} s = {f:.1f}×")
    else:
        check(None, "waexport CSV vs jq: missing measurement")
    if need("waexport_csv", "duckdb"):
        f = med["duckdb"] / base
        check(f >= DUCKDB_FACTOR, f"waexport CSV ≥ {DUCKDB_FACTOR:g}× faster than DuckDB: "
              f"DuckDB {med['duckdb']:.3f} s ÷ waexport {base:.3f} s = {f:.1f}×")
    else:
        check(None, "waexport CSV vs DuckDB: missing measurement")
    if need("waexport_csv", "jsmn_only"):
        w, j = in_bytes / 1e6 / base, in_bytes / 1e6 / med["jsmn_only"]
        check(w >= JSMN_SHARE * j, f"waexport CSV ≥ {JSMN_SHARE:.0%} of jsmn-only throughput: "
              f"{w:,.1f} MB/s vs {j:,.1f} MB/s = {w / j:.0%}")
    else:
        check(None, "waexport CSV vs jsmn only: missing measurement")

    if need("waexport_csv", "waexport_csv_newest"):
        o, n = med["waexport_csv"], med["waexport_csv_newest"]
        check(o <= OLDEST_SLOWDOWN * n, f"--order oldest within {OLDEST_SLOWDOWN - 1:.0%} of "
              f"newest: {o:.3f} s vs {n:.3f} s = {o / n:.2f}×")
    else:
        check(None, "--order oldest vs newest: missing measurement")
    if need("waexport_csv", "waexport_ndjson"):
        j = med["waexport_ndjson"]
        check(j <= NDJSON_SLOWDOWN * base, f"NDJSON at most {NDJSON_SLOWDOWN - 1:.0%} slower "
              f"than CSV: {j:.3f} s vs {base:.3f} s = {j / base:.2f}×")
    else:
        check(None, "NDJSON vs CSV: missing measurement")

    w_rss = {t: k for t, k in rss.items() if t.startswith("waexport") and t in med}
    all_rss = list(scaling.values()) + list(w_rss.values())
    if all_rss:
        peak = max(all_rss)
        check(peak <= RSS_LIMIT_KIB, f"peak RSS ≤ 16 MiB: highest of every waexport run above "
              f"(timed runs and the RSS-by-size runs) = {mib(peak):.1f} MiB")
    else:
        check(None, "peak RSS ≤ 16 MiB: no waexport runs")
    sizes = sorted({m for m, _ in scaling})
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        for order in ("oldest", "newest"):
            if (lo, order) in scaling and (hi, order) in scaling:
                d = scaling[(hi, order)] - scaling[(lo, order)]
                check(d <= RSS_FLAT_KIB, f"peak RSS flat from {lo:,} to {hi:,} messages, "
                      f"--order {order}: {mib(scaling[(lo, order)]):.1f} → "
                      f"{mib(scaling[(hi, order)]):.1f} MiB ({d / 1024:+.1f} MiB; "
                      f"flat = within {RSS_FLAT_KIB // 1024} MiB)")
            else:
                check(None, f"peak RSS flat, --order {order}: a run failed")
    else:
        check(None, "peak RSS flat: fewer than two sizes measured")
    if need("waexport_csv_gz", "zlib_only"):
        g, z = med["waexport_csv_gz"], med["zlib_only"]
        check(g <= GZ_SLOWDOWN * z,
              f"CSV.gz ≤ {GZ_SLOWDOWN:.2f}× the time of zlib alone: median wall time of the whole "
              f"`waexport convert -o w.csv.gz` (read + parse + CSV + gzip) {g:.3f} s vs "
              f"zlib_only gzipping waexport's CSV bytes at level 6 {z:.3f} s = {g / z:.2f}× "
              f"(limit {GZ_SLOWDOWN:.2f}×)")
        if base:
            p(f"  - for information: gzip's share inside waexport, CSV.gz minus CSV = "
              f"{g - base:.3f} s vs zlib alone {z:.3f} s ({(g - base) / z:.2f}×)")
    else:
        check(None, "CSV.gz vs zlib only: missing measurement")
    p("")
    passed = sum(1 for c in checks if c)
    failed_n = sum(1 for c in checks if c is False)
    p(f"{passed} passed, {failed_n} failed, {len(checks) - passed - failed_n} not measured")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: report.py RUN_DIR", file=sys.stderr)
        sys.exit(64)
    sys.exit(main(sys.argv[1]))
