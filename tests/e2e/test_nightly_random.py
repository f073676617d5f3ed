"""Several nights of the README's cron command over a random, hostile history.

README "Nightly runs (cron)", SPEC §4.4 (append under --state), §5.2 and §5.3 (the
checkpoint is the head of the history in API order). Each case (one seed) builds a
history of messages as raw JSON text with test_convert_random.py's generator (every kind
of escape, invalid UTF-8, repeated and escaped keys, odd numbers, compound values), with
its own uniques and times on top: escaped and raw forms of one unique, messages without a
unique (absent, null, ""), repeated uniques, numeric uniques, times as strings, numbers,
escaped digits, fractions, year 2100, 0, late deliveries dated months back, several in one
second, out of order. The history is served as the API pages it (50 a page, newest first,
a short last page) by scripts/mock_api.py --raw-pages, a fresh mock (a new port, so a new
--url) and a fresh pages file every night: the state file does not depend on the URL
(SPEC §5.3: it records per from/to; src/state_impl.h: its lines are FROM TO EPOCH UNIQUE...
and the head's uniques, no URL). Before each night after the first, new messages arrive on
top (0-120, sometimes a burst over several pages), sometimes a few of the newest are
deleted, sometimes an old message is delivered again on top with another state (its old
copy kept or gone), sometimes states change in place. Each night runs

    waexport fetch -q --from A --url URL --state S [--lookback 2d] --tz Z -o OUT

with OUT 'DIR/out-{date}.EXT' (one directory for every night: the day's file is added to),
'DIR/night-K/out-{date}.EXT' (each night's file moved aside, README "Loading into a
warehouse") or a fixed 'DIR/export.EXT' (added to), EXT csv, ndjson, csv.gz or ndjson.gz,
sometimes --order newest, sometimes another --concurrency. Checks:
  - exit 0 every night, no stderr with -q;
  - an existing output keeps its bytes as a prefix (rows added after, no second CSV header,
    a new gzip member); a new file starts with the header (CSV); a night that writes
    nothing leaves the file byte for byte (README: "a run with nothing new leaves it byte
    for byte as it was"), or makes no file, or a header-only / empty one;
  - the night's rows, in API order, are exactly the model's: the messages above the head
    the state file names (the walk stops at the first of them it meets; all of it when
    none is left: README "If every one of them was deleted ... writes every message again
    once"), once per unique compared decoded (the first in API order), without those of
    the checkpoint's second it lists (src/select.c at_skip); with --lookback the rows after
    those are messages below the head in its window (not pinned further: the window is
    test_nightly*.py's), each row equal to helpers.expected_csv / expected_ndjson;
  - across the nights: every unique that was on the server at some night is written at
    least once; a second copy only where the README allows one: --lookback, the head's
    newest deleted on the server (the walk then stops at the first of the head's messages
    it meets, and writes again what lies above it; all of them gone: the whole history), or
    a message with that unique delivered again since the night before.
    Messages without a unique: README (warehouse section) and the run's warning say they
    are written but cannot be de-duplicated; each one a night saw is written at least once
    (SPEC §1: nothing lost), and again by every night that finds it above the head;
  - the state file stays valid (magic line, checksum line with CRC-32 and byte count), its
    head is at most 50 uniques, the first being page 1's first message with a unique,
    each one of a message some night served; no temporary file, journal or commit plan is
    left beside the outputs or the state.
Known limit (README "Nightly runs"; test_a_message_delivered_again_on_top_does_not_hide_the_news,
marked xfail strict, is its smallest case): a message whose unique the state's head holds,
listed again above new messages, is taken for the head, and the new messages below it are
never written; such arrivals are left out by default (WAEXPORT_NIGHT_RANDOM_SKIP defaults
to again-in-head; set it empty to generate them).
A failure prints the seed and, kept under tmp_path, every night's pages file
(pages-N.jsonl: line K is page K as served), the state after each night (state-after-N),
and the commands.

Knobs (environment):
  WAEXPORT_NIGHT_RANDOM_CASES=N   cases to run (default 7)
  WAEXPORT_NIGHT_RANDOM_SEED=S    first seed (default 1)
  WAEXPORT_NIGHT_RANDOM_SKIP=a,b  features not to generate (default again-in-head): a message
                                  delivered again on top (or a repeat among the arrivals)
                                  with the very bytes of a unique the state's head holds
                                  (to hunt further while that discrepancy is open)
  WAEXPORT_RANDOM_LOG=PATH        also append each failure report to PATH
"""
import gzip
import json
import os
import random
import shutil
import time
import zlib
from pathlib import Path

