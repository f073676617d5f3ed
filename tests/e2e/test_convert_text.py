"""convert: text decoding (SPEC §1 PHP-style escapes, §4.1 replacement rules)."""
import pytest

from helpers import COLUMNS, FIXTURES, expected_csv, expected_ndjson, ordered, read_csv, read_ndjson, summary

ESCAPES = FIXTURES / "escapes.json"
BAD_TEXT = FIXTURES / "bad-text.json"
BAD_UTF8 = FIXTURES / "bad-utf8.json"
FFFD = "\ufffd"

# ESC1 and ESC2 hold the same text, ESC1 as PHP's json_encode writes it, ESC2 as raw UTF-8.
ESC_TEXT = ("\u05e9\u05dc\u05d5\u05dd \U0001F600 \U0001F468\u200d\U0001F469\u200d\U0001F467 "
            "https://x.co/a/b \"q\" back\\slash tab\there \u00e9\u20ac\U00010000\U0010FFFF")


def run(waexport, fmt, path, *extra):
    p = waexport(["convert", "--format", fmt] + list(extra) + [path])
    assert p.returncode == 0, p.stderr.decode()
    return p


def messages(waexport, fmt, path):
    p = run(waexport, fmt, path, "-q")
    if fmt == "csv":
        return {r[0]: r[COLUMNS.index("message")] for r in read_csv(p.stdout)[1:]}
    return {o["unique"]: o["message"] for o in read_ndjson(p.stdout)}


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_php_escapes_and_raw_utf8_decode_to_the_same_text(waexport, fmt):
    got = messages(waexport, fmt, ESCAPES)
    assert got["ESC1"] == ESC_TEXT          # \uXXXX, surrogate pairs, \/ \" \\ \t
    assert got["ESC2"] == ESC_TEXT          # raw UTF-8 passes through
    assert "\\/" not in got["ESC1"] and "\\u" not in got["ESC1"]


def test_escaped_text_is_utf8_in_the_output_bytes(waexport):
    out = run(waexport, "csv", ESCAPES, "-q").stdout
    assert "\u05e9\u05dc\u05d5\u05dd".encode() in out
    assert b"\xf0\x9f\x98\x80" in out                       # U+1F600 as 4 bytes, not CESU-8
    assert b"\xed\xa0" not in out and b"\\u" not in out
    assert b"https://x.co/a/b" in out


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_bidi_marks_and_hebrew_reason_are_kept_as_received(waexport, fmt):
    p = run(waexport, fmt, ESCAPES, "-q")
    if fmt == "csv":
        rows = [dict(zip(COLUMNS, r)) for r in read_csv(p.stdout)[1:]]
    else:
        rows = read_ndjson(p.stdout)
    row = next(r for r in rows if r["unique"] == "ESC3")
    assert row["message"] == "\u05de\u05d4 \u05e0\u05e9\u05de\u05e2? \u202bRTL embed\u202c \u200fmark"
    assert row["reason"] == "\u05e0\u05db\u05e9\u05dc / failed"


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_broken_text_becomes_replacement_characters_never_truncated(waexport, fmt):
    got = messages(waexport, fmt, BAD_TEXT)
    assert got == {
        "BAD1": f"lone high {FFFD} then text",
        "BAD2": f"lone low {FFFD} end",
        "BAD3": f"high then escape {FFFD}A ok",
        "BAD4": f"nul {FFFD} in the middle, and the text goes on after it",
        "BAD5": f"raw byte {FFFD} here, not truncated",
    }
    assert got == {m["unique"]: m["message"] for m in ordered([BAD_TEXT])}   # the generic rule agrees


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_broken_text_counts_one_warning_each(waexport, fmt):
    p = run(waexport, fmt, BAD_TEXT)
    assert summary(p.stderr) == (5, 1, 0, 5)
    warnings = [ln for ln in p.stderr.decode().splitlines() if "warning" in ln.lower()]
    assert warnings, "the first warnings are shown"
    assert all(ln.startswith("waexport:") for ln in p.stderr.decode().splitlines())


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_invalid_multibyte_utf8_forms_are_replaced(waexport, fmt):
    got = messages(waexport, fmt, BAD_UTF8)
    assert got == {
        "UTF1": f"overlong {FFFD * 2} slash",          # C0 AF, never valid
        "UTF2": f"cesu {FFFD * 3} surrogate",           # ED A0 80 encodes U+D800
        "UTF3": f"five {FFFD * 5} bytes",               # F8 88 80 80 80
        "UTF4": f"stray {FFFD * 2} continuation and a valid \u05e9 after",
    }
    p = run(waexport, fmt, BAD_UTF8)
    assert summary(p.stderr)[3] >= 4


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_output_never_holds_nul_or_invalid_utf8(waexport, fmt):
    for path in (BAD_TEXT, BAD_UTF8, ESCAPES):
        out = run(waexport, fmt, path, "-q").stdout
        out.decode("utf-8")                    # strict
        assert b"\x00" not in out
        assert b"\\u0000" not in out


def test_decoded_records_match_ground_truth_field_by_field(waexport):
    for path in (ESCAPES, BAD_TEXT, BAD_UTF8):
        rows = read_csv(run(waexport, "csv", path, "-q").stdout)[1:]
        assert rows == [expected_csv(m) for m in ordered([path])]
        objs = read_ndjson(run(waexport, "ndjson", path, "-q").stdout)
        assert objs == [expected_ndjson(m) for m in ordered([path])]


def test_a_warning_names_the_message_by_its_unique_as_the_file_has_it(waexport, tmp_path):
    """A warning names its message by the unique the output holds (decoded: what a user
    searches the file for), not by the escapes the API sent: `..\\/x\\u00e9` is `../xé`."""
    page = tmp_path / "p.json"
    page.write_bytes(b'[{"unique":"..\\/x\\u00e9","timestamp":1732000000,"direction":"sideways",'
                     b'"from":"1","to":"2","type":"chat","state":1,"message":"m"}]\n')
    p = waexport(["convert", "-o", tmp_path / "out.csv", page])
    assert p.returncode == 0, p.stderr
    err = p.stderr.decode()
    assert "message ../x\u00e9: direction is not an integer code" in err, err
    assert read_csv((tmp_path / "out.csv").read_bytes())[1][0] == "../x\u00e9"


def test_a_long_unique_in_a_warning_is_cut_between_characters(waexport, tmp_path):
    """A warning shows the first bytes of a long unique: cut between escapes, never
    inside one (which showed U+FFFD and the rest of its hex digits) or a surrogate pair."""
    page = tmp_path / "p.json"
    for body in ("ab" + "\\u00e9" * 20 + "xyz", "ab" + "\\ud83d\\ude00" * 10 + "xyz"):
        page.write_text('[{"unique":"%s","timestamp":1732000000,"direction":"sideways",'
                        '"from":"1","to":"2","type":"chat","state":1,"message":"m"}]\n' % body)
        p = waexport(["convert", "-o", tmp_path / "out.csv", page])
        assert p.returncode == 0, p.stderr
        line = [x for x in p.stderr.decode().splitlines() if "direction is not" in x][0]
        shown = line.split("message ", 1)[1].split(": direction", 1)[0]
        assert "\ufffd" not in shown and shown.startswith("ab"), line
        assert set(shown[2:]) <= {"\u00e9", "\U0001F600"} and len(shown) > 8, line
