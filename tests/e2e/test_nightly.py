"""Nightly runs with --state against the mock (SPEC §5.3, §3, issue 5 item 7).

A night is `waexport fetch --state STATE -o OUT`; between nights the mock's
growth knob adds messages at the newest end.  What a nightly user relies on:
the second night writes exactly what is new and asks for at most 2 pages; a
failed night changes nothing and the next one writes everything missed;
--lookback re-exports its window; a second run on the same state exits 75; a
corrupt state file is an error (65) that names it and changes nothing.
"""
import fcntl
import os
import signal
import subprocess
import time

import pytest

from conftest import BIN, run
from fetch_helpers import (ACCOUNT, Mock, csv_rows, fetch_env,  # noqa: F401
                           mock_factory, run_with_a_flood_in_the_retry_wait)
from nightly_helpers import (FETCH, STATE_MAGIC, STATE_MAGIC_V1, all_messages, checkpoint_line,
                             gen_history, grow, metric_value, night, one_error_line,
                             parse_prometheus, read_state, settle, spaced_history,
                             tmp_leftovers, truth, ts_of, write_samples)

N_MESSAGES = 300          # 6 full pages, then an empty one


@pytest.fixture(scope="module")
def nightly_server():
    m = Mock("--messages", N_MESSAGES, "--seed", 11)
    yield m
    m.stop()


@pytest.fixture
def mock(nightly_server):
    """A fresh history (growth dropped, knobs restored, log cleared)."""
    settle(nightly_server)
    nightly_server.reset(knobs=True)
    return nightly_server


def uniques(data):
    return [row["unique"] for row in csv_rows(data)]


def page_requests(reqs):
    """getHistory requests a run made (every log entry is one)."""
    return [e for e in reqs if e["page"] is not None]


def first_night(mock, tmp_path, *extra):
    """The full first run.  One page at a time, so that no request past the end is
    in flight when it stops (such a cancelled request could reach the mock's log
    late and be counted for the next night)."""
    state, out = tmp_path / "state", tmp_path / "night1.csv"
    msgs = all_messages(mock)
    r, reqs = night(mock, state, out, "--concurrency", "1", *extra)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == truth(tmp_path, msgs)
    return state, msgs


# ------------------------------------------------------------------ the sequence

def test_first_night_exports_everything_and_writes_a_checkpoint(mock, tmp_path):
    msgs = all_messages(mock)
    assert len(msgs) == N_MESSAGES
    state, out = tmp_path / "state", tmp_path / "night1.csv"
    r, reqs = night(mock, state, out)
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data == truth(tmp_path, msgs)
    assert len(set(uniques(data))) == N_MESSAGES
    # Without a checkpoint every page is walked.
    assert {e["page"] for e in reqs if e["kind"] == "page"} == set(range(1, 7))
    assert {e["page"] for e in reqs if e["kind"] == "end"} >= {7}
    # The checkpoint: the newest second and the uniques exported at it.
    lines = read_state(state)
    assert lines[0] == STATE_MAGIC
    cp = checkpoint_line(state)
    newest = max(ts_of(m) for m in msgs)
    assert int(cp[2]) == newest
    assert set(cp[3:]) == {m["unique"] for m in msgs if ts_of(m) == newest}
    # Personal data: the state names message ids; it is not world-readable.
    assert os.stat(state).st_mode & 0o077 == 0
    assert tmp_leftovers(tmp_path) == []


