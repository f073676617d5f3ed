"""The checkpoint trusts API order, not timestamps (SPEC §5.3, issue 13 item 0).

A timestamp is a sender's claim: a message dated in the year 2100, one
delivered late with a time before the checkpoint, one dated 0.  None of them
may end the paging early, be skipped, or move the checkpoint to where the next
night would skip real messages.  Each test here lost messages before the state
recorded the head of the history.
"""
import os
import time

import pytest

from fetch_helpers import csv_rows, fetch_env, mock_factory  # noqa: F401
from conftest import run
from nightly_helpers import FETCH, checkpoint_line, night, spaced_history, ts_of, write_samples

YEAR_2100 = 4102444800


def uniques(path):
    """The file's uniques, sorted (the default order is oldest first, by time)."""
    return sorted(row["unique"] for row in csv_rows(path.read_bytes()))


def history(n, step, seed, end_epoch, tag):
    """n messages newest first, step seconds apart, with uniques unique to tag."""
    return [dict(m, unique="%s-%d" % (tag, i))
            for i, m in enumerate(spaced_history(n, step, seed=seed, end_epoch=end_epoch))]


def test_a_message_dated_2100_does_not_hide_the_next_nights_news(mock_factory, tmp_path):
    base = history(150, 600, 3, 1732000000, "old")
    future = dict(base[5], unique="FUTURE", timestamp=str(YEAR_2100))
    night1 = base[:3] + [future] + base[3:]
    state = tmp_path / "state"
    m1 = mock_factory("--samples", write_samples(tmp_path / "h1.jsonl", night1))
    r, _ = night(m1, state, tmp_path / "n1.csv")
    assert r.returncode == 0, r.stderr
    assert len(uniques(tmp_path / "n1.csv")) == len(night1)
    assert int(checkpoint_line(state)[2]) < YEAR_2100, "a wrong clock became the checkpoint"

    news = history(120, 60, 4, 1732000000 + 120 * 60, "new")
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", news + night1))
    r, _ = night(m2, state, tmp_path / "n2.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n2.csv") == sorted(x["unique"] for x in news)

    r, _ = night(m2, state, tmp_path / "n3.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n3.csv") == []


def test_a_late_delivery_on_page_1_does_not_end_the_paging(mock_factory, tmp_path):
    base = history(150, 600, 5, 1732000000, "old")
    state = tmp_path / "state"
    m1 = mock_factory("--samples", write_samples(tmp_path / "h1.jsonl", base))
    r, _ = night(m1, state, tmp_path / "n1.csv")
    assert r.returncode == 0, r.stderr
    cp = int(checkpoint_line(state)[2])

    news = history(120, 60, 6, 1732000000 + 120 * 60, "new")
    news[10] = dict(news[10], timestamp=str(cp - 86400))     # late: a day before the checkpoint
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", news + base))
    r, reqs = night(m2, state, tmp_path / "n2.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n2.csv") == sorted(x["unique"] for x in news)
    assert max(e["page"] for e in reqs if e["page"]) >= 3
    # The late message did not move the checkpoint back, the news moved it on.
    assert int(checkpoint_line(state)[2]) == max(ts_of(x) for x in news)

    r, _ = night(m2, state, tmp_path / "n3.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n3.csv") == []


