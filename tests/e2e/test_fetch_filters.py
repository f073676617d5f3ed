"""`waexport fetch` selection: --since/--until, --to (one file per contact or one
file for all), bad --from/--to values (SPEC §2, §4.5)."""
import os
from collections import Counter
from datetime import datetime, timezone

import pytest

from conftest import run
from fetch_helpers import (ACCOUNT, convert_pages, convert_samples, csv_rows, csv_table,
                           fetch_env, mock_factory, sample_messages, samples_mock,  # noqa: F401
                           samples_server, stderr_lines, summary_number)
from nightly_helpers import spaced_history, ts_of, write_samples

FETCH = ["fetch", "--from", ACCOUNT]
MSGS = sample_messages()                                   # newest first
TS = [int(m["timestamp"]) for m in MSGS]
HIDDEN = "IL.1605856887361213"


def chat_of(m):
    return m["from"] if str(m["direction"]) == "1" else m["to"]


def expected_rows(lo=None, hi=None):
    """The rows of the full (convert) CSV whose timestamp is in [lo, hi)."""
    header, rows = csv_table(convert_samples())
    i = header.index("timestamp")
    keep = [r for r in rows if (lo is None or int(r[i]) >= lo) and (hi is None or int(r[i]) < hi)]
    return header, keep


def iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ 11. --since / --until

def test_since_until_epoch_bounds_half_open(waexport, samples_mock, tmp_path):
    since, until = TS[120], TS[30]           # message 120 is kept, message 30 is not
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", samples_mock.url, "--since", since, "--until", until,
                          "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    header, rows = csv_table(out.read_bytes())
    exp_header, exp = expected_rows(since, until)
    assert header == exp_header
    assert rows == exp
    assert len(rows) == 90
    uniques = {r[0] for r in rows}
    assert MSGS[120]["unique"] in uniques and MSGS[30]["unique"] not in uniques


@pytest.mark.parametrize("since,until", [
    ("2024-09-01", "2024-10-01"),
    ("2024-09-01T00:00:00Z", "2024-10-01T00:00:00Z"),
    ("2024-09-01T03:00:00+03:00", "2024-10-01T03:00:00+03:00"),
])
def test_since_until_date_forms(waexport, samples_mock, tmp_path, since, until):
    lo = int(datetime(2024, 9, 1, tzinfo=timezone.utc).timestamp())
    hi = int(datetime(2024, 10, 1, tzinfo=timezone.utc).timestamp())
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", samples_mock.url, "--since", since, "--until", until,
                          "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    _, rows = csv_table(out.read_bytes())
    _, exp = expected_rows(lo, hi)
    assert exp, "the samples have messages in September 2024"
    assert rows == exp


def test_since_date_uses_tz(waexport, samples_mock, tmp_path):
    """A bare date is midnight in --tz (Asia/Jerusalem is UTC+3 on 2024-09-01)."""
    lo = int(datetime(2024, 8, 31, 21, 0, tzinfo=timezone.utc).timestamp())
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", samples_mock.url, "--since", "2024-09-01",
                          "--tz", "Asia/Jerusalem", "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    header, rows = csv_table(out.read_bytes())
    i = header.index("timestamp")
    assert sorted(int(r[i]) for r in rows) == sorted(t for t in TS if t >= lo)


def test_since_stops_paging_early(waexport, samples_mock, tmp_path):
    since = TS[80]                                             # on page 2
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", samples_mock.url, "--since", since, "--concurrency", "1",
                          "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    _, rows = csv_table(out.read_bytes())
    assert rows == expected_rows(since, None)[1]
    assert len(rows) == 81
    pages = [e["page"] for e in samples_mock.requests()]
    assert max(pages) <= 3 and len(pages) < 7, pages


