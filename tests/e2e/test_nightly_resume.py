"""Resumable runs (SPEC §5.3 "Resumable runs", issue 13 item 3).

A first export of 150 pages dies at page 100 (the mock's fail_from knob: every
request from page 100 on fails, or a status FAIL answer there: exit 77), is
interrupted by SIGTERM, or is killed.  The
pages it took stay in the journal beside the state; 30 new messages arrive; the
next run fetches page 1 (where the journal's newest message now is), checks
the one page where the journal's oldest message must now be, replays the
journal and goes on: about 55 requests, not 150, and an output equal to the
mock's history message by message.  A torn journal (a kill mid-write) loses
its last page only; a corrupt one is a warning and a full walk.
"""
import json
import os
import re
import signal
import subprocess
import time
from collections import Counter

import pytest

from conftest import BIN
from fetch_helpers import Mock, fetch_env
from nightly_helpers import (FETCH, all_messages, counterpart, grow, metric_value, night,
                             parse_prometheus, settle, truth)
from fetch_helpers import ACCOUNT, csv_rows

PAGES = 150


@pytest.fixture(scope="module")
def server():
    m = Mock("--messages", PAGES * 50, "--seed", 31)
    yield m
    m.stop()


@pytest.fixture
def mock(server):
    settle(server)
    server.reset(knobs=True)
    return server


def page_requests(reqs):
    return [e for e in reqs if e["page"] is not None]


def resume_and_check(mock, tmp_path, state, out):
    """30 new messages, then the resumed run: exact output, few requests, no journal."""
    journal = tmp_path / (state.name + ".journal")
    assert journal.exists(), "the failed run must leave its pages"
    assert not out.exists()
    grow(mock, 30)
    msgs = all_messages(mock)
    r, reqs = night(mock, state, out)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == truth(tmp_path, msgs), "every message once, in order"
    assert not journal.exists(), "a successful run removes the journal"
    return r, page_requests(reqs)


def test_first_export_failing_at_page_100_resumes_with_about_55_requests(mock, tmp_path):
    state, out = tmp_path / "state", tmp_path / "all.csv"
    mock.control(fail_from=100)
    r, _ = night(mock, state, out, "--retries", "1")
    assert r.returncode == 69, r.stderr
    assert not state.exists()
    mock.control(fail_from=0)
    r, reqs = resume_and_check(mock, tmp_path, state, out)
    assert len(reqs) <= 60, "resumed run asked %d pages" % len(reqs)
    assert b"resumed: 99 pages from the journal" in r.stderr, r.stderr
    # And the night after: nothing new, nothing written, state moved on.
    r, _ = night(mock, state, tmp_path / "next.csv")
    assert r.returncode == 0, r.stderr


def test_resumed_figures_count_the_servers_pages_and_no_overlap_as_duplicates(mock, tmp_path):
    """SPEC §6: pages fetched are the server's, not the journal's; the pages the
    resume reads twice on purpose (page 1, the checked page) are not duplicates."""
    state, out = tmp_path / "state", tmp_path / "all.csv"
    mock.control(fail_from=100)
    r, _ = night(mock, state, out, "--retries", "1")
    assert r.returncode == 69, r.stderr
    mock.control(fail_from=0)
    metrics, manifest = tmp_path / "m.prom", tmp_path / "manifest.json"
    grow(mock, 30)
    r, reqs = night(mock, state, out, "--metrics-file", metrics, "--manifest", manifest)
    assert r.returncode == 0, r.stderr
    # page 1 (the journal's newest is there), page 100 (checked), pages 101..151
    fetched = 1 + 1 + (151 - 100)
    assert ("wrote 7530 messages from %d pages and 99 of the journal "
            "(0 duplicates dropped," % fetched).encode() in r.stderr, r.stderr
    m = parse_prometheus(metrics.read_text())
    assert metric_value(m, "waexport_pages_fetched", **{"from": ACCOUNT}) == fetched
    assert metric_value(m, "waexport_duplicates_dropped", **{"from": ACCOUNT}) == 0
    doc = json.loads(manifest.read_text())
    assert doc["pages_fetched"] == fetched and doc["duplicates_dropped"] == 0, doc


