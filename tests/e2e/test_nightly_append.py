"""--state runs add to an existing output instead of replacing it (SPEC §4.4, issue 13 item 1).

The README's cron recipe writes `-o '.../{date}.EXT'`: every run of a day goes
into one file.  Each run writes only what is new since the checkpoint, so a run
that replaced the file would delete the earlier run's messages for good.  Here
two runs a day go into one file, for CSV, NDJSON and both gzipped: the file holds
both runs (one CSV header, a clean gzip concatenation that Python's gzip and
DuckDB read whole), a run with nothing new leaves the bytes as they were, and
without --state a run still replaces (a snapshot).
"""
import csv
import gzip
import io
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, run
from helpers import COLUMNS
from fetch_helpers import ACCOUNT, Mock, csv_rows, fetch_env  # noqa: F401
from nightly_helpers import FETCH, all_messages, grow, night, settle, truth
from test_roundtrip_duckdb import SCRIPT, duckdb_prefix  # noqa: F401

N = 120
FORMATS = ["csv", "ndjson", "csv.gz", "ndjson.gz"]


@pytest.fixture(scope="module")
def server():
    m = Mock("--messages", N, "--seed", 21)
    yield m
    m.stop()


@pytest.fixture
def mock(server):
    settle(server)
    server.reset(knobs=True)
    return server


def rows_of(path):
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)      # every member, one after the other
    if ".ndjson" in path.name:
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]
    return csv_rows(data)


def two_runs(mock, tmp_path, ext):
    """Run 1 (everything), 13 new messages, run 2 into the same day's file."""
    state, pattern = tmp_path / "state", str(tmp_path / ("%s-{date}.%s" % (ACCOUNT, ext)))
    r1, _ = night(mock, state, pattern, "--concurrency", "1")
    assert r1.returncode == 0, r1.stderr
    [out] = list(tmp_path.glob("%s-*.%s" % (ACCOUNT, ext)))
    first = out.read_bytes()
    grow(mock, 13)
    r2, _ = night(mock, state, pattern)
    assert r2.returncode == 0, r2.stderr
    return state, pattern, out, first, r2


@pytest.mark.parametrize("ext", FORMATS)
def test_two_runs_a_day_collect_in_one_file(mock, tmp_path, ext):
    state, pattern, out, first, r2 = two_runs(mock, tmp_path, ext)
    data = out.read_bytes()
    assert data.startswith(first), "the first run's bytes must stay as they were"
    got = [row["unique"] for row in rows_of(out)]
    assert sorted(got) == sorted(m["unique"] for m in all_messages(mock))
    assert len(got) == N + 13
    if ext.startswith("csv"):
        text = gzip.decompress(data) if ext.endswith(".gz") else data
        assert text.count(b"unique") == 1, "one CSV header"
    if ext.endswith(".gz"):
        assert subprocess.run(["gzip", "-t", str(out)]).returncode == 0
    assert ("added 13 messages to %s (now %d)" % (out, N + 13)).encode() in r2.stderr, r2.stderr


@pytest.mark.parametrize("ext", ["jsonl", "jsonl.gz"])
def test_save_raw_keeps_every_run_of_the_day(mock, tmp_path, ext):
    """--save-raw 'raw-{date}.EXT' under --state: the second run replaced the first
    run's pages, so `convert` of the day's raw file gave 50 messages, not 133."""
    state, raw = tmp_path / "state", str(tmp_path / ("raw-{date}." + ext))
    for k, grown in enumerate([0, 13]):
        if grown:
            grow(mock, grown)
        r, _ = night(mock, state, str(tmp_path / "o-{date}.csv"), "--save-raw", raw,
                     "--concurrency", "1")
        assert r.returncode == 0, r.stderr
    [saved] = list(tmp_path.glob("raw-*." + ext))
    out = tmp_path / "back.csv"
    r = run(["convert", "-o", str(out), str(saved)])
    assert r.returncode == 0, r.stderr
    # each run's pages before the earlier runs': the file stays newest first
    assert out.read_bytes() == truth(tmp_path, all_messages(mock))
    if ext.endswith(".gz"):
        assert subprocess.run(["gzip", "-t", str(saved)]).returncode == 0


@pytest.mark.parametrize("ext,damaged", [("jsonl", b'[{"x":1}]'),
                                         ("jsonl.gz", gzip.compress(b"[]\n", mtime=0)[:-5])],
                         ids=["jsonl-no-newline", "jsonl.gz-cut"])
