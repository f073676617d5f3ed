"""convert against the model of helpers.py on random input (SPEC §1, §4.1-§4.3, §5.2).

Each case (one seed) builds pages of random messages as raw JSON text, the way the API
or a hand-made dump could send them: every kind of escape, raw UTF-8 of every length,
code points at the edges, lone and paired surrogates, \\u0000, invalid UTF-8 bytes,
numbers/strings/bools/null/objects in every field, big and fractional timestamps, extra,
missing, repeated and escaped keys, and a few messages repeated across pages. It writes
them one page per line, runs the binary for CSV and NDJSON in both orders, with another
--tz, --excel and --columns, and compares every row with helpers.expected_csv /
expected_ndjson. A failure names the seed and the smallest message that still fails.
Some of the runs write to a file with --manifest, and the manifest (SPEC §4.7) is checked
against the file, the model and the summary line (check_manifest, which
test_route_random.py uses too).
Three runs a case check --since/--until (SPEC §2) on the same messages: the window is an
option of fetch alone (convert refuses it), so these fetch the case's messages, paged 50
at a time, from a server in this process, with T cut through the case's own times (at a
message's second, one either side, a fractional time's second; epoch seconds, ISO 8601
with Z, an offset, a fraction or none, a date-only T in another --tz), both orders, CSV
(with its manifest) and NDJSON, and one T that is not valid or since >= until (64, nothing
written, no request); the model is helpers.windowed plus the walk's end (window_models).

Knobs (environment):
  WAEXPORT_RANDOM_CASES=N    cases to run (default 6)
  WAEXPORT_RANDOM_SEED=S     first seed (default 1)
  WAEXPORT_RANDOM_PAGES=P    pages per case (default 3)
  WAEXPORT_RANDOM_SKIP=a,b   input features not to generate (names in FEATURES), e.g.
                             to hunt further while a known discrepancy is open
  WAEXPORT_RANDOM_LOG=PATH   also append each failure report to PATH as it happens
                             (a long campaign cut by a timeout keeps what it found)
"""
import gzip
import hashlib
import json
import os
import random
import re
import subprocess
import threading
import zlib
import http.server
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import BIN
from fetch_helpers import ACCOUNT, fetch_env
from helpers import (BOM, COLUMNS, api_messages, dedupe, epoch_of, expected_csv,
                     expected_ndjson, load_pages, parse_csv_strict, summary, windowed)

CASES = int(os.environ.get("WAEXPORT_RANDOM_CASES", "6"))
FIRST_SEED = int(os.environ.get("WAEXPORT_RANDOM_SEED", "1"))
PAGES = int(os.environ.get("WAEXPORT_RANDOM_PAGES", "3"))
FEATURES = {"escaped-keys",     # known keys written with \\u escapes ("mess\\u0061ge")
            "long-escaped-keys",  # ... every letter escaped (longer than 16 bytes)
            "column-extras",    # extra fields named like a column (time, state_code, ...)
            "dup-keys",         # a key twice in one message
            "invalid-utf8",     # raw bytes that are not UTF-8
            "del",              # U+007F
            "compound",         # objects/arrays where text or codes were expected
            "odd-numbers",      # 2.0, 1e3, -0, huge: numbers in non-canonical forms
            "odd-times",        # timestamps outside years 1..9999, before 1900
            "int64-min-time",   # ... one of them -9223372036854775808 (INT64_MIN)
            "escaped-codes",    # codes and times as strings with \\u escapes ("\\u0031")
            "no-unique"}        # messages without a unique
SKIP = {f for f in os.environ.get("WAEXPORT_RANDOM_SKIP", "").split(",") if f}
assert SKIP <= FEATURES, f"unknown WAEXPORT_RANDOM_SKIP features: {SKIP - FEATURES}"
ZONES = ["Asia/Jerusalem", "America/St_Johns", "Asia/Kathmandu", "Pacific/Chatham",
         "Australia/Lord_Howe", "Europe/London", "America/Los_Angeles", "Pacific/Kiritimati"]
TIMEOUT = 60
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error")
API_PAGE = 50           # messages a page of the API holds
MANIFEST = "manifest"   # the kind of a manifest problem (a problem's first item), shrunk as such


def on(feature):
    return feature not in SKIP


# ---------------------------------------------------------------- random JSON text

EDGE_CPS = [0x7F, 0x80, 0x85, 0x9B, 0x9F, 0xA0, 0xAD, 0x5E9, 0x7FF, 0x800, 0x200E, 0x202E,
            0x2028, 0x2029, 0xFEFF, 0xFFFD, 0xFFFE, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF,
            0x1C, 0x1D, 0x1E, 0x1F, 0x0B, 0x0C, 0x01, 0x1B]
INVALID_BYTES = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1", b"\xc2", b"\xe2\x82", b"\xe0\x80\x80",
                 b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80",
                 b"\xf5", b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff", b"\xf0\x9f\x98",
                 b"\xc2\x20"]
ASCII_WORDS = [b"hello", b"972501234567", b"a,b", b"x", b"=1+2", b"+972", b"-5", b"@me",
               b"'q", b" ", b"sep=,", b"0541112233", b"1/2", b"http:\\/\\/x.co\\/a"]


def hex4(cp, r):
    h = "%04x" % cp
    return ("\\u" + (h.upper() if r.random() < 0.3 else h)).encode()


def utf16_escape(cp, r):
    if cp < 0x10000:
        return hex4(cp, r)
    v = cp - 0x10000
    return hex4(0xD800 + (v >> 10), r) + hex4(0xDC00 + (v & 0x3FF), r)


def raw_utf8(cp):
    return chr(cp).encode("utf-8", "surrogatepass")


