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
from datetime import datetime, timedelta, timezone
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
        return any(_same(v, other) for v in self.values)

    def __repr__(self):
        return "OneOf" + repr(self.values)


def _same(expected, got):
    """expected == got, and of the same JSON type (1 is not True, "" is not None); an
    expectation object (JsonEqual, ANYTHING, OneOf) decides for itself."""
    if type(expected).__module__ == __name__ and not isinstance(expected, (int, float)):
        return expected == got
    return expected == got and (type(expected) is type(got) or
                                (isinstance(expected, int) and not isinstance(expected, bool)
                                 and type(got) is int)
                                or (isinstance(expected, float) and type(got) is float))


ANYTHING = type("Anything", (), {"__eq__": lambda s, o: True, "__repr__": lambda s: "ANYTHING"})()


class JsonEqual:
    """An expected string that SPEC lets be any JSON text of a value (an object or array
    sent where text was expected: kept as its JSON, whose spacing and escapes are open)."""

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        if not isinstance(other, str):
            return False
        try:
            return json.loads(other) == self.value
        except ValueError:
            return False

    def __repr__(self):
        return "JsonEqual(%r)" % (self.value,)


class RawInt(int):
    """A JSON integer that remembers its text as sent (SPEC: numbers never reformatted)."""

    def __new__(cls, text):
        o = int.__new__(cls, text)
        o.raw = text
        return o


class RawFloat(float):
    """A JSON number with a fraction or exponent, with its text as sent."""

    def __new__(cls, text):
        o = float.__new__(cls, text)
        o.raw = text
        return o


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


def first_wins(pairs):
    """SPEC §5.7: a key repeated in a message is a warning and the first wins (Python's
    json keeps the last)."""
    out = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


def load_pages(path, invalid="byte"):
    """The pages (JSON arrays) of one input file: one array, or one per line, .gz or not.

    invalid says how many U+FFFD an invalid UTF-8 sequence becomes (SPEC §4.1 says only
    "U+FFFD"): "byte", one per byte; "subpart", one per maximal subpart (Unicode's
    recommended practice, Python's errors="replace")."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8", "surrogateescape" if invalid == "byte" else "replace")
    dec = json.JSONDecoder(strict=False,  # raw control bytes in strings are tolerated input
                           object_pairs_hook=first_wins, parse_int=RawInt, parse_float=RawFloat)
    pages, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return pages
        page, pos = dec.raw_decode(text, pos)
        pages.append(sanitize(page))


def api_messages(paths, invalid="byte"):
    """All message objects of the inputs, in API (file, page, position) order."""
    return [m for p in paths for page in load_pages(p, invalid) for m in page
            if isinstance(m, dict)]


def dedupe(msgs):
    """SPEC §5.2: once per `unique` (compared decoded), the first in API order kept; a
    message without a unique is never a repeat of another."""
    seen, out = set(), []
    for m in msgs:
        u = m.get("unique")
        key = None if u is None else json_text(u) if not isinstance(u, (dict, list)) else None
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        out.append(m)
    return out


def ordered(paths, order="oldest", invalid="byte"):
    msgs = dedupe(api_messages(paths, invalid))
    return list(reversed(msgs)) if order == "oldest" else msgs


# ---------------------------------------------------------------- deriving each field

INT64 = (-2 ** 63, 2 ** 63 - 1)
INT_TEXT = re.compile(r"-?[0-9]+")
NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
# Every column name (media_file too): an extra field of that name must be renamed.
ALL_COLUMNS = COLUMNS + ["media_file"]


def one_of(values):
    """The expectation that accepts each of values (OneOfs flattened, ANYTHING absorbs)."""
    flat = []
    for v in values:
        for x in (v.values if isinstance(v, OneOf) else (v,)):
            if x is ANYTHING:
                return ANYTHING
            if not any(x is y or (_same(x, y) and _same(y, x)) for y in flat):
                flat.append(x)
    return flat[0] if len(flat) == 1 else OneOf(*flat)


def _in_int64(n):
    return INT64[0] <= n <= INT64[1]


def int_code(v):
    """A code given as a number or a string of digits (SPEC §1: types drift), within
    64 bits; None for anything else."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int) and _in_int64(v):
        return int(v)
    if isinstance(v, str) and INT_TEXT.fullmatch(v) and _in_int64(int(v)):
        return int(v)
    return None


def _decimal_of(v):
    """The exact value of a JSON number (as sent) or of a number-shaped string, or None."""
    if isinstance(v, bool) or v is None:
        return None
    text = getattr(v, "raw", None)
    if text is None:
        if isinstance(v, float):
            text = repr(v) if math.isfinite(v) else None
        elif isinstance(v, int):
            text = str(v)
        elif isinstance(v, str) and NUMBER_TEXT.fullmatch(v):
            text = v
    if text is None:
        return None
    m = re.fullmatch(r"([^eE]*)[eE]([+-]?)0*([0-9]+)", text)
    if m and len(m.group(3)) > 7:   # past Decimal's exponents: as far, for every use here
        text = "%se%s9999999" % (m.group(1), m.group(2))
    return decimal.Decimal(text)


