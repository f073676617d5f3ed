"""The checkpoint trusts API order, not timestamps (SPEC §5.3, issue 13 item 0).

A timestamp is a sender's claim: a message dated in the year 2100, one
delivered late with a time before the checkpoint, one dated 0.  None of them
may end the paging early, be skipped, or move the checkpoint to where the next
night would skip real messages.  Each test here lost messages before the state
recorded the head of the history.
"""
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