def random_cp(r):
    kind = r.random()
    if kind < 0.4:
        return r.choice([c for c in EDGE_CPS if c != 0x7F or on("del")])
    if kind < 0.6:
        return r.randint(0x80, 0x7FF)
    if kind < 0.8:
        cp = r.randint(0x800, 0xFFFF)
        return cp if not 0xD800 <= cp <= 0xDFFF else 0x5D0
    return r.randint(0x10000, 0x10FFFF)


def fragment(r):
    """One piece of the body of a JSON string, as raw bytes."""
    k = r.random()
    if k < 0.18:
        return r.choice(ASCII_WORDS)
    if k < 0.26:
        return r.choice([b",", b'\\"', b"\\\\", b"\\/", b"=", b"+", b"-", b"@", b"'", b";"])
    if k < 0.34:
        return r.choice([b"\\b", b"\\f", b"\\n", b"\\r", b"\\t", b"\\r\\n"])
    if k < 0.50:
        cp = random_cp(r)
        if cp < 0x20 or r.random() < 0.7:
            return utf16_escape(cp, r)
        return raw_utf8(cp)
    if k < 0.62:
        cp = random_cp(r)
        if cp < 0x20:
            return utf16_escape(cp, r)
        return raw_utf8(cp)
    if k < 0.72:
        return r.choice([hex4(0xD800, r), hex4(0xDBFF, r), hex4(0xDC00, r), hex4(0xDFFF, r),
                         hex4(0xD83D, r) + b"\\u0041", hex4(0xDE00, r) + hex4(0xD83D, r),
                         hex4(0xD83D, r) + b"x", hex4(0xD83D, r) + b"\\n",
                         utf16_escape(r.randint(0x10000, 0x10FFFF), r)])
    if k < 0.78:
        return b"\\u0000"
    if k < 0.86 and on("invalid-utf8"):
        return r.choice(INVALID_BYTES)
    if k < 0.90:
        return r.choice([b"\\u05e9\\u05dc\\u05d5\\u05dd", b" \\u05e9", b"\\u0080\\u009f",
                         b"\\u00a0\\u00e9\\u07ff"])
    if k < 0.93 and on("del"):
        return r.choice([b"\x7f", b"\\u007f", b"\\u007F"])
    return bytes(r.choice(b"abcdefghijklmnopqrstuvwxyz 0123456789") for _ in range(r.randint(1, 6)))


def text_fragments(r, most=12):
    return [fragment(r) for _ in range(r.choice([0, 1, 1, 2, 3, r.randint(0, most)]))]


class Str:
    """A JSON string made of fragments (so the shrinker can drop them one by one)."""

    def __init__(self, frags):
        self.frags = list(frags)

    def raw(self):
        return b'"' + b"".join(self.frags) + b'"'


class Raw:
    """Any other JSON text, kept as is."""

    def __init__(self, text):
        self.text = text if isinstance(text, bytes) else text.encode()

    def raw(self):
        return self.text


NUMBERS = ["0", "-0", "7", "-12", "1.50", "1e5", "1E+2", "2.0", "-3.25e-1", "0.5",
           "123456789012345678901234", "9223372036854775807", "-9223372036854775808",
           "9223372036854775808", "1e400", "1.0e0"]


def number(r):
    if on("odd-numbers"):
        return Raw(r.choice(NUMBERS))
    return Raw(str(r.randint(-5, 100)))


def compound(r, depth=0):
    if depth >= 2 or r.random() < 0.3:
        k = r.random()
        if k < 0.5:
            return Str(text_fragments(r, 4))
        if k < 0.7:
            return number(r)
        return Raw(r.choice(["true", "false", "null"]))
    if r.random() < 0.5:
        items = [compound(r, depth + 1) for _ in range(r.randint(0, 3))]
        return Raw(b"[" + b",".join(i.raw() for i in items) + b"]")
    keys = ["k%d" % i for i in range(r.randint(0, 3))]
    body = b",".join(b'"%s":%s' % (k.encode(), compound(r, depth + 1).raw()) for k in keys)
    return Raw(b"{" + body + b"}")


def drift(r, text_value):
    """A value for a text field: mostly text, else any JSON type."""
    k = r.random()
    if k < 0.72:
        return text_value()
    if k < 0.82:
        return number(r)
    if k < 0.86:
        return Raw(r.choice(["true", "false"]))
    if k < 0.92:
        return Raw("null")
    if k < 0.96 and on("compound"):
        return compound(r)
    return None  # the key is missing


def escaped_digits(text, r):
    """text as a string body with some of its characters \\u-escaped ("1" as "\\u0031")."""
    return Str([hex4(ord(c), r) if r.random() < 0.5 else c.encode() for c in text])


def code_value(r, codes):
    k = r.random()
    if k < 0.45:
        return Raw(str(r.choice(codes)))
    if k < 0.75:
        return Str([str(r.choice(codes)).encode()])
    if k < 0.82 and on("escaped-codes"):
        return escaped_digits(r.choice([str(r.choice(codes)), "-1", "0" + str(r.choice(codes)),
                                        "2.0", "1x"]), r)
    opts = [Str([b"01"]), Str([b""]), Str([b"x"]), Str([b" 1"]), Str([b"-1"]), Raw("null"),
            Raw("true"), Raw("-1"), Str([b"99999999999999999999"]), None]
    if on("odd-numbers"):
        opts += [Raw("2.0"), Str([b"2.0"]), Raw("1e0"), Raw("2.5"), Str([b"1E0"]),
                 Raw("99999999999999999999")]
    if on("compound"):
        opts.append(Raw("[2]"))
    return r.choice(opts)