def test_second_night_writes_exactly_the_7_new_in_at_most_2_requests(mock, tmp_path):
    state, msgs = first_night(mock, tmp_path)
    new = grow(mock, 7)
    assert min(ts_of(m) for m in new) > max(ts_of(m) for m in msgs)

    out2 = tmp_path / "night2.csv"
    r, reqs = night(mock, state, out2)
    assert r.returncode == 0, r.stderr
    data = out2.read_bytes()
    assert sorted(uniques(data)) == sorted(m["unique"] for m in new)
    assert data == truth(tmp_path, new)
    pages = page_requests(reqs)
    assert 1 <= len(pages) <= 2, pages
    assert pages[0]["page"] == 1
    # The checkpoint moved to the newest of the 7.
    cp = checkpoint_line(state)
    assert int(cp[2]) == max(ts_of(m) for m in new)
    assert new[0]["unique"] in cp[3:]

    # A third night with nothing new writes a header only and keeps the checkpoint.
    before = state.read_bytes()
    out3 = tmp_path / "night3.csv"
    r, reqs = night(mock, state, out3)
    assert r.returncode == 0, r.stderr
    assert uniques(out3.read_bytes()) == []
    assert out3.read_bytes() == truth(tmp_path, [])
    assert 1 <= len(page_requests(reqs)) <= 2
    assert state.read_bytes() == before
    assert tmp_leftovers(tmp_path) == []


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_one_empty_answer_before_the_head_loses_nothing(mock, tmp_path, concurrency):
    """SPEC §5.3: an empty page (a proxy's "[]") on page 3 of 6 new pages ended the
    walk: 100 of 300 written, exit 0, and the checkpoint moved past the other 200."""
    state, msgs = first_night(mock, tmp_path)
    grow(mock, 300)
    new = all_messages(mock)[:300]
    mock.control(empty="3")
    out2 = tmp_path / "night2.csv"
    r, reqs = night(mock, state, out2, "--concurrency", concurrency)
    assert r.returncode == 0, r.stderr
    assert out2.read_bytes() == truth(tmp_path, new)
    assert [e["kind"] for e in reqs if e["page"] == 3][:2] == ["empty", "page"]
    mock.control(empty=None)
    r, _ = night(mock, state, tmp_path / "night3.csv")
    assert r.returncode == 0, r.stderr
    assert uniques((tmp_path / "night3.csv").read_bytes()) == []


