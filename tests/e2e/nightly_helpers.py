"""Helpers for the nightly-run end-to-end tests (tests/e2e/test_nightly*.py).

A "night" is one `waexport fetch --state ...` run against scripts/mock_api.py;
between nights the mock's growth knob adds new messages at the newest end.
Ground truth is what the mock serves (read directly, no proxy), decoded by
`waexport convert` (SPEC §2: the same pipeline as fetch).
"""
import json
import os
import re
import sys
from pathlib import Path

from conftest import run
from fetch_helpers import ACCOUNT, SCRIPTS, convert_pages, fetch_env
from helpers import tmp_leftovers  # noqa: F401 (the nightly tests import it from here)

sys.path.insert(0, str(SCRIPTS))
import gen_history  # noqa: E402

FETCH = ["fetch", "--from", ACCOUNT]
STATE_MAGIC = "waexport-state 2"      # what a run writes (SPEC §5.3, self-checking)
STATE_MAGIC_V1 = "waexport-state 1"   # the earlier format, still read

# SPEC §6: every metric the --metrics-file must carry.
SPEC_METRICS = [
    "waexport_last_run_timestamp_seconds",
    "waexport_last_success_timestamp_seconds",
    "waexport_exit_code",
    "waexport_messages_written",
    "waexport_pages_fetched",
    "waexport_retries",
    "waexport_duplicates_dropped",
    "waexport_warnings",
    "waexport_media_downloaded",
    "waexport_run_duration_seconds",
]


# ------------------------------------------------------------------ running nights

def settle(mock, quiet=0.1, timeout=10):
    """Wait until the mock has logged every request a finished client sent.

    A run that ends early cancels requests already sent past the end; on a busy
    machine the mock may log them a little later, which would count them for
    the next night.  Wait until nothing is in flight and the log has not grown
    for `quiet` seconds.  (Only a wait: no assertion depends on timing.)"""
    import time
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        log = mock.log()
        now = (log["total"], log["in_flight"])
        if now != last:
            last, since = now, time.monotonic()
        elif not now[1] and time.monotonic() - since >= quiet:
            return
        time.sleep(0.02)


def night(mock, state, out, *extra, env=None):
    """One nightly fetch; returns (CompletedProcess, getHistory log entries of this run)."""
    settle(mock)  # the test's own requests (grow, page reads) may still be logging
    mark = mock.log()["total"]
    args = FETCH + ["--url", mock.url, "--state", state, "-o", out] + list(extra)
    r = run(args, env=env or fetch_env())
    settle(mock)
    return r, requests_since(mock, mark)


def requests_since(mock, seq):
    return [e for e in mock.log()["requests"] if e["seq"] > seq]


def grow(mock, k):
    """Add exactly k new messages at the newest end of the mock's history.

    The growth knob fires on requests N+1, 2N+1, ... after it is set, so with
    grow_every=1 the second throwaway request adds grow_by messages."""
    before = mock.log()["messages"]
    mock.control(grow_every=1, grow_by=k)
    mock.page(1)
    mock.page(1)
    mock.control(grow_every=0)
    after = mock.log()["messages"]
    assert after == before + k, (before, after)
    return json.loads(mock.page(1))[:k] if k <= 50 else None


def all_messages(mock):
    """Every message the mock serves for the whole account, newest first."""
    out = []
    for raw in mock.pages():
        out.extend(json.loads(raw))
    return out


def ts_of(msg):
    return int(msg["timestamp"])


# ------------------------------------------------------------------ ground truth

def truth(tmp_path, msgs, *args, name="truth.jsonl"):
    """What waexport writes for these messages (newest first), via `convert`."""
    if not msgs:
        line = b"[]"
    else:
        line = gen_history.php_json(list(msgs)).encode("ascii")
    return convert_pages(tmp_path, [line], *args, name=name)


def write_samples(path, msgs_newest_first, page_size=50):
    """A --samples file for the mock: one PHP-encoded array per line."""
    with open(path, "w", encoding="ascii") as f:
        for p in gen_history.pages(list(msgs_newest_first), page_size):
            f.write(gen_history.php_json(p) + "\n")
    return path


def spaced_history(n, step, seed=7, contacts=12, end_epoch=gen_history.DEFAULT_END_EPOCH):
    """n messages, newest first, exactly `step` seconds apart, ending at end_epoch."""
    g = gen_history.History(seed, ACCOUNT, contacts, end_epoch)
    return [g.make(i, end_epoch - i * step) for i in range(n)]


