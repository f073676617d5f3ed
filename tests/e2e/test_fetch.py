"""`waexport fetch` against the mock API: full fetch, concurrency, paging end,
--save-raw, progress/summary, compressed transfer (SPEC §2, §5.1, §6)."""
import gzip
import json
import re
import subprocess

import pytest

from conftest import BIN, ROOT
from fetch_helpers import (ACCOUNT, SAMPLE_PAGES, convert_pages, convert_samples,
                           csv_rows, fetch_env, mock_factory, samples_mock,  # noqa: F401
                           samples_server, stderr_lines, summary_number)

FETCH = ["fetch", "--from", ACCOUNT]


def pages_requested(mock):
    return [e["page"] for e in mock.requests()]


# ------------------------------------------------------------------ 1. full fetch

def test_full_fetch_csv_equals_convert(waexport, samples_mock, tmp_path):
    out = tmp_path / "out.csv"
    r = waexport(FETCH + ["--url", samples_mock.url, "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout == b""
    data = out.read_bytes()
    assert data == convert_samples("--format", "csv")
    assert len(csv_rows(data)) == 320
    uniques = [row["unique"] for row in csv_rows(data)]
    assert len(set(uniques)) == 320


def test_full_fetch_ndjson_equals_convert(waexport, samples_mock, tmp_path):
    out = tmp_path / "out.ndjson"
    r = waexport(FETCH + ["--url", samples_mock.url, "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data == convert_samples("--format", "ndjson")
    lines = data.decode("utf-8").split("\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == 320
    assert all(isinstance(json.loads(ln), dict) for ln in lines[:-1])


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_full_fetch_order_newest(waexport, samples_mock, tmp_path, fmt):
    out = tmp_path / ("out." + fmt)
    r = waexport(FETCH + ["--url", samples_mock.url, "--order", "newest", "-o", out],
                 env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == convert_samples("--format", fmt, "--order", "newest")


def test_full_fetch_to_stdout_with_url_from_env(waexport, samples_mock):
    """Default output is stdout; the endpoint may come from $WAEXPORT_URL."""
    r = waexport(FETCH + ["-q"], env=fetch_env(WAEXPORT_URL=samples_mock.url))
    assert r.returncode == 0, r.stderr
    assert r.stdout == convert_samples()
    assert len(csv_rows(r.stdout)) == 320


# ------------------------------------------------------------------ 2. concurrency

@pytest.fixture(scope="module")
def slow_mock():
    """1000 messages = 20 full pages, 50 ms per answer."""
    from fetch_helpers import Mock
    m = Mock("--messages", 1000, "--seed", 5, "--latency-ms", 50)
    yield m
    m.stop()


def test_concurrency_4_keeps_up_to_4_in_flight(waexport, slow_mock, tmp_path):
    slow_mock.reset()
    out = tmp_path / "out.csv"
    r = waexport(FETCH + ["--url", slow_mock.url, "--concurrency", "4", "-o", out],
                 env=fetch_env())
    assert r.returncode == 0, r.stderr
    log = slow_mock.log()
    assert 2 <= log["max_in_flight"] <= 4, log["max_in_flight"]
    assert len(csv_rows(out.read_bytes())) == 1000


def test_concurrency_1_is_sequential(waexport, slow_mock, tmp_path):
    slow_mock.reset()
    out = tmp_path / "out.csv"
    r = waexport(FETCH + ["--url", slow_mock.url, "--concurrency", "1", "-o", out],
                 env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert slow_mock.log()["max_in_flight"] == 1
    assert len(csv_rows(out.read_bytes())) == 1000
    # One at a time, the pages go strictly 1, 2, 3, ... and stop at the empty page 21
    # (asked twice: one empty answer does not end the history).
    assert pages_requested(slow_mock) == list(range(1, 22)) + [21]


@pytest.mark.parametrize("bad", ["0", "33", "-1", "x", "4x", ""])
def test_concurrency_out_of_range_is_usage_error(waexport, bad):
    r = waexport(FETCH + ["--url", "http://127.0.0.1:9/x", "--concurrency", bad],
                 env=fetch_env())
    assert r.returncode == 64, r.stderr
    assert len(stderr_lines(r)) == 1, r.stderr


# ------------------------------------------------------------------ 3. paging end

@pytest.mark.parametrize("conc", [1, 4])
def test_stops_at_first_short_page(waexport, mock_factory, tmp_path, conc):
    m = mock_factory("--messages", 120, "--seed", 3)         # pages 50, 50, 20
    truth = convert_pages(tmp_path, m.pages())
    m.reset()
    out = tmp_path / "out.csv"
    r = waexport(FETCH + ["--url", m.url, "--concurrency", conc, "-o", out],
                 env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == truth
    assert len(csv_rows(truth)) == 120
    pages = pages_requested(m)
    if conc > 1 and pages.count(1) == 2:
        # With pages in flight together, page 1 may be asked once more at the end to
        # learn whether new messages arrived meanwhile (SPEC §5.2: none skipped).
        # (Not necessarily last in the log: cancelled requests past the end may be
        # logged after it.)
        pages.remove(1)
    assert sorted(p for p in pages if p <= 3) == [1, 2, 3]
    beyond = [p for p in pages if p > 3]
    if conc == 1:
        assert beyond == [], "page 3 is short: nothing past it may be asked"
    assert len(beyond) <= conc, pages


@pytest.mark.parametrize("extra", [[], ["--empty-body-at-end"]],
                         ids=["empty-array", "empty-body"])
def test_exact_multiple_stops_at_empty_page(waexport, mock_factory, tmp_path, extra):
    m = mock_factory("--messages", 150, "--seed", 4, *extra)   # 3 full pages, then end
    truth = convert_pages(tmp_path, m.pages())
    m.reset()
    out = tmp_path / "out.ndjson"
    r = waexport(FETCH + ["--url", m.url, "--concurrency", "1", "-o", out],
                 env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == convert_pages(tmp_path, m.pages(), "--format", "ndjson")
    assert len(out.read_bytes().splitlines()) == 150
    m.reset()
    r = waexport(FETCH + ["--url", m.url, "--concurrency", "1", "-o", tmp_path / "o.csv"],
                 env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.csv").read_bytes() == truth
    # The empty page that ends the history is asked once more (a proxy's one empty
    # answer must not end it): one request more, no retry.
    assert pages_requested(m) == [1, 2, 3, 4, 4]
    assert [e["kind"] for e in m.requests()] == ["page", "page", "page", "end", "end"]
    assert summary_number(r, "retries") == 0, r.stderr


def test_exact_multiple_with_concurrency_asks_few_past_end(waexport, mock_factory, tmp_path):
    m = mock_factory("--messages", 150, "--seed", 4, "--empty-body-at-end")
    truth = convert_pages(tmp_path, m.pages())
    m.reset()
    out = tmp_path / "out.csv"
    r = waexport(FETCH + ["--url", m.url, "--concurrency", "4", "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == truth
    beyond = [p for p in pages_requested(m) if p > 4]
    assert len(beyond) <= 4, pages_requested(m)


def test_empty_history(waexport, mock_factory, tmp_path):
    m = mock_factory("--messages", 0)
    out = tmp_path / "out.csv"
    r = waexport(FETCH + ["--url", m.url, "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    header, = out.read_bytes().split(b"\r\n")[:-1]
    assert header.startswith(b"unique,timestamp,time,")


# ------------------------------------------------------------------ 10. --save-raw

@pytest.mark.parametrize("raw_name", ["raw.ndjson", "raw.ndjson.gz"])
def test_save_raw_roundtrips_through_convert(waexport, samples_mock, tmp_path, raw_name):
    out = tmp_path / "out.csv"
    raw = tmp_path / raw_name
    r = waexport(FETCH + ["--url", samples_mock.url, "--save-raw", raw, "-o", out],
                 env=fetch_env())
    assert r.returncode == 0, r.stderr
    data = raw.read_bytes()
    if raw_name.endswith(".gz"):
        assert data[:2] == b"\x1f\x8b", "a .gz --save-raw file must be gzip"
        data = gzip.decompress(data)
    assert data.endswith(b"\n")
    arrays = [json.loads(ln) for ln in data.split(b"\n")[:-1]]
    assert all(isinstance(a, list) for a in arrays), "one JSON array per line"
    non_empty = [a for a in arrays if a]
    expected = [json.loads(p.read_bytes()) for p in SAMPLE_PAGES]
    assert non_empty == expected, "every page, in page order"
    conv = waexport(["convert", "-q", raw])
    assert conv.returncode == 0, conv.stderr
    assert conv.stdout == out.read_bytes()
    assert conv.stdout == convert_samples()


# ------------------------------------------------------------------ 14. progress, summary

def test_summary_line(waexport, samples_mock, tmp_path):
    out = tmp_path / "out.csv"
    r = waexport(FETCH + ["--url", samples_mock.url, "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    text = r.stderr.decode()
    summary = [ln for ln in stderr_lines(r) if "messages" in ln]
    assert len(summary) == 1, text
    line = summary[0]
    assert re.search(r"\b320 messages\b", line), line
    assert re.search(r"\b[78] pages\b", line), line
    assert re.search(r"\b0 retries\b", line), line
    assert re.search(r"\b0 duplicates\b", line), line
    assert re.search(r"\b2 warnings\b", line), line        # samples 3/20 and 3/37
    assert str(out) in line or out.name in line, line


def test_progress_line(waexport, slow_mock, tmp_path):
    """The slow mock makes the run last (20 pages of 50 ms, two at a time) long
    enough for a live line to be drawn."""
    slow_mock.reset()
    r = waexport(FETCH + ["--url", slow_mock.url, "--concurrency", "2", "--progress",
                          "-o", tmp_path / "o.csv"], env=fetch_env())
    assert r.returncode == 0, r.stderr
    text = r.stderr.decode()
    progress = [seg for seg in re.split(r"[\r\n]", text) if "pages" in seg
                and "wrote" not in seg]
    assert progress, "no progress line in %r" % text


def test_warnings_start_a_line_of_their_own_under_the_progress_line(waexport, mock_factory,
                                                                    tmp_path):
    """A warning while the live line is drawn must not be glued to its end (SPEC §6):
    the line is erased first. The samples warn on page 3, which comes after 0.9 s here."""
    m = mock_factory("--samples", str(ROOT / "samples" / "pages"), "--latency-ms", 300)
    r = waexport(FETCH + ["--url", m.url, "--concurrency", "1", "--progress",
                          "-o", tmp_path / "o.csv"], env=fetch_env())
    assert r.returncode == 0, r.stderr
    text = r.stderr.decode()
    assert "\r\033[K" in text, "no live line was drawn: %r" % text
    starts = [i for i in range(len(text)) if text.startswith("waexport: ", i)]
    assert starts, text
    for i in starts:
        assert i == 0 or text[i - 1] == "\n" or text[:i].endswith("\r\033[K"), \
            "glued to the progress line: %r" % text[max(0, i - 80):i + 40]


def test_no_progress_without_tty(waexport, samples_mock, tmp_path):
    r = waexport(FETCH + ["--url", samples_mock.url, "-o", tmp_path / "o.csv"],
                 env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert b"\r" not in r.stderr


def test_quiet_prints_nothing_on_success(waexport, samples_mock, tmp_path):
    out = tmp_path / "out.csv"
    r = waexport(FETCH + ["--url", samples_mock.url, "-q", "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"" and r.stderr == b""
    assert out.read_bytes() == convert_samples()


# ------------------------------------------------------------------ 15. compressed transfer

def test_gzip_transfer_accepted(waexport, mock_factory, tmp_path):
    m = mock_factory("--samples", str(SAMPLE_PAGES[0].parent), "--gzip")
    out = tmp_path / "out.csv"
    r = waexport(FETCH + ["--url", m.url, "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == convert_samples()
    pages = [e for e in m.requests() if e["kind"] == "page"]
    assert {e["page"] for e in pages} == set(range(1, 8))
    assert all(e["gzip"] for e in pages), "the client must offer Accept-Encoding: gzip"


def test_libcurl_is_linked_not_opened_at_run_time(waexport, samples_mock, tmp_path):
    # Issue 12: libcurl is linked like any library (the compiler checks every
    # call), not opened with dlopen through a table of function pointers.
    dyn = subprocess.run(["readelf", "-d", "--dyn-syms", BIN], stdout=subprocess.PIPE,
                         check=True).stdout
    assert re.search(rb"NEEDED.*\[libcurl\.so\.4\]", dyn), dyn[:2000]
    assert not re.search(rb"\bdlopen\b", dyn)
    r = waexport(FETCH + ["--url", samples_mock.url, "-o", tmp_path / "f.csv"], env=fetch_env())
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(csv_rows((tmp_path / "f.csv").read_bytes())) == 320
