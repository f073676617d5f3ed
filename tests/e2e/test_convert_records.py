"""convert: odd and drifting records (SPEC §1 "defensively", §4.1, §4.3) and de-duplication (§5.2)."""
import json
import pytest

from helpers import (COLUMNS, FIXTURES, HISTORY, expected_csv, expected_ndjson, ordered, read_csv,
                     read_ndjson, summary)

DRIFT = FIXTURES / "drift.json"
DUP = [FIXTURES / "dup" / "page-1.json", FIXTURES / "dup" / "page-2.json"]


def convert(waexport, fmt, paths, *extra):
    p = waexport(["convert", "--format", fmt] + list(extra) + list(paths))
    assert p.returncode == 0, p.stderr.decode()
    return p


def by_unique_ndjson(waexport, paths):
    return {o["unique"]: o for o in read_ndjson(convert(waexport, "ndjson", paths, "-q").stdout)}


def by_unique_csv(waexport, paths):
    rows = read_csv(convert(waexport, "csv", paths, "-q").stdout)
    assert rows[0] == COLUMNS
    return {r[0]: dict(zip(COLUMNS, r)) for r in rows[1:]}


# ---------------------------------------------------------------- type drift, odd records

def test_drifting_records_all_written_and_match_ground_truth(waexport):
    p = convert(waexport, "ndjson", [DRIFT])
    objs = read_ndjson(p.stdout)
    expected = [expected_ndjson(m) for m in ordered([DRIFT])]
    assert len(objs) == 11                               # no message lost
    for got, exp in zip(objs, expected):
        assert list(got) == list(exp)
        assert got == exp
    rows = read_csv(convert(waexport, "csv", [DRIFT], "-q").stdout)[1:]
    assert rows == [expected_csv(m) for m in ordered([DRIFT])]


def test_numbers_where_strings_were_and_strings_where_numbers_were(waexport):
    o = by_unique_ndjson(waexport, [DRIFT])["DR10"]   # timestamp, direction, from as numbers; state as string
    assert (o["timestamp"], o["time"]) == (1720000010, "2024-07-03T09:46:50Z")
    assert (o["direction"], o["direction_code"]) == ("outgoing", 2)
    assert o["from"] == "972501234567" and o["to"] == "0501234567"
    assert (o["state"], o["state_code"]) == ("delivered", 2)
    c = by_unique_csv(waexport, [DRIFT])["DR10"]
    assert (c["timestamp"], c["direction_code"], c["from"], c["state"], c["state_code"]) == \
        ("1720000010", "2", "972501234567", "delivered", "2")


def test_state_labels(waexport):
    o = by_unique_ndjson(waexport, [DRIFT] + HISTORY)
    assert (o["DR08"]["state"], o["DR08"]["state_code"]) == ("unknown", 7)   # undocumented code
    assert (o["DR07"]["state"], o["DR07"]["state_code"]) == ("", 3)         # incoming: empty label
    assert (o["DR05"]["state"], o["DR05"]["state_code"]) == ("failed", 0)
    assert (o["BAE52B3F1EF11591D0F7"]["state"], o["BAE52B3F1EF11591D0F7"]["state_code"]) == ("read", 3)
    assert o["BAE5C0FFEE0000000001"]["state"] == "delivered"
    assert o["BAE5000000000000FRM1"]["state"] == "sent"
    assert o["DR09"]["state_code"] is None                                   # outgoing, no state


def test_unknown_direction_keeps_its_code(waexport):
    o = by_unique_ndjson(waexport, [DRIFT])["DR02"]
    assert (o["direction"], o["direction_code"]) == ("unknown", 3)
    assert by_unique_csv(waexport, [DRIFT])["DR02"]["direction"] == "unknown"


def test_unknown_type_passes_verbatim(waexport):
    assert by_unique_ndjson(waexport, [DRIFT])["DR03"]["type"] == "poll_creation_v2"
    assert by_unique_csv(waexport, [DRIFT])["DR03"]["type"] == "poll_creation_v2"