def test_a_raw_file_that_cannot_be_added_to_is_refused_before_any_request(mock, tmp_path, ext,
                                                                           damaged):
    """It was found only at the commit, after the whole walk, and every run after it failed
    the same way; the message told to use -o for --save-raw's file."""
    raw = tmp_path / ("raw." + ext)
    raw.write_bytes(damaged)
    settle(mock)
    mark = mock.log()["total"]
    r, reqs = night(mock, tmp_path / "state", str(tmp_path / "o.csv"), "--save-raw", str(raw))
    assert r.returncode == 73, r.stderr
    assert reqs == [] and mock.log()["total"] == mark, "refused after a request"
    line = r.stderr.decode()
    assert "cannot be added to" in line and "--save-raw 'history-{date}." in line, line
    assert raw.read_bytes() == damaged
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "state").exists()


@pytest.mark.parametrize("ext", FORMATS)
def test_a_quiet_rerun_leaves_the_file_as_it_was(mock, tmp_path, ext):
    state, pattern, out, _, _ = two_runs(mock, tmp_path, ext)
    before = out.read_bytes()
    r, _ = night(mock, state, pattern)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == before


def test_without_state_a_run_still_replaces(mock, tmp_path):
    out = tmp_path / "snap.csv"
    args = FETCH + ["--url", mock.url, "-o", str(out)]
    assert run(args, env=fetch_env()).returncode == 0
    assert run(args, env=fetch_env()).returncode == 0
    assert len(csv_rows(out.read_bytes())) == N