def test_since_is_not_ended_by_a_message_dated_0(mock_factory, tmp_path):
    msgs = history(120, 60, 7, 1732000000, "m")
    msgs[20] = dict(msgs[20], timestamp="0")
    m = mock_factory("--samples", write_samples(tmp_path / "h.jsonl", msgs))
    out = tmp_path / "out.csv"
    args = FETCH + ["--url", m.url, "--since", str(1732000000 - 86400), "-o", str(out)]
    r = run(args, env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert uniques(out) == sorted(x["unique"] for i, x in enumerate(msgs) if i != 20)


def test_a_late_delivery_on_top_of_the_news_is_written_once(mock_factory, tmp_path):
    """The head this run records is where its export began, in API order: a newer
    timestamp further down must not wipe it (the next night, with nothing new,
    would write the late message again)."""
    base = history(120, 600, 8, 1732000000, "old")
    state = tmp_path / "state"
    m1 = mock_factory("--samples", write_samples(tmp_path / "h1.jsonl", base))
    assert night(m1, state, tmp_path / "n1.csv")[0].returncode == 0
    news = history(10, 60, 9, 1732000000 + 3600, "new")
    late = dict(news[0], unique="LATE", timestamp=str(1732000000 - 3600))
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", [late] + news + base))
    for n in (2, 3, 4):
        r, _ = night(m2, state, tmp_path / ("n%d.csv" % n))
        assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n2.csv") == sorted(["LATE"] + [x["unique"] for x in news])
    assert uniques(tmp_path / "n3.csv") == [] and uniques(tmp_path / "n4.csv") == []


def test_max_pages_short_of_the_checkpoint_does_not_move_it(mock_factory, tmp_path):
    """--max-pages ended the walk before the last night's head: what lies between
    was not exported, so the checkpoint stays (with a warning) and the next night
    exports it; nothing is lost, the pages written twice are the price."""
    base = history(150, 600, 13, 1732000000, "old")
    state = tmp_path / "state"
    m1 = mock_factory("--samples", write_samples(tmp_path / "h1.jsonl", base))
    assert night(m1, state, tmp_path / "n1.csv")[0].returncode == 0
    before = state.read_bytes()
    news = history(250, 60, 14, 1732000000 + 250 * 60, "new")
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", news + base))
    r, _ = night(m2, state, tmp_path / "n2.csv", "--max-pages", "2")
    assert r.returncode == 0, r.stderr
    assert len(uniques(tmp_path / "n2.csv")) == 100
    assert b"--max-pages" in r.stderr and b"checkpoint" in r.stderr, r.stderr
    assert state.read_bytes() == before
    r, _ = night(m2, state, tmp_path / "n3.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n3.csv") == sorted(x["unique"] for x in news)
    r, _ = night(m2, state, tmp_path / "n4.csv")
    assert uniques(tmp_path / "n4.csv") == []


@pytest.mark.parametrize("n_late", [50, 300])
def test_pages_of_late_deliveries_above_the_head_are_all_written(mock_factory, tmp_path, n_late):
    """Whole pages dated before the checkpoint, with the head after them: a page of
    them, or (after an outage) six, more than NEXTCP_GONE_PAGES. The last run was
    yesterday, so the API cannot have deleted the head: the walk goes on to it and
    writes every one of them."""
    base = history(200, 600, 17, 1732000000, "old")
    state = tmp_path / "state"
    m1 = mock_factory("--samples", write_samples(tmp_path / "h1.jsonl", base))
    assert night(m1, state, tmp_path / "n1.csv")[0].returncode == 0
    news = history(30, 60, 18, 1732000000 + 3600, "new")
    late = [dict(m, unique="late-%d" % i)
            for i, m in enumerate(history(n_late, 60, 19, 1732000000 - 86400, "x"))]
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", news + late + base))
    r, _ = night(m2, state, tmp_path / "n2.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n2.csv") == sorted(x["unique"] for x in news + late)
    r, _ = night(m2, state, tmp_path / "n3.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n3.csv") == []


def without_head(base):
    """base after every message of the last night's head was deleted on the server: its
    first two pages, and the first message of each later page (kept in the head too)."""
    return [m for i, m in enumerate(base) if i >= 100 and i % 50]


def test_a_head_deleted_is_met_again_at_a_later_pages_first(mock_factory, tmp_path):
    """The last night's first two pages were deleted on the server. The checkpoint also
    keeps the first message of each later page that night walked: the walk stops at page
    3's, on the new page 1, and writes only what is new (no page walked again)."""
    base = history(400, 600, 20, 1732000000, "old")
    state = tmp_path / "state"
    m1 = mock_factory("--samples", write_samples(tmp_path / "h1.jsonl", base))
    assert night(m1, state, tmp_path / "n1.csv")[0].returncode == 0
    news = history(30, 60, 21, 1732000000 + 3600, "new")
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", news + base[100:]))
    r, reqs = night(m2, state, tmp_path / "n2.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n2.csv") == sorted(x["unique"] for x in news)
    assert max(e["page"] for e in reqs if e["page"]) == 1


def test_when_the_head_is_gone_the_walk_falls_back_to_time(mock_factory, tmp_path):
    """The last night's head messages are gone from the server, and that night was
    almost a year ago (the API deletes after one year): the walk cannot meet them,
    so after a few pages wholly at or before the checkpoint it stops (SPEC §5.3's
    time rule) instead of walking the whole history; every new message is written,
    and the few old pages it took to tell are written again."""
    base = history(1000, 600, 15, 1732000000, "old")
    state = tmp_path / "state"
    m1 = mock_factory("--samples", write_samples(tmp_path / "h1.jsonl", base))
    assert night(m1, state, tmp_path / "n1.csv")[0].returncode == 0
    long_ago = time.time() - 351 * 86400
    os.utime(state, (long_ago, long_ago))
    news = history(30, 60, 16, 1732000000 + 3600, "new")
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl",
                                                 news + without_head(base)))
    r, reqs = night(m2, state, tmp_path / "n2.csv")
    assert r.returncode == 0, r.stderr
    got = uniques(tmp_path / "n2.csv")
    assert set(x["unique"] for x in news) <= set(got)
    # Page 1 holds the news and 20 old; pages 2-5 are wholly old: the head is gone.
    assert len(got) == len(news) + 20 + 4 * 50, "the pages it took to tell, again"
    assert max(e["page"] for e in reqs if e["page"]) < 15, "not a walk of the whole history"