def _small(d):
    """|d| < 10**18 (abs() itself overflows past 1e999999)."""
    return d == 0 or d.adjusted() < 18


def code_alternatives(v):
    """The codes a raw direction/state may be read as: an integer is itself; a whole
    number written with a fraction or exponent (2.0, "2e0") is that integer or not a
    code (SPEC: "accept a number too" leaves it open); None stands for "not a code"."""
    n = int_code(v)
    if n is not None:
        return (n,)
    d = _decimal_of(v)
    if d is not None and _small(d) and d == d.to_integral_value():
        return (int(d), None)
    return (None,)


def epoch_of(v):
    """A timestamp (SPEC §1: a number accepted): a fraction of a second is dropped to the
    second it lies in, whether sent as a number or as text (exactly, from the digits)."""
    n = int_code(v)
    if n is not None:
        return n
    d = _decimal_of(v)
    if d is not None and _small(d):
        return int(d.to_integral_value(rounding=decimal.ROUND_FLOOR))
    return None


def json_text(v):
    """The text of a scalar as the API sent it (numbers never reformatted); an object or
    array is kept as JSON text of itself (its spacing open: a JsonEqual)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return JsonEqual(v)
    if hasattr(v, "raw"):
        return v.raw
    return json.dumps(v)


def _local(ts, tz, offset=None):
    """(local datetime, UTC offset in seconds) of epoch second ts in tz, or None outside
    years 1..9999. With offset, the wall time at that fixed offset instead."""
    try:
        utc = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=ts)
        loc = utc.astimezone(ZoneInfo(tz))
        off = int(loc.utcoffset().total_seconds())
        if offset is not None:
            loc, off = utc + timedelta(seconds=offset), offset
    except (OverflowError, ValueError):
        return None
    return loc, off


def _time_forms(ts, tz):
    """[(wall time, offset)] an ISO/spreadsheet time may show. An offset with seconds
    (local mean time, before ~1900) cannot be written in ISO 8601's ±hh:mm; SPEC is silent,
    so the wall time at the true offset with the offset rounded or cut to the minute, or
    the wall time at the rounded offset, are all accepted."""
    got = _local(ts, tz)
    if got is None:
        return []
    loc, off = got
    if off % 60 == 0:
        return [(loc, off)]
    rounded = int(math.floor(off / 60 + 0.5)) * 60
    cut = int(off / 60) * 60
    forms = [(loc, rounded), (loc, cut)]
    shifted = _local(ts, tz, rounded)
    if shifted is not None:
        forms.append(shifted)
    return forms


def _wall(dt, sep):
    return "%04d-%02d-%02d%s%02d:%02d:%02d" % (dt.year, dt.month, dt.day, sep, dt.hour,
                                               dt.minute, dt.second)


def _ok_year(dt):
    return 1 <= dt.year <= 9999


def iso_time(ts, tz):
    """The ISO 8601 time of ts in tz, a OneOf where SPEC leaves a choice, or None where
    no time can be written (outside years 1..9999)."""
    out = []
    for loc, off in _time_forms(ts, tz):
        if not _ok_year(loc):
            continue
        if off == 0 and tz == "UTC":
            out.append(_wall(loc, "T") + "Z")
            continue
        sign = "+" if off >= 0 else "-"
        a = abs(off)
        out.append(_wall(loc, "T") + f"{sign}{a // 3600:02d}:{a % 3600 // 60:02d}")
        if off == 0:
            out.append(_wall(loc, "T") + "Z")     # offset 0 in a zone that is not UTC
    return one_of(out) if out else None


def excel_time(ts, tz):
    out = [_wall(loc, " ") for loc, off in _time_forms(ts, tz) if _ok_year(loc)]
    return one_of(out) if out else None


def state_label(msg):
    labels = []
    for d in code_alternatives(msg.get("direction")):
        for s in code_alternatives(msg.get("state")):
            if d == 1:
                labels.append("")                 # incoming: label empty, code kept
            elif d == 2:
                # SPEC names codes only; a missing one is open
                labels.append(OneOf("unknown", "") if s is None else STATE.get(s, "unknown"))
            else:
                labels.append(ANYTHING)           # unknown direction: SPEC is silent
    return one_of(labels)


def _map_text(v, f):
    """f applied to each text an expectation accepts."""
    if isinstance(v, OneOf):
        return one_of([f(x) if isinstance(x, str) else x for x in v.values])
    return f(v) if isinstance(v, str) else v


def _code_ndjson(msg, k):
    """direction_code/state_code: the integer; null when absent; a value that is not a
    code is null or keeps its text (SPEC §1: nothing lost; §4.1 only says integer)."""
    out = []
    for c in code_alternatives(msg.get(k)):
        if c is not None:
            out.append(c)
        elif msg.get(k) is None or msg.get(k) == "":
            out.append(None)
        else:
            out += [None, json_text(msg[k])]
    return one_of(out)


def _excel_prefix(v):
    """SPEC §4.2 --excel: a text cell that a spreadsheet would run as a formula gets a '."""
    return _map_text(v, lambda t: "'" + t if t.startswith(EXCEL_TRIGGERS) else t)