def test_reason_as_number_null_or_absent(waexport):
    o = by_unique_ndjson(waexport, [DRIFT] + HISTORY)
    assert o["DR05"]["reason"] == "3"                  # number -> its text
    assert o["DR04"]["reason"] is None                 # null
    assert o["DR09"]["reason"] is None                 # absent
    assert o["BAE5000000000000FAIL"]["reason"] == "number is not on WhatsApp"
    c = by_unique_csv(waexport, [DRIFT] + HISTORY)
    assert (c["DR05"]["reason"], c["DR04"]["reason"], c["DR09"]["reason"]) == ("3", "", "")
    assert c["BAE5000000000000FAIL"]["reason"] == "number is not on WhatsApp"


def test_missing_and_null_message_and_state(waexport):
    c = by_unique_csv(waexport, [DRIFT])
    assert c["DR06"]["message"] == ""                  # no message key at all
    assert c["DR04"]["message"] == "" and c["DR04"]["state_code"] == ""
    o = by_unique_ndjson(waexport, [DRIFT])
    assert o["DR06"]["message"] in (None, "")
    assert o["DR04"]["message"] in (None, "") and o["DR04"]["state_code"] is None


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_non_numeric_timestamp_keeps_raw_value_empty_time_and_warns(waexport, fmt):
    p = convert(waexport, fmt, [DRIFT])
    if fmt == "csv":
        row = {r[0]: dict(zip(COLUMNS, r)) for r in read_csv(p.stdout)[1:]}["DR01"]
        assert (row["timestamp"], row["time"]) == ("yesterday", "")
    else:
        row = {o["unique"]: o for o in read_ndjson(p.stdout)}["DR01"]
        assert row["timestamp"] == "yesterday" and row["time"] in (None, "")
    err = p.stderr.decode()
    assert any("DR01" in ln or "timestamp" in ln for ln in err.splitlines()[:-1]), err
    messages, _, _, warnings = summary(p.stderr)
    assert messages == 11 and warnings >= 1


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_fraction_of_a_second_is_the_second_it_lies_in(waexport, tmp_path, fmt):
    """SPEC §1: a number is accepted. 1614198777.5 (a number or a string) is written as the
    whole second it lies in, like 1.6e9, and not as raw text that an integer column of the
    loaders would refuse."""
    src = tmp_path / "fractions.json"
    src.write_text('[{"unique":"n","timestamp":1614198777.5},{"unique":"s","timestamp":"1614198777.25"},'
                   '{"unique":"e","timestamp":1.6e9},{"unique":"p","timestamp":-0.5}]\n')
    p = convert(waexport, fmt, [src])
    if fmt == "csv":
        rows = {r[0]: dict(zip(COLUMNS, r)) for r in read_csv(p.stdout)[1:]}
    else:
        rows = {o["unique"]: o for o in read_ndjson(p.stdout)}
    got = {u: (str(r["timestamp"]), r["time"]) for u, r in rows.items()}
    assert got == {"n": ("1614198777", "2021-02-24T20:32:57Z"),
                   "s": ("1614198777", "2021-02-24T20:32:57Z"),
                   "e": ("1600000000", "2020-09-13T12:26:40Z"),
                   "p": ("-1", "1969-12-31T23:59:59Z")}, got
    assert summary(p.stderr)[3] == 0, p.stderr


def test_missing_timestamp_leaves_time_empty_and_keeps_the_message(waexport):
    c = by_unique_csv(waexport, [DRIFT])["DR00"]
    assert (c["timestamp"], c["time"], c["message"]) == ("", "", "no timestamp at all")


def test_non_object_array_elements_are_bad_data(waexport, tmp_path):
    # SPEC §5.7: a page that is not an array of message objects is bad data (65), naming the element.
    f = tmp_path / "mixed.json"
    f.write_text('[{"unique":"M1","timestamp":"1720000000","direction":"1","message":"kept"},1,"x",null,[2]]')
    out = tmp_path / "out.csv"
    out.write_bytes(b"previous\r\n")
    p = waexport(["convert", "-o", str(out), str(f)])
    assert p.returncode == 65, p.stderr.decode()
    assert b"element 1 is a number, not a message object" in p.stderr
    assert out.read_bytes() == b"previous\r\n"