import pytest

from conftest import run
from fetch_helpers import ACCOUNT, Mock, fetch_env
from helpers import (COLUMNS, RawFloat, RawInt, epoch_of, expected_csv, expected_ndjson,
                     first_wins, parse_csv_strict, sanitize)
from test_convert_random import (ZONES, Raw, Str, escaped_digits, hex4, key_text, message,
                                 message_raw, settle, text_fragments, timestamp_value)

CASES = int(os.environ.get("WAEXPORT_NIGHT_RANDOM_CASES", "7"))
FIRST_SEED = int(os.environ.get("WAEXPORT_NIGHT_RANDOM_SEED", "1"))
FULL = 50                   # messages a page of the API holds
HEAD_MAX = 50               # src/state.h STATE_HEAD_MAX
STATE_MAGIC = "waexport-state 2"
NOW = int(time.time())
FEATURES = {"again-in-head"}
# again-in-head is a known limit (README "Nightly runs"), left out unless asked for with
# WAEXPORT_NIGHT_RANDOM_SKIP= (empty: generate everything).
SKIP = {f for f in os.environ.get("WAEXPORT_NIGHT_RANDOM_SKIP", "again-in-head").split(",") if f}
assert SKIP <= FEATURES, "unknown WAEXPORT_NIGHT_RANDOM_SKIP features: %s" % (SKIP - FEATURES)
Y2100 = 4102444800


# ---------------------------------------------------------------- the history

class Item:
    """One message on the server: its pairs (key text, value) as raw JSON, and an id that
    stays with it while it is on the server (a state changed in place keeps the id; a
    message delivered again on top is a new item, `of` the old one)."""
    serial = 0

    def __init__(self, pairs, of=None):
        Item.serial += 1
        self.id = Item.serial
        self.pairs = pairs
        self.of = of
        self._parsed = {}

    def raw(self):
        return message_raw(self.pairs)

    def parsed(self, invalid):
        """The message as helpers' model reads it (first key wins, numbers as sent)."""
        if invalid not in self._parsed:
            text = self.raw().decode("utf-8", "surrogateescape" if invalid == "byte"
                                     else "replace")
            dec = json.JSONDecoder(strict=False, object_pairs_hook=first_wins,
                                   parse_int=RawInt, parse_float=RawFloat)
            self._parsed[invalid] = sanitize(dec.decode(text))
        return self._parsed[invalid]

    def unique_value(self):
        """The value of the message's first "unique" key (None: no such key)."""
        for k, v in self.pairs:
            if key_name(k) == "unique":
                return v
        return None

    def raw_unique(self):
        """The unique's bytes as sent (a string's body, a number's text), as the state file
        keeps them (src/state.h: raw server bytes); None when it names no message (absent,
        null, "": src/record.h record_has_unique)."""
        v = self.unique_value()
        if v is None:
            return None
        raw = v.raw()
        if raw == b"null":
            return None
        if raw.startswith(b'"'):
            return raw[1:-1] or None
        return raw

    def is_string_unique(self):
        v = self.unique_value()
        return v is not None and v.raw().startswith(b'"')

    def key(self):
        """The unique compared decoded (README "Files and safety"), None without one."""
        raw = self.raw_unique()
        if raw is None:
            return None
        if not self.is_string_unique():
            return "#" + raw.decode()
        return json.loads((b'"' + raw + b'"').decode("utf-8", "surrogateescape"))

    def ts(self):
        return epoch_of(self.parsed("byte").get("timestamp"))


