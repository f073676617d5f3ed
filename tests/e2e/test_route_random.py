"""convert -o 'DIR/{chat}.EXT' against a model on random input (SPEC §4.5, §5.7; README `-o`).

Each case (one seed) takes test_convert_random.py's random pages and rewrites every
message's counterparts and direction in a controlled way, so that a handful of chats
(2-30) meet every hard case of a file name: valid numbers (as JSON strings and as JSON
numbers), hidden ids (`IL.1605856887361213`), one id written with `\\u` escapes in one
message and raw in another, ids holding `/`, `..`, `.`, `...`, spaces, Hebrew, emoji,
control characters, invalid UTF-8 and lone surrogates, ids of 99/100/101/300 bytes, ids
that end like a hashed name (`x-` and 16 lowercase hex digits), ids that sanitise alike
(`a/b`, `a_b`, `a?b`), and counterparts that are `""`, absent, null, an object or an
array, beside the literal text `unknown`; directions as codes (numbers and strings), as
text, missing, odd (`1.0`, `"01"`, `" 1"`, `"\\u0031"`, `[1]`, ...). Some messages are
repeated across pages (exact copies, and test_convert_random's repeats of a unique with
other fields).

Each case is converted with `-o DIR/{chat}.csv`, `.ndjson`, `.csv.gz`, `.ndjson.gz`, in
both orders, and with `--columns` without `to`/`from`; then once more with the pages in
the reverse order (the chats met in another order) and one more chat whose id is the
hashed name another chat got. The model (SPEC §4.5; src/route.h's rule) says:
- the chat of a message is its counterpart: `from` when the direction is 1 (incoming),
  else `to` (helpers.code_alternatives decides what reads as 1), compared decoded
  (helpers' decoding: escapes, U+FFFD for invalid UTF-8, lone surrogates and U+0000);
  a counterpart that is absent, null, `""`, an object or an array is no id: those
  messages form one chat of their own, named `unknown` (README `-o`), which is not the
  chat of any id (an id that is the text `unknown` takes the hashed form);
- DIR holds exactly one regular file per chat, nothing else (no temporary or spool file
  left), and nothing appears or changes anywhere else under the test's tmp tree;
- each file holds exactly its chat's rows (helpers.expected_csv / expected_ndjson), in
  the output order; so the union is every message once and no two chats share a file;
- a file is named `STEM.EXT`, STEM the id itself when the id is a safe name (at most 100
  bytes of letters, digits, `.`, `_`, `-`, not only dots, not ending like a hashed name);
  the id made safe, shortened only as far as needed, then `-` and 16 lowercase hex
  digits when it is not safe (longer than 100 bytes, `/`, a control character, `.` or
  `..`, ending like a hashed name); either form for the rest (spaces, `+`, Hebrew, ...,
  where route.h does not say what "safe" is);
- a chat's STEM is the same in every run of the case and whatever order the chats came in;
- the summary counts the messages, pages, duplicates and files;
- every run writes --manifest (SPEC §4.7; test_convert_random.check_manifest): one entry
  per file in DIR, its path, the model's rows and time range of its chat, its bytes and
  sha256, and its chat's id (decoded; "" for `unknown`).

Workbooks (SPEC §4.5, §4.6; README "Spreadsheets"): each case is also converted with
`-o DIR/{chat}.xlsx` once or twice (both orders over the campaign and within a case of two,
sometimes `--columns`, sometimes a `--tz`), its pages carrying test_xlsx_random's
workbook-hard text (`_xHHHH_` and its near misses, U+FFFE, CR, RTL, emoji, and in some
cases a value past a cell's 32,767 UTF-16 units). The same model and the same names hold:
one workbook per chat, its stem the one the chat's CSV file got, holding exactly the
chat's rows in output order; every workbook is read with test_xlsx's zip/XML `Book`
(well-formed XML, no formula, one sheet `history`, a bold text header of the columns with
their `NAME_2`, ... continuations and only as many as the workbook's longest value needs,
the header frozen, an autofilter over the header and every row, properties naming
waexport, no cell outside the header's columns) and every cell compared with
test_xlsx_random's expectations (text cells, numbers up to 15 digits, dates in `--tz`);
then each chat's workbook is read again with python3-openpyxl against its chat's rows.
The manifest's entries are checked as for the other formats (format "xlsx").

A failure names the seed, the run, the smallest input that still fails and where the
case's pages are kept.

Knobs (environment):
  WAEXPORT_ROUTE_CASES=N    cases to run (default 6)
  WAEXPORT_ROUTE_SEED=S     first seed (default 1)
  WAEXPORT_ROUTE_SKIP=a,b   kinds not to generate (names in ROUTE_FEATURES), to hunt further
                            while a known discrepancy is open
  WAEXPORT_RANDOM_SKIP, WAEXPORT_RANDOM_LOG as in test_convert_random.py
  WAEXPORT_XLSX_SKIP=open-escape as in test_xlsx_random.py (its workbook-hard text; all of
                            it off with WAEXPORT_ROUTE_SKIP=xlsx-text)
"""
import importlib.util
import io
import itertools
import json
import os
import random
import re
import shutil
import string
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from conftest import BIN
from helpers import (COLUMNS, api_messages, code_alternatives, dedupe, epoch_of, expected_csv,
                     expected_ndjson, gunzip_single_member, json_text, parse_csv_strict)
from test_convert_random import (MANIFEST, Raw, Str, build_case, check_manifest,
                                 check_ndjson_line, key_text, on, pages_raw, random_settings,
                                 settle, utf16_escape, with_summary)
from test_xlsx import NS, Book
from test_xlsx_random import (decorate, expected_row, filter_ref, got_xml, groups, matches,
                              openpyxl_compare, xml_checks)
from test_xlsx_random import show as show_cell

CASES = int(os.environ.get("WAEXPORT_ROUTE_CASES", "6"))
FIRST_SEED = int(os.environ.get("WAEXPORT_ROUTE_SEED", "1"))
ROUTE_FEATURES = {"unknown-text",        # the literal id "unknown" (beside chats without an id)
                  "escaped-direction",   # a direction code written with \\u escapes ("\\u0031")
                  "ambiguous-direction",  # 1.0, 1e0, "1.0": a code or not (helpers: either)
                  "invalid-ids",         # invalid UTF-8, lone surrogates, U+0000 in ids
                  "no-id",               # counterparts absent, null, "", an object, an array
                  "xlsx-text"}           # test_xlsx_random's workbook-hard text in other fields