def timestamp_value(r):
    k = r.random()
    now = r.randint(1577836800, 1798761600)  # 2020..2027
    if k < 0.35:
        return Str([str(now).encode()])
    if k < 0.55:
        return Raw(str(now))
    if k < 0.60 and on("escaped-codes"):
        return escaped_digits(r.choice([str(now), "%d.%03d" % (now, r.randint(0, 999))]), r)
    if k < 0.65:
        return r.choice([Raw("%d.%d" % (now, r.randint(0, 999999))),
                         Str([b"%d.%03d" % (now, r.randint(0, 999))]),
                         Raw("%d.%de%d" % (now // 1000, now % 1000, 3)), Raw("1.6e9"),
                         Raw("-0.5"), Str([b"1614198777.99999999999999999999"])])
    if k < 0.80 and on("odd-times"):
        return r.choice([Raw("0"), Raw("-1"), Raw("-2208988801"), Raw("-2840140800"),
                         Raw("-62135596800"), Raw("-62135596801"), Raw("253402300799"),
                         Raw("253402300800"), Str([b"100000000000000000"]),
                         Raw("9223372036854775807"), Raw("9223372036854775808")]
                        + [Raw("-9223372036854775808")] * on("int64-min-time")
                        + [Str([b"4102444800"]),
                           Raw("999999999999999999.5"), Raw("-999999999999999999.5"),
                           Raw("1e18"), Raw("1e-999999"),
                           Str([b"0000000000000000000001614198777"])])
    return r.choice([Str([b""]), Str([b"yesterday"]), Raw("null"), Raw("true"), None,
                     Str([b"1e3"]), Str([b"+5"]), Str([b"1."]), Str([b".5"]), Raw("[1]")
                     if on("compound") else Raw("1")])


COLUMN_EXTRAS = ["time", "direction_code", "state_code", "media_file", "api_time",
                 "api_api_state_code", "api_media_file"]


def key_text(r, name):
    """A key as JSON text: plain, or some or every letter \\u-escaped."""
    if not on("escaped-keys") or r.random() < 0.8:
        return b'"' + name.encode() + b'"'
    every = on("long-escaped-keys") and r.random() < 0.4
    out = b""
    for i, ch in enumerate(name):
        out += hex4(ord(ch), r) if every or (i == len(name) - 1) or r.random() < 0.2 else ch.encode()
    if not on("long-escaped-keys") and len(out) > 16:   # keep under 17 bytes as sent
        out = name.encode()
        if len(name) <= 11:
            i = r.randrange(len(name))
            out = name[:i].encode() + hex4(ord(name[i]), r) + name[i + 1:].encode()
    return b'"' + out + b'"'


def message(r, case, i, uniques):
    """One message: a list of (key text, value) pairs."""
    pairs = []
    if uniques and r.random() < 0.12:
        u = r.choice(uniques)   # a repeat of an earlier message (maybe escaped differently)
        frags = [hex4(b, r) if r.random() < 0.3 and b != 0x2d else bytes([b]) for b in u]
        unique = Str(frags)
    elif on("no-unique") and r.random() < 0.03:
        unique = r.choice([None, Raw("null")])
    elif r.random() < 0.05:
        unique = Raw(str(7000000 + case * 1000 + i))
    else:
        base = b"u%d-%d" % (case, i)
        uniques.append(base)
        unique = Str([base] + (text_fragments(r, 4) if r.random() < 0.3 else []))
    fields = {
        "unique": unique,
        "timestamp": timestamp_value(r) if r.random() > 0.04 else None,
        "direction": code_value(r, [1, 2, 2, 1, 3, 0]) if r.random() > 0.04 else None,
        "from": drift(r, lambda: Str([r.choice([b"972501234567", b"IL.1605856887361213",
                                                b"0501234567", b"+972"])] + text_fragments(r, 2))),
        "to": drift(r, lambda: Str([r.choice([b"972509876543", b"-972505492890", b""])])),
        "type": drift(r, lambda: Str([r.choice([b"text", b"chat", b"image", b"poll_v2",
                                                b"=cmd", b"@x"])])),
        "state": code_value(r, [0, 1, 2, 3, 7]) if r.random() > 0.1 else None,
        "message": drift(r, lambda: Str(text_fragments(r, 16))),
        "reason": drift(r, lambda: Str(text_fragments(r, 4))) if r.random() < 0.3 else None,
    }
    names = list(fields)
    if r.random() < 0.3:
        r.shuffle(names)
    for n in names:
        if fields[n] is not None:
            pairs.append((key_text(r, n), fields[n]))
    for j in range(r.choice([0, 0, 0, 1, 2, 3])):
        if on("column-extras") and r.random() < 0.25:
            name = r.choice(COLUMN_EXTRAS)
        else:
            name = "x%d_%s" % (j, r.choice(["note", "is_forwarded", "API", "ok"]))
        kt = key_text(r, name)
        if r.random() < 0.2:
            kt = b'"x%d_' % j + b"".join(text_fragments(r, 3)).replace(b"\\u0000", b"0") + b'"'
        value = compound(r) if on("compound") and r.random() < 0.3 else drift(r, lambda: Str(
            text_fragments(r, 6))) or Raw("1")
        pairs.append((kt, value))
    if on("dup-keys") and pairs and r.random() < 0.1:
        k, _ = r.choice(pairs)
        pairs.append((k, Str([b"second copy"])))
    if pairs and r.random() < 0.05:
        r.shuffle(pairs)
    return pairs


def api_shaped(r, case, i, uniques):
    """A message as the API sends it: its eight keys, plain, in the API's order, scalar
    values of the types it drifts between. A page of these alone is the one the page
    stage reads without looking its keys up (src/page.c api_message)."""
    base = b"a%d-%d" % (case, i)
    uniques.append(base)
    return [(b'"unique"', Str([base])), (b'"timestamp"', timestamp_value(r) or Raw("0")),
            (b'"direction"', code_value(r, [1, 2]) or Raw("1")),
            (b'"from"', Str([b"972501234567"])), (b'"to"', Str([b"972509876543"])),
            (b'"type"', Str([r.choice([b"text", b"chat", b"image"])])),
            (b'"state"', code_value(r, [0, 1, 2, 3]) or Raw("0")),
            (b'"message"', Str(text_fragments(r, 16)))]


def message_raw(pairs, r=None):
    sep = b", " if r is not None and r.random() < 0.2 else b","
    return b"{" + sep.join(k + b":" + v.raw() for k, v in pairs) + b"}"


def pages_raw(pages):
    return b"".join(b"[" + b",".join(message_raw(m) for m in page) + b"]\n" for page in pages)


def build_case(seed, n_pages=PAGES):
    r = random.Random(seed)
    uniques, pages, i = [], [], 0
    for _ in range(n_pages):
        page = []
        shaped = r.random() < 0.25   # a full page as the API sends it
        for _ in range(50 if shaped else r.choice([0, 1, 3, 5, 8, 12]) if n_pages > 1
                       else r.randint(1, 12)):
            page.append((api_shaped if shaped else message)(r, seed, i, uniques))
            i += 1
        pages.append(page)
    return pages


# ---------------------------------------------------------------- running and comparing

def run_convert(path, args, opts=None):
    """convert path to stdout; with opts["manifest"], to a file beside path with --manifest
    (then p.stdout is the file's bytes, p.out its path and p.manifest the manifest's bytes,
    None when none was written)."""
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    extra = []
    if opts and opts.get("manifest"):
        out = path.parent / ("out.%s%s" % (opts["fmt"], ".gz" if opts.get("gzip") else ""))
        man = path.parent / "out.manifest.json"
        for f in (out, man):
            if f.exists():
                f.unlink()
        extra = ["-o", str(out), "--manifest", str(man)]
    p = subprocess.run([BIN, "convert"] + args + extra + [str(path)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT, env=env)
    if extra:
        p.out, p.manifest = out, man.read_bytes() if man.exists() else None
        p.stdout = out.read_bytes() if out.exists() else b""
    return p


def random_settings(seed, salt):
    """A case's zone, column list and order (salt: one stream per test file)."""
    r = random.Random(seed * 7919 + salt)
    return r.choice(ZONES), r.sample(COLUMNS, r.randint(1, len(COLUMNS))), r.choice(
        ["oldest", "newest"])


def configs(seed):
    """(format, args, opts); opts["manifest"]: written to a file with --manifest."""
    tz, cols, order = random_settings(seed, 1)
    man = {"manifest": True}
    return [
        ("csv", ["--format", "csv"], dict(man, fmt="csv")),
        ("csv", ["--format", "csv", "--order", "newest"], {"order": "newest"}),
        ("ndjson", ["--format", "ndjson"], {}),
        ("ndjson", ["--format", "ndjson", "--order", "newest", "--tz", tz],
         dict(man, fmt="ndjson", order="newest", tz=tz)),
        ("csv", ["--format", "csv", "--excel", "--tz", tz],
         dict(man, fmt="csv", tz=tz, excel=True)),
        ("csv", ["--format", "csv", "--columns", ",".join(cols), "--tz", tz, "--order", order],
         dict(man, fmt="csv", tz=tz, columns=cols, order=order)),
        # gzip: the workers' deflated chunks joined (pigz's method), read back whole
        ("csv", ["--format", "csv", "--gzip", "--order", order], {"order": order, "gzip": True}),
        ("ndjson", ["--format", "ndjson", "--gzip-level", "1"],
         dict(man, fmt="ndjson", gzip=True)),
    ]


def models(path, order):
    """[(message, expected-by-'byte'-rule, expected-by-'subpart'-rule)] per row written."""
    out = []
    for invalid in ("byte", "subpart"):
        msgs = dedupe(api_messages([path], invalid))
        out.append(list(reversed(msgs)) if order == "oldest" else msgs)
    return list(zip(out[0], out[1]))


def check_ndjson_line(line):
    problems = []
    if any(b < 0x20 for b in line):
        problems.append("raw byte < 0x20 in the line")
    text = line.decode("utf-8")          # strict: raises on invalid UTF-8
    if len(text.splitlines()) != 1:
        problems.append("str.splitlines() splits the line in %d" % len(text.splitlines()))
    for ch in text:
        if ch == "\x7f" or "\x80" <= ch <= "\x9f" or ch in "\u2028\u2029":
            problems.append("raw control character U+%04X in the line" % ord(ch))
            break
    pairs = json.loads(text, object_pairs_hook=lambda p: p)
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        problems.append("duplicate key: %r" % keys)
    return problems, json.loads(text)


def compare(fmt, opts, p, path):
    """Problems found in one run: a list of (row index or None, text), then its manifest's
    (MANIFEST, text)."""
    if opts.get("window"):
        return compare_window(fmt, opts, p, path)
    problems = compare_output(fmt, opts, p, path)
    if p.returncode == 0 and opts.get("manifest"):
        msgs = dedupe(api_messages([path]))
        problems += check_manifest(p.manifest, p.stderr, dict(opts, format=fmt), {
            str(p.out): (p.out, len(msgs), [epoch_of(m.get("timestamp")) for m in msgs], None)})
    return problems


def compare_output(fmt, opts, p, path):
    if p.returncode != 0:
        return [(None, "exit %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace")[-500:]))]
    order = opts.get("order", "oldest")
    tz = opts.get("tz", "UTC")
    rows = window_models(path, opts)[0] if opts.get("window") else models(path, order)
    problems = []
    out = p.stdout
    if opts.get("gzip"):
        try:
            out = gzip.decompress(out)
        except (OSError, EOFError, zlib.error) as e:
            return [(None, "not a complete gzip stream: %s" % e)]
    if fmt == "ndjson":
        if out and not out.endswith(b"\n"):
            return [(None, "NDJSON does not end with a newline")]
        lines = out.split(b"\n")[:-1] if out else []
        if len(lines) != len(rows):
            return [(None, "%d lines, model expects %d" % (len(lines), len(rows)))]
        for i, (line, (_, (ma, mb))) in enumerate(zip(lines, enumerate(rows))):
            try:
                bad, got = check_ndjson_line(line)
            except ValueError as e:
                problems.append((i, "line %d is not strict UTF-8 JSON: %s: %r" % (i, e, line)))
                continue
            problems += [(i, "%s: %r" % (b, line)) for b in bad]
            exps = [expected_ndjson(ma, tz), expected_ndjson(mb, tz)]
            if not any(list(got) == list(e) and got == e for e in exps):
                problems.append((i, diff_ndjson(got, exps[0])))
    else:
        excel = opts.get("excel", False)
        cols = opts.get("columns", COLUMNS)
        if excel:
            if not out.startswith(BOM):
                return [(None, "--excel output does not start with a BOM")]
            out = out[len(BOM):]
        elif out.startswith(BOM):
            return [(None, "BOM without --excel")]
        try:
            recs = parse_csv_strict(out)
        except (AssertionError, ValueError, UnicodeDecodeError) as e:
            return [(None, "not strict RFC 4180 UTF-8: %s" % e)]
        if [v for v, _ in recs[0]] != cols or recs[0][0][1]:
            return [(None, "header %r" % (recs[0],))]
        if len(recs) - 1 != len(rows):
            return [(None, "%d rows, model expects %d" % (len(recs) - 1, len(rows)))]
        for i, (rec, (ma, mb)) in enumerate(zip(recs[1:], rows)):
            got = [v for v, _ in rec]
            exps = [expected_csv(ma, tz, excel, cols), expected_csv(mb, tz, excel, cols)]
            if not any(got == e for e in exps):
                problems.append((i, diff_csv(got, exps[0], cols)))
    return problems


def diff_ndjson(got, exp):
    if list(got) != list(exp):
        return "keys %r, model %r" % (list(got), list(exp))
    return "; ".join("%s: binary %r, model %r" % (k, got[k], exp[k]) for k in exp
                     if not exp[k] == got[k])


def diff_csv(got, exp, cols):
    if len(got) != len(exp):
        return "%d cells, model %d: %r" % (len(got), len(exp), got)
    return "; ".join("%s: binary %r, model %r" % (c, g, e) for c, g, e in zip(cols, got, exp)
                     if not e == g)


def fails(pages, fmt, args, opts, workdir):
    path = Path(workdir) / "shrink.jsonl"
    path.write_bytes(pages_raw(pages))
    return compare(fmt, opts, run_config(path, pages, args, opts), path)


def run_config(path, pages, args, opts):
    """Run one config on the pages (written to path): convert, or for a window config
    fetch from the in-process server (path is then the history it serves)."""
    if opts.get("window"):
        return run_window(path, pages, args, opts)
    return run_convert(path, args, opts)


# ---------------------------------------------------------------- shrinking

def shrink(pages, fmt, args, opts, workdir, budget=150, kind=None):
    """The smallest input (one message if one alone fails) that still fails (with kind
    MANIFEST: that still has a manifest problem)."""
    tries = [0]

    def still(pg):
        tries[0] += 1
        return tries[0] <= budget and any(kind in (None, q[0]) for q in fails(
            pg, fmt, args, opts, workdir))

    msgs = [m for page in pages for m in page]
    alone = next((m for m in msgs if still([[m]])), None)
    if alone is None:   # needs several messages: drop what is not needed
        i = 0
        while i < len(pages) and tries[0] < budget:
            for j in range(len(pages[i]) - 1, -1, -1):
                trial = [list(pg) for pg in pages]
                del trial[i][j]
                if still(trial):
                    pages = trial
            i += 1
        return pages
    return [[shrink_message(alone, still)]]


def shrink_message(m, still):
    """Message m (key, value pairs) without the keys and the string fragments it still
    fails without: still([[trial]]) says whether a trial message still fails."""
    m = list(m)
    for j in range(len(m) - 1, -1, -1):         # drop keys
        trial = m[:j] + m[j + 1:]
        if still([[trial]]):
            m = trial
    for j, (k, v) in enumerate(m):             # drop fragments of strings
        if not isinstance(v, Str):
            continue
        frags, n = list(v.frags), len(v.frags) // 2
        while n >= 1:
            start = 0
            while start < len(frags):
                trial_frags = frags[:start] + frags[start + n:]
                trial = m[:j] + [(k, Str(trial_frags))] + m[j + 1:]
                if still([[trial]]):
                    frags, m = trial_frags, trial
                else:
                    start += n
            n //= 2
    return m


def report(seed, fmt, args, opts, problems, pages, workdir):
    small = shrink(pages, fmt, args, opts, workdir,
                   kind=MANIFEST if problems[0][0] == MANIFEST else None)
    path = Path(workdir) / "shrink.jsonl"
    raw = pages_raw(small)
    path.write_bytes(raw)
    p = run_config(path, small, args, opts)
    again = compare(fmt, opts, p, path)
    if opts.get("manifest"):
        args = args + ["-o", str(p.out), "--manifest", str(path.parent / "out.manifest.json")]
    if opts.get("window"):
        raw = b"".join(served_lines(small))
    lines = ["seed %d: waexport %s %s (first of %d problems: %s)"
             % (seed, "fetch" if opts.get("window") else "convert", " ".join(args),
                len(problems), problems[0][1]),
             "smallest input that fails (%d bytes): %r" % (len(raw), raw),
             "binary wrote: %r" % p.stdout[-2000:],
             "its problems: %s" % [t for _, t in again][:3],
             "its manifest: %r" % (p.manifest[-2000:] if opts.get("manifest") and p.manifest
                                   else None),
             "reproduce: WAEXPORT_RANDOM_SEED=%d WAEXPORT_RANDOM_CASES=1 pytest %s" % (
                 seed, Path(__file__).name)]
    return "\n".join(lines)


# ---------------------------------------------------------------- --since / --until

# The window (SPEC §2, README "Fetch options": --since/--until are options of fetch, and
# convert refuses them, test_convert_errors.py) is checked by fetching the case's pages
# from a server in this process: the messages laid out as the API pages them (full pages
# of 50, then a short one, or "[]" past a full last one), one fetch at --concurrency 1.
# fetch and convert run one pipeline (test_fetch_random.py checks they write the same
# bytes), so the model is the convert model's, with the window and the walk's end.

class _Served(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    lines = []
    asked = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            n = int(json.loads(body)["page"])
        except (ValueError, KeyError, TypeError):
            n = 0
        _Served.asked.append(n)
        out = _Served.lines[n - 1] if 1 <= n <= len(_Served.lines) else b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


_SERVER = []


def server_url():
    """The in-process server (started once, on a free loopback port)."""
    if not _SERVER:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Served)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        _SERVER.append(srv)
    return "http://127.0.0.1:%d/whatsapp/v2/getHistory" % _SERVER[0].server_address[1]


def served_lines(pages):
    """The case's messages, in order, as the API pages them: 50 a page."""
    msgs = [m for page in pages for m in page]
    chunks = [msgs[i:i + API_PAGE] for i in range(0, len(msgs), API_PAGE)] or [[]]
    return [b"[" + b",".join(message_raw(m) for m in c) + b"]\n" for c in chunks]


def run_window(path, pages, args, opts):
    """fetch the pages (also written to path, the history the model reads) with args;
    like run_convert, to stdout or, with opts["manifest"] or opts["usage"], to a file
    (p.out, p.manifest); p.asked: the pages the server was asked for."""
    lines = served_lines(pages)
    path.write_bytes(b"".join(lines))
    _Served.lines, _Served.asked = lines, []
    extra = []
    if opts.get("manifest") or opts.get("usage"):
        out = path.parent / ("win.%s" % opts["fmt"])
        man = path.parent / "win.manifest.json"
        for f in (out, man):
            if f.exists():
                f.unlink()
        extra = ["-o", str(out), "--manifest", str(man)]
    env = dict(os.environ, **fetch_env())
    p = subprocess.run([BIN, "fetch", "--from", ACCOUNT, "--url", server_url(),
                        "--concurrency", "1"] + args + extra, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT, env=env)
    p.asked = list(_Served.asked)
    if extra:
        p.out, p.manifest = out, man.read_bytes() if man.exists() else None
        p.stdout = out.read_bytes() if out.exists() else b""
    return p


def window_models(path, opts):
    """([(message by 'byte' rule, by 'subpart' rule)] per row written, duplicates dropped,
    pages fetched) of a fetch of the history in path with opts' window: the walk ends at
    a short page, or after a page whose messages with a usable time all lie before
    --since (README "Fetch options": "paging stops once pages are older than --since";
    src/fetch_walk.c: a page with no usable time says nothing); repeats as without a
    window (helpers.windowed), among the pages walked."""
    since, until = opts.get("since"), opts.get("until")
    out = []
    for invalid in ("byte", "subpart"):
        walked, n = [], 0
        for page in load_pages(path, invalid):
            n += 1
            walked += [m for m in page if isinstance(m, dict)]
            stamps = [t for t in (epoch_of(m.get("timestamp")) for m in page
                                  if isinstance(m, dict)) if t is not None]
            if len(page) < API_PAGE or (since is not None and stamps and max(stamps) < since):
                break
        else:
            n += 1      # the empty page past a full last one, which ends the history
        kept, dups = windowed(walked, since, until)
        out.append(list(reversed(kept)) if opts.get("order", "oldest") == "oldest" else kept)
    return list(zip(out[0], out[1])), dups, n


def compare_window(fmt, opts, p, path):
    if opts.get("usage"):
        problems = []
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode != 64 or len(err.splitlines()) != 1 or not err.startswith("waexport:"):
            problems.append((None, "exit %d, expected 64 and one line 'waexport: ...': %r"
                             % (p.returncode, err[-500:])))
        if p.out.exists() or p.manifest is not None:
            problems.append((None, "a usage error wrote %s" % (
                [str(f.name) for f in (p.out,) if f.exists()] + ["manifest"] * (
                    p.manifest is not None))))
        if p.asked:
            problems.append((None, "a usage error asked the server for pages %r" % p.asked))
        return problems
    problems = compare_output(fmt, opts, p, path)
    if p.returncode == 0 and opts.get("manifest"):
        rows, _, _ = window_models(path, opts)
        stamps = [epoch_of(ma.get("timestamp")) for ma, _ in rows]
        problems += check_manifest(p.manifest, p.stderr, dict(opts, format=fmt), {
            str(p.out): (p.out, len(rows), stamps, None)},
            expect={"command": "fetch", "from": ACCOUNT})
    return problems


def _wall_text(ts, tz):
    dt = datetime.fromtimestamp(ts, ZoneInfo(tz))
    return dt, dt.strftime("%Y-%m-%dT%H:%M:%S")


def _offset_text(dt):
    off = int(dt.utcoffset().total_seconds())
    return "%s%02d:%02d" % ("+" if off >= 0 else "-", abs(off) // 3600, abs(off) % 3600 // 60)


def window_bound(r, t, tz, kind):
    """(T as typed, the epoch second it bounds at) for a T near message time t: kind
    "epoch", "iso-offset" (another zone's offset), "iso-z", "iso-frac" (a fraction of a
    second: [since, until) over whole seconds begins at the next one), "iso-local" (no
    offset: read in --tz) or "date" (midnight of t's day in --tz; a midnight that does
    not exist is read with the offset before the change, Python's fold=0)."""
    t += r.choice([-1, 0, 0, 1])
    if kind == "epoch":
        return str(t), t
    if kind == "date":
        day = datetime.fromtimestamp(t, ZoneInfo(tz)).date()
        mid = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz), fold=0)
        return day.isoformat(), int(mid.timestamp())
    if kind == "iso-local":
        dt, text = _wall_text(t, tz)
        back = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=ZoneInfo(tz),
                                                                     fold=0)
        return text, int(back.timestamp())
    zone = r.choice(ZONES)
    dt, text = _wall_text(t, zone)
    if kind == "iso-z":
        return _wall_text(t, "UTC")[1] + "Z", t
    if kind == "iso-frac":
        frac = r.choice([".5", ".001", ".999999", ".000"])
        return text + frac + _offset_text(dt), t + (frac != ".000")
    return text + _offset_text(dt), t