def test_the_progress_line_of_a_resumed_run_counts_the_journal_apart(mock, tmp_path):
    """SPEC §6: the live line's pages are the server's, as in the summary; the pages read
    back from the journal are named apart (it said "152 pages" for 53 fetched)."""
    state, out = tmp_path / "state", tmp_path / "all.csv"
    mock.control(fail_from=100)
    r, _ = night(mock, state, out, "--retries", "1")
    assert r.returncode == 69, r.stderr
    mock.control(fail_from=0, latency_ms=150)  # so the line is drawn after the journal
    r, reqs = night(mock, state, out, "--progress")
    assert r.returncode == 0, r.stderr
    fetched = len(page_requests(reqs))
    lines = r.stderr.decode().replace("\n", "\r").split("\r")
    drawn = [ln for ln in lines if " messages, " in ln and " msg/s" in ln]
    counts = [int(re.search(r"(\d+) pages, ", ln).group(1)) for ln in drawn]
    assert counts and max(counts) <= fetched, (fetched, drawn[-3:])
    assert any("pages, 99 of the journal, " in ln for ln in drawn), drawn[-3:]


def test_a_resumed_walk_names_the_real_page_when_it_fails(mock, tmp_path):
    """SPEC §3 names the page: after "going on from page 100" a 503 on page 120
    was reported as "page 21" (the walk's own count from where it resumed)."""
    state, out = tmp_path / "state", tmp_path / "all.csv"
    mock.control(fail_from=100)
    r, _ = night(mock, state, out, "--retries", "1")
    assert r.returncode == 69, r.stderr
    mock.control(fail_from=120)
    r, reqs = night(mock, state, out, "--retries", "1")
    assert r.returncode == 69, r.stderr
    assert b"going on from page 100" in r.stderr, r.stderr
    assert b"waexport: page 120: server answered HTTP 503 on each of 2 tries" in r.stderr, \
        r.stderr
    assert min(e["page"] for e in reqs if e["kind"] == "5xx") == 120


def test_a_resumed_run_that_fails_again_keeps_what_it_fetched(mock, tmp_path):
    """SPEC §5.3: a failed run does not throw its pages away, a resumed one included.
    The resumed run's pages were not journaled: the third run resumed from the first
    run's 49 pages again and fetched pages 51-109 a second time (a flaky first export
    could never get further)."""
    state, out = tmp_path / "state", tmp_path / "all.csv"
    mock.control(fail_from=50)
    r, _ = night(mock, state, out, "--retries", "0")
    assert r.returncode == 69, r.stderr
    grow(mock, 30)
    mock.control(fail_from=110)
    r, _ = night(mock, state, out, "--retries", "0")
    assert r.returncode == 69, r.stderr
    assert b"resumed: 49 pages from the journal" in r.stderr, r.stderr
    assert not out.exists() and not state.exists()
    grow(mock, 20)
    mock.control(fail_from=0)
    msgs = all_messages(mock)
    r, reqs = night(mock, state, out)
    assert r.returncode == 0, r.stderr
    # 49 pages of the first run, then the second run's checked page 50 and 51-109
    assert b"resumed: 109 pages from the journal" in r.stderr, r.stderr
    assert out.read_bytes() == truth(tmp_path, msgs), "every message once, in order"
    # page 1 and 2, the checked page 110, then 111-152: about 50, not the 113 of before
    assert len(page_requests(reqs)) <= 60, "asked %d pages" % len(page_requests(reqs))
    assert not (tmp_path / "state.journal").exists()


def test_messages_arriving_during_a_resumed_run_keep_its_journal_usable(mock, tmp_path):
    """Three new messages every 20 requests during the second run shifted its later pages:
    the journal's count of messages was off by as many, the next run's check failed and
    the whole journal, the first run's good pages included, was left out (a full walk)."""
    state, out = tmp_path / "state", tmp_path / "all.csv"
    mock.control(fail_from=50)
    r, _ = night(mock, state, out, "--retries", "0")
    assert r.returncode == 69, r.stderr
    grow(mock, 30)
    mock.control(fail_from=110, grow_every=20, grow_by=3)
    r, _ = night(mock, state, out, "--retries", "0", "--concurrency", "1")
    mock.control(grow_every=0)
    assert r.returncode == 69 and b"resumed: 49 pages" in r.stderr, r.stderr
    grow(mock, 20)
    mock.control(fail_from=0)
    msgs = all_messages(mock)
    r, reqs = night(mock, state, out)
    assert r.returncode == 0, r.stderr
    assert b"no longer line up" not in r.stderr and b"resumed: " in r.stderr, r.stderr
    assert out.read_bytes() == truth(tmp_path, msgs), "every message once, in order"
    assert len(page_requests(reqs)) <= 60, "asked %d pages" % len(page_requests(reqs))