ROUTE_SKIP = {f for f in os.environ.get("WAEXPORT_ROUTE_SKIP", "").split(",") if f}
assert ROUTE_SKIP <= ROUTE_FEATURES, f"unknown WAEXPORT_ROUTE_SKIP: {ROUTE_SKIP - ROUTE_FEATURES}"
TIMEOUT = 60
ACCOUNT = "972501234567"
NAME_MAX = 100                      # ROUTE_NAME_MAX (src/route.h): a name used as is, at most
SAFE = frozenset(string.ascii_letters + string.digits + "._-")
# Printable ASCII that route.h's "safe" may or may not take (kept or made safe); '/' never.
GREY = frozenset(chr(c) for c in range(0x21, 0x7F)) - SAFE - {"/"}
HASHED_TAIL = re.compile(rb"-[0-9a-f]{16}")
HASHED_STEM = re.compile(r"(.*)-([0-9a-f]{16})", re.S)
NOCHAT = ("none",)                  # the chat of messages whose counterpart is no id
NOCHAT_NAME = "unknown"             # its file name (README -o); an id "unknown" is hashed
# Kinds of problem, the most telling first (None: with_summary's summary and sanitizer).
KINDS = ["exit", "outside", "group", "name", "stable", "order", "format", "rows", MANIFEST,
         "summary", None]
SUMMARY_FILES = re.compile(r"to (\d+) files? \(")


def route_on(feature):
    return feature not in ROUTE_SKIP


# ---------------------------------------------------------------- chat ids

def hex16(r, digits="0123456789abcdef"):
    return "".join(r.choice(digits) for _ in range(16))