def _code_csv(msg, k, excel):
    """A code cell: the integer (generated, never prefixed), or empty / the raw text."""
    out = []
    for c in code_alternatives(msg.get(k)):
        if c is not None:
            out.append(str(c))
        else:
            v = msg.get(k)
            raw = "" if v is None else json_text(v)
            out += ["", _excel_prefix(raw) if excel else raw]
    return one_of(out)


def ndjson_extra_names(msg):
    """{api key: NDJSON key} for the fields §4.1 does not name. One named like a column
    gets "api_" prefixes, one more than the most any other field of the message has
    before that name (SPEC §5.7: NDJSON keys stay unique; the scheme is the tool's)."""
    extras = [k for k in msg if k not in API_KEYS]
    names = {}
    for k in extras:
        if k not in ALL_COLUMNS:
            names[k] = k
            continue
        most = 0
        for other in extras:
            j, rest = 0, other
            while len(rest) > len(k) and rest.startswith("api_"):
                rest, j = rest[4:], j + 1
            if j and rest == k:
                most = max(most, j)
        names[k] = "api_" * (most + 1) + k
    return names


def expected_ndjson(msg, tz="UTC"):
    """The NDJSON object for one message (key order matters: compare list(items()))."""
    ts = epoch_of(msg.get("timestamp"))
    absent_text = OneOf(None, "")
    out = {}
    u = msg.get("unique")
    out["unique"] = absent_text if u is None else json_text(u)
    time = iso_time(ts, tz) if ts is not None else None
    if ts is not None:
        out["timestamp"] = ts
        out["time"] = OneOf(None, "") if time is None else time
    else:
        raw = msg.get("timestamp")
        if "timestamp" not in msg or raw is None:
            out["timestamp"] = OneOf(None, "")
        elif raw == "":   # SPEC: "keeps its raw value"; null is what a loader can take
            out["timestamp"] = OneOf("", None)
        elif isinstance(raw, str):
            out["timestamp"] = raw
        else:   # a number too big, a bool, an object: its value or its text
            out["timestamp"] = one_of([raw, json_text(raw)])
        out["time"] = OneOf(None, "")
    code = [c for c in code_alternatives(msg.get("direction"))]
    out["direction"] = one_of([DIRECTION.get(d, "unknown") for d in code])
    out["direction_code"] = _code_ndjson(msg, "direction")
    for k in ("from", "to", "type"):
        v = msg.get(k)
        out[k] = absent_text if v is None else json_text(v)
    out["state"] = state_label(msg)
    out["state_code"] = _code_ndjson(msg, "state")
    r = msg.get("reason")
    out["reason"] = None if r is None else json_text(r)
    m = msg.get("message")
    out["message"] = absent_text if m is None else json_text(m)
    for k, name in ndjson_extra_names(msg).items():
        out[name] = msg[k]
    return out


def expected_csv(msg, tz="UTC", excel=False, columns=COLUMNS):
    """The CSV cells (strings) for one message, after --excel's rules when asked."""
    ts = epoch_of(msg.get("timestamp"))
    d = code_alternatives(msg.get("direction"))

    def text(k):
        v = msg.get(k)
        return "" if v is None else json_text(v)

    time = None if ts is None else excel_time(ts, tz) if excel else iso_time(ts, tz)
    cells = {
        "unique": text("unique"),
        "timestamp": str(ts) if ts is not None else text("timestamp"),
        "time": "" if time is None else time,
        "direction": one_of([DIRECTION.get(x, "unknown") for x in d]),
        "direction_code": _code_csv(msg, "direction", excel),
        "from": text("from"),
        "to": text("to"),
        "type": text("type"),
        "state": state_label(msg),
        "state_code": _code_csv(msg, "state", excel),
        "reason": text("reason"),
        "message": text("message"),
    }
    if excel:
        # Columns the tool generates (numbers, times, labels) are never prefixed.
        generated = {"timestamp": ts is not None, "time": True, "direction": True,
                     "state": True, "direction_code": True, "state_code": True}
        for k, v in cells.items():
            if not generated.get(k):
                cells[k] = _excel_prefix(v)
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


# ---------------------------------------------------------------- --since / --until

def in_window(msg, since=None, until=None):
    """SPEC §2: a message is kept when its time lies in [since, until). Its time is the
    second epoch_of gives (README: a fraction sent is dropped, the second it lies in; a
    time sent as escaped text is read decoded). A message without a usable time is kept:
    the README and SPEC are silent, and leaving it out would lose a message (SPEC §1)."""
    ts = epoch_of(msg.get("timestamp"))
    if ts is None:
        return True
    return (since is None or ts >= since) and (until is None or ts < until)


def windowed(msgs, since=None, until=None):
    """The messages a window writes, in API order, and the copies dropped as duplicates:
    repeats are decided as without a window (the first copy in API order is the message,
    so a repeat whose first copy lay outside the window is dropped too, counted as a
    duplicate, not written), then the window is applied."""
    kept = dedupe(msgs)
    return [m for m in kept if in_window(m, since, until)], len(msgs) - len(kept)