WINDOW_KINDS = ["epoch", "iso-offset", "iso-z", "iso-frac", "iso-local", "date"]
BAD_TIMES = ["2024-13-01", "2024-02-30", "20240501", "yesterday", "2024-05-01T25:00:00Z",
             "1e9", "", "2024-05-01T08:00:00+3", "-5", "123456789012", "2024-05-01T08:00+03:00x"]


def case_times(path, r):
    """Times to cut at: the case's message seconds (a fractional one's among them when
    there is one), those a T can name (2001..5138)."""
    msgs = api_messages([path])
    ok = [(epoch_of(m.get("timestamp")), m.get("timestamp")) for m in msgs]
    ok = [(t, raw) for t, raw in ok if t is not None and 10 ** 9 <= t < 10 ** 11]
    frac = [t for t, raw in ok if "." in str(getattr(raw, "raw", raw))]
    times = sorted({t for t, _ in ok}) or [1700000000]
    return times, frac


def window_configs(seed, path, pages):
    """Three fetch configs: --since (and maybe --until), CSV with a manifest; --until (and
    maybe --since), NDJSON; and a usage error (a T that is not valid, or since >= until)."""
    r = random.Random(seed * 7919 + 11)
    tz = random_settings(seed, 1)[0]
    path.write_bytes(b"".join(served_lines(pages)))
    times, frac = case_times(path, r)

    def draw():
        t = r.choice(frac) if frac and r.random() < 0.3 else r.choice(times)
        return window_bound(r, t, tz, r.choice(WINDOW_KINDS))

    out = []
    for fmt, first in (("csv", "since"), ("ndjson", "until")):
        order = r.choice(["oldest", "newest"]) if fmt == "csv" else \
            ("newest" if out[0][2]["order"] == "oldest" else "oldest")
        bounds = {first: draw()}
        if r.random() < 0.5:
            other = "until" if first == "since" else "since"
            bounds[other] = draw()
            if bounds["since"][1] > bounds["until"][1]:
                bounds["since"], bounds["until"] = bounds["until"], bounds["since"]
            if bounds["since"][1] == bounds["until"][1]:
                del bounds[other]
        args = ["--format", fmt, "--order", order, "--tz", tz]
        opts = dict(window=True, fmt=fmt, order=order, tz=tz, manifest=fmt == "csv")
        for k, (text, at) in sorted(bounds.items()):
            args += ["--" + k, text]
            opts[k] = at
        out.append((fmt, args, opts))
    a, b = draw(), draw()
    if r.random() < 0.5:
        bad = [("--since", r.choice(BAD_TIMES))] + [("--until", a[0])] * (r.random() < 0.5)
        r.shuffle(bad)
    else:   # --since at or after --until
        lo, hi = sorted([a, b], key=lambda x: x[1])
        bad = [("--since", hi[0]), ("--until", lo[0] if lo[1] < hi[1] else hi[0])]
    args = ["--format", "csv", "--tz", tz] + [x for pair in bad for x in pair]
    out.append(("csv", args, dict(window=True, usage=True, fmt="csv", tz=tz)))
    return out