def sized(r, n):
    """An id of exactly n bytes, safe or not."""
    k = r.random()
    if k < 0.25:
        return ["9" * n]
    if k < 0.45:
        return ["IL." + "7" * (n - 3)]
    if k < 0.6:
        return ["a b" + "c" * (n - 3)]
    if k < 0.75:
        return ["\u05e9" * (n // 2) + "x" * (n % 2)]
    if k < 0.9:
        return ["y" * (n - 17) + "-" + hex16(r)]
    return ["a/" + "z" * (n - 2)]


def number_id(r):
    return [str(r.randint(10 ** 7, 10 ** r.randint(8, 15) - 1))]


FIXED_IDS = [
    "IL.1605856887361213", "IL.1", "US.99", "+972501234567", "-rf", "CON", "x.tmp.abc",
    "a,b", "%2e%2e", "12.50", "-5", "1e5", "0501234567",
    "a/b", "../x", "/etc/passwd", "x/../../y", "/", "a/", "..\\x", "\\",
    ".", "..", "...", "....", ".hidden", "a..b", "x..",
    "a b", " ", "  lead", "trail ", "IL. 1",
    "\u05e9\u05dc\u05d5\u05dd", "IL.\u05e9\u05dc\u05d5\u05dd", "\u05e9",
    "\U0001F600", "\U0001F469\u200d\U0001F469\u200d\U0001F467", "a\U0001F600b",
    "a\x01b", "\x1b[31mred", "tab\tx", "nl\nx", "\x7f", "\u0085", "\u2028", "cr\r",
    "\u202e", "e\u0301", "\u00e9", "Unknown", "unknown-", "true", "null",
]
INVALID_IDS = [[b"a\xffb"], [b"\xc0\xaf"], ["x", b"\xe2\x82"], [b"\xed\xa0\x80"], [b"\xff"],
               [b"\xf0\x9f\x98"], ["a", b"\\ud800"], ["a", b"\xef\xbf\xbd"], ["a", b"\xfe"],
               ["nul", b"\\u0000", "z"], ["a\ufffdb"], [b"\\udc00x"]]
# Ids that are made safe alike (and so would meet without the hash).
ALIKE = [["a/b", "a_b", "a?b", "a b", "a\\b", "a:b", "a*b"], ["../x", ".._x", "..?x", "../x/"],
         ["\u05e9\u05dc", "____", "__"], ["\U0001F600", "____", "_"], ["x y", "x_y", "x\ty"],
         [".", "_", ".."]]


def hashed_like(r):
    h = hex16(r)
    return r.choice([["x-" + h], ["a_b-" + h], ["-" + h], ["x-" + h.upper()], ["x-" + h[:15]],
                     ["x-" + h + "0"], ["a b-" + h], ["x-" + h + ".csv"], ["0-" + h],
                     ["x-" + h[:8] + "G" + h[9:]]])


def random_id(r):
    k = r.random()
    if k < 0.2:
        return number_id(r)
    if k < 0.3:
        return ["IL.%016d" % r.randint(0, 10 ** 16 - 1)]
    if k < 0.6:
        return [r.choice(FIXED_IDS)]
    if k < 0.72 and route_on("invalid-ids"):
        return list(r.choice(INVALID_IDS))
    if k < 0.84:
        return sized(r, r.choice([99, 100, 101, 300, 83, 84, 116, 117, 255, 256]))
    return hashed_like(r)


NO_IDS = ["absent", "null", "empty", "object", "array"]


def chat_pool(r):
    """The case's chats: ("id", pieces) or ("none", kind); pieces are str (text, escaped
    or not per message) and bytes (JSON string text kept as is)."""
    pool = []

    def add(entry):
        if entry not in pool:
            pool.append(entry)

    n = r.randint(2, r.choice([4, 8, 12, 30]))
    if r.random() < 0.4:
        for t in r.choice(ALIKE):
            add(("id", (t,)))
    if r.random() < 0.3:
        n_ = r.choice([99, 100, 101, 300])
        a = sized(r, n_)[0]
        add(("id", (a,)))                 # and one that differs only past the cut
        add(("id", (a[:-1] + ("Q" if a[-1] != "Q" else "R"),)))
    if r.random() < 0.3:
        add(("id", ("unknown",) if route_on("unknown-text") else ("Unknown",)))
    if r.random() < 0.4 and route_on("no-id"):
        add(("none", r.choice(NO_IDS)))
    while len(pool) < n:
        if route_on("no-id") and r.random() < 0.06:
            add(("none", r.choice(NO_IDS)))
        else:
            add(("id", tuple(random_id(r))))
    return pool


JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
SHORT_ESCAPES = {"\n": b"\\n", "\t": b"\\t", "\r": b"\\r", "\b": b"\\b", "\f": b"\\f"}


def encode_text(s, r, escape_p):
    """JSON string text for s: each character raw or \\u-escaped (surrogate pairs for
    astral ones); quote, backslash and control characters always escaped."""
    out = b""
    for ch in s:
        cp = ord(ch)
        if ch == '"':
            out += r.choice([b'\\"', b"\\u0022"])
        elif ch == "\\":
            out += r.choice([b"\\\\", b"\\u005c"])
        elif ch == "/":
            out += r.choice([b"/", b"/", b"\\/", b"\\u002f"])
        elif cp < 0x20:
            out += SHORT_ESCAPES[ch] if ch in SHORT_ESCAPES and r.random() < 0.5 else \
                utf16_escape(cp, r)
        elif r.random() < escape_p:
            out += utf16_escape(cp, r)
        else:
            out += ch.encode("utf-8")
    return out


def id_value(entry, r):
    """A JSON value for a pool entry as one message writes it (None: the key is absent)."""
    kind, what = entry
    if kind == "none":
        return {"absent": None, "null": Raw("null"), "empty": Str([b""]),
                "object": Raw(b'{"id":"972509876543"}'), "array": Raw(b'["972509876543"]')}[what]
    if len(what) == 1 and isinstance(what[0], str) and JSON_NUMBER.fullmatch(what[0]) and \
            r.random() < 0.4:
        return Raw(what[0])               # the same id as a JSON number
    escape_p = r.choice([0, 0, 0.3, 1.0])
    return Str([p if isinstance(p, bytes) else encode_text(p, r, escape_p) for p in what])


def direction_value(r, incoming):
    """A direction that reads as incoming (or not), or an odd one (then either)."""
    k = r.random()
    if k < 0.78:
        code = "1" if incoming else "2"
        return r.choice([Raw(code), Str([code.encode()])]), incoming
    odd = [Raw("0"), Raw("3"), Raw("-1"), Str([b"01"]), Str([b"02"]), Str([b" 1"]), Str([b"1 "]),
           Str([b"incoming"]), Str([b"outgoing"]), Str([b"in"]), Str([b""]), Raw("null"), None,
           Raw("true"), Raw("[1]"), Raw('{"d":1}'), Raw("99999999999999999999"), Raw("1.5"),
           Raw("2.0"), Raw("-0")]
    if route_on("ambiguous-direction"):
        odd += [Raw("1.0"), Raw("1e0"), Str([b"1.0"]), Str([b"1E0"]), Raw("10e-1")]
    if route_on("escaped-direction"):
        odd += [Str([b"\\u0031"]), Str([b"\\u0032"]), Str([b"0\\u0031"])]
    return r.choice(odd), None


def key_name(k):
    try:
        return json.loads(k)
    except (ValueError, UnicodeDecodeError):
        return None


def set_fields(pairs, new, r):
    """pairs with from/to/direction replaced by new (name -> value, None: absent): each at
    the place of its first key (so an API-shaped page keeps its shape), the others dropped."""
    out, placed = [], set()
    for k, v in pairs:
        name = key_name(k)
        if name in new:
            if name not in placed and new[name] is not None:
                out.append((k, new[name]))
            placed.add(name)
            continue
        out.append((k, v))
    for name, v in new.items():
        if name not in placed and v is not None:
            out.insert(r.randint(0, len(out)), (key_text(r, name), v))
    return out


def route_case(seed):
    """(pages, pool): test_convert_random's pages with chats and directions rewritten."""
    r = random.Random(seed * 7873 + 20)
    pages = build_case(seed, r.randint(2, 5))
    if route_on("xlsx-text"):       # its own stream: the chats and directions stay the same
        pages = decorate(pages, seed)
    pool = chat_pool(r)
    weights = [r.random() + 0.1 for _ in pool]
    done = []
    for page in pages:
        for j, m in enumerate(page):
            chat = r.choices(pool, weights)[0]
            incoming = r.random() < 0.5
            d, reads = direction_value(r, incoming)
            if reads is None:
                incoming = r.random() < 0.5
            k = r.random()
            other = id_value(r.choice(pool), r) if k < 0.3 else Str([ACCOUNT.encode()]) \
                if k < 0.9 else Raw(ACCOUNT)
            mine = id_value(chat, r)
            new = {"direction": d, "from": mine if incoming else other,
                   "to": other if incoming else mine}
            page[j] = set_fields(m, new, r)
            if on("dup-keys") and r.random() < 0.05:   # a second key: the first wins
                page[j].append((key_text(r, r.choice(["to", "from", "direction"])),
                                id_value(r.choice(pool), r) or Raw("2")))
            done.append(page[j])
        if done and r.random() < 0.3:                  # exact copies of earlier messages
            for _ in range(r.randint(1, 3)):
                page.insert(r.randint(0, len(page)), list(r.choice(done)))
    return pages, pool


# ---------------------------------------------------------------- the model

def counterpart_key(m, d):
    v = m.get("from") if d == 1 else m.get("to")
    if v is None or v == "" or isinstance(v, (dict, list)):
        return NOCHAT
    return ("id", json_text(v))


def chat_keys(m):
    """The chats a message may belong to, one per reading of its direction."""
    out = []
    for d in code_alternatives(m.get("direction")):
        k = counterpart_key(m, d)
        if k not in out:
            out.append(k)
    return out


def signature(v):
    return ("str" if isinstance(v, str) else "num", json_text(v))


def structures(src):
    """Every reading of the input the model accepts: (label, msgs, chat per message), msgs
    [(byte-rule message, subpart-rule message)] in API order, de-duplicated. A reading picks
    the rule for invalid UTF-8 in ids and, for each direction written like 1.0, whether it
    is 1; the binary must follow one reading in all it writes."""
    by = {inv: dedupe(api_messages([src], inv)) for inv in ("byte", "subpart")}
    msgs = list(zip(by["byte"], by["subpart"]))
    out = []
    for inv, ms in by.items():
        sigs = sorted({signature(m.get("direction")) for m in ms if len(chat_keys(m)) > 1})
        combos = list(itertools.product((0, 1), repeat=len(sigs))) if len(sigs) <= 5 else \
            [(0,) * len(sigs), (1,) * len(sigs)]
        for combo in combos:
            pick = dict(zip(sigs, combo))
            chats = []
            for m in ms:
                alts = [counterpart_key(m, d) for d in code_alternatives(m.get("direction"))]
                chats.append(alts[pick.get(signature(m.get("direction")), 0)]
                             if len(set(alts)) > 1 else alts[0])
            label = "%s%s" % (inv, "".join(", direction %s %r read as %s" % (
                t, s, "1" if c == 0 else "not a code") for (t, s), c in pick.items()))
            if not any(chats == o[2] for o in out):
                out.append((label, msgs, chats))
    return out


def looks_hashed(b):
    return len(b) >= 17 and bool(HASHED_TAIL.fullmatch(b[-17:]))


def name_verdict(text):
    """route.h's rule for an id: "as-is" (a safe name), "hash" (certainly not safe), or
    "either" (route.h does not say whether such characters are safe)."""
    b = text.encode("utf-8")
    if not b or len(b) > NAME_MAX or looks_hashed(b) or text in (".", "..", NOCHAT_NAME) \
            or "/" in text \
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return "hash"
    if all(c in SAFE for c in text) and set(text) != {"."}:
        return "as-is"
    return "either"


def safe_prefix(p, text):
    """How p is a prefix of `text` made safe: "whole", "cut" (p ends before the id does),
    or None. Letters, digits, . _ - stay; other printable ASCII but / stays or becomes _;
    everything else becomes _ (one per character or one per byte)."""
    states, cut = {0}, False
    for ch in text:
        if len(p) in states:
            cut = True
        nxt = set()
        for s in states:
            if s == len(p):
                continue
            if ch in SAFE or ch in GREY:
                if p.startswith(ch, s):
                    nxt.add(s + 1)
                if ch in SAFE:
                    continue
            for k in {1, len(ch.encode("utf-8"))}:
                rest = p[s:]
                if rest.startswith("_" * k):
                    nxt.add(s + k)
                elif len(rest) < k and rest == "_" * len(rest):
                    nxt.add(len(p))        # the cut falls inside one character's _s
                    cut = True
        states = nxt
        if not states:
            return "cut" if cut else None
    if len(p) in states:
        return "whole"
    return "cut" if cut else None


def name_ok(stem, key):
    """None if stem is an acceptable name for the chat, else why not."""
    if key == NOCHAT:
        return None if stem == NOCHAT_NAME else "messages without a counterpart not in %r" % (
            NOCHAT_NAME)
    text = key[1]
    verdict = name_verdict(text)
    if stem == text and verdict != "hash":
        return None
    if stem == text:
        return "the id is not a safe name, but the file is named as is"
    if verdict == "as-is":
        return "the id is a safe name, but the file is not named as is"
    m = HASHED_STEM.fullmatch(stem)
    if not m:
        return "not the id, nor the id made safe + '-' + 16 lowercase hex digits"
    if len(stem.encode("utf-8")) > NAME_MAX:
        return "a hashed name longer than %d bytes" % NAME_MAX
    how = safe_prefix(m.group(1), text)
    if how is None:
        return "%r is not the id made safe" % m.group(1)
    if how == "cut" and len(stem.encode("utf-8")) != NAME_MAX:
        return "the id was shortened further than %d bytes need" % NAME_MAX
    if how == "whole" or not name_fits_whole(text):
        return None
    return "the id was shortened though its safe form fits"


def name_fits_whole(text):
    """Whether every safe form of text (the longest: a _ per byte) fits a hashed name."""
    return len(text.encode("utf-8")) + 17 <= NAME_MAX


# ---------------------------------------------------------------- runs

BASE = ("csv", ".csv", [], {})      # every case's first run: the names the others keep


def configs(seed):
    tz, cols, order = random_settings(seed, 20)
    cols = [c for c in cols if c not in ("from", "to")] or ["unique"]
    return [
        BASE,
        ("csv", ".csv", ["--order", "newest"], {"order": "newest"}),
        ("ndjson", ".ndjson", [], {}),
        ("ndjson", ".ndjson", ["--order", "newest", "--tz", tz], {"order": "newest", "tz": tz}),
        ("csv", ".csv.gz", ["--order", order], {"order": order, "gzip": True}),
        ("ndjson", ".ndjson.gz", ["--gzip-level", "1", "--threads", "1"], {"gzip": True}),
        ("csv", ".csv", ["--columns", ",".join(cols), "--order", order],
         {"columns": cols, "order": order}),
    ] + xlsx_configs(seed)


def xlsx_configs(seed):
    """One or two {chat}.xlsx runs: the case's first order, then (in most cases) the
    other; each sometimes with --tz, sometimes with --columns (without to/from)."""
    tz, cols, first = random_settings(seed, 21)
    cols = [c for c in cols if c not in ("from", "to")] or ["message"]
    r = random.Random(seed * 7873 + 22)
    orders = [first] + (["newest" if first == "oldest" else "oldest"] if r.random() < 0.6
                        else [])
    out = []
    for order in orders:
        args, opts = [], {}
        if order == "newest" or r.random() < 0.5:
            args, opts = ["--order", order], {"order": order}
        if r.random() < 0.5:
            args, opts = args + ["--tz", tz], dict(opts, tz=tz)
        if r.random() < 0.4:
            args, opts = args + ["--columns", ",".join(cols)], dict(opts, columns=cols)
        out.append(("xlsx", ".xlsx", args, opts))
    return out


def tree(root, skip):
    """Every entry under root but those in skip (and what they hold): (path, mode, size,
    mtime)."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [n for n in dirs if Path(d) / n not in skip]
        for n in dirs + [n for n in files if Path(d) / n not in skip]:
            st = os.lstat(os.path.join(d, n))
            out.append((os.path.relpath(os.path.join(d, n), root), st.st_mode, st.st_size,
                        st.st_mtime_ns))
    return sorted(out)


def manifest_path(out_dir):
    return out_dir.with_name(out_dir.name + ".manifest.json")


def run_routed(src, out_dir, ext, args, work):
    """convert src -o out_dir/{chat}EXT --manifest manifest_path(out_dir) in a fresh out_dir:
    (process, problems outside it); p.manifest is the manifest's bytes (None: none)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir()
    man = manifest_path(out_dir)
    if man.exists():
        man.unlink()
    for d in ("cwd", "tmpdir"):
        (work / d).mkdir(exist_ok=True)
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env["TMPDIR"] = str(work / "tmpdir")
    before = tree(work, (out_dir, man))
    p = subprocess.run([BIN, "convert", "-o", str(out_dir / ("{chat}" + ext)), "--manifest",
                        str(man)] + args + [str(src)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, env=env,
                       cwd=work / "cwd")
    p.manifest = man.read_bytes() if man.exists() else None
    after = tree(work, (out_dir, man))
    problems = []
    if before != after:
        new = sorted(set(after) - set(before))
        gone = sorted(set(before) - set(after))
        problems.append(("outside", "outside %s: appeared or changed %r, gone %r" % (
            out_dir.name, new[:5], gone[:5])))
    return p, problems


def read_rows(fmt, opts, data):
    """(rows, problem): a file's rows (CSV: lists of cells; NDJSON: objects)."""
    if opts.get("gzip"):
        try:
            data = gunzip_single_member(data)   # gzip.decompress, and one whole member
        except (AssertionError, OSError, EOFError, zlib.error) as e:
            return None, "not one complete gzip member: %s" % e
    if fmt == "ndjson":
        if data and not data.endswith(b"\n"):
            return None, "NDJSON does not end with a newline"
        rows = []
        for line in (data.split(b"\n")[:-1] if data else []):
            try:
                bad, got = check_ndjson_line(line)
            except ValueError as e:
                return None, "a line is not strict UTF-8 JSON: %s: %r" % (e, line[:200])
            if bad:
                return None, "%s: %r" % (bad[0], line[:200])
            rows.append(got)
        return rows, None
    try:
        recs = parse_csv_strict(data)
    except (AssertionError, ValueError, UnicodeDecodeError) as e:
        return None, "not strict RFC 4180 UTF-8: %s" % e
    if not recs or [v for v, _ in recs[0]] != opts.get("columns", COLUMNS) or recs[0][0][1]:
        return None, "header %r" % (recs[:1],)
    return [[v for v, _ in rec] for rec in recs[1:]], None


AUTOFILTER = re.compile(r"A1(?::([A-Z]+)([1-9][0-9]*))?")


def read_workbook(opts, data):
    """(rows, (header, {column: its cells' indexes}), problem) of one workbook: each row
    {column: (kind, value)} as test_xlsx_random.got_xml reads test_xlsx's `Book`; problem:
    the first thing README "Spreadsheets" rules out that the workbook shows by itself. The
    autofilter says how many rows there are (a row whose cells are all empty has no <row>
    element): it must cover the header and every row, so a wrong one shows as a chat's
    rows not all there (then this run's openpyxl reading says so too)."""
    cols = opts.get("columns", COLUMNS)
    try:
        bad = xml_checks(zipfile.ZipFile(io.BytesIO(data)))
        if bad:
            return None, None, bad[0]
        book = Book(io.BytesIO(data))
    except Exception as e:      # any part missing or not as test_xlsx's reader expects
        return None, None, "test_xlsx's reader cannot read it: %s: %s" % (type(e).__name__, e)
    if [sh["name"] for sh in book.sheets] != ["history"]:
        return None, None, "sheets %r, not one `history`" % [sh["name"] for sh in book.sheets]
    sheet = book.sheets[0]
    numbers = [int(x.get("r")) for x in sheet["root"].find(NS + "sheetData")]
    if not numbers or numbers[0] != 1 or numbers != sorted(set(numbers)):
        return None, None, "row numbers %r (the header first, then rising)" % numbers[:20]
    head = sheet["rows"][0]
    header = [head[i]["value"] for i in sorted(head)]
    if sorted(head) != list(range(len(head))):
        return None, None, "header cells at columns %r" % sorted(head)
    if not all(c["bold"] and c["t"] == "inlineStr" for c in head.values()):
        return None, None, "a header cell is not bold text: %r" % head
    grp, bad = groups(header, cols)
    if grp is None or bad:
        return None, None, bad[0]
    pane = sheet["root"].find(".//" + NS + "pane")
    if pane is None or pane.get("ySplit") != "1" or pane.get("state") != "frozen":
        return None, None, "header not frozen: %r" % (pane is not None and pane.attrib)
    af = sheet["root"].find(NS + "autoFilter")
    m = AUTOFILTER.fullmatch(af.get("ref", "")) if af is not None else None
    n_rows = int(m.group(2)) - 1 if m and m.group(2) else 0
    if not m or af.get("ref") != filter_ref(len(header), n_rows) or numbers[-1] > n_rows + 1:
        return None, None, "autofilter %r over %d columns, rows up to %d" % (
            af is not None and af.get("ref"), len(header), numbers[-1])
    if "waexport" not in book.xml.get("docProps/core.xml", ""):
        return None, None, "the workbook's properties do not name waexport"
    by_number = dict(zip(numbers, sheet["rows"]))
    rows, used = [], {c: 1 for c in cols}
    for i in range(n_rows):
        cells = by_number.get(i + 2, {})
        if any(j >= len(header) for j in cells):
            return None, None, "row %d: a cell at column %d, past the header's %d" % (
                i + 1, max(cells) + 1, len(header))
        got = {}
        for c in cols:
            got[c], bad = got_xml(cells, grp[c])
            if bad:
                return None, None, "row %d, %s: %s" % (i + 1, c, bad[0])
            used[c] = max(used[c], sum(1 for j in grp[c] if cells.get(j, {}).get("value")))
        rows.append(got)
    for c in cols:
        if len(grp[c]) > used[c]:
            return None, None, "%d columns for %s, the workbook's longest value needs %d" % (
                len(grp[c]), c, used[c])
    return rows, (header, grp), None


class Output:
    """One run's files read back, and which of the model's rows each row is (memoised:
    a run is checked against several readings, and a failure is diagnosed row by row)."""

    def __init__(self, fmt, ext, opts, files, msgs):
        self.fmt, self.opts, self.files = fmt, opts, files
        tz = opts.get("tz", "UTC")
        self.cols = cols = opts.get("columns", COLUMNS)
        # Per message, the rows the model accepts (both rules for invalid UTF-8).
        self.exps = [[expected_ndjson(x, tz) for x in pair] if fmt == "ndjson" else
                     [expected_row(x, tz, cols) for x in pair] if fmt == "xlsx" else
                     [expected_csv(x, tz, False, cols) for x in pair] for pair in msgs]
        self.problems, self.rows, self.stems, self.memo = [], {}, {}, {}
        self.layout = {}      # workbooks: (header, {column: its cells' indexes})
        self.notes = {}       # workbooks: where the count of rows comes from, when in doubt
        for name, data in sorted(files.items()):
            if not name.endswith(ext) or len(name) == len(ext):
                self.problems.append(("group", "file %r is not named {chat}%s" % (name, ext)))
                continue
            if fmt == "xlsx":
                got, self.layout[name], bad = read_workbook(opts, data)
                if got and not any(got[-1].get(c, ("empty",))[0] != "empty" for c in self.cols):
                    self.notes[name] = " (as its autofilter says; the last ones empty)"
            else:
                got, bad = read_rows(fmt, opts, data)
            if bad:
                self.problems.append(("format", "file %r: %s" % (name, bad)))
                continue
            self.rows[name], self.stems[name] = got, name[:-len(ext)]

    def ok(self, name, r, i):
        """Whether row r of file name is what the model writes for message i."""
        key = (name, r, i)
        if key not in self.memo:
            got = self.rows[name][r]
            if self.fmt == "ndjson":
                self.memo[key] = any(list(got) == list(e) and got == e for e in self.exps[i])
            elif self.fmt == "xlsx":
                self.memo[key] = all(any(matches(e[c], got[c]) for e in self.exps[i])
                                     for c in self.cols)
            else:
                self.memo[key] = any(got == e for e in self.exps[i])
        return self.memo[key]

    def holds(self, name, idx):
        """Whether file name holds exactly the rows of messages idx, in that order."""
        return len(self.rows[name]) == len(idx) and all(
            self.ok(name, r, i) for r, i in enumerate(idx))

    def mine(self, name, r, idx):
        return any(self.ok(name, r, i) for i in idx)

    def why(self, name, r, i):
        """How row r of file name differs from what the model writes for message i."""
        got, exp = self.rows[name][r], self.exps[i][0]
        if self.fmt == "xlsx":
            c = next((c for c in self.cols if not any(matches(e[c], got[c])
                                                        for e in self.exps[i])), None)
            return c and "%s: the workbook holds %s, the model %r" % (c, show_cell(got[c]),
                                                                       exp[c])
        if self.fmt == "ndjson":
            keys = list(dict.fromkeys(list(got) + list(exp)))
            c = next((k for k in keys if got.get(k, "(absent)") != exp.get(k, "(absent)")),
                     None)
            return c and "%s: %r, the model %r" % (c, got.get(c, "(absent)"),
                                                    exp.get(c, "(absent)"))
        c = next((j for j, (a, b) in enumerate(zip(got, exp)) if a != b), None)
        return "column %d: %r, the model %r" % (c, got[c], exp[c]) if c is not None else \
            "%d cells, the model %d" % (len(got), len(exp))


def show(key):
    return "<no id>" if key == NOCHAT else repr(key[1])


def chat_rows(chats, opts):
    """{chat: its messages' indexes in the order its file holds them}."""
    groups = {}
    for i, k in enumerate(chats):
        groups.setdefault(k, []).append(i)
    if opts.get("order", "oldest") == "oldest":
        groups = {k: list(reversed(v)) for k, v in groups.items()}
    return groups


def check_run(out, reading, ref, explain):
    """Problems of one run's files against one reading (without explain: only their
    number is right); and {chat: stem}."""
    _, msgs, chats = reading
    groups = chat_rows(chats, out.opts)
    # A chat's candidate files: an acceptable name and exactly its rows, in order.
    cand = {}
    for k, idx in groups.items():
        c = [n for n in out.rows if name_ok(out.stems[n], k) is None and out.holds(n, idx)]
        if ref and k in ref:      # the name it had before comes first
            c.sort(key=lambda n: out.stems[n] != ref[k])
        cand[k] = c
    owner = {}

    def assign(k, seen):
        for n in cand[k]:
            if n in seen:
                continue
            seen.add(n)
            if n not in owner or assign(owner[n], seen):
                owner[n] = k
                return True
        return False

    for k in groups:
        assign(k, set())
    got_of = {k: n for n, k in owner.items()}
    problems = list(out.problems)
    explained = set()     # files whose only trouble is their chat's name or order
    for k, idx in groups.items():
        if k in got_of:
            if ref and k in ref and ref[k] != out.stems[got_of[k]]:
                problems.append(("stable", "chat %s is in %r here, in %r before" % (
                    show(k), out.stems[got_of[k]], ref[k])))
            continue
        kind, text, where = diagnose(out, k, idx) if explain else ("group", show(k), None)
        problems.append((kind, text))
        if kind in ("name", "order"):
            explained.add(where)
    everyone = range(len(msgs))
    for n in out.rows:
        if n in owner or n in explained:
            continue
        if not explain:
            problems.append(("group", n))
            continue
        theirs = sorted({show(chats[i]) for r in range(len(out.rows[n])) for i in everyone
                         if out.ok(n, r, i)})
        whole = all(out.mine(n, r, everyone) for r in range(len(out.rows[n])))
        problems.append(("group" if whole else "rows", "file %r (%d rows) is no chat's; its "
                         "rows are of chats %s%s" % (n, len(out.rows[n]),
                                                     ", ".join(theirs[:6]) or "none",
                                                     "" if whole else " (some are no message's)")))
    return problems, {k: out.stems[n] for k, n in got_of.items()}


def diagnose(out, k, idx):
    """Why chat k has no file: (kind, text, the file that holds just its rows). Kinds:
    "rows" (a row of it is in no file as the model writes it), "group" (its rows are split
    or share a file with others), "name" (a file holds exactly its rows under a name the
    model does not accept), "order"."""
    spots = [(n, r) for n in out.rows for r in range(len(out.rows[n]))]
    holders = sorted({n for n, r in spots if out.mine(n, r, idx)})
    found = [any(out.ok(n, r, i) for n, r in spots) for i in idx]
    where = "; ".join("%r: %d rows%s, %d of them its" % (
        n, len(out.rows[n]), out.notes.get(n, ""),
        sum(out.mine(n, r, idx) for r in range(len(out.rows[n])))) for n in holders[:4]) \
        or "no file"
    if not all(found):
        # Where a file has as many rows as the chat (the one its name would be first), the
        # first row that differs, and how.
        first = found.index(False)
        like = sorted((n for n in out.rows if len(out.rows[n]) == len(idx)), key=lambda n: (
            name_ok(out.stems[n], k) is not None, n not in holders, n))
        how = "; in %r, row %d: %s" % (like[0], first + 1, out.why(like[0], first, idx[first])
                                        ) if like else ""
        return ("rows", "chat %s: %d of its %d rows are in no file as the model writes them "
                "(its rows: %s%s)" % (show(k), found.count(False), len(idx), where, how), None)
    exact = [n for n in holders if len(out.rows[n]) == len(idx)]
    if len(holders) == 1 and exact:
        why = name_ok(out.stems[exact[0]], k)
        return ("name", "chat %s: its rows are in %r: %s" % (show(k), exact[0], why),
                exact[0]) if why else (
            "order", "chat %s: its rows are in %r in another order" % (show(k), exact[0]),
            exact[0])
    return ("group", "chat %s (%d rows) has no file of its own: its rows are in %s" % (
        show(k), len(idx), where), None)


def check(fmt, ext, opts, p, outside, out_dir, readings, ref, want):
    """(problems, {chat: stem}, the reading that explains the run) for one run."""
    if p.returncode != 0:
        return [("exit", "exit %d: %s" % (p.returncode, p.stderr.decode("utf-8", "replace")[-600:]))
                ] + outside, {}, None
    files, problems = {}, list(outside)
    for n in sorted(os.listdir(out_dir)):
        st = os.lstat(out_dir / n)
        if not (st.st_mode & 0o170000) == 0o100000:
            problems.append(("outside", "%r in %s is not a regular file" % (n, out_dir.name)))
            continue
        files[n] = (out_dir / n).read_bytes()
    out = Output(fmt, ext, opts, files, readings[0][1])
    best = None
    for reading in readings:
        got, stems = check_run(out, reading, ref, False)
        if best is None or len(got) < len(best[0]):
            best = (got, stems, reading)
        if not got:
            break
    if best[0]:
        best = check_run(out, best[2], ref, True) + (best[2],)
    problems += best[0]
    if fmt == "xlsx":
        problems += openpyxl_problems(out, ext, best[1], best[2])
    problems += manifest_problems(fmt, ext, opts, p, out_dir, files, best[1], best[2])
    m = SUMMARY_FILES.search(p.stderr.decode("utf-8", "replace"))
    n_chats = len(set(best[2][2]))
    if not m or int(m.group(1)) != n_chats:
        problems.append(("summary", "summary says %s files, the model %d" % (
            m.group(1) if m else "no", n_chats)))
    problems = with_summary(p, problems, want)
    return sorted(problems, key=lambda t: KINDS.index(t[0])), best[1], best[2]


def openpyxl_problems(out, ext, stems, reading):
    """Each chat's workbook read by python3-openpyxl against its chat's rows
    (test_xlsx_random.openpyxl_compare: sheet, frozen header, autofilter, bold header,
    every cell)."""
    if importlib.util.find_spec("openpyxl") is None:
        return []
    _, msgs, chats = reading
    groups = chat_rows(chats, out.opts)
    problems = []
    for k, stem in sorted(stems.items(), key=lambda t: t[1]):
        name = stem + ext
        header, grp = out.layout[name]
        try:
            got = openpyxl_compare(io.BytesIO(out.files[name]), out.cols, grp, header,
                                   [msgs[i] for i in groups[k]], out.opts.get("tz", "UTC"))
        except Exception as e:   # openpyxl cannot read what test_xlsx's reader read
            got = [(None, "openpyxl cannot read it: %s: %s" % (type(e).__name__, e))]
        problems += [("format", "file %r (chat %s)%s: %s" % (
            name, show(k), "" if row is None else ", row %d" % (row + 1), text))
            for row, text in got[:3]]
    return problems


def manifest_problems(fmt, ext, opts, p, out_dir, files, stems, reading):
    """The manifest against the files in out_dir: each chat's file (stems) with its chat's
    rows, time range and id under the reading; a file that is no chat's by its bytes only."""
    _, msgs, chats = reading
    groups = {}
    for i, k in enumerate(chats):
        groups.setdefault(k, []).append(i)
    want = {str(out_dir / n): (out_dir / n, None, None, None) for n in files}
    for k, stem in stems.items():
        want[str(out_dir / (stem + ext))] = (
            out_dir / (stem + ext), len(groups[k]),
            [epoch_of(msgs[i][0].get("timestamp")) for i in groups[k]],
            "" if k == NOCHAT else k[1])
    return check_manifest(p.manifest, p.stderr, dict(opts, format=fmt), want)


def counts(src, n_pages):
    n_rows = len(dedupe(api_messages([src])))
    n_msgs = len(api_messages([src]))
    return (n_rows, n_pages, n_msgs - n_rows)


# ---------------------------------------------------------------- shrinking and reports

def fails(pages, cfg, work, kind=None):
    """The run's problems on pages; for a "stable" problem, against the names (and
    reading) a first run (`-o DIR/{chat}.csv`, as in the test) gives the same pages."""
    fmt, ext, args, opts = cfg
    src = work / "shrink.jsonl"
    src.write_bytes(pages_raw(pages))
    readings, ref, want = structures(src), None, counts(src, len(pages))
    if kind == "stable":
        bfmt, bext, bargs, bopts = BASE
        p, outside = run_routed(src, work / "shrink-base", bext, bargs, work)
        got, stems, chosen = check(bfmt, bext, bopts, p, outside, work / "shrink-base",
                                   readings, None, want)
        if all(k == MANIFEST for k, _ in got):
            readings, ref = [chosen], stems
    p, outside = run_routed(src, work / "shrink-out", ext, args, work)
    return check(fmt, ext, opts, p, outside, work / "shrink-out", readings, ref, want)[0]


def shrink(pages, cfg, work, kind, budget=150):
    """The fewest messages, then keys, that still fail with a problem of that kind
    (message removal first: a chat problem usually needs two messages)."""
    tries = [0]

    def still(pg):
        tries[0] += 1
        return tries[0] <= budget and any(k == kind for k, _ in fails(pg, cfg, work, kind))

    pages = [list(pg) for pg in pages]
    for i in range(len(pages) - 1, -1, -1):       # whole pages
        if len(pages) > 1 and still(pages[:i] + pages[i + 1:]):
            del pages[i]
    spots = [(i, j) for i, pg in enumerate(pages) for j in range(len(pg))]
    n = max(1, len(spots) // 2)
    while n >= 1:                                 # messages, n at a time
        start = 0
        while start < len(spots):
            gone = set(spots[start:start + n])
            trial = [[m for j, m in enumerate(pg) if (i, j) not in gone]
                     for i, pg in enumerate(pages)]
            if still(trial):
                pages = trial
                spots = [(i, j) for i, pg in enumerate(pages) for j in range(len(pg))]
            else:
                start += n
        n //= 2
    for i in range(len(pages)):                   # keys of what is left
        for j in range(len(pages[i])):
            m = pages[i][j]
            for q in range(len(m) - 1, -1, -1):
                trial = [list(pg) for pg in pages]
                trial[i][j] = m[:q] + m[q + 1:]
                if still(trial):
                    pages, m = trial, trial[i][j]
    return pages


def short(b, most=1200):
    return repr(b) if len(b) <= most else "%r ... (%d bytes) ... %r" % (
        b[:most // 2], len(b), b[-most // 2:])


def shown(data, fmt):
    """A file's bytes, shortened; a workbook's as its sheets' cell values, row by row."""
    if fmt == "xlsx":
        try:
            book = Book(io.BytesIO(data))
            head = book.sheets[0]["rows"][0]
            return short(repr([[{head[j]["value"] if j in head else j: c["value"]
                                 for j, c in sorted(row.items())} for row in sh["rows"][1:]]
                               for sh in book.sheets]), 600)
        except Exception as e:
            return "%s (not read: %s)" % (short(data, 300), e)
    return short(data, 300)


def report(seed, cfg, problems, pages, work, src):
    small = shrink(pages, cfg, work, problems[0][0])
    raw = pages_raw(small)
    again = fails(small, cfg, work, problems[0][0])
    out = work / "shrink-out"
    written = {n: shown((out / n).read_bytes(), cfg[0]) for n in sorted(os.listdir(out))}
    man = manifest_path(out)
    return "\n".join([
        "seed %d: waexport convert -o DIR/{chat}%s %s (first of %d problems: %s: %s)" % (
            seed, cfg[1], " ".join(cfg[2]), len(problems), problems[0][0], problems[0][1][:800]),
        "smallest input that fails (%d bytes): %s" % (len(raw), short(raw)),
        "binary wrote: %s" % written,
        "its problems: %s" % [t[:600] for _, t in again][:3],
        "its manifest (%s): %s" % (man, short(man.read_bytes(), 1500) if man.exists() else None),
        "the case's pages: %s" % src,
        "reproduce: WAEXPORT_ROUTE_SEED=%d WAEXPORT_ROUTE_CASES=1 pytest %s" % (
            seed, Path(__file__).name)])


def lookalike(stems, r):
    """A message whose counterpart is the hashed name another chat got (route.h: such an
    id is hashed too, so it cannot take that chat's file)."""
    hashed = sorted(s for k, s in stems.items() if k != NOCHAT and s != k[1])
    if not hashed:
        return None
    stem = r.choice(hashed)
    return [(b'"unique"', Str([b"route-lookalike"])), (b'"timestamp"', Raw("1700000000")),
            (b'"direction"', Raw("2")), (b'"from"', Str([ACCOUNT.encode()])),
            (b'"to"', Str([encode_text(stem, r, 0)])), (b'"type"', Str([b"text"])),
            (b'"state"', Raw("1")), (b'"message"', Str([b"a name like another chat's"]))]


# ---------------------------------------------------------------- the test

@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + CASES))
def test_chat_files_match_the_model_on_random_pages(seed, tmp_path):
    pages, _ = route_case(seed)
    src = tmp_path / "pages.jsonl"
    src.write_bytes(pages_raw(pages))
    want = counts(src, len(pages))
    readings = structures(src)
    failures, ref, chosen = [], None, None
    for n, cfg in enumerate(configs(seed)):
        fmt, ext, args, opts = cfg
        out_dir = tmp_path / ("out%d" % n)
        p, outside = run_routed(src, out_dir, ext, args, tmp_path)
        problems, stems, reading = check(fmt, ext, opts, p, outside, out_dir,
                                         [chosen] if chosen else readings, ref, want)
        if ref is None and all(k == MANIFEST for k, _ in problems):
            # the names (and reading) every other run must keep (a manifest's problem
            # leaves them known: with --columns, chats' rows can look alike)
            ref, chosen = stems, reading
        if problems and not failures:
            failures.append(report(seed, cfg, problems, pages, tmp_path, src))
        elif problems:
            failures.append("seed %d: waexport convert -o DIR/{chat}%s %s: %d problems, the "
                            "first: %s" % (seed, ext, " ".join(args), len(problems),
                                           problems[0][1][:800]))
    if ref is not None:
        # The chats met in another order (and one id that is another chat's hashed name):
        # every chat keeps its name.
        r = random.Random(seed * 7873 + 21)
        pages2 = [list(reversed(pg)) for pg in reversed(pages)]
        extra = lookalike(ref, r)
        if extra:
            pages2[r.randrange(len(pages2))].append(extra)
        src2 = tmp_path / "pages-other-order.jsonl"
        src2.write_bytes(pages_raw(pages2))
        fmt, ext, args, opts = configs(seed)[0]
        out_dir = tmp_path / "out-other-order"
        p, outside = run_routed(src2, out_dir, ext, args, tmp_path)
        problems, _, _ = check(fmt, ext, opts, p, outside, out_dir, structures(src2), ref,
                               counts(src2, len(pages2)))
        if problems:
            failures.append("seed %d: the pages in another order (%s, then %s): %d problems, "
                            "the first: %s" % (seed, src2, src, len(problems),
                                               problems[0][1][:800]))
    settle(failures)
