"""convert: CSV output, row order, --tz, --columns, --excel, summary, help (SPEC §2, §4.1–§4.3, §6).

Every expected value is derived in Python from the input pages (helpers.py), never
copied from the binary's output.
"""
import json
import re
import subprocess

import pytest

from helpers import (BOM, COLUMNS, FIXTURES, HISTORY, api_messages, assert_error, expected_csv,
                     needs_quotes, ordered, parse_csv_strict, read_csv, summary)

HEADER = ",".join(COLUMNS).encode() + b"\r\n"


def convert_ok(waexport, args):
    p = waexport(["convert", "-q"] + list(args))
    assert p.returncode == 0, p.stderr.decode()
    assert p.stderr == b""
    return p.stdout


# ---------------------------------------------------------------- CSV dialect

def test_csv_header_row_is_exact(waexport):
    out = convert_ok(waexport, HISTORY)
    assert out.startswith(HEADER)
    assert read_csv(out)[0] == COLUMNS


def test_csv_every_field_of_every_message_matches_ground_truth(waexport):
    rows = read_csv(convert_ok(waexport, HISTORY))
    expected = [expected_csv(m) for m in ordered(HISTORY)]
    assert len(rows) - 1 == len(expected) == 13
    assert rows[1:] == expected


def test_csv_records_end_in_crlf(waexport):
    out = convert_ok(waexport, HISTORY)
    records = parse_csv_strict(out)           # fails on a bare LF/CR between records
    assert len(records) == 14
    assert out.endswith(b"\r\n") and not out.endswith(b"\r\n\r\n")
    # line breaks inside a message are data: kept byte for byte inside the quotes
    assert b'"line one\nline two\r\nline three"' in out


def test_csv_has_no_bom_by_default(waexport):
    out = convert_ok(waexport, HISTORY)
    assert not out.startswith(BOM)
    assert out[:1] == b"u"


def test_csv_quotes_only_fields_that_need_them(waexport):
    records = parse_csv_strict(convert_ok(waexport, HISTORY))
    assert all(not quoted for _, quoted in records[0]), "header cells are never quoted"
    quoted_values = []
    for rec in records[1:]:
        assert len(rec) == len(COLUMNS)
        for value, quoted in rec:
            if needs_quotes(value):
                assert quoted, f"{value!r} must be quoted"
                quoted_values.append(value)
            elif value and value == value.strip(" "):
                assert not quoted, f"{value!r} needs no quotes"
    assert len(quoted_values) == 3  # the comma, quote and line-break messages of the fixture


def test_csv_numbers_keep_their_digits(waexport):
    """SPEC §4.1: from/to are text; a leading zero or 15 digits are never reformatted."""
    out = convert_ok(waexport, HISTORY)
    rows = {r[0]: dict(zip(COLUMNS, r)) for r in read_csv(out)[1:]}
    assert rows["3EB0000000000000LZ01"]["from"] == "0501234567"
    assert rows["BAE5000000000000NEG1"]["to"] == "972501234567890"
    assert rows["3EB0A1C2D3E4F5061728"]["from"] == "IL.1605856887361213"
    assert b",0501234567," in out and b"E+" not in out


# ---------------------------------------------------------------- row order

def test_order_oldest_is_the_default_and_chronological(waexport):
    default = convert_ok(waexport, HISTORY)
    assert convert_ok(waexport, ["--order", "oldest"] + HISTORY) == default
    rows = read_csv(default)[1:]
    api_order = [m["unique"] for m in api_messages(HISTORY)]  # newest first, page after page
    assert [r[0] for r in rows] == list(reversed(api_order))
    stamps = [int(r[1]) for r in rows]
    assert stamps == sorted(stamps)


def test_order_newest_is_the_api_order(waexport):
    rows = read_csv(convert_ok(waexport, ["--order", "newest"] + HISTORY))[1:]
    assert [r[0] for r in rows] == [m["unique"] for m in api_messages(HISTORY)]
    assert rows == [expected_csv(m) for m in ordered(HISTORY, "newest")]