def counterpart(row):
    """SPEC §4.5: the chat of a message (works on CSV rows and API dicts)."""
    d = str(row.get("direction_code", row.get("direction")))
    if d in ("1", "incoming"):
        return row["from"]
    return row["to"]


# ------------------------------------------------------------------ files

def snapshot(root):
    """{relative path: bytes or None for dirs} of everything under root."""
    out = {}
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[str(Path(dirpath, d).relative_to(root)) + "/"] = None
        for f in filenames:
            p = Path(dirpath, f)
            try:
                out[str(p.relative_to(root))] = p.read_bytes()
            except OSError:
                out[str(p.relative_to(root))] = b"<unreadable>"
    return out


def read_state(path):
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[-1] == "", "the state file must end with a newline: %r" % text[-80:]
    return lines[:-1]


def checkpoint_line(path, to="*"):
    """The state line for ACCOUNT/to, split on tabs: [FROM, TO, EPOCH, UNIQUE...]."""
    lines = read_state(path)
    assert lines[0] == STATE_MAGIC, lines[:1]
    hits = [ln.split("\t") for ln in lines[1:] if ln.split("\t")[:2] == [ACCOUNT, to]]
    assert len(hits) == 1, lines
    return hits[0]


def one_error_line(r):
    """SPEC §3: a non-zero exit prints one clear line on stderr; returns it."""
    lines = [ln for ln in r.stderr.decode("utf-8", "replace").split("\n") if ln.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# ------------------------------------------------------------------ Prometheus text format

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(r"(%s)(?:\{((?:%s)(?:,%s)*,?)?\})? ([^ ]+)(?: (-?[0-9]+))?" %
                     (_NAME, _LABEL, _LABEL))
_HELP = re.compile(r"# HELP (%s) (.*)" % _NAME)
_TYPE = re.compile(r"# TYPE (%s) (counter|gauge|histogram|summary|untyped)" % _NAME)
_LABEL_ONE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def _value(text):
    special = {"+Inf": float("inf"), "-Inf": float("-inf"), "NaN": float("nan")}
    if text in special:
        return special[text]
    return float(text)


def parse_prometheus(text):
    """Parse the Prometheus text exposition format strictly.

    Returns {name: {"help": str, "type": str, "samples": [(labels dict, value)]}}.
    Raises AssertionError on anything node_exporter's textfile collector would
    reject: a bad line, a second HELP/TYPE for a name, a TYPE after the name's
    samples, a sample that is not a float, a missing final newline."""
    assert text.endswith("\n"), "the file must end with a newline"
    metrics = {}
    for no, line in enumerate(text.split("\n")[:-1], 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            m = _HELP.fullmatch(line)
            if m:
                e = metrics.setdefault(m.group(1), {"help": None, "type": None, "samples": []})
                assert e["help"] is None, "line %d: second HELP for %s" % (no, m.group(1))
                e["help"] = m.group(2)
                continue
            m = _TYPE.fullmatch(line)
            if m:
                e = metrics.setdefault(m.group(1), {"help": None, "type": None, "samples": []})
                assert e["type"] is None, "line %d: second TYPE for %s" % (no, m.group(1))
                assert not e["samples"], "line %d: TYPE after samples of %s" % (no, m.group(1))
                e["type"] = m.group(2)
                continue
            assert not line.startswith(("# HELP", "# TYPE")), "line %d: bad %r" % (no, line)
            continue                                    # a plain comment
        m = _SAMPLE.fullmatch(line)
        assert m, "line %d: not a sample: %r" % (no, line)
        labels = dict(_LABEL_ONE.findall(m.group(2) or ""))
        try:
            value = _value(m.group(3))
        except ValueError:
            raise AssertionError("line %d: value %r is not a float" % (no, m.group(3)))
        e = metrics.setdefault(m.group(1), {"help": None, "type": None, "samples": []})
        e["samples"].append((labels, value))
    return metrics


def metric_value(metrics, name, **labels):
    """The value of the one sample of `name` whose labels include `labels`."""
    assert name in metrics, "missing metric %s (have %s)" % (name, sorted(metrics))
    hits = [v for lab, v in metrics[name]["samples"]
            if all(lab.get(k) == v2 for k, v2 in labels.items())]
    assert len(hits) == 1, (name, labels, metrics[name]["samples"])
    return hits[0]
