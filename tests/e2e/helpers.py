"""Ground truth for the convert end-to-end tests, computed independently of the C code.

Everything here reads the *input* pages with Python's json module and derives what
SPEC §4 says the output must be; the tests then compare that with what the binary
wrote. Where SPEC leaves a choice open, the expected value is a OneOf(...) of the
acceptable answers, so a test never pins an implementation detail SPEC does not.
"""
import contextlib
import csv
import decimal
import gzip
import io
import json
import math
import os
import re
import subprocess
import tempfile
import zlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import BIN

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "convert"
HISTORY = [FIXTURES / "history" / f"page-{n}.json" for n in (1, 2, 3)]

# SPEC §4.1, in order. media_file is written only with --media-dir (fetch).
COLUMNS = ["unique", "timestamp", "time", "direction", "direction_code", "from", "to",
           "type", "state", "state_code", "reason", "message"]
# Keys of an API message that §4.1 names; every other key is carried through.
API_KEYS = {"unique", "timestamp", "direction", "from", "to", "type", "state", "reason", "message"}
DIRECTION = {1: "incoming", 2: "outgoing"}          # SPEC §4.3
STATE = {0: "failed", 1: "sent", 2: "delivered", 3: "read"}
EXCEL_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")  # SPEC §4.2
BOM = b"\xef\xbb\xbf"
SURROGATE_OR_NUL = re.compile("[\ud800-\udfff\x00]")


class OneOf:
    """An expected value where SPEC accepts several answers."""

    def __init__(self, *values):
        self.values = values

    def __eq__(self, other):
        return any(v == other and type(v) is type(other) for v in self.values)

    def __repr__(self):
        return "OneOf" + repr(self.values)


ANYTHING = type("Anything", (), {"__eq__": lambda s, o: True, "__repr__": lambda s: "ANYTHING"})()


# ---------------------------------------------------------------- reading the input

def sanitize(value):
    """SPEC §4.1: lone/broken surrogates, invalid UTF-8 and U+0000 become U+FFFD.

    Input bytes are decoded with surrogateescape, so each invalid byte becomes one
    lone surrogate here and then one U+FFFD (the fixtures only use invalid forms where
    one-per-byte is also what Unicode's "maximal subpart" practice gives)."""
    if isinstance(value, str):
        return SURROGATE_OR_NUL.sub("\ufffd", value)
    if isinstance(value, list):
        return [sanitize(v) for v in value]
    if isinstance(value, dict):
        return {sanitize(k): sanitize(v) for k, v in value.items()}
    return value


def load_pages(path):
    """The pages (JSON arrays) of one input file: one array, or one per line, .gz or not."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8", "surrogateescape")
    dec = json.JSONDecoder(strict=False)  # raw control bytes in strings are tolerated input
    pages, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return pages
        page, pos = dec.raw_decode(text, pos)
        pages.append(sanitize(page))


def api_messages(paths):
    """All message objects of the inputs, in API (file, page, position) order."""
    return [m for p in paths for page in load_pages(p) for m in page if isinstance(m, dict)]


def dedupe(msgs):
    seen, out = set(), []
    for m in msgs:
        if m.get("unique") not in seen:
            seen.add(m.get("unique"))
            out.append(m)
    return out


def ordered(paths, order="oldest"):
    msgs = dedupe(api_messages(paths))
    return list(reversed(msgs)) if order == "oldest" else msgs


# ---------------------------------------------------------------- deriving each field

def int_code(v):
    """A code given as a number or a string of digits (SPEC §1: types drift)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.fullmatch(r"-?[0-9]+", v):
        return int(v)
    return None