# ---------------------------------------------------------------- the test

def with_summary(p, problems, want):
    """A run's problems, and then its summary's (messages, pages, duplicates) against want
    and any sanitizer report on its stderr."""
    if all(q[0] == MANIFEST for q in problems):
        got = summary(p.stderr)
        if got[:3] != want:
            problems = [(None, "summary %r, model (messages, pages, duplicates) %r" % (
                got, want))]
    err = p.stderr.decode("utf-8", "replace")
    return problems + [(None, "sanitizer: " + err[-1500:]) for bad in SANITIZER if bad in err][:1]


RFC3339_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z")
UNSET = object()


def same(got, want):
    """got == want and of the same JSON type (1 is not true, 0 is not null), all through."""
    if isinstance(want, (dict, list)):
        return json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)
    return got == want and type(got) is type(want)


def check_manifest(raw, stderr, opts, files, expect=None):
    """Problems, each (MANIFEST, text), of a convert run's manifest (SPEC §4.7): raw its
    bytes (None: none written), stderr the run's (its summary line), opts its format, gzip
    and tz, files {path as given: (the file, rows, [epoch or None per row], chat)} as the
    model has them (rows None: a file only its bytes are known of); expect: keys whose
    expected value differs from a convert's (a fetch's command and from)."""
    def bad(text):
        return [(MANIFEST, text)]

    if raw is None:
        return bad("no manifest was written")
    try:
        text = raw.decode("utf-8")
        m = json.loads(text)
    except ValueError as e:
        return bad("not UTF-8 JSON: %s: %r" % (e, raw[:300]))
    if not isinstance(m, dict):
        return bad("not a JSON object: %r" % raw[:300])
    problems = [(MANIFEST, "str.splitlines() breaks this line of it: %r" % line[:300])
                for line in text.split("\n") if line.splitlines() not in ([line], [])][:1]
    try:
        messages, pages, duplicates, warnings = summary(stderr)
    except AssertionError as e:
        return problems + bad("no summary line to compare with: %s" % e)
    want = {"tool": "waexport", "command": "convert", "from": None, "to": [],
            "format": opts["format"], "gzip": bool(opts.get("gzip")), "tz": opts.get("tz", "UTC"),
            "messages_written": messages, "pages_fetched": pages,
            "duplicates_dropped": duplicates, "retries": 0, "warnings": warnings,
            "media": {"downloaded": 0, "present": 0, "failed": 0},
            "checkpoint_before": None, "checkpoint_after": None}
    want.update(expect or {})
    problems += [(MANIFEST, "%s: %r, expected %r" % (k, m.get(k, "(absent)"), v))
                 for k, v in want.items() if not same(m.get(k, UNSET), v)]
    if not (isinstance(m.get("version"), str) and m["version"]):
        problems += bad("version: %r" % m.get("version"))
    times = [m.get(k) for k in ("started", "finished")]
    if not all(isinstance(t, str) and RFC3339_UTC.fullmatch(t) for t in times) \
            or times[0] > times[1]:
        problems += bad("started, finished: %r (RFC 3339 UTC, in order)" % times)
    got = m.get("files")
    if not isinstance(got, list) or not all(isinstance(f, dict) for f in got):
        return problems + bad("files: %r" % got)
    paths = [f.get("path") for f in got]
    if not all(isinstance(x, str) for x in paths) or sorted(paths) != sorted(files):
        return problems + bad("files[] paths %r, the files written %r" % (paths, sorted(files)))
    for f in got:
        disk, rows, stamps, chat = files[f["path"]]
        data = disk.read_bytes()
        ts = [t for t in stamps or [] if t is not None]
        exp = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        if rows is not None:
            exp.update(rows=rows, first_timestamp=min(ts) if ts else None,
                       last_timestamp=max(ts) if ts else None, chat=chat)
        problems += [(MANIFEST, "file %r: %s: %r, expected %r" % (
            f["path"], k, f.get(k, "(absent)"), v)) for k, v in exp.items()
            if not same(f.get(k, UNSET), v)]
        if f.get("appended", False) is not False or f.get("rows_added", rows) != rows:
            problems += bad("file %r: appended %r, rows_added %r: a new file" % (
                f["path"], f.get("appended", "(absent)"), f.get("rows_added", "(absent)")))
    return problems