def test_one_empty_answer_does_not_cut_a_snapshot(mock, tmp_path):
    """Without --state the export of the whole history was cut at the empty page."""
    msgs = all_messages(mock)
    mock.control(empty="4")
    out = tmp_path / "all.csv"
    r = run(FETCH + ["--url", mock.url, "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == truth(tmp_path, msgs)


def test_night_after_a_full_page_of_news_walks_on_until_the_checkpoint(mock, tmp_path):
    """70 new messages: page 1 is all new, page 2 reaches the checkpoint."""
    state, msgs = first_night(mock, tmp_path)
    grow(mock, 70)
    now = all_messages(mock)
    new = now[:70]
    assert {m["unique"] for m in now[70:]} == {m["unique"] for m in msgs}
    out2 = tmp_path / "night2.ndjson"
    r, reqs = night(mock, state, out2)
    assert r.returncode == 0, r.stderr
    assert out2.read_bytes() == truth(tmp_path, new, "--format", "ndjson")
    asked = sorted({e["page"] for e in page_requests(reqs)})
    assert asked[:2] == [1, 2]
    assert max(asked) <= 3, "a 70-message night must not walk the whole history: %s" % reqs


def test_same_second_arrival_is_not_lost_and_hostile_uniques_survive_the_state(
        mock_factory, tmp_path):
    """The checkpoint keeps the uniques of its second: a message arriving later in
    that very second is exported, the ones already exported are not.  Uniques with
    tab, slash, space, quote and non-ASCII go through the state file intact."""
    base = spaced_history(120, 600, seed=3)
    t = ts_of(base[0])
    odd = [dict(base[0], unique=u, timestamp=str(t)) for u in
           ("tab\there", "slash/../x", "sp ace", 'q"uote', "\u05e9\u05dc\u05d5\u05dd",
            "back\\slash")]
    night1_msgs = odd + base
    f1 = write_samples(tmp_path / "h1.jsonl", night1_msgs)
    m1 = mock_factory("--samples", f1)
    state = tmp_path / "state"
    r, _ = night(m1, state, tmp_path / "n1.csv")
    assert r.returncode == 0, r.stderr
    assert len(csv_rows((tmp_path / "n1.csv").read_bytes())) == len(night1_msgs)
    assert int(checkpoint_line(state)[2]) == t

    # Night 2: one more message in the checkpoint's second, one a second later.
    late = dict(base[1], unique="LATE-SAME-SECOND", timestamp=str(t))
    newer = dict(base[2], unique="ONE-SECOND-LATER", timestamp=str(t + 1))
    f2 = write_samples(tmp_path / "h2.jsonl", [newer, late] + night1_msgs)
    m2 = mock_factory("--samples", f2)
    out2 = tmp_path / "n2.csv"
    r, reqs = night(m2, state, out2)
    assert r.returncode == 0, r.stderr
    assert sorted(uniques(out2.read_bytes())) == ["LATE-SAME-SECOND", "ONE-SECOND-LATER"]
    assert out2.read_bytes() == truth(tmp_path, [newer, late])
    assert len(page_requests(reqs)) <= 2

    # Night 3, nothing new: nothing written (the odd uniques were remembered).
    out3 = tmp_path / "n3.csv"
    r, _ = night(m2, state, out3)
    assert r.returncode == 0, r.stderr
    assert uniques(out3.read_bytes()) == []


def test_empty_uniques_never_stand_for_the_checkpoint(mock_factory, tmp_path):
    """An empty unique names no message: it is written every time it comes (no dedupe),
    and it must not become the head or the checkpoint's second's list, or the next
    night takes any new message with an empty unique for the head and drops what
    follows it (the state held the head line "+ TS <empty>" before the fix)."""
    base = spaced_history(3, 600, seed=5)
    t0 = ts_of(base[-1])
    n1 = [dict(base[0], unique="", timestamp=str(t0 + 100)),
          dict(base[1], unique="b", timestamp=str(t0 + 50)),
          dict(base[2], unique="a", timestamp=str(t0))]
    m1 = mock_factory("--samples", write_samples(tmp_path / "h1.jsonl", n1))
    state = tmp_path / "state"
    r, _ = night(m1, state, tmp_path / "n1.csv")
    assert r.returncode == 0, r.stderr
    assert len(csv_rows((tmp_path / "n1.csv").read_bytes())) == 3
    n2 = [dict(base[0], unique="d", timestamp=str(t0 + 300)),
          dict(base[1], unique="", timestamp=str(t0 + 250)),
          dict(base[2], unique="c", timestamp=str(t0 + 200))] + n1
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", n2))
    out2 = tmp_path / "n2.csv"
    r, _ = night(m2, state, out2)
    assert r.returncode == 0, r.stderr
    # Everything above the head (b) again: d, the new "", c, and night 1's "" too,
    # which nothing can tell from a new one (at least once, as SPEC §5.3 has it).
    assert uniques(out2.read_bytes()) == ["", "c", "", "d"], out2.read_text()
    messages = [row["message"] for row in csv_rows(out2.read_bytes())]
    assert messages[1:] == [n2[2]["message"], n2[1]["message"], n2[0]["message"]]


# ------------------------------------------------------------------ failed nights

def test_failed_night_leaves_state_and_output_untouched_next_night_catches_up(
        mock, tmp_path):
    state, msgs = first_night(mock, tmp_path)
    before = state.read_bytes()
    day2 = grow(mock, 7)

    # Night 2 fails: every request for page 1 answers 503, one retry.
    mock.control(fail_5xx="all")
    out2 = tmp_path / "night2.csv"
    out2_prev = (tmp_path / "night1.csv").read_bytes()  # a file this run could add to
    out2.write_bytes(out2_prev)
    r, reqs = night(mock, state, out2, "--retries", "1", "-q")
    assert r.returncode == 69, r.stderr
    line = one_error_line(r)
    assert "page 1" in line and "503" in line, line
    assert len(reqs) == 2 and all(e["kind"] == "5xx" for e in reqs), reqs
    assert state.read_bytes() == before
    assert out2.read_bytes() == out2_prev
    assert tmp_leftovers(tmp_path) == []

    # A fresh output path stays absent on failure.
    out2b = tmp_path / "night2b.csv"
    r, _ = night(mock, state, out2b, "--retries", "1", "-q")
    assert r.returncode == 69
    assert not out2b.exists()
    assert state.read_bytes() == before

    # Night 3 is good; 5 more messages came meanwhile: it writes all 12 missed.
    mock.control(fail_5xx=None)
    day3 = grow(mock, 5)
    missed = day3 + day2
    assert len({m["unique"] for m in missed}) == 12
    out3 = tmp_path / "night3.csv"
    r, reqs = night(mock, state, out3)
    assert r.returncode == 0, r.stderr
    assert sorted(uniques(out3.read_bytes())) == sorted(m["unique"] for m in missed)
    assert out3.read_bytes() == truth(tmp_path, missed)
    assert len(page_requests(reqs)) <= 2
    assert int(checkpoint_line(state)[2]) == max(ts_of(m) for m in missed)


def test_night_failing_on_page_2_commits_nothing(mock, tmp_path):
    """Page 1 arrives (all new) but page 2 keeps failing: no output and no
    checkpoint move, or the next night would skip the rest of page 2's news."""
    state, msgs = first_night(mock, tmp_path)
    before = state.read_bytes()
    grow(mock, 80)
    missed = all_messages(mock)[:80]
    mock.control(fail_5xx="2:100")
    out2 = tmp_path / "night2.csv"
    r, reqs = night(mock, state, out2, "--retries", "1", "-q")
    assert r.returncode == 69, r.stderr
    assert "page 2" in one_error_line(r)
    assert not out2.exists()
    assert state.read_bytes() == before
    assert tmp_leftovers(tmp_path) == []

    mock.control(fail_5xx=None)
    out3 = tmp_path / "night3.csv"
    r, _ = night(mock, state, out3)
    assert r.returncode == 0, r.stderr
    assert out3.read_bytes() == truth(tmp_path, missed)


def test_refused_night_leaves_state_untouched(mock, tmp_path):
    """A wrong key (exit 77) is a failed night too."""
    state, msgs = first_night(mock, tmp_path)
    before = state.read_bytes()
    new = grow(mock, 7)
    out2 = tmp_path / "night2.csv"
    r, _ = night(mock, state, out2, "-q", env=fetch_env(key="wrong-key"))
    assert r.returncode == 77, r.stderr
    assert not out2.exists()
    assert state.read_bytes() == before
    r, _ = night(mock, state, out2)
    assert r.returncode == 0, r.stderr
    assert out2.read_bytes() == truth(tmp_path, new)


# ------------------------------------------------------------------ --lookback

def test_lookback_reexports_the_window_behind_the_checkpoint(mock_factory, tmp_path):
    """500 messages 3500 s apart (10 pages): --lookback 2d re-exports every message
    within 2 days behind the checkpoint, plus the new ones, without a full walk."""
    hist = spaced_history(500, 3500, seed=5)
    f = write_samples(tmp_path / "h.jsonl", hist)
    m = mock_factory("--samples", f)
    state = tmp_path / "state"
    r, _ = night(m, state, tmp_path / "n1.csv")
    assert r.returncode == 0, r.stderr
    cp_ts = ts_of(hist[0])
    assert int(checkpoint_line(state)[2]) == cp_ts

    new = grow(m, 7)
    floor = cp_ts - 2 * 86400
    assert all((cp_ts - ts_of(x)) % 3500 == 0 for x in hist)
    assert all(ts_of(x) != floor for x in hist)          # no message on the edge
    window = [x for x in hist if ts_of(x) >= floor]
    assert 45 <= len(window) <= 55
    out2 = tmp_path / "n2.csv"
    r, reqs = night(m, state, out2, "--lookback", "2d")
    assert r.returncode == 0, r.stderr
    want = new + window
    assert sorted(uniques(out2.read_bytes())) == sorted(x["unique"] for x in want)
    assert out2.read_bytes() == truth(tmp_path, want)
    asked = {e["page"] for e in page_requests(reqs)}
    # The window's edge is on page 2; four pages' worth of messages in a row behind it end
    # the walk on page 6 (so late deliveries do not); a few more were in flight. Not the
    # whole history (11 pages, and an empty 12th).
    assert max(asked) <= 10, "lookback must stop paging behind its window: %s" % asked
    assert int(checkpoint_line(state)[2]) == max(ts_of(x) for x in new)

    # Lookback again with nothing new: the window again (relative to the new checkpoint).
    out3 = tmp_path / "n3.csv"
    r, _ = night(m, state, out3, "--lookback", "2d")
    assert r.returncode == 0, r.stderr
    cp2 = max(ts_of(x) for x in new)
    want3 = [x for x in new + hist if ts_of(x) >= cp2 - 2 * 86400]
    assert out3.read_bytes() == truth(tmp_path, want3)

    # And without --lookback, nothing.
    out4 = tmp_path / "n4.csv"
    r, _ = night(m, state, out4)
    assert r.returncode == 0, r.stderr
    assert uniques(out4.read_bytes()) == []


@pytest.mark.parametrize("odd_ts", [0, 90 * 86400], ids=["dated-0", "late-90-days"])
def test_lookback_window_is_not_cut_by_one_misdated_message(mock_factory, tmp_path, odd_ts):
    """SPEC §5.3: one old-dated message on top (a timestamp of 0, a late delivery) must
    not end the paging early: the whole --lookback window is exported again, with the
    states that changed in it (here every window message was read since night 1)."""
    hist = spaced_history(400, 1800, seed=9)              # 2 days = 96 messages, 2 pages
    m1 = mock_factory("--samples", write_samples(tmp_path / "n1.jsonl", hist))
    state = tmp_path / "state"
    r, _ = night(m1, state, tmp_path / "n1.csv")
    assert r.returncode == 0, r.stderr
    cp_ts = ts_of(hist[0])
    read = [dict(x, state=3) for x in hist]
    odd = dict(hist[0], unique="ODD-%d" % odd_ts, timestamp=str(odd_ts if not odd_ts
                                                                else cp_ts - odd_ts))
    m2 = mock_factory("--samples", write_samples(tmp_path / "n2.jsonl", [odd] + read))
    out = tmp_path / "n2.csv"
    r, _ = night(m2, state, out, "--lookback", "2d")
    assert r.returncode == 0, r.stderr
    window = [x for x in read if ts_of(x) >= cp_ts - 2 * 86400]
    assert len(window) > 60, "the window must reach onto page 2"
    rows = csv_rows(out.read_bytes())
    assert sorted(x["unique"] for x in rows) == sorted([odd["unique"]] +
                                                       [x["unique"] for x in window])
    assert all(x["state_code"] == "3" for x in rows if x["unique"] != odd["unique"])


@pytest.mark.parametrize("bad", ["2x", "-1d", "soon"])
def test_lookback_bad_duration_is_a_usage_error(mock, tmp_path, bad):
    state = tmp_path / "state"
    r, reqs = night(mock, state, tmp_path / "o.csv", "--lookback", bad)
    assert r.returncode == 64, r.stderr
    assert "--lookback" in one_error_line(r)
    assert reqs == []
    assert not state.exists() and not (tmp_path / "o.csv").exists()


# ------------------------------------------------------------------ lock contention

def hold_lock(state):
    fd = os.open(str(state) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_lock_held_exits_75_and_changes_nothing(mock, tmp_path):
    state, msgs = first_night(mock, tmp_path)
    before = state.read_bytes()
    grow(mock, 7)
    fd = hold_lock(state)
    try:
        out2 = tmp_path / "night2.csv"
        r, reqs = night(mock, state, out2, "-q")
        assert r.returncode == 75, r.stderr
        line = one_error_line(r)
        assert str(state) in line, line
        assert reqs == [], "a refused run must not call the API"
        assert not out2.exists()
        assert state.read_bytes() == before
    finally:
        os.close(fd)
    assert tmp_leftovers(tmp_path) == []
    # Released: the next run goes through.
    r, _ = night(mock, state, out2)
    assert r.returncode == 0, r.stderr
    assert len(csv_rows(out2.read_bytes())) == 7


def test_stale_lock_file_does_not_block(mock, tmp_path):
    """A lock file left by a crashed run (not locked) is no obstacle."""
    state, msgs = first_night(mock, tmp_path)
    (tmp_path / "state.lock").write_text("999999\n")
    new = grow(mock, 7)
    r, _ = night(mock, state, tmp_path / "n2.csv")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "n2.csv").read_bytes() == truth(tmp_path, new)


def test_concurrent_run_on_same_state_exits_75(mock, tmp_path):
    """Two real processes: the second, started while the first is fetching, exits
    75 and touches nothing; the first finishes normally."""
    state, msgs = first_night(mock, tmp_path)
    before = state.read_bytes()
    new = grow(mock, 7)
    mock.control(latency_ms=2000)
    out_a, out_b = tmp_path / "a.csv", tmp_path / "b.csv"
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    first = subprocess.Popen([BIN] + FETCH + ["--url", mock.url, "--state", str(state),
                                             "-o", str(out_a), "-q"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while mock.log()["in_flight"] == 0 and first.poll() is None:
            assert time.monotonic() < deadline, "the first run never reached the API"
            time.sleep(0.01)
        # (run directly: night() would wait for the first run's request to end)
        r = run(FETCH + ["--url", mock.url, "--state", state, "-o", out_b, "-q"],
                env=fetch_env())
        during = state.read_bytes()
        assert r.returncode == 75, r.stderr
        assert str(state) in one_error_line(r)
        assert not out_b.exists()
        assert first.poll() is None, "the first run should still be waiting on the API"
        assert during == before
    finally:
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert out_a.read_bytes() == truth(tmp_path, new)
    assert int(checkpoint_line(state)[2]) == max(ts_of(m) for m in new)
    mock.control(latency_ms=0)


# ------------------------------------------------------------------ corrupt state

GOOD_LINE = ACCOUNT + "\t*\t1731999000\tABC\n"
CORRUPT = {
    "wrong-magic": "waexport-state 3\n" + GOOD_LINE,
    "no-header": GOOD_LINE,
    "garbage": "hello world\n",
    "binary": "\x00\x01\x02\xff\xfe",
    "epoch-not-a-number": STATE_MAGIC_V1 + "\n" + ACCOUNT + "\t*\tyesterday\tABC\n",
    "missing-uniques": STATE_MAGIC_V1 + "\n" + ACCOUNT + "\t*\t1731999000\n",
    "from-not-a-number": STATE_MAGIC_V1 + "\nabc\t*\t1731999000\tABC\n",
    "bad-second-line": STATE_MAGIC_V1 + "\n" + GOOD_LINE + "oops\n",
    "json-instead": '{"from": "%s", "ts": 1731999000}\n' % ACCOUNT,
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_state_is_an_error_naming_the_file(mock, tmp_path, name):
    state = tmp_path / "state"
    raw = CORRUPT[name].encode("latin-1")
    state.write_bytes(raw)
    os.chmod(state, 0o600)
    out = tmp_path / "out.csv"
    r, reqs = night(mock, state, out, "-q")
    assert r.returncode == 65, (r.returncode, r.stderr)
    line = one_error_line(r)
    assert str(state) in line, line
    assert state.read_bytes() == raw, "a corrupt state file must be left as it was"
    assert not out.exists(), "never a silent full re-export"
    assert reqs == [], "the state is checked before the API is called"
    assert tmp_leftovers(tmp_path) == []


def test_corrupt_state_keeps_the_previous_output(mock, tmp_path):
    state = tmp_path / "state"
    state.write_bytes(b"waexport-state 1\nnot\ta\tcheckpoint\n")
    out = tmp_path / "out.csv"
    out.write_bytes(b"yesterday\r\n")
    r, _ = night(mock, state, out, "-q")
    assert r.returncode == 65
    assert out.read_bytes() == b"yesterday\r\n"


def test_state_is_per_from_and_to(mock, tmp_path):
    """A --to run keeps its own checkpoint beside the whole-account one."""
    state, msgs = first_night(mock, tmp_path)
    chat = next(m["from"] if str(m["direction"]) == "1" else m["to"] for m in msgs)
    mine = [m for m in msgs
            if (m["from"] if str(m["direction"]) == "1" else m["to"]) == chat]
    out = tmp_path / "chat.csv"
    r, _ = night(mock, state, out, "--to", chat)
    assert r.returncode == 0, r.stderr
    assert sorted(uniques(out.read_bytes())) == sorted(m["unique"] for m in mine)
    assert int(checkpoint_line(state, to=chat)[2]) == max(ts_of(m) for m in mine)
    assert int(checkpoint_line(state)[2]) == max(ts_of(m) for m in msgs)
    # The whole-account checkpoint did not move: nothing new for it.
    r, _ = night(mock, state, tmp_path / "all2.csv")
    assert r.returncode == 0, r.stderr
    assert uniques((tmp_path / "all2.csv").read_bytes()) == []


def test_state_file_in_missing_directory_fails_before_fetching(mock, tmp_path):
    state = tmp_path / "no-such-dir" / "state"
    out = tmp_path / "out.csv"
    r, reqs = night(mock, state, out, "-q")
    assert r.returncode in (73, 74), r.stderr
    assert "no-such-dir" in one_error_line(r)
    assert reqs == []
    assert not out.exists()


def test_state_committed_only_after_output(mock, tmp_path):
    """An output that cannot be committed (its directory vanished) is a failed
    night: the checkpoint must not move."""
    state, msgs = first_night(mock, tmp_path)
    before = state.read_bytes()
    grow(mock, 7)
    out = tmp_path / "gone" / "n2.csv"
    r, reqs = night(mock, state, out, "-q")
    assert r.returncode == 73, r.stderr
    assert state.read_bytes() == before
    assert not out.parent.exists()


# ------------------------------------------------------------------ news during a night

def test_messages_arriving_during_a_night_are_never_lost(mock, tmp_path):
    """Messages keep arriving while night 2 pages (every request after the first
    adds 30): whatever night 2 does not write, night 3 does.  Over all nights
    every message is written, and no night writes one twice."""
    state, msgs = first_night(mock, tmp_path)
    grow(mock, 70)
    mock.control(grow_every=1, grow_by=30)
    out2 = tmp_path / "night2.csv"
    r, _ = night(mock, state, out2)
    assert r.returncode == 0, r.stderr
    mock.control(grow_every=0)
    out3 = tmp_path / "night3.csv"
    r, _ = night(mock, state, out3)
    assert r.returncode == 0, r.stderr
    out4 = tmp_path / "night4.csv"
    r, _ = night(mock, state, out4)
    assert r.returncode == 0, r.stderr
    everything = all_messages(mock)
    nights = [uniques((tmp_path / ("night%d.csv" % i)).read_bytes()) for i in (1, 2, 3)]
    for n in nights:
        assert len(n) == len(set(n)), "a night wrote a message twice"
    written = set().union(*map(set, nights))
    assert written == {m["unique"] for m in everything}, \
        "lost: %d" % len({m["unique"] for m in everything} - written)
    assert uniques(out4.read_bytes()) == []
    assert int(checkpoint_line(state)[2]) == max(ts_of(m) for m in everything)


def test_a_flood_during_a_retry_wait_is_not_written_again_the_next_night(mock, tmp_path):
    """120 messages arrive while night 2 waits out a 429 on its page 2 (one page at a
    time): the retried page 2 then holds 50 of them, above the head night 2 began at.
    Night 2 writes them; night 3 writes only the 50 of the flood still above, not those
    again (the checkpoint also keeps the first message of each later page). Over all
    nights every message is written once."""
    state, _ = first_night(mock, tmp_path)
    grow(mock, 70)
    mock.control(fail_429="2:1", retry_after="2")
    settle(mock)
    rc, err = run_with_a_flood_in_the_retry_wait(
        mock, FETCH + ["--url", mock.url, "--state", state, "--concurrency", "1", "-o",
                       tmp_path / "night2.csv"], 120)
    assert rc == 0, err
    mock.control(fail_429=None)
    out3 = tmp_path / "night3.csv"
    r, _ = night(mock, state, out3)
    assert r.returncode == 0, r.stderr
    nights = [uniques((tmp_path / ("night%d.csv" % i)).read_bytes()) for i in (1, 2, 3)]
    assert len(nights[2]) == 50, "night 3 wrote %d, of them %d written by night 2" % (
        len(nights[2]), len(set(nights[1]) & set(nights[2])))
    everything = [m["unique"] for m in all_messages(mock)]
    assert sorted(sum(nights, [])) == sorted(everything), "every message once over the nights"


def test_broadcast_of_100_in_one_second_is_not_reexported(mock_factory, tmp_path):
    """An API broadcast sends 100 messages in the same second, the newest of the
    history.  The checkpoint covers all of them: the next nights write nothing,
    then only the truly new message."""
    base = spaced_history(60, 900, seed=9)
    t = ts_of(base[0]) + 100
    burst = [dict(m, unique="BCAST%03d" % i, timestamp=str(t), direction="2",
                  **{"from": ACCOUNT, "to": "97250%07d" % i})
             for i, m in enumerate(spaced_history(100, 1, seed=10))]
    hist = burst + base
    f1 = write_samples(tmp_path / "h1.jsonl", hist)
    m1 = mock_factory("--samples", f1)
    state = tmp_path / "state"
    r, _ = night(m1, state, tmp_path / "n1.csv")
    assert r.returncode == 0, r.stderr
    assert len(uniques((tmp_path / "n1.csv").read_bytes())) == 160
    for n in (2, 3):
        out = tmp_path / ("n%d.csv" % n)
        r, _ = night(m1, state, out)
        assert r.returncode == 0, r.stderr
        assert uniques(out.read_bytes()) == [], "night %d re-exported %d" % (
            n, len(uniques(out.read_bytes())))
    newer = dict(base[1], unique="AFTER-BROADCAST", timestamp=str(t + 5))
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", [newer] + hist))
    out = tmp_path / "n4.csv"
    r, _ = night(m2, state, out)
    assert r.returncode == 0, r.stderr
    assert uniques(out.read_bytes()) == ["AFTER-BROADCAST"]


def test_sigterm_during_a_night_changes_nothing(mock, tmp_path):
    """SIGTERM mid-night: exit 143, state and output untouched, lock released,
    metrics record 143 and keep last_success; the next night catches up."""
    prom = tmp_path / "m.prom"
    state, msgs = first_night(mock, tmp_path, "--metrics-file", prom)
    good = metric_value(parse_prometheus(prom.read_text()),
                        "waexport_last_success_timestamp_seconds", **{"from": ACCOUNT})
    before = state.read_bytes()
    new = grow(mock, 7)
    mock.control(latency_ms=3000)
    out2 = tmp_path / "n2.csv"
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    p = subprocess.Popen([BIN] + FETCH + ["--url", mock.url, "--state", str(state),
                                         "-o", str(out2), "-q", "--metrics-file", str(prom)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while mock.log()["in_flight"] == 0 and p.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    assert state.read_bytes() == before
    assert not out2.exists()
    assert tmp_leftovers(tmp_path) == []
    m = parse_prometheus(prom.read_text())
    assert metric_value(m, "waexport_exit_code", **{"from": ACCOUNT}) == 143
    assert metric_value(m, "waexport_last_success_timestamp_seconds",
                        **{"from": ACCOUNT}) == good
    mock.control(latency_ms=0)
    mock.quiesce()
    r, _ = night(mock, state, out2)
    assert r.returncode == 0, r.stderr
    assert out2.read_bytes() == truth(tmp_path, new)


def test_several_to_contacts_each_keep_their_checkpoint(mock_factory, tmp_path):
    """--to A --to B with --state: night 2 writes the news of A and B only."""
    g = gen_history.History(31, ACCOUNT, 40)
    a, b, c = "972520000001", "IL.1605856887361213", "972520000003"
    t = 1731000000
    hist = [g.make(i, t - 60 * i, contact=(a, b, c)[i % 3]) for i in range(150)]
    f1 = write_samples(tmp_path / "h1.jsonl", hist)
    m1 = mock_factory("--samples", f1)
    state = tmp_path / "state"
    r, _ = night(m1, state, tmp_path / "n1.csv", "--to", a, "--to", b)
    assert r.returncode == 0, r.stderr
    assert len(uniques((tmp_path / "n1.csv").read_bytes())) == 100
    news = [g.make(1000 + i, t + 60 * (i + 1), contact=(a, b, c)[i % 3]) for i in range(9)]
    news.reverse()
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", news + hist))
    out = tmp_path / "n2.csv"
    r, reqs = night(m2, state, out, "--to", a, "--to", b)
    assert r.returncode == 0, r.stderr
    want = [x for x in news if c not in (x["from"], x["to"])]
    assert sorted(uniques(out.read_bytes())) == sorted(x["unique"] for x in want)
    assert len(want) == 6
    for who in (a, b):
        assert len([e for e in reqs if e["to"] == who]) <= 2
        assert int(checkpoint_line(state, to=who)[2]) == max(
            ts_of(x) for x in news if who in (x["from"], x["to"]))