def test_order_applies_across_the_pages_of_one_file(waexport, tmp_path):
    """One array per line, pages 1..3 newest first: oldest order reverses the whole history."""
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(b"".join(p.read_bytes().rstrip(b"\n") + b"\n" for p in HISTORY))
    oldest = read_csv(convert_ok(waexport, [raw]))[1:]
    newest = read_csv(convert_ok(waexport, ["--order", "newest", raw]))[1:]
    assert oldest == list(reversed(newest))
    assert [r[0] for r in oldest] == [m["unique"] for m in ordered(HISTORY)]


def test_order_bad_value_is_a_usage_error(waexport):
    assert "order" in assert_error(waexport(["convert", "--order", "sideways"] + HISTORY), 64)


# ---------------------------------------------------------------- --tz

DST = FIXTURES / "dst.json"


def test_time_defaults_to_utc_with_z(waexport):
    rows = read_csv(convert_ok(waexport, ["--columns", "unique,timestamp,time", DST]))[1:]
    got = {r[0]: r[2] for r in rows}
    assert got["DST3"] == "2024-03-28T23:59:59Z"
    assert got["DST4"] == "2024-03-29T00:00:00Z"
    assert convert_ok(waexport, ["--tz", "UTC", DST]) == convert_ok(waexport, [DST])


def test_tz_jerusalem_across_both_dst_changes(waexport):
    rows = read_csv(convert_ok(waexport, ["--tz", "Asia/Jerusalem", DST]))[1:]
    assert rows == [expected_csv(m, tz="Asia/Jerusalem") for m in ordered([DST])]
    got = {r[0]: r[2] for r in rows}
    # written out by hand from the Israeli rules (spring forward Fri 29 Mar 2024 02:00,
    # fall back Sun 27 Oct 2024 02:00), independently of zoneinfo:
    assert got["DST3"] == "2024-03-29T01:59:59+02:00"
    assert got["DST4"] == "2024-03-29T03:00:00+03:00"
    assert got["DST5"] == "2024-10-27T01:30:00+03:00"   # the hour that happens twice:
    assert got["DST8"] == "2024-10-27T01:30:00+02:00"   # only the offset tells them apart
    assert got["DST6"] == "2024-10-27T01:59:59+03:00"
    assert got["DST7"] == "2024-10-27T01:00:00+02:00"
    assert got["DST2"] == "2024-01-01T01:59:59+02:00"   # the local date differs from UTC's


def test_tz_changes_only_the_time_column(waexport):
    utc = read_csv(convert_ok(waexport, [DST]))
    jlm = read_csv(convert_ok(waexport, ["--tz", "Asia/Jerusalem", DST]))
    for a, b in zip(utc, jlm):
        assert a[:2] + a[3:] == b[:2] + b[3:]


@pytest.mark.parametrize("zone", ["bogus", "Asia/Jerusalem/", "../../../etc/passwd", "", "Mars/Olympus_Mons"])
def test_tz_unknown_zone_is_a_usage_error(waexport, zone):
    line = assert_error(waexport(["convert", "--tz", zone, DST]), 64)
    assert "tz" in line.lower() or "zone" in line.lower()


# ---------------------------------------------------------------- --columns

def test_columns_subset_in_the_given_order(waexport):
    cols = ["time", "from", "message", "unique", "state_code"]
    out = convert_ok(waexport, ["--columns", ",".join(cols)] + HISTORY)
    assert out.startswith(b"time,from,message,unique,state_code\r\n")
    rows = read_csv(out)
    assert rows[0] == cols
    assert rows[1:] == [expected_csv(m, columns=cols) for m in ordered(HISTORY)]
    parse_csv_strict(out)


def test_columns_single_column(waexport):
    rows = read_csv(convert_ok(waexport, ["--columns", "unique"] + HISTORY))
    assert rows == [["unique"]] + [[m["unique"]] for m in ordered(HISTORY)]


@pytest.mark.parametrize("spec", ["time,nope", "TIME", "time,,message", ""])
def test_columns_unknown_column_is_a_usage_error(waexport, spec):
    line = assert_error(waexport(["convert", "--columns", spec] + HISTORY), 64)
    assert "column" in line