def settle(failures):
    """Log the case's failures (WAEXPORT_RANDOM_LOG) and fail with them."""
    if failures and os.environ.get("WAEXPORT_RANDOM_LOG"):
        with open(os.environ["WAEXPORT_RANDOM_LOG"], "a") as log:
            log.write("\n\n".join(failures) + "\n\n")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + CASES))
def test_convert_matches_the_model_on_random_pages(seed, tmp_path):
    pages = build_case(seed)
    src = tmp_path / "pages.jsonl"
    src.write_bytes(pages_raw(pages))
    n_msgs = sum(len(pg) for pg in pages)
    n_rows = len(dedupe(api_messages([src])))
    failures = []
    ndjson_bytes = None
    for fmt, args, opts in configs(seed):
        p = run_convert(src, args, opts)
        problems = with_summary(p, compare(fmt, opts, p, src), (n_rows, len(pages),
                                                                n_msgs - n_rows))
        if problems and not failures:   # shrink once a case: it costs up to 150 runs
            failures.append(report(seed, fmt, args, opts, problems, pages, tmp_path))
        elif problems:
            failures.append("seed %d: waexport convert %s: %d problems, the first: %s" % (
                seed, " ".join(args), len(problems), problems[0][1]))
        if args == ["--format", "ndjson"]:
            ndjson_bytes = p.stdout
    # SPEC §2 --since/--until, through fetch (convert refuses them)
    served = tmp_path / "served.jsonl"
    for fmt, args, opts in window_configs(seed, served, pages):
        p = run_window(served, pages, args, opts)
        problems = compare(fmt, opts, p, served)
        if not opts.get("usage"):
            rows, dups, fetched = window_models(served, opts)
            problems = with_summary(p, problems, (len(rows), fetched, dups))
        if problems and not failures:
            failures.append(report(seed, fmt, args, opts, problems, pages, tmp_path))
        elif problems:
            failures.append("seed %d: waexport fetch %s: %d problems, the first: %s" % (
                seed, " ".join(args), len(problems), problems[0][1]))
    # SPEC §2 --threads: output bytes do not depend on N
    p = run_convert(src, ["--format", "ndjson", "-q", "--threads", "1"])
    if p.stdout != ndjson_bytes:
        failures.append("seed %d: --threads 1 wrote other bytes than the default" % seed)
    settle(failures)
