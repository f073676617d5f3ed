"""A run stopped while it moves its files into place is finished by the next (SPEC §4.7, §5.3).

A --state run stages every file beside its target, then renames them into
place: the outputs, the manifest, the state last. A run killed (or failing
with an I/O error) between two of those renames used to leave a same-day file
already appended to while the state stayed behind, and the next night appended
the same rows again. Now the run writes a commit plan (STATE.commit) before
the first rename, keeps the files not yet in place when a rename fails, and
the next run under the same lock finishes the renames before it reads the
state. Here every rename of the second night of a same-day pair fails in turn
(EIO), or the run is killed there (SIGKILL, under strace); after a normal
third night the day's file holds every message exactly once, the state has
moved, and no temporary file or plan is left.
"""
import os
import shutil
import subprocess

import pytest

from conftest import BIN
from fetch_helpers import ACCOUNT, Mock, csv_rows, fetch_env
from nightly_helpers import FETCH, all_messages, grow, night, settle, tmp_leftovers

N, NEW = 80, 7
STRACE = shutil.which("strace")
pytestmark = pytest.mark.skipif(STRACE is None, reason="strace is needed to fail a rename")


@pytest.fixture(scope="module")
def mock():
    """One mock for the file; every pair of nights starts from its first N messages."""
    m = Mock("--messages", N, "--seed", 37)
    yield m
    m.stop()


def args(mock, d):
    return FETCH + ["--url", mock.url, "--state", d / "state", "-o",
                    d / ("%s-{date}.csv" % ACCOUNT), "--manifest", d / "manifest.json",
                    "--save-raw", d / "raw-{date}.ndjson"]