# ---------------------------------------------------------------- --excel (SPEC §4.2)

EXCEL = FIXTURES / "excel.json"
EXCEL_ARGS = ["--excel", "--tz", "Asia/Jerusalem"]


def test_excel_starts_with_bom_and_an_unquoted_header(waexport):
    out = convert_ok(waexport, EXCEL_ARGS + [EXCEL])
    assert out.startswith(BOM + HEADER)
    assert not out.startswith(BOM + b'"')
    assert b"sep=" not in out.split(b"\r\n", 1)[0]
    out = convert_ok(waexport, EXCEL_ARGS + ["--columns", "message,unique", EXCEL])
    assert out.startswith(BOM + b"message,unique\r\n")


def test_excel_every_field_matches_ground_truth(waexport):
    for inputs in ([EXCEL], HISTORY, [DST]):
        out = convert_ok(waexport, EXCEL_ARGS + inputs)
        parse_csv_strict(out[len(BOM):])
        rows = read_csv(out)
        assert rows[0] == COLUMNS
        assert rows[1:] == [expected_csv(m, tz="Asia/Jerusalem", excel=True) for m in ordered(inputs)]


def test_excel_time_is_a_spreadsheet_date_time_in_tz(waexport):
    rows = read_csv(convert_ok(waexport, EXCEL_ARGS + ["--columns", "unique,time", DST]))[1:]
    got = dict(rows)
    assert got["DST3"] == "2024-03-29 01:59:59"
    assert got["DST4"] == "2024-03-29 03:00:00"
    rows = read_csv(convert_ok(waexport, ["--excel", "--columns", "unique,time", DST]))[1:]
    assert dict(rows)["DST4"] == "2024-03-29 00:00:00"   # default --tz is UTC


def test_excel_prefixes_formula_cells_but_never_generated_numbers(waexport):
    rows = read_csv(convert_ok(waexport, EXCEL_ARGS + [EXCEL]))[1:]
    by_id = {r[0].lstrip("'"): dict(zip(COLUMNS, r)) for r in rows}
    xl9 = by_id["=XL9"]
    assert xl9["unique"] == "'=XL9"
    assert (xl9["from"], xl9["to"], xl9["type"]) == ("'+972501234567", "'-972505492890", "'@text")
    assert xl9["reason"].startswith("'=HYPERLINK(")
    assert xl9["message"] == "'=1+2"
    for uid, first in (("XL8", "+"), ("XL7", "-"), ("XL6", "@"), ("XL5", "\t"), ("XL4", "\r"), ("XL3", "\n")):
        assert by_id[uid]["message"][:2] == "'" + first, uid
    assert by_id["XL2"]["message"].startswith("a = b")
    xl1 = by_id["XL1"]
    assert (xl1["timestamp"], xl1["direction_code"], xl1["state_code"]) == ("-5", "-1", "-2")
    for r in rows:                                           # no cell can start a formula
        for cell in r:
            assert not cell.startswith(("=", "+", "@", "\t", "\r", "\n")), r
            assert not cell.startswith("-") or cell in ("-5", "-1", "-2"), r