def key_name(key_text_bytes):
    try:
        return json.loads(key_text_bytes.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def set_field(pairs, name, value, r=None):
    """pairs with every `name` key dropped and one (key text, value) where the first was
    (appended when there was none); value None: the key absent."""
    at = None
    out = []
    for k, v in pairs:
        if key_name(k) == name:
            if at is None:
                at = len(out)
            continue
        out.append((k, v))
    if value is not None:
        kt = key_text(r, name) if r is not None else b'"%s"' % name.encode()
        out.insert(len(out) if at is None else at, (kt, value))
    return out


class Gen:
    """The case's messages: uniques, times and states drawn here, the rest by
    test_convert_random.message()."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.seed = seed
        self.n = 0
        self.bases = []          # ASCII uniques given out, for repeats in other escapes
        self.clock = NOW - 40 * 86400
        self.avoid = set()       # raw uniques a repeat must not have (SKIP again-in-head)

    def unique(self):
        r = self.r
        k = r.random()
        if k < 0.06:
            return r.choice([None, Raw("null"), Str([b""])])
        if k < 0.14 and self.bases:
            base = r.choice(self.bases)     # a repeat, maybe escaped otherwise
            rep = Str([hex4(b, r) if r.random() < 0.3 and b != 0x2d else bytes([b])
                       for b in base])
            if rep.raw()[1:-1] not in self.avoid:
                return rep
        if k < 0.18:
            return Raw(str(8000000 + self.seed * 10000 + self.n))
        base = b"u%d-%d" % (self.seed, self.n)
        self.bases.append(base)
        if r.random() < 0.25:
            return Str([base, b"|"] + text_fragments(r, 4))
        return Str([base])

    def timestamp(self, t):
        """Mostly t in one of the API's forms; sometimes a hostile or misdated one."""
        r = self.r
        k = r.random()
        if k < 0.35:
            return Str([str(t).encode()])
        if k < 0.6:
            return Raw(str(t))
        if k < 0.66:
            return escaped_digits(str(t), r)
        if k < 0.72:
            return r.choice([Raw("%d.%d" % (t, r.randint(0, 999))),
                             Str([b"%d.%03d" % (t, r.randint(0, 999))])])
        if k < 0.77:
            return r.choice([Str([str(Y2100).encode()]), Raw(str(Y2100)),
                             escaped_digits(str(Y2100 + 12345), r), Raw("%d.5" % Y2100)])
        if k < 0.82:
            return r.choice([Raw("0"), Str([b"0"]), Raw(str(t - 200 * 86400)),
                             Str([str(t - r.randint(1, 300) * 86400).encode()])])
        if k < 0.87:
            return Raw(str(t + r.randint(1, 5000)))     # out of order
        if k < 0.95:
            return timestamp_value(r) or Raw("1")
        return None

    def item(self):
        """A new message, newer than every one before (by the clock: its time may lie)."""
        r = self.r
        self.n += 1
        pairs = message(r, self.seed, self.n, [])
        pairs = set_field(pairs, "unique", self.unique(), r if r.random() < 0.15 else None)
        if r.random() < 0.75:
            self.clock += r.choice([0, 0, 1, 7, 60, 600, 3600])   # several in one second
        pairs = set_field(pairs, "timestamp", self.timestamp(self.clock))
        return Item(pairs)

    def history(self, n):
        """n messages, newest first."""
        return list(reversed([self.item() for _ in range(n)]))

    def changed_state(self, item, again):
        """item with another state (again: a new item delivered on top, `of` it)."""
        r = self.r
        old = item.parsed("byte").get("state")
        new = r.choice([c for c in ("0", "1", "2", "3") if c != str(old)])
        value = r.choice([Raw(new), Str([new.encode()])])
        pairs = set_field(item.pairs, "state", value)
        raw = item.raw_unique()
        if again and raw and raw in self.bases and r.random() < 0.5:
            pairs = set_field(pairs, "unique", Str([hex4(b, r) if r.random() < 0.5 and
                                                    b != 0x2d else bytes([b]) for b in raw]))
        if again:
            return Item(pairs, of=item.id)
        item.pairs, item._parsed = pairs, {}
        return item


def pages_of(items):
    """The pages file the mock serves: page K is line K (a short last page, or "[]" from
    the mock past a full one)."""
    chunks = [items[i:i + FULL] for i in range(0, len(items), FULL)]
    return b"".join(b"[" + b",".join(it.raw() for it in c) + b"]\n" for c in chunks)


# ---------------------------------------------------------------- the configuration

def config(seed):
    r = random.Random(seed * 6151 + 3)
    fmt = r.choice(["csv", "ndjson"])
    return {"fmt": fmt, "gz": r.random() < 0.3,
            "order": "newest" if r.random() < 0.3 else "oldest",
            "naming": r.choice(["date", "date", "moved", "fixed"]),
            "tz": r.choice(["UTC", "UTC"] + ZONES),
            "lookback": r.random() < 0.25,
            "concurrency": r.choice([None, None, "1", "8"]),
            "nights": r.randint(3, 6)}


def out_template(cfg, workdir, k):
    ext = cfg["fmt"] + (".gz" if cfg["gz"] else "")
    if cfg["naming"] == "moved":
        d = workdir / ("night-%d" % k)
    else:
        d = workdir / "out"
    d.mkdir(exist_ok=True)
    name = "export.%s" % ext if cfg["naming"] == "fixed" else "out-{date}.%s" % ext
    return d, str(d / name)


# ---------------------------------------------------------------- the state file

def unescape_state(text):
    """A field of the state file back to bytes (src/state_impl.h: "\\\\", "\\xHH")."""
    b = text.encode("utf-8", "surrogateescape")
    out, i = bytearray(), 0
    while i < len(b):
        if b[i:i + 1] == b"\\" and b[i + 1:i + 2] == b"\\":
            out += b"\\"
            i += 2
        elif b[i:i + 2] == b"\\x":
            out.append(int(b[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def read_state(path):
    """(problems, checkpoint) of a state file: checkpoint None or {"ts", "skip": [bytes],
    "head": [bytes]} for ACCOUNT's whole-account line."""
    data = path.read_bytes()
    problems = []
    lines = data.split(b"\n")
    if not data.endswith(b"\n"):
        return ["state does not end with a newline: %r" % data[-80:]], None
    lines = lines[:-1]
    if not lines or lines[0] != STATE_MAGIC.encode():
        return ["state does not start with %r: %r" % (STATE_MAGIC, data[:80])], None
    last = lines[-1].split(b" ")
    body = data[:len(data) - len(lines[-1]) - 1]
    if len(last) != 3 or last[0] != b"crc32" or int(last[2]) != len(body) or \
            int(last[1], 16) != zlib.crc32(body):
        problems.append("state's last line %r does not check %d bytes (crc %08x)" % (
            lines[-1], len(body), zlib.crc32(body)))
    cp, cur = None, None
    for ln in lines[1:-1]:
        f = ln.decode("utf-8", "surrogateescape").split("\t")
        if f[0] == "+":
            if cur is not None:
                cur["head"].append(unescape_state(f[2]))
            continue
        cur = {"ts": int(f[2]), "skip": [unescape_state(u) for u in f[3:]], "head": []}
        if f[:2] == [ACCOUNT, "*"]:
            cp = cur
    return problems, cp


# ---------------------------------------------------------------- the model of a night

def model_night(items, cp, lookback):
    """(rows written above the head, [(item, in window)] below it, head met) in API order:
    SPEC §5.3 with the head the state names, once per unique (§5.2)."""
    head = set(cp["head"]) if cp else set()
    seen, above, below_rows = set(), [], []
    below = False
    for i, it in enumerate(items):
        raw = it.raw_unique()
        if cp and not below and raw is not None and raw in head:
            below = True
        ts = it.ts()
        if below:
            if not (lookback and ts is not None and ts >= cp["ts"] - 2 * 86400):
                continue
        elif cp and not lookback and raw is not None and ts == cp["ts"] and \
                raw in cp["skip"]:
            continue       # exported at the checkpoint's own second (src/select.c at_skip)
        k = it.key()
        if k is not None and k in seen:
            continue
        if k is not None:
            seen.add(k)
        (below_rows if below else above).append(it)
        if below and not lookback:
            break
    return above, below_rows, below


def row_matches(fmt, tz, got, it):
    for invalid in ("byte", "subpart"):
        m = it.parsed(invalid)
        if fmt == "csv":
            if got == expected_csv(m, tz):
                return True
        else:
            e = expected_ndjson(m, tz)
            if list(got) == list(e) and got == e:
                return True
    return False


def describe_row(fmt, tz, got, it):
    m = it.parsed("byte")
    if fmt == "csv":
        e = expected_csv(m, tz)
        return "; ".join("%s: binary %r, model %r" % (c, g, x)
                         for c, g, x in zip(COLUMNS, got, e) if not x == g) or \
            "%d cells, model %d" % (len(got), len(e))
    e = expected_ndjson(m, tz)
    if list(got) != list(e):
        return "keys %r, model %r" % (list(got), list(e))
    return "; ".join("%s: binary %r, model %r" % (k, got[k], e[k]) for k in e
                     if not e[k] == got[k])


# ---------------------------------------------------------------- reading a night's rows

def files_in(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def new_rows(cfg, before, after):
    """(problems, rows the night added, in file order) from the output directory's files
    before and after it."""
    problems, rows = [], []
    for name, data in after.items():
        old = before.get(name)
        if old == data:
            continue
        if old is not None and not data.startswith(old):
            problems.append("%s: the night changed its earlier bytes (%d -> %d bytes)" % (
                name, len(old), len(data)))
            continue
        part = data[len(old):] if old is not None else data
        if cfg["gz"]:
            try:
                part = gzip.decompress(part)
            except (OSError, EOFError, zlib.error) as e:
                problems.append("%s: the night's bytes are no complete gzip member: %s" % (
                    name, e))
                continue
        if cfg["fmt"] == "csv":
            try:
                recs = [[v for v, _ in rec] for rec in parse_csv_strict(part)]
            except (AssertionError, ValueError, UnicodeDecodeError) as e:
                problems.append("%s: not strict RFC 4180 UTF-8: %s" % (name, e))
                continue
            if old is None or not old:
                if not recs or recs[0] != COLUMNS:
                    problems.append("%s: a new file's first row %r is not the header" % (
                        name, recs[:1]))
                    continue
                recs = recs[1:]
            elif recs and recs[0] == COLUMNS:
                problems.append("%s: a second header row was added" % name)
            rows += recs
        else:
            if part and not part.endswith(b"\n"):
                problems.append("%s: NDJSON does not end with a newline" % name)
                continue
            for line in part.split(b"\n")[:-1] if part else []:
                try:
                    rows.append(json.loads(line.decode("utf-8")))
                except ValueError as e:
                    problems.append("%s: a line is not JSON: %s: %r" % (name, e, line[:200]))
    return problems, rows


# ---------------------------------------------------------------- one case

def run_case(seed, tmp_path):
    """Problems of one case (empty: it passed), and what to show."""
    cfg = config(seed)
    g = Gen(seed)
    r = random.Random(seed * 9973 + 1)
    server = g.history(r.choice([1, 3, 20, 49, 50, 51, 99, 100, 137, 260]))
    state = tmp_path / "state" / "972501234567.state"
    state.parent.mkdir()
    problems, commands, nights = [], [], []
    ever_raw = set()
    prev_ids = set()
    for k in range(1, cfg["nights"] + 1):
        events = []
        if k > 1:
            if "again-in-head" in SKIP and state.exists():
                g.avoid = set((read_state(state)[1] or {"head": []})["head"])
            steps = ["arrive", "delete", "again", "restate"]
            r.shuffle(steps)
            for step in steps:
                if step == "arrive":
                    n = r.choice([0, 0, 1, 2, 5, 13, 49, 50, 51, 70, 100, 120])
                    server = g.history(n) + server
                    events.append("%d arrive" % n)
                elif step == "delete" and server and r.random() < 0.3:
                    n = r.randint(1, 3) if r.random() < 0.8 else r.randint(20, 120)
                    server = server[n:]
                    events.append("%d newest deleted" % n)
                elif step == "again" and server and r.random() < 0.3:
                    old = r.choice(server[:80])
                    new = g.changed_state(old, again=True)
                    if new.raw_unique() in g.avoid:
                        continue
                    if r.random() < 0.5:
                        server = [it for it in server if it is not old]
                    server = [new] + server
                    events.append("item %d delivered again on top" % old.id)
                elif step == "restate" and server and r.random() < 0.3:
                    for it in server[:r.randint(1, 10)]:
                        if it.id in prev_ids:
                            g.changed_state(it, again=False)
                    events.append("states changed in place")
            g.avoid = set()
        pages = tmp_path / ("pages-%d.jsonl" % k)
        pages.write_bytes(pages_of(server))
        ever_raw |= {it.raw_unique() for it in server if it.raw_unique() is not None}
        cp = None
        if state.exists():
            bad, cp = read_state(state)
            problems += ["night %d: %s" % (k, b) for b in bad]
        above, below_rows, met = model_night(server, cp, cfg["lookback"])
        outdir, target = out_template(cfg, tmp_path, k)
        before = files_in(outdir)
        mock = Mock("--raw-pages", pages)
        try:
            args = ["fetch", "-q", "--from", ACCOUNT, "--url", mock.url, "--state", state]
            if cfg["lookback"]:
                args += ["--lookback", "2d"]
            if cfg["concurrency"]:
                args += ["--concurrency", cfg["concurrency"]]
            args += ["--tz", cfg["tz"], "--order", cfg["order"], "-o", target]
            p = run(args, env=fetch_env(), timeout=120)
        finally:
            mock.stop()
        commands.append("night %d (%s; %d messages, %d pages): waexport %s" % (
            k, ", ".join(events) or "first" if k == 1 else ", ".join(events) or "nothing new",
            len(server), -(-len(server) // FULL), " ".join(str(a) for a in args)))
        if state.exists():
            shutil.copy(state, tmp_path / ("state-after-%d" % k))
        if p.returncode != 0 or p.stderr:
            problems.append("night %d: exit %d, stderr %r" % (k, p.returncode, p.stderr[-600:]))
            break
        after = files_in(outdir)
        bad, rows = new_rows(cfg, before, after)
        problems += ["night %d: %s" % (k, b) for b in bad]
        if cfg["order"] == "oldest":
            rows = list(reversed(rows))
        written = check_rows(k, cfg, rows, above, below_rows, cfg["lookback"] and met,
                             problems)
        if not rows:    # README: "a run with nothing new leaves it byte for byte as it was"
            problems += ["night %d wrote no row but changed %s" % (k, n) for n in after
                         if n in before and after[n] != before[n]]
        problems += check_state(k, state, server, ever_raw)
        problems += leftovers(k, outdir, state)
        nights.append({"server": list(server), "written": written, "cp": cp,
                       "ids": {it.id for it in server}})
        prev_ids = {it.id for it in server}
        if problems:
            break
    if not problems:
        problems += across(nights, cfg)
    return cfg, problems, commands


def check_rows(k, cfg, rows, above, below_rows, window, problems):
    """The night's rows (API order) against the model; returns the items written."""
    fmt, tz = cfg["fmt"], cfg["tz"]
    n = len(above)
    if len(rows) < n or (not window and len(rows) != n):
        problems.append("night %d: %d rows, the model %d%s" % (
            k, len(rows), n, " and up to %d of the window" % len(below_rows) if window else ""))
        for i, (got, it) in enumerate(zip(rows, above)):
            if not row_matches(fmt, tz, got, it):
                problems.append("night %d: row %d (API order) first differs, from item %d: %s"
                                % (k, i, it.id, describe_row(fmt, tz, got, it)))
                break
        return []
    for i, (got, it) in enumerate(zip(rows, above)):
        if not row_matches(fmt, tz, got, it):
            problems.append("night %d: row %d (API order), item %d (unique %r): %s" % (
                k, i, it.id, it.raw_unique(), describe_row(fmt, tz, got, it)))
            return []
    written = list(above)
    j = 0
    for got in rows[n:]:     # --lookback: the window below the head, in API order
        while j < len(below_rows) and not row_matches(fmt, tz, got, below_rows[j]):
            j += 1
        if j == len(below_rows):
            problems.append("night %d: a row below the head is none of the window's: %r" % (
                k, got))
            return written
        written.append(below_rows[j])
        j += 1
    return written


def check_state(k, state, server, ever_raw):
    out = []
    if not state.exists():
        if any(it.raw_unique() is not None for it in server):
            out.append("night %d: no state file after a night that exported uniques" % k)
        return out
    bad, cp = read_state(state)
    out += ["night %d: %s" % (k, b) for b in bad]
    firsts = [it.raw_unique() for it in server if it.raw_unique() is not None]
    if cp is None:
        if firsts:
            out.append("night %d: the state has no checkpoint for %s" % (k, ACCOUNT))
        return out
    if not 1 <= len(cp["head"]) <= HEAD_MAX:
        out.append("night %d: the state's head holds %d uniques" % (k, len(cp["head"])))
    elif firsts and cp["head"][0] != firsts[0]:
        out.append("night %d: the head begins with %r, page 1's first unique is %r" % (
            k, cp["head"][0], firsts[0]))
    strange = [u for u in cp["head"] if u not in ever_raw]
    if strange:
        out.append("night %d: head uniques no night served: %r" % (k, strange[:3]))
    return out


def leftovers(k, outdir, state):
    names = [n for n in os.listdir(outdir) if ".tmp" in n or n.startswith(".")]
    names += [n for n in os.listdir(state.parent)
              if n not in (state.name, state.name + ".lock")]
    return ["night %d: left behind: %s" % (k, sorted(names))] if names else []


def across(nights, cfg):
    """Every message the server held at some night written at least once, a second copy
    only where the README allows one."""
    out = []
    copies = {}
    for n, nt in enumerate(nights):
        for it in nt["written"]:
            copies.setdefault(it.key() if it.key() is not None else ("item", it.id),
                              []).append(n)
    lost = set()
    for n, nt in enumerate(nights):
        head = set(nt["cp"]["head"]) if nt["cp"] else set()
        met = None
        for it in nt["server"]:
            k = it.key() if it.key() is not None else ("item", it.id)
            if met is None and it.raw_unique() in head:
                met = it
            if k in copies or it.id in lost:
                continue
            lost.add(it.id)
            out.append("item %d (unique %r), on the server at night %d, never written%s" % (
                it.id, it.raw_unique(), n + 1, "" if met is None or met is it else
                " (below item %d, %s, whose unique %r the state's head holds)" % (
                    met.id, "a new item" if met.id not in (
                        nights[n - 1]["ids"] if n else set()) else "an old one",
                    met.raw_unique())))
    for k, when in copies.items():
        if isinstance(k, tuple) or len(when) < 2:
            continue
        for n in when[1:]:
            nt, prev = nights[n], nights[n - 1]
            # README: "when the newest messages were deleted on the server the walk stops
            # at the first of these [the head's] it meets" (all gone: "writes every
            # message again once"): what lies above it is written again.
            head = nt["cp"]["head"] if nt["cp"] else []
            newest_gone = bool(head) and head[0] not in {it.raw_unique() for it in nt["server"]}
            again = any(it.key() == k and it.id not in prev["ids"] for it in nt["server"])
            if not (cfg["lookback"] or newest_gone or again):
                out.append("unique %r written again at night %d (nights %s), not delivered "
                           "again, the head's newest not deleted, no --lookback" % (
                               k, n + 1, [x + 1 for x in when]))
    return out[:20]


# ---------------------------------------------------------------- the test

@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + CASES))
def test_nights_over_a_random_history_write_each_message_once(seed, tmp_path):
    cfg, problems, commands = run_case(seed, tmp_path)
    if problems:
        settle(["seed %d (%s): %d problems:\n  %s\ncommands:\n  %s\nkept in %s: pages-N.jsonl "
                "(line K = page K as served), state-after-N\nreproduce: "
                "WAEXPORT_NIGHT_RANDOM_SEED=%d WAEXPORT_NIGHT_RANDOM_CASES=1 pytest %s" % (
                    seed, ", ".join("%s=%s" % kv for kv in sorted(cfg.items())),
                    len(problems), "\n  ".join(problems[:12]), "\n  ".join(commands),
                    tmp_path, seed, Path(__file__).name)])


@pytest.mark.xfail(strict=True, reason="known limit (README 'Nightly runs'): a head unique "
                   "listed again above new messages is taken for the head")
def test_a_message_delivered_again_on_top_does_not_hide_the_news(tmp_path):
    """The smallest case of what the random nights find (seeds 1, 4 and 6 by default: a new
    message, or one delivered again, with the bytes of a unique the head holds, arrives on
    top and the news below it is never written): night 1 exports B and A
    (the head: B, A). Before night 2, N arrives, then A is delivered again on top with
    another state. API order: A' N B A. The walk meets A' (its unique is in the head) and
    takes everything below it for exported: N is never written, by this night or any
    other (the state's next head lists N). README: nightly runs "never skip a message";
    SPEC §5.3: the next run "writes every message above the head" (N lies above B and A)."""
    def m(u, ts, state, text):
        return ('{"unique":"%s","timestamp":"%d","direction":"2","from":"%s",'
                '"to":"972509876543","type":"text","state":%d,"message":"%s"}' % (
                    u, ts, ACCOUNT, state, text)).encode()
    t = NOW - 86400
    nights = [[m("B", t, 1, "b"), m("A", t - 600, 1, "a")],
              [m("A", t - 600, 3, "a"), m("N", t + 600, 1, "new"), m("B", t, 1, "b"),
               m("A", t - 600, 1, "a")]]
    state, written = tmp_path / "st", []
    for k, msgs in enumerate(nights, 1):
        pages = tmp_path / ("pages-%d.jsonl" % k)
        pages.write_bytes(b"[" + b",".join(msgs) + b"]\n")
        mock = Mock("--raw-pages", pages)
        try:
            out = tmp_path / ("night-%d.csv" % k)
            p = run(["fetch", "-q", "--from", ACCOUNT, "--url", mock.url, "--state", state,
                     "-o", out], env=fetch_env())
        finally:
            mock.stop()
        assert p.returncode == 0, p.stderr
        written += [rec[0][0] for rec in parse_csv_strict(out.read_bytes())[1:]]
    assert "N" in written, "N, new at night 2, was never written: %r" % written