def test_a_resumed_run_starting_over_loses_and_repeats_nothing(mock, tmp_path):
    """FETCH_AGAIN (new messages while pages were fetched side by side) starts a resumed
    walk over: nothing lost, nothing twice (that the journal is truncated back to what
    was read is checked in tests/unit/test_resume.c)."""
    state, out = tmp_path / "state", tmp_path / "all.csv"
    mock.control(fail_from=60)
    r, _ = night(mock, state, out, "--retries", "0")
    assert r.returncode == 69, r.stderr
    journal = tmp_path / "state.journal"
    size = journal.stat().st_size
    mock.control(fail_from=0)
    before = all_messages(mock)
    mock.control(grow_every=40, grow_by=3)
    r, _ = night(mock, state, out, "--concurrency", "4")
    mock.control(grow_every=0)
    assert r.returncode == 0, r.stderr
    assert b"side by side" in r.stderr, "the walk did not start over: %s" % r.stderr
    assert r.stderr.count(b"resumed: ") == 1, "said more than once: %s" % r.stderr
    written = [row["unique"] for row in csv_rows(out.read_bytes())]
    assert len(written) == len(set(written)), "a message written twice"
    assert {m["unique"] for m in before} <= set(written), "a message lost"
    assert not journal.exists() and size > 0


def test_first_export_refused_at_page_100_resumes_too(mock, tmp_path):
    """status FAIL at page 100 (exit 77) keeps the 99 pages before it, like a 503 does."""
    state, out = tmp_path / "state", tmp_path / "all.csv"
    mock.control(fail_object="100:1", fail_reason=3)
    r, _ = night(mock, state, out)
    assert r.returncode == 77, r.stderr
    assert not state.exists()
    mock.control(fail_object=None)
    r, reqs = resume_and_check(mock, tmp_path, state, out)
    assert b"not used" not in r.stderr, r.stderr
    assert b"resumed: 99 pages from the journal" in r.stderr, r.stderr
    assert len(reqs) <= 60, "resumed run asked %d pages" % len(reqs)


def test_the_resumed_line_goes_to_the_log_file_too(mock, tmp_path):
    """SPEC §2 --log-file: every line the run says on stderr, also under --quiet."""
    state, out, log = tmp_path / "state", tmp_path / "all.csv", tmp_path / "run.log"
    mock.control(fail_from=100)
    r, _ = night(mock, state, out, "--retries", "1")
    assert r.returncode == 69, r.stderr
    mock.control(fail_from=0)
    r, _ = night(mock, state, out, "-q", "--log-file", str(log))
    assert r.returncode == 0, r.stderr
    assert b"resumed" not in r.stderr, "--quiet"
    text = log.read_text()
    assert "waexport: resumed: 99 pages from the journal" in text, text