def test_excel_csv_loads_into_sqlite_field_by_field(waexport, tmp_path):
    """sqlite3's CSV importer as an independent reader (it drops the BOM itself)."""
    f = tmp_path / "excel.csv"
    f.write_bytes(convert_ok(waexport, EXCEL_ARGS + [EXCEL] + HISTORY))
    p = subprocess.run(["sqlite3", ":memory:", f".import --csv {f} t", ".mode json", "SELECT * FROM t"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0 and p.stderr == b"", p.stderr.decode()
    got = json.loads(p.stdout)
    assert list(got[0].keys()) == COLUMNS      # the BOM did not glue itself to 'unique'
    expected = [dict(zip(COLUMNS, expected_csv(m, tz="Asia/Jerusalem", excel=True)))
                for m in ordered([EXCEL] + HISTORY)]
    assert got == expected


def test_excel_with_ndjson_is_a_usage_error(waexport, tmp_path):
    assert_error(waexport(["convert", "--excel", "--format", "ndjson", EXCEL]), 64)
    out = tmp_path / "x.ndjson"
    assert_error(waexport(["convert", "--excel", "-o", out, EXCEL]), 64)
    assert not out.exists()


@pytest.mark.parametrize("message,over", [
    ("a" * 32767, False),
    ("a" * 32768, True),
    ("\U0001F600" * 16383 + "a", False),     # 32,767 UTF-16 units
    ("\U0001F600" * 16384, True),            # 32,768 UTF-16 units in 16,384 characters
    ("\u05e9" * 32768, True),                # 65,536 bytes, 32,768 units
    ("=" + "a" * 32766, True),                # the written cell, "'" included, is 32,768
], ids=["ascii-32767", "ascii-32768", "emoji-32767-units", "emoji-32768-units", "hebrew-32768",
        "prefix-makes-32768"])
def test_excel_counts_cells_over_the_excel_limit(waexport, tmp_path, message, over):
    f = tmp_path / "long.json"
    f.write_text(json.dumps([{"unique": "LONG", "timestamp": "1720000000", "direction": "1",
                              "from": "972505492890", "to": "972501234567", "type": "text",
                              "state": 0, "message": message}]))
    p = waexport(["convert", "--excel", f])
    assert p.returncode == 0
    assert summary(p.stderr)[3] == (1 if over else 0), p.stderr.decode()
    cell = read_csv(p.stdout)[1][COLUMNS.index("message")]
    assert cell.lstrip("'") == message                       # counted, never cut


# ---------------------------------------------------------------- summary, quiet

def test_summary_line_on_stderr(waexport):
    p = waexport(["convert"] + HISTORY)
    assert p.returncode == 0
    lines = p.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("waexport:"), lines
    assert summary(p.stderr) == (13, 3, 0, 0)
    assert convert_ok(waexport, HISTORY) == p.stdout   # the summary never goes to stdout


def test_summary_names_the_output_file(waexport, tmp_path):
    out = tmp_path / "chats.csv"
    p = waexport(["convert", "-o", out] + HISTORY)
    assert p.returncode == 0
    assert str(out) in p.stderr.decode() or "chats.csv" in p.stderr.decode()
    assert summary(p.stderr)[0] == 13


@pytest.mark.parametrize("flag", ["-q", "--quiet"])
def test_quiet_prints_nothing_on_success(waexport, flag, tmp_path):
    p = waexport(["convert", flag] + HISTORY)
    assert p.returncode == 0 and p.stderr == b""
    p = waexport(["convert", flag, "--format", "ndjson", "-o", tmp_path / "x.ndjson"] + HISTORY)
    assert p.returncode == 0 and p.stderr == b"" and p.stdout == b""


def test_progress_forced_off_a_tty_keeps_stdout_clean(waexport):
    p = waexport(["convert", "--progress"] + HISTORY)
    assert p.returncode == 0
    assert p.stdout == convert_ok(waexport, HISTORY)
    assert summary(p.stderr)[0] == 13


# ---------------------------------------------------------------- --help, --version

OUTPUT_OPTIONS = ["-o", "--output", "--format", "--gzip", "--gzip-level", "--tz", "--excel",
                  "--order", "--columns", "-q", "--quiet", "--progress"]


def test_convert_help_mentions_every_output_option(waexport):
    for args in (["convert", "--help"], ["convert", "-h"]):
        p = waexport(args)
        assert p.returncode == 0 and p.stderr == b""
        text = p.stdout.decode()
        assert "Usage" in text or "usage" in text
        for opt in OUTPUT_OPTIONS:
            assert opt in text, opt
        for col in COLUMNS:
            assert col in text, col


def test_top_level_help_shows_usage(waexport):
    p = waexport(["--help"])
    assert p.returncode == 0 and p.stderr == b""
    text = p.stdout.decode()
    assert "waexport convert" in text and "waexport fetch" in text


def test_version(waexport):
    p = waexport(["--version"])
    assert p.returncode == 0 and p.stderr == b""
    first = p.stdout.decode().splitlines()[0]
    assert first.startswith("waexport ")
    assert re.search(r"\b\d+\.\d+(\.\d+)?\b", first), first