def test_duckdb_reads_every_row_of_appended_ndjson(mock, tmp_path, duckdb_prefix):  # noqa: F811
    files = []
    for ext in ("ndjson", "ndjson.gz"):
        d = tmp_path / ext.replace(".", "_")
        d.mkdir()
        mock.reset(knobs=True)
        files.append(two_runs(mock, d, ext)[2])
    r = subprocess.run(["node", str(SCRIPT), str(duckdb_prefix)] + [str(f) for f in files],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    got = json.loads(r.stdout)["files"]
    for f in files:
        uniques = sorted(json.loads(row)["unique"] for row in got[str(f)]["rows"])
        assert uniques == sorted(row["unique"] for row in rows_of(f))
        assert len(uniques) == N + 13


# ------------------------------------------------ a file that cannot be added to
#
# Rows added after a damaged or foreign file are rows no reader finds: a gzip
# member after a broken one (zcat stops there), a row glued to a line cut short,
# rows under another layout's header.  Such a file is refused (73) before
# anything is written: it stays as it was, no temporary file is left, and the
# state does not move, so the night after the user moved it aside loses nothing.

def cut_gzip(data):
    return data[:len(data) // 2]


def cut_line(data):
    return data[:-5]


def cut_in_quotes(data):
    """A row cut inside a quoted cell, just after a line break it holds."""
    return data + b'999,"a message cut short after its first line\r\n'


DAMAGED = [
    ("csv.gz", cut_gzip, (), "it is not a complete gzip file"),
    ("ndjson.gz", cut_gzip, (), "it is not a complete gzip file"),
    ("csv", cut_line, (), "it does not end with a line break"),
    ("ndjson", cut_line, (), "it does not end with a line break"),
    ("csv", cut_in_quotes, (), "it ends inside a quoted cell"),
    ("csv.gz", lambda d: gzip.compress(gzip.decompress(d)[:-5]), (),
     "it does not end with a line break"),
    ("csv", None, ("--excel",), "its first line is not the CSV header this run writes"),
    ("csv", None, ("--columns", "unique,timestamp"),
     "its first line is not the CSV header this run writes"),
    ("csv.gz", None, ("--columns", "unique,timestamp"),
     "its first line is not the CSV header this run writes"),
    ("ndjson", None, ("--columns", "unique,timestamp"),
     "its first line does not have the keys this run writes"),
    ("ndjson.gz", None, ("--columns", "unique,timestamp"),
     "its first line does not have the keys this run writes"),
    ("ndjson", lambda d: b'["not", "an", "object"]\n' + d, (),
     "its first line does not have the keys this run writes"),
    ("csv", None, ("--gzip",), "it is not gzip, and this run writes gzip (--gzip"),
    ("ndjson", gzip.compress, (), "it is gzip, and this run does not write gzip (--gzip"),
]


@pytest.mark.parametrize("ext,damage,extra,why", DAMAGED,
                         ids=["gz-cut", "ndjson-gz-cut", "csv-cut", "ndjson-cut", "csv-in-quotes",
                              "gz-text-cut",
                              "excel-bom", "other-columns", "gz-other-columns",
                              "ndjson-other-columns", "ndjson-gz-other-columns",
                              "ndjson-not-ours", "gzip-now", "gzip-before"])
def test_a_file_that_cannot_be_added_to_is_refused_and_nothing_is_lost(
        mock, tmp_path, ext, damage, extra, why):
    state, pattern = tmp_path / "state", str(tmp_path / ("%s-{date}.%s" % (ACCOUNT, ext)))
    r1, _ = night(mock, state, pattern, "--concurrency", "1")
    assert r1.returncode == 0, r1.stderr
    [out] = list(tmp_path.glob("%s-*.%s" % (ACCOUNT, ext)))
    if damage:
        out.write_bytes(damage(out.read_bytes()))
    bad, checkpoint = out.read_bytes(), state.read_bytes()
    names = sorted(p.name for p in tmp_path.iterdir())
    new = grow(mock, 13)

    r2, _ = night(mock, state, pattern, *extra)
    assert r2.returncode == 73, r2.stderr
    err = r2.stderr.decode()
    assert "%s: exists but cannot be added to: %s" % (out, why) in err, err
    assert "move it aside" in err and ("history-{date}.%s" % ext) in err, err
    assert out.read_bytes() == bad, "the file must stay as it was"
    assert state.read_bytes() == checkpoint, "the state must not move"
    assert sorted(p.name for p in tmp_path.iterdir()) == names, "no temporary file left behind"

    aside = tmp_path / "aside"
    aside.mkdir()
    out.rename(aside / out.name)
    r3, _ = night(mock, state, pattern, *extra)
    assert r3.returncode == 0, r3.stderr
    got = [row["unique"] for row in rows_of(out)]
    assert sorted(got) == sorted(m["unique"] for m in new), "the 13 the refused run did not write"


def test_one_file_a_chat_is_checked_too(mock, tmp_path):
    """{chat} files are opened by the router: the same check, the same refusal."""
    state, pattern = tmp_path / "state", str(tmp_path / "chats" / "{chat}.csv")
    r1, _ = night(mock, state, pattern, "--create-dirs")
    assert r1.returncode == 0, r1.stderr
    before = {p: p.read_bytes() for p in (tmp_path / "chats").iterdir()}
    checkpoint = state.read_bytes()
    grow(mock, 13)
    r2, _ = night(mock, state, pattern, "--create-dirs", "--excel")
    assert r2.returncode == 73, r2.stderr
    assert b"exists but cannot be added to: its first line is not the CSV header" in r2.stderr
    assert {p: p.read_bytes() for p in (tmp_path / "chats").iterdir()} == before
    assert state.read_bytes() == checkpoint


def test_temporary_files_of_killed_runs_are_cleared_by_the_next(mock, tmp_path):
    """A run killed with SIGKILL cannot remove its temporary file (in append mode a
    whole copy of the earlier export). The next run, holding the --state lock, clears
    the ones made for its own target, and nothing else; a run without --state, which
    holds no lock, clears nothing."""
    state, out = tmp_path / "state", tmp_path / "night.csv"
    assert night(mock, state, out)[0].returncode == 0
    stale = [tmp_path / ".night.csv.tmp.a1B2c3", tmp_path / ".night.csv.tmp.zzzzzz"]
    keep = [tmp_path / ".night.csv.tmp.short", tmp_path / ".other.csv.tmp.a1B2c3",
            tmp_path / "night.csv.tmp.a1B2c3"]
    for p in stale + keep:
        p.write_bytes(b"left by a killed run")
    (tmp_path / ".night.csv.tmp.dir123").mkdir(0o755)   # not made by a run (0700)
    last_night = time.time() - 3 * 3600
    os.utime(tmp_path / ".night.csv.tmp.dir123", (last_night, last_night))
    snap = tmp_path / "snap.csv"
    (tmp_path / ".snap.csv.tmp.q1w2e3").write_bytes(b"x")
    assert run(FETCH + ["--url", mock.url, "-o", str(snap)], env=fetch_env()).returncode == 0
    assert (tmp_path / ".snap.csv.tmp.q1w2e3").exists(), "no lock: nothing is cleared"
    grow(mock, 3)
    r, _ = night(mock, state, out)
    assert r.returncode == 0, r.stderr
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep) and (tmp_path / ".night.csv.tmp.dir123").is_dir()
    assert len(csv_rows(out.read_bytes())) == N + 3


def test_the_manifest_of_an_appended_file_with_a_huge_line_stays_small(mock, tmp_path):
    """The manifest counts an appended file's earlier rows by reading them once; a line
    of 64 MB there (the file is the user's, anything may be in it) must not cost 64 MB
    (SPEC §5.7: memory stays bounded whatever a file holds)."""
    if b"__asan_init" in Path(BIN).read_bytes():
        pytest.skip("an ASan build's memory is not held to the bound")
    out, state, man = tmp_path / "big.ndjson", tmp_path / "state", tmp_path / "m.json"
    with open(out, "w") as f:          # in pieces, not one 64 MB string
        # the keys this run writes (other keys are refused), then a message of 64 MB
        f.write('{"unique":"Z","timestamp":1,' + "".join('"%s":null,' % k for k in COLUMNS[2:-1])
                + '"message":"')
        for _ in range(64):
            f.write("A" * (1 << 20))
        f.write('"}\n')
    # GNU time forks waexport itself: the peak is waexport's own, not what a child of this
    # (large) test process holds between fork and exec.
    args = ["/usr/bin/time", "-f", "%M", BIN] + FETCH + ["--url", mock.url, "--state",
                                                        str(state), "-q", "-o", str(out),
                                                        "--manifest", str(man)]
    r = subprocess.run(args, env=fetch_env(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr
    peak_kib = int(r.stderr.decode().strip().splitlines()[-1])
    assert peak_kib < 40 * 1024, "peak RSS %d KiB" % peak_kib
    files = json.loads(man.read_text())["files"]
    assert files[0]["rows"] == N + 1 and files[0]["first_timestamp"] == 1


@pytest.mark.parametrize("ext", ["csv", "ndjson.gz"])
def test_the_manifest_of_an_appended_file_without_timestamps_gives_no_time_range(mock, tmp_path,
                                                                                 ext):
    """SPEC §4.7: an appended file's first/last_timestamp are those of the whole file. With
    --columns that leave out timestamp, the rows it held before say nothing of their times:
    null, not the range of the rows this run added (an adversarial pass saw that)."""
    state, out, man = tmp_path / "state", tmp_path / ("day." + ext), tmp_path / "m.json"
    cols = ["--columns", "unique,time", "--manifest", man]
    r, _ = night(mock, state, out, "--concurrency", "1", *cols)
    assert r.returncode == 0, r.stderr
    [f] = json.loads(man.read_text())["files"]
    assert f["first_timestamp"] is not None and not f["appended"]
    grow(mock, 3)
    r, _ = night(mock, state, out, *cols)
    assert r.returncode == 0, r.stderr
    [f] = json.loads(man.read_text())["files"]
    assert f["appended"] and f["rows"] == N + 3 and f["rows_added"] == 3
    assert (f["first_timestamp"], f["last_timestamp"]) == (None, None)


def start_adding(mock, tmp_path, out, latency_ms):
    """A run on state `a` adding to out, its pages `latency_ms` apart: started, and its
    temporary file there (it is live from now until its rename)."""
    mock.control(latency_ms=latency_ms)
    first = subprocess.Popen([BIN] + FETCH + ["--url", mock.url, "--state", str(tmp_path / "a"),
                                              "-o", str(out), "--concurrency", "1", "-q"],
                             env=fetch_env(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".day.csv.tmp.*")) and time.monotonic() < deadline:
        time.sleep(0.01)
    [temp] = list(tmp_path.glob(".day.csv.tmp.*"))
    return first, temp


def test_a_run_on_another_state_waits_for_a_file_being_added_to(mock, tmp_path):
    """Two cron lines with their own --state and one output file, at the same time: while
    one adds to the file, the other waits (it leaves the first one's temporary file alone),
    then adds its rows to what the first wrote. Before, the second removed that file as a
    killed run's leftover: the first failed at its rename, and its next run moved the
    checkpoint past rows that no file held. Then it was refused at once (75): two runs
    started together refused each other, night after night."""
    out = tmp_path / "day.csv"
    first, temp = start_adding(mock, tmp_path, out, 400)
    try:
        # not night(): it waits for the mock to go quiet, that is for the first run's end
        r = run(FETCH + ["--url", mock.url, "--state", tmp_path / "b", "-o", out],
                env=fetch_env())
        assert r.returncode == 0, r.stderr
        assert first.poll() is not None, "the second run went on before the first was done"
    finally:
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert len(rows_of(out)) == 2 * N, "each state's run wrote every message once"
    assert not temp.exists() and not list(tmp_path.glob(".day.csv.tmp.*"))


def test_a_run_on_another_state_is_refused_when_the_file_stays_busy(mock, tmp_path):
    """The wait has an end: a run that holds the file longer (a long walk) makes the other
    give up (75, its checkpoint not moved, the first one's file left alone); run again
    later, it adds its rows."""
    out = tmp_path / "day.csv"
    first, temp = start_adding(mock, tmp_path, out, 8000)  # three requests: 24 s, past the wait
    try:
        r = run(FETCH + ["--url", mock.url, "--state", tmp_path / "b", "-o", out],
                env=fetch_env())
        assert r.returncode == 75, r.stderr
        assert b"another run is adding to this file now" in r.stderr, r.stderr
        assert temp.exists(), "the live run's temporary file must stay"
        assert first.poll() is None, "the first run was still going: the test proves nothing"
        assert not (tmp_path / "b").exists()
    finally:
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    mock.control(latency_ms=0)
    r, _ = night(mock, tmp_path / "b", out)
    assert r.returncode == 0, r.stderr
    assert len(rows_of(out)) == 2 * N, "each state's run wrote every message once"
    assert not list(tmp_path.glob(".day.csv.tmp.*"))


@pytest.mark.parametrize("ext", ["csv", "csv.gz"])
def test_an_excel_file_of_another_zone_is_refused(mock, tmp_path, ext):
    """--excel times carry no offset: rows of another --tz added to the file would mix two
    zones with nothing to tell them apart (they were added, exit 0). The file's first row
    says its zone: its `time` must be what this run makes of its `timestamp`. (One file
    name, not `{date}`: from 22:00 UTC Jerusalem's date is the next day's, another file.)"""
    state, pattern = tmp_path / "state", str(tmp_path / ("%s-day.%s" % (ACCOUNT, ext)))
    r1, _ = night(mock, state, pattern, "--excel", "--tz", "UTC")
    assert r1.returncode == 0, r1.stderr
    [out] = list(tmp_path.glob("%s-*.%s" % (ACCOUNT, ext)))
    before, checkpoint = out.read_bytes(), state.read_bytes()
    grow(mock, 5)

    r2, asked = night(mock, state, pattern, "--excel", "--tz", "Asia/Jerusalem")
    assert r2.returncode == 73, r2.stderr
    assert b"its times are local times of another zone" in r2.stderr, r2.stderr
    assert asked == [], "refused before any request"
    assert out.read_bytes() == before and state.read_bytes() == checkpoint

    # The same zone (by another name, with the same offset) adds as before.
    r3, _ = night(mock, state, pattern, "--excel", "--tz", "Etc/UTC")
    assert r3.returncode == 0, r3.stderr
    text = out.read_bytes()
    text = gzip.decompress(text) if ext.endswith(".gz") else text
    assert text.startswith(b"\xef\xbb\xbf") and text.count(b"\xef\xbb\xbfunique") == 1
    rows = list(csv.reader(io.StringIO(text[3:].decode("utf-8"), newline="")))
    assert len(rows) == 1 + N + 5 and len({r[0] for r in rows[1:]}) == N + 5


def test_killed_runs_files_of_other_days_are_cleared_once_two_days_old(mock, tmp_path):
    """A night killed with SIGKILL leaves its temporary files; with `{date}` names the next
    night's target is another file, so they stayed for good (164 MB a night for a large
    account). Under --state, a run also clears those of the other days of its templates
    (-o, --save-raw, --manifest) once two days old; younger ones, other templates' and
    live ones stay."""
    state = tmp_path / "state"
    pattern = str(tmp_path / ("%s-{date}.csv" % ACCOUNT))
    old = time.time() - 3 * 86400
    gone = [".%s-2026-11-30.csv.tmp.aB3xYz" % ACCOUNT, ".raw-2026-11-30.ndjson.tmp.Qq1234",
            ".m-2026-11-30.json.tmp.zZ9yY8"]
    kept_old = [".other-2026-11-30.csv.tmp.aB3xYz",        # another template
                ".%s-2026-11-30.csv.gz.tmp.aB3xYz" % ACCOUNT,  # another extension
                ".%s-30.csv.tmp.aB3xYz" % ACCOUNT]            # not a date
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    young = ".%s-%s.csv.tmp.aB3xYz" % (ACCOUNT, yesterday)  # another day's, not two days old
    for name in gone + kept_old + [young]:
        (tmp_path / name).write_bytes(b"left by a killed run")
        if name != young:
            os.utime(tmp_path / name, (old, old))
    r, _ = night(mock, state, pattern, "--save-raw", tmp_path / "raw-{date}.ndjson",
                 "--manifest", tmp_path / "m-{date}.json")
    assert r.returncode == 0, r.stderr
    assert [n for n in gone if (tmp_path / n).exists()] == []
    assert all((tmp_path / n).exists() for n in kept_old + [young])