# ---------------------------------------------------------------- de-duplication

@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_message_seen_on_two_pages_is_written_once(waexport, fmt):
    p = convert(waexport, fmt, DUP)
    if fmt == "csv":
        ids = [r[0] for r in read_csv(p.stdout)[1:]]
    else:
        ids = [o["unique"] for o in read_ndjson(p.stdout)]
    assert ids == ["D1", "D2", "D3", "D4", "D5"]
    assert ids == [m["unique"] for m in ordered(DUP)]
    assert summary(p.stderr) == (5, 2, 1, 0)


def test_duplicates_across_files_and_lines_are_dropped(waexport, tmp_path):
    raw = tmp_path / "twice.jsonl"
    raw.write_bytes(b"".join(p.read_bytes().strip() + b"\n" for p in HISTORY + HISTORY))
    p = convert(waexport, "csv", [raw, HISTORY[0]])
    rows = read_csv(p.stdout)[1:]
    assert rows == [expected_csv(m) for m in ordered(HISTORY)]
    assert summary(p.stderr) == (13, 7, 18, 0)


def test_newest_order_with_duplicates(waexport):
    p = convert(waexport, "csv", DUP, "--order", "newest")
    assert [r[0] for r in read_csv(p.stdout)[1:]] == ["D5", "D4", "D3", "D2", "D1"]


def test_a_page_sorted_oldest_first_is_warned_about_once(waexport, tmp_path):
    """SPEC §2 --order oldest is chronological; convert takes a page as the API sends it,
    newest first. A hand-made dump sorted oldest first came out newest first with no
    word: now one warning says so and how to keep its order. A page the API could send
    (newest first, one message misdated) is not warned about."""
    asc = tmp_path / "asc.json"
    asc.write_text(json.dumps([{"unique": u, "timestamp": str(t)} for u, t in
                               [("a", 100), ("b", 200), ("c", 300), ("d", 400), ("e", 500)]]))
    asc2 = tmp_path / "asc2.json"
    asc2.write_text(json.dumps([{"unique": u, "timestamp": str(t)} for u, t in
                                [("f", 10), ("g", 20), ("h", 30), ("i", 40), ("j", 50)]]))
    p = waexport(["convert", "--columns", "unique,timestamp", asc, asc2])
    assert p.returncode == 0, p.stderr
    warned = [l for l in p.stderr.decode().splitlines() if "run oldest first" in l]
    assert len(warned) == 1 and str(asc) in warned[0], p.stderr
    assert "--order newest keeps their order" in warned[0]
    p = waexport(["convert", "-q", "--order", "newest", "--columns", "unique,timestamp", asc])
    assert p.stdout == b"unique,timestamp\r\na,100\r\nb,200\r\nc,300\r\nd,400\r\ne,500\r\n"
    api = tmp_path / "api.json"   # newest first; the top one a late delivery, dated early
    api.write_text(json.dumps([{"unique": "x", "timestamp": "10"},
                               {"unique": "y", "timestamp": "300"},
                               {"unique": "z", "timestamp": "200"}]))
    odd = tmp_path / "odd.json"   # in API order, a timestamp of 0 on top and 2100 below
    odd.write_text(json.dumps([{"unique": "p", "timestamp": "0"},
                               {"unique": "q", "timestamp": "1732000000"},
                               {"unique": "r", "timestamp": "4102444800"}]))
    p = waexport(["convert", "--columns", "unique", odd])
    assert p.returncode == 0 and b"oldest first" not in p.stderr, p.stderr
    p = waexport(["convert", "--columns", "unique", api])
    assert p.returncode == 0 and b"oldest first" not in p.stderr, p.stderr