def traced(mock, d, *strace):
    """Night 2 under strace (its own options first)."""
    settle(mock)
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    # LeakSanitizer cannot run under ptrace: an ASan build checks leaks in the other nights.
    env["ASAN_OPTIONS"] = ":".join(x for x in (env.get("ASAN_OPTIONS"), "detect_leaks=0") if x)
    r = subprocess.run([STRACE, "-f"] + list(strace) + ["--", BIN] +
                       [str(a) for a in args(mock, d)],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    settle(mock)
    return r


def first_nights(mock, d):
    """Night 1, then new messages of the same day; returns the state after night 1."""
    settle(mock)
    mock.reset(knobs=True)
    d.mkdir()
    r, _ = night(mock, d / "state", d / ("%s-{date}.csv" % ACCOUNT), "--manifest",
                 d / "manifest.json", "--save-raw", d / "raw-{date}.ndjson")
    assert r.returncode == 0, r.stderr
    grow(mock, NEW)
    return (d / "state").read_bytes()


def renames_of_a_normal_night(mock, tmp_path):
    d = tmp_path / "count"
    first_nights(mock, d)
    log = tmp_path / "renames.log"
    r = traced(mock, d, "-o", log, "-e", "trace=rename")
    assert r.returncode == 0, r.stderr
    n = sum(1 for line in log.read_text().splitlines() if "rename(" in line)
    # the day's file, --save-raw, the manifest, the state (and now the plan, first)
    assert n >= 4, log.read_text()
    return n


def check_caught_up(mock, d, state_before):
    r, _ = night(mock, d / "state", d / ("%s-{date}.csv" % ACCOUNT), "--manifest",
                 d / "manifest.json", "--save-raw", d / "raw-{date}.ndjson")
    assert r.returncode == 0, r.stderr
    [out] = list(d.glob("%s-*.csv" % ACCOUNT))
    got = [row["unique"] for row in csv_rows(out.read_bytes())]
    assert len(got) == len(set(got)), "a message exported twice"
    assert sorted(got) == sorted(m["unique"] for m in all_messages(mock))
    assert len(got) == N + NEW
    assert (d / "state").read_bytes() != state_before, "the state did not move"
    assert tmp_leftovers(d) == []
    assert not (d / "state.commit").exists()


def each_rename_stopped(mock, tmp_path, inject, check_night2):
    """Night 2 stopped at its n-th rename for every n, each in a directory of its own."""
    total = renames_of_a_normal_night(mock, tmp_path)
    for n in range(1, total + 1):
        d = tmp_path / ("at%d" % n)
        before = first_nights(mock, d)
        r = traced(mock, d, "-o", os.devnull, "-e", "inject=rename:%s:when=%d" % (inject, n))
        check_night2(n, d, r)
        check_caught_up(mock, d, before)


def test_a_failed_rename_during_the_commit_is_finished_by_the_next_night(mock, tmp_path):
    def failed(n, d, r):
        assert r.returncode in (73, 74), (n, r.stderr)
        if n > 1:  # the plan is written by the first rename; after it, the files stay
            assert b"the next run with this --state finishes" in r.stderr, (n, r.stderr)
            assert (d / "state.commit").exists(), n
    each_rename_stopped(mock, tmp_path, "error=EIO", failed)


def test_a_run_killed_during_the_commit_is_finished_by_the_next_night(mock, tmp_path):
    def killed(n, d, r):
        assert r.returncode != 0, (n, r.stderr)
    each_rename_stopped(mock, tmp_path, "signal=KILL", killed)


def test_the_next_night_says_it_finished_an_earlier_commit(mock, tmp_path):
    d = tmp_path / "note"
    before = first_nights(mock, d)
    r = traced(mock, d, "-o", os.devnull, "-e", "inject=rename:error=EIO:when=3")
    assert r.returncode in (73, 74), r.stderr
    r, _ = night(mock, d / "state", d / ("%s-{date}.csv" % ACCOUNT), "--manifest",
                 d / "manifest.json", "--save-raw", d / "raw-{date}.ndjson")
    assert r.returncode == 0, r.stderr
    assert b"completed the commit of an earlier run" in r.stderr, r.stderr
    assert (d / "state").read_bytes() != before


def test_a_plan_that_renames_a_foreign_file_is_refused(mock, tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    victim = d / "victim"
    victim.write_text("keep me")
    (d / "elsewhere").write_text("x")
    (d / "state.commit").write_bytes(b"waexport commit plan 1\n" + bytes(d / "elsewhere") +
                                     b"\0" + bytes(victim) + b"\0")
    r, _ = night(mock, d / "state", d / "out.csv")
    assert r.returncode == 65, r.stderr
    assert b"state.commit" in r.stderr, r.stderr
    assert victim.read_text() == "keep me"


def test_a_workbook_run_stopped_during_the_commit_is_finished_by_the_next(mock, tmp_path):
    """A workbook is staged in a directory of its run's beside its target: the commit plan
    names the file in it, and the next run renames it into place and removes the directory.
    A plan naming such a file was refused as "not a temporary file beside its target" (65
    every night until a person removed the plan). The same command run again (cron's
    retry) finishes the plan and ends there with 0: the day's workbook is that run's,
    complete, and a workbook is never added to (SPEC §4.4); it used to exit 73, for a
    person. A later night writes another file."""
    settle(mock)
    mock.reset(knobs=True)
    log = tmp_path / "renames.log"
    d0 = tmp_path / "count"
    d0.mkdir()
    book = ["--url", mock.url, "--state", "state", "-o", "night-{date}.xlsx"]
    r = subprocess.run([STRACE, "-f", "-o", str(log), "-e", "trace=rename", "--", BIN] + FETCH +
                       book, env=dict(fetch_env(), ASAN_OPTIONS="detect_leaks=0"), cwd=d0,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr
    total = sum(1 for line in log.read_text().splitlines() if "rename(" in line)
    for n in range(2, total + 1):
        d = tmp_path / ("at%d" % n)
        d.mkdir()
        settle(mock)
        r = subprocess.run([STRACE, "-f", "-o", os.devnull, "-e",
                            "inject=rename:signal=KILL:when=%d" % n, "--", BIN] + FETCH + book,
                           env=dict(fetch_env(), ASAN_OPTIONS="detect_leaks=0"), cwd=d,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        assert r.returncode != 0, (n, r.stderr)
        settle(mock)
        r, asked = night(mock, d / "state", d / "night-{date}.xlsx")
        assert r.returncode == 0, (n, r.stderr)
        assert b"this run ends here" in r.stderr, (n, r.stderr)
        assert asked == [], (n, "no request after the roll-forward")
        r, _ = night(mock, d / "state", d / "other.xlsx")
        assert r.returncode == 0, (n, r.stderr)
        [day] = list(d.glob("night-*.xlsx"))
        with open(day, "rb") as f:
            assert f.read(2) == b"PK", n
        assert [x.name for x in d.iterdir() if ".tmp." in x.name] == [], n
        assert not (d / "state.commit").exists(), n


def test_a_staged_file_that_is_gone_costs_no_message(mock, tmp_path):
    """A night whose commit failed keeps its staged files for the next. If one is gone
    before that (removed by hand, or by another state's cleanup of old temporary files
    with the same -o template), the next night moved the state anyway, and the night's
    new messages were in no file. Now the plan is abandoned whole: the state stays, and
    the messages are exported again."""
    d = tmp_path / "gone"
    before = first_nights(mock, d)
    r = traced(mock, d, "-o", os.devnull, "-e", "inject=rename:error=EIO:when=2")
    assert r.returncode == 74, r.stderr
    staged = [p for p in d.iterdir() if p.name.startswith(".%s-" % ACCOUNT) and ".tmp." in p.name]
    assert len(staged) == 1, sorted(p.name for p in d.iterdir())
    staged[0].unlink()
    r, _ = night(mock, d / "state", d / ("%s-{date}.csv" % ACCOUNT), "--manifest",
                 d / "manifest.json", "--save-raw", d / "raw-{date}.ndjson")
    assert r.returncode == 0, r.stderr
    assert b"is gone: nothing of that run was moved into place, its messages are exported again" in r.stderr, r.stderr.decode()
    [out] = list(d.glob("%s-*.csv" % ACCOUNT))
    got = [row["unique"] for row in csv_rows(out.read_bytes())]
    assert sorted(got) == sorted(m["unique"] for m in all_messages(mock)), "a message lost"
    assert len(got) == N + NEW and (d / "state").read_bytes() != before
    assert tmp_leftovers(d) == [] and not (d / "state.commit").exists()