def test_a_head_deleted_lately_costs_a_full_walk_not_a_message(mock_factory, tmp_path):
    """The same deletion the day after the last run: the API keeps a year, so only
    a deletion can explain the missing head, and late deliveries look the same
    until the head is met. The walk goes to the end; every message is written
    (the old ones again, which a merge by unique absorbs) and none is lost."""
    base = history(400, 600, 20, 1732000000, "old")
    state = tmp_path / "state"
    m1 = mock_factory("--samples", write_samples(tmp_path / "h1.jsonl", base))
    assert night(m1, state, tmp_path / "n1.csv")[0].returncode == 0
    news = history(30, 60, 21, 1732000000 + 3600, "new")
    left = without_head(base)
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", news + left))
    r, _ = night(m2, state, tmp_path / "n2.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n2.csv") == sorted(x["unique"] for x in news + left)
    r, _ = night(m2, state, tmp_path / "n3.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n3.csv") == []


def test_with_lookback_a_head_deleted_is_passed_at_a_later_pages_last(mock_factory, tmp_path):
    """--lookback 1d, and the last night's first two pages deleted on the server (its
    head, and page 2's last message). That night kept the last message of each later
    page it walked as a mark below its head: the walk meets page 3's, writes what lies
    above it (the news, and what it cannot tell from them), then the window from there,
    and stops where the messages have left the window: not a walk, and an export, of the
    whole history again (SPEC §5.3: only when the head is gone does time end the walk)."""
    base = history(1000, 600, 22, 1732000000, "old")  # 144 a day
    lookback = ("--lookback", "1d")
    state = tmp_path / "state"
    m1 = mock_factory("--samples", write_samples(tmp_path / "h1.jsonl", base))
    assert night(m1, state, tmp_path / "n1.csv", *lookback)[0].returncode == 0
    news = history(30, 60, 23, 1732000000 + 3600, "new")
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", news + base[100:]))
    r, reqs = night(m2, state, tmp_path / "n2.csv", *lookback)
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n2.csv") == sorted(x["unique"] for x in news + base[100:149])
    assert max(e["page"] for e in reqs if e["page"]) < 10, "a walk of the whole history"
    r, _ = night(m2, state, tmp_path / "n3.csv", *lookback)
    assert r.returncode == 0, r.stderr
    assert set(uniques(tmp_path / "n3.csv")) >= set(x["unique"] for x in news)


def test_a_head_deleted_after_a_one_page_night_is_met_at_an_earlier_nights_mark(
        mock_factory, tmp_path):
    """Night 2 walks one page (ten news): no mark of its own, so its checkpoint carries
    night 1's (the first message of each later page night 1 walked). Then the newest 60
    are deleted on the server (night 2's whole page 1): night 3 meets night 1's page-2
    mark, the first message left, writes its news alone and stops, instead of walking and
    writing the whole history again (the previous binary: 355 rows)."""
    base = history(400, 600, 24, 1732000000, "old")
    state = tmp_path / "state"
    m1 = mock_factory("--samples", write_samples(tmp_path / "h1.jsonl", base))
    assert night(m1, state, tmp_path / "n1.csv")[0].returncode == 0
    news2 = history(10, 60, 25, 1732000000 + 3600, "new2")
    m2 = mock_factory("--samples", write_samples(tmp_path / "h2.jsonl", news2 + base))
    r, _ = night(m2, state, tmp_path / "n2.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n2.csv") == sorted(x["unique"] for x in news2)
    news3 = history(5, 60, 26, 1732000000 + 7200, "new3")
    m3 = mock_factory("--samples", write_samples(tmp_path / "h3.jsonl", news3 + base[50:]))
    r, reqs = night(m3, state, tmp_path / "n3.csv")
    assert r.returncode == 0, r.stderr
    assert uniques(tmp_path / "n3.csv") == sorted(x["unique"] for x in news3)
    assert max(e["page"] for e in reqs if e["page"]) < 8, "a walk of the whole history"