def epoch_of(v):
    """A timestamp (SPEC §1: a number accepted): a fraction of a second is dropped to the
    second it lies in, whether sent as a number or as text."""
    if isinstance(v, float) and math.isfinite(v) and abs(v) < 1e18:
        return math.floor(v)
    if isinstance(v, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", v):
        d = decimal.Decimal(v)
        if abs(d) < 10 ** 18:
            return int(d.to_integral_value(rounding=decimal.ROUND_FLOOR))
    return int_code(v)


def json_text(v):
    """The text of a scalar as the API sent it (numbers never reformatted)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v)


def iso_time(ts, tz):
    dt = datetime.fromtimestamp(ts, ZoneInfo(tz))
    if tz == "UTC":
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    off = int(dt.utcoffset().total_seconds())
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"


def excel_time(ts, tz):
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def state_label(msg):
    d, s = int_code(msg.get("direction")), int_code(msg.get("state"))
    if d == 1:
        return ""                      # incoming: label empty, code kept
    if d == 2:
        if s is None:
            return OneOf("unknown", "")  # SPEC names codes only; a missing one is open
        return STATE.get(s, "unknown")
    return ANYTHING                    # unknown direction: SPEC is silent


def expected_ndjson(msg, tz="UTC"):
    """The NDJSON object for one message (key order matters: compare list(items()))."""
    ts = epoch_of(msg.get("timestamp"))
    absent_text = OneOf(None, "")
    out = {}
    out["unique"] = msg["unique"]
    if ts is not None:
        out["timestamp"] = ts
        out["time"] = iso_time(ts, tz)
    else:
        raw = msg.get("timestamp")
        out["timestamp"] = raw if "timestamp" in msg else OneOf(None, "")
        out["time"] = OneOf(None, "")
    d = int_code(msg.get("direction"))
    out["direction"] = DIRECTION.get(d, "unknown")
    out["direction_code"] = d
    for k in ("from", "to", "type"):
        v = msg.get(k)
        out[k] = absent_text if v is None else json_text(v)
    out["state"] = state_label(msg)
    out["state_code"] = int_code(msg.get("state"))
    r = msg.get("reason")
    out["reason"] = None if r is None else json_text(r)
    m = msg.get("message")
    out["message"] = absent_text if m is None else json_text(m)
    for k, v in msg.items():
        if k not in API_KEYS:
            out[k] = v
    return out


def expected_csv(msg, tz="UTC", excel=False, columns=COLUMNS):
    """The CSV cells (strings) for one message, after --excel's rules when asked."""
    ts = epoch_of(msg.get("timestamp"))
    d = int_code(msg.get("direction"))
    s = int_code(msg.get("state"))

    def text(k):
        v = msg.get(k)
        return "" if v is None else json_text(v)

    cells = {
        "unique": text("unique"),
        "timestamp": str(ts) if ts is not None else text("timestamp"),
        "time": "" if ts is None else (excel_time(ts, tz) if excel else iso_time(ts, tz)),
        "direction": DIRECTION.get(d, "unknown"),
        "direction_code": str(d) if d is not None else OneOf("", text("direction")),
        "from": text("from"),
        "to": text("to"),
        "type": text("type"),
        "state": state_label(msg),
        "state_code": str(s) if s is not None else OneOf("", text("state")),
        "reason": text("reason"),
        "message": text("message"),
    }
    if excel:
        generated_numbers = {"timestamp": ts is not None, "direction_code": d is not None,
                             "state_code": s is not None, "time": True}
        for k, v in cells.items():
            if isinstance(v, str) and v.startswith(EXCEL_TRIGGERS) and not generated_numbers.get(k):
                cells[k] = "'" + v
    return [cells[c] for c in columns]


# ---------------------------------------------------------------- reading the output

def parse_csv_strict(data):
    """RFC 4180 reader that also reports which fields were quoted.

    Returns a list of records, each a list of (value, quoted). Fails on anything
    RFC 4180 forbids: a record not ended by CRLF, a bare CR or LF outside quotes,
    a quote inside an unquoted field, text after a closing quote."""
    text = data.decode("utf-8")
    records, fields, i, n = [], [], 0, len(text)
    while i < n:
        if text[i] == '"':
            j, buf = i + 1, []
            while True:
                k = text.index('"', j)          # ValueError: unterminated quote
                buf.append(text[j:k])
                if text.startswith('""', k):
                    buf.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            fields.append(("".join(buf), True))
        else:
            m = re.compile(r'[^,"\r\n]*').match(text, i)
            fields.append((m.group(0), False))
            i = m.end()
        if text.startswith(",", i):
            i += 1
            if i == n:
                raise AssertionError("file ends after a comma")
            continue
        if text.startswith("\r\n", i):
            records.append(fields)
            fields, i = [], i + 2
            continue
        raise AssertionError(f"at char {i}: expected ',' or CRLF, got {text[i:i + 10]!r}")
    assert not fields, "last record is not terminated by CRLF"
    return records


def read_csv(data):
    """Rows as Python's csv module reads them (BOM, if any, removed first)."""
    text = data.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    return list(csv.reader(io.StringIO(text, newline="")))


def needs_quotes(value):
    return any(c in value for c in ',"\r\n')


def read_ndjson(data):
    """Objects of an NDJSON byte string; each line must hold exactly one JSON object."""
    assert data.endswith(b"\n"), "NDJSON must end with a newline"
    out = []
    for line in data.split(b"\n")[:-1]:
        pairs = json.loads(line.decode("utf-8"), object_pairs_hook=lambda p: p)
        assert isinstance(pairs, list), f"not an object: {line[:80]!r}"
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate key in {line[:80]!r}"
        out.append(json.loads(line.decode("utf-8")))
    return out


def gunzip_single_member(data):
    """Decompress a gzip stream and check it is exactly one member, nothing after it."""
    d = zlib.decompressobj(wbits=31)
    out = d.decompress(data) + d.flush()
    assert d.eof, "gzip stream is incomplete"
    assert d.unused_data == b"", f"{len(d.unused_data)} bytes after the first gzip member"
    assert gzip.decompress(data) == out
    return out


# ---------------------------------------------------------------- stderr

SUMMARY = re.compile(r"(\d+) messages?\b.*?(\d+) pages?\b.*?(\d+) duplicates?\b.*?(\d+) warnings?\b")


def summary(stderr):
    """(messages, pages, duplicates, warnings) from the one summary line on stderr."""
    lines = [ln for ln in stderr.decode().splitlines() if SUMMARY.search(ln)]
    assert len(lines) == 1, f"expected one summary line, got stderr:\n{stderr.decode()}"
    return tuple(int(x) for x in SUMMARY.search(lines[0]).groups())


def assert_error(p, code):
    """SPEC §3: the exit code, and exactly one line on stderr, 'waexport: ...'."""
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == code, f"exit {p.returncode}, expected {code}; stderr:\n{err}"
    lines = err.splitlines()
    assert len(lines) == 1, f"expected exactly one stderr line, got {len(lines)}:\n{err}"
    assert lines[0].startswith("waexport:"), lines[0]
    assert err.endswith("\n")
    return lines[0]


def assert_no_sanitizer_report(stderr):
    err = stderr.decode("utf-8", "replace")
    for bad in ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                "runtime error", "Segmentation", "core dumped", "Aborted"):
        assert bad not in err, err


def tmp_leftovers(directory):
    """Files that look like a temporary file of waexport (.NAME.tmp.XXXXXX), sorted."""
    return sorted(n for n in os.listdir(directory) if ".tmp" in n)


def popen(args, **kw):
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    return subprocess.Popen([BIN] + [str(a) for a in args], env=env, **kw)


@contextlib.contextmanager
def small_tmpfs(options):
    """A tmpfs mounted with options ("size=1m", "ro,size=64k"), unmounted afterwards;
    the test is skipped where it cannot be mounted (not root)."""
    d = tempfile.mkdtemp(prefix="waexport-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options + ",mode=0755", "tmpfs", d],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        os.rmdir(d)
        pytest.skip("cannot mount a small tmpfs here (%s): %s" % (
            "not root" if os.geteuid() else "mount refused", r.stderr.decode().strip()))
    try:
        yield d
    finally:
        if subprocess.run(["umount", d]).returncode != 0:
            subprocess.run(["umount", "-l", d])
        os.rmdir(d)