def test_since_stops_paging_early_concurrent(waexport, samples_mock, tmp_path):
    since = TS[30]                                             # on page 1
    r = waexport(FETCH + ["--url", samples_mock.url, "--since", iso(since), "-o",
                          tmp_path / "o.csv"], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert len(csv_rows((tmp_path / "o.csv").read_bytes())) == 31
    assert samples_mock.log()["total"] < 7, [e["page"] for e in samples_mock.requests()]


def test_since_duration_after_newest_message(waexport, samples_mock, tmp_path):
    """--since 7d (the samples end in 2024): nothing to write, page 1 is enough."""
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", samples_mock.url, "--since", "7d", "--concurrency", "1",
                          "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    header, rows = csv_table(out.read_bytes())
    assert rows == [] and header[0] == "unique"
    assert [e["page"] for e in samples_mock.requests()] == [1]


@pytest.mark.parametrize("conc", [1, 4])
def test_until_only(waexport, samples_mock, tmp_path, conc):
    """Whole pages newer than --until are skipped, not taken for repeated pages."""
    until = TS[250]
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", samples_mock.url, "--until", until, "--concurrency", conc,
                          "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert csv_table(out.read_bytes())[1] == expected_rows(None, until)[1]
    assert len(csv_rows(out.read_bytes())) == 320 - 251


@pytest.mark.parametrize("opt,value", [
    ("--since", "yesterday"), ("--since", "2024-13-01"), ("--since", ""),
    ("--until", "2024-02-30"), ("--until", "12x"), ("--since", "-5d"),
])
def test_bad_time_is_usage_error(waexport, tmp_path, opt, value):
    r = waexport(FETCH + ["--url", "http://127.0.0.1:9/x", opt, value,
                          "-o", tmp_path / "o.csv"], env=fetch_env())
    assert r.returncode == 64, r.stderr
    assert len(stderr_lines(r)) == 1, r.stderr
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ 12. --to

CONTACTS = ["972505492890", HIDDEN]           # 99 messages (2 pages) and 1 message


def test_to_one_file_per_contact(waexport, samples_mock, tmp_path):
    truth = {c: convert_pages(tmp_path, samples_mock.pages(to=c)) for c in CONTACTS}
    assert len(csv_rows(truth[CONTACTS[0]])) == 99
    assert len(csv_rows(truth[HIDDEN])) == 1
    samples_mock.reset()
    d = tmp_path / "out"
    d.mkdir()
    r = waexport(FETCH + ["--url", samples_mock.url, "--to", CONTACTS[0], "--to", HIDDEN,
                          "-o", d / "out-{to}.csv"], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(d)) == sorted("out-%s.csv" % c for c in CONTACTS)
    for c in CONTACTS:
        data = (d / ("out-%s.csv" % c)).read_bytes()
        assert data == truth[c], c
        assert all((row["from"] if row["direction"] == "incoming" else row["to"]) == c
                   for row in csv_rows(data))
    tos = Counter(e["to"] for e in samples_mock.requests())
    assert set(tos) == set(CONTACTS), tos


@pytest.mark.parametrize("fmt,order", [("csv", "oldest"), ("csv", "newest"),
                                       ("ndjson", "oldest")])
def test_to_several_contacts_one_file(waexport, samples_mock, tmp_path, fmt, order):
    out = tmp_path / ("both." + fmt)
    r = waexport(FETCH + ["--url", samples_mock.url, "--to", CONTACTS[0], "--to", HIDDEN,
                          "--order", order, "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    if fmt == "ndjson":
        # Same rows as the CSV pipeline would give: convert the NDJSON's records back.
        import json
        recs = [json.loads(ln) for ln in data.splitlines()]
        assert len(recs) == 100 and len({x["unique"] for x in recs}) == 100
        chats = {x["from"] if x["direction"] == "incoming" else x["to"] for x in recs}
        assert chats == set(CONTACTS)
        ts = [x["timestamp"] for x in recs]
        assert ts == sorted(ts), "--order oldest is chronological across the whole file"
        return
    header, rows = csv_table(data)
    exp_header, all_rows = csv_table(convert_samples())
    assert header == exp_header
    i_from, i_to, i_dir = header.index("from"), header.index("to"), header.index("direction")
    exp = [row for row in all_rows
           if (row[i_from] if row[i_dir] == "incoming" else row[i_to]) in CONTACTS]
    assert len(exp) == 100
    assert sorted(rows) == sorted(exp)
    assert len({row[0] for row in rows}) == 100
    # The row order is chronological across the whole file.
    ts = [int(row[header.index("timestamp")]) for row in rows]
    assert ts == sorted(ts, reverse=(order == "newest"))


def test_to_contact_without_messages(waexport, samples_mock, tmp_path):
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", samples_mock.url, "--to", "972509999999", "-o", out],
                 env=fetch_env())
    assert r.returncode == 0, r.stderr
    header, rows = csv_table(out.read_bytes())
    assert rows == [] and header[0] == "unique"


@pytest.mark.parametrize("bad", ["+972509876543", "abc", "IL.", "972 50 987 6543",
                                 "../etc/passwd", "97250987654x", ""])
def test_bad_to_is_usage_error(waexport, tmp_path, bad):
    r = waexport(FETCH + ["--url", "http://127.0.0.1:9/x", "--to", bad,
                          "-o", tmp_path / "o-{to}.csv"], env=fetch_env())
    assert r.returncode == 64, r.stderr
    assert len(stderr_lines(r)) == 1, r.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("bad", ["+972501234567", "1234567", "1234567890123456",
                                 "97250123456a", "", "IL.1605856887361213"])
def test_bad_from_is_usage_error(waexport, tmp_path, bad):
    r = waexport(["fetch", "--from", bad, "--url", "http://127.0.0.1:9/x",
                  "-o", tmp_path / "o.csv"], env=fetch_env())
    assert r.returncode == 64, r.stderr
    assert len(stderr_lines(r)) == 1, r.stderr
    assert os.listdir(tmp_path) == []


def test_missing_from_is_usage_error(waexport, tmp_path):
    r = waexport(["fetch", "--url", "http://127.0.0.1:9/x", "-o", tmp_path / "o.csv"],
                 env=fetch_env())
    assert r.returncode == 64, r.stderr
    assert b"--from" in r.stderr


def test_a_second_copy_outside_the_window_counts_as_a_duplicate(mock_factory, tmp_path):  # noqa: F811
    """Pages that shifted serve a message twice. Outside --since/--until the second copy
    was counted as one more message "outside", so written + outside exceeded the
    history (20 + 104 of 120) and "duplicates dropped" said 0 (SPEC §6)."""
    msgs = spaced_history(120, 60, seed=9)
    shifted = msgs[0:50] + msgs[48:98] + msgs[96:120]     # 4 messages served twice
    mock = mock_factory("--samples", write_samples(tmp_path / "h.jsonl", shifted))
    until = ts_of(msgs[99])                                # the 20 oldest are inside
    r = run(FETCH + ["--url", mock.url, "--until", until, "-o", tmp_path / "w.csv"],
            env=fetch_env())
    assert r.returncode == 0, r.stderr.decode()
    assert len(csv_rows((tmp_path / "w.csv").read_bytes())) == 20
    assert summary_number(r, "outside") == 100, r.stderr.decode()
    assert summary_number(r, "duplicates dropped") == 4, r.stderr.decode()
