#!/usr/bin/python3
"""compare_csv.py [REFNAME=]REF [NAME=FILE ...] -- check that other tools'
CSV says the same thing as waexport's, so the benchmark compares equal work.

REF is a waexport CSV (any order; REFNAME defaults to "waexport"). Each
NAME=FILE is parsed as CSV (any quoting, LF or CRLF) and every row is
matched to REF's row with the same `unique` and compared field by field.
Prints one line per file, plus a spot check of the first REF row whose
message holds Hebrew, and exits 1 if any file disagrees. Memory: one hash
per REF row.
"""
import csv
import sys

HEADER = ["unique", "timestamp", "time", "direction", "direction_code", "from",
          "to", "type", "state", "state_code", "reason", "message"]


def is_hebrew(s):
    return any("\u0590" <= ch <= "\u05ff" for ch in s)


def rows(path):
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        first = f.read(1)
        if first and first != "\ufeff":
            f.seek(0)
        yield from (r for r in csv.reader(f) if r)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 64
    ref_name, _, ref_path = argv[1].rpartition("=")
    ref_name = ref_name or "waexport"
    others = argv[2:]
    ref = {}
    spot = None
    dup = 0
    it = rows(ref_path)
    header = next(it, None)
    ok = True
    if header != HEADER:
        print(f"{ref_name}: header {header} != expected {HEADER}")
        ok = False
    for r in it:
        if r[0] in ref:
            dup += 1
        ref[r[0]] = hash(tuple(r))
        if spot is None and len(r) == 12 and is_hebrew(r[11]):
            spot = r
    print(f"{ref_name}: {len(ref)} rows ({ref_path}), {dup} duplicate uniques")
    if spot:
        print(f"hebrew spot-check: unique={spot[0]} message={spot[11][:60]!r}")
    for arg in others:
        name, _, path = arg.partition("=")
        it = rows(path)
        h = next(it, None)
        n = same = differ = missing = 0
        examples = []
        spot_seen = None
        for r in it:
            n += 1
            want = ref.get(r[0])
            if want is None:
                missing += 1
            elif hash(tuple(r)) == want:
                same += 1
            else:
                differ += 1
            if (want is None or hash(tuple(r)) != want) and len(examples) < 2:
                examples.append(r)
            if spot and r[0] == spot[0]:
                spot_seen = r
        good = (h == HEADER and n == len(ref) and same == n)
        ok &= good
        print(f"{name}: {n} rows, {same} identical to {ref_name}, {differ} differ, "
              f"{missing} not in {ref_name}, header {'ok' if h == HEADER else h}"
              f" -> {'OK' if good else 'MISMATCH'}")
        for e in examples:
            print(f"  e.g. {e!r}"[:300])
        if spot:
            verdict = ("same row" if spot_seen == spot else
                       f"DIFFERENT: {spot_seen!r}"[:200] if spot_seen else "MISSING")
            print(f"  hebrew spot-check {spot[0]}: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