def interrupted_run(mock, tmp_path, sig):
    """A first export stopped by sig once about 60 pages are in."""
    state, out = tmp_path / "state", tmp_path / "all.csv"
    mock.control(latency_ms=20)
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    p = subprocess.Popen([BIN] + FETCH + ["--url", mock.url, "--state", str(state), "-q",
                                         "--concurrency", "2", "-o", str(out)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while mock.log()["total"] < 60 and p.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode in (143, -9), (p.returncode, err)
    mock.control(latency_ms=0)
    settle(mock)
    return state, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_interrupted_first_export_resumes(mock, tmp_path, sig):
    state, out = interrupted_run(mock, tmp_path, sig)
    _, reqs = resume_and_check(mock, tmp_path, state, out)
    assert len(reqs) < 120, "resumed run asked %d pages" % len(reqs)


def test_journal_torn_mid_record_loses_only_its_last_page(mock, tmp_path):
    state, out = tmp_path / "state", tmp_path / "all.csv"
    mock.control(fail_from=100)
    r, _ = night(mock, state, out, "--retries", "0")
    assert r.returncode == 69, r.stderr
    mock.control(fail_from=0)
    journal = tmp_path / "state.journal"
    size = journal.stat().st_size
    os.truncate(journal, size - 1000)            # the last record cut in the middle
    r, reqs = resume_and_check(mock, tmp_path, state, out)
    assert b"cut short" in r.stderr, r.stderr
    assert re.search(rb"resumed: 9[0-9] pages from the journal", r.stderr), r.stderr
    assert len(reqs) <= 65


def test_corrupt_journal_is_a_warning_and_a_full_walk(mock, tmp_path):
    state, out = tmp_path / "state", tmp_path / "all.csv"
    mock.control(fail_from=40)
    r, _ = night(mock, state, out, "--retries", "0")
    assert r.returncode == 69, r.stderr
    mock.control(fail_from=0)
    journal = tmp_path / "state.journal"
    data = bytearray(journal.read_bytes())
    data[len(data) // 2] ^= 0xFF                 # bit rot in the middle
    journal.write_bytes(bytes(data))
    r, reqs = resume_and_check(mock, tmp_path, state, out)
    assert b"journal" in r.stderr and b"not used" in r.stderr, r.stderr
    assert len(reqs) >= PAGES


def test_several_to_keep_a_journal_each_and_resume(tmp_path):
    """SPEC §5.3 "Resumable runs" for a run of several --to into one file: a journal for
    each contact (STATE.journal-TO). The first export fails in the first contact's walk at
    its page 20; the next run resumes that walk from its journal (19 pages fewer), walks
    the second contact in full, and writes every message once, in time order.
    Before, a run of several --to kept no journal and started over."""
    m = Mock("--messages", 3000, "--seed", 33, "--contacts", 2)
    try:
        a, b = sorted(c for c, _ in Counter(map(counterpart, all_messages(m))).most_common(2))
        state, out = tmp_path / "state", tmp_path / "both.csv"
        m.control(fail_from=20)
        r, _ = night(m, state, out, "--to", a, "--to", b, "--retries", "1")
        assert r.returncode == 69, r.stderr
        assert (tmp_path / ("state.journal-" + a)).exists(), sorted(os.listdir(tmp_path))
        m.control(fail_from=0)
        grow(m, 5)
        msgs = [x for x in all_messages(m) if counterpart(x) in (a, b)]
        r, reqs = night(m, state, out, "--to", a, "--to", b)
        assert r.returncode == 0, r.stderr
        asked_a = [e for e in page_requests(reqs) if e["to"] == a]
        pages_a = -(-sum(counterpart(x) == a for x in msgs) // 50)
        # page 1 (where the journal's newest now is), the checked page 20, the rest, and at
        # the end the empty page asked twice and the pages in flight past it (--concurrency 4)
        assert len(asked_a) <= pages_a - 19 + 2 + 5, (pages_a, [e["page"] for e in asked_a])
        assert b"resumed: 19 pages from the journal" in r.stderr, r.stderr
        assert out.read_bytes() == truth(tmp_path, msgs), "every message once, in order"
        assert not [p for p in os.listdir(tmp_path) if ".journal" in p], "journals removed"
    finally:
        m.stop()


def test_many_to_keep_one_journal_open_at_a_time(mock, tmp_path):
    """Forty --to under ulimit -n 40: each contact's journal is opened at its own walk and
    closed after it. All of them held open from the start ran out of descriptors: 69 or 74
    every night, blamed on the server or the journal."""
    import resource
    tos = [a for i in range(10, 50) for a in ("--to", "9725098765%02d" % i)]

    def few_descriptors():
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))

    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    r = subprocess.run([BIN] + FETCH + ["--url", mock.url, "--state", str(tmp_path / "state"),
                                        "-q", "-o", str(tmp_path / "all.csv")] + tos,
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       preexec_fn=few_descriptors)
    assert r.returncode == 0, r.stderr
    assert not [p for p in os.listdir(tmp_path) if ".journal" in p]


def test_journals_of_another_to_set_go_once_a_run_succeeds(tmp_path):
    """SPEC §5.3: "The journal is removed when a run succeeds". A failed run of --to A
    --to B leaves a journal for each; the next night's line asks for B alone and succeeds:
    A's journal was left for good (1.5 times that history on disk)."""
    m = Mock("--messages", 3000, "--seed", 33, "--contacts", 2)
    try:
        a, b = sorted(c for c, _ in Counter(map(counterpart, all_messages(m))).most_common(2))
        state = tmp_path / "state"
        m.control(fail_from=20)
        r, _ = night(m, state, tmp_path / "both.csv", "--to", a, "--to", b, "--retries", "1")
        assert r.returncode == 69, r.stderr
        assert [p for p in os.listdir(tmp_path) if ".journal" in p]
        m.control(fail_from=0)
        r, _ = night(m, state, tmp_path / "b.csv", "--to", b)
        assert r.returncode == 0, r.stderr
        assert not [p for p in os.listdir(tmp_path) if ".journal" in p], os.listdir(tmp_path)
    finally:
        m.stop()
