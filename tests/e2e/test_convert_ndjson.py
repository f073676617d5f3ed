"""convert --format ndjson: keys, types, escaping, framing (SPEC §4.1)."""
import json

from helpers import (BOM, COLUMNS, FIXTURES, HISTORY, expected_ndjson, ordered, read_ndjson)

CONTROLS = FIXTURES / "controls.json"
DRIFT = FIXTURES / "drift.json"


def ndjson(waexport, args):
    p = waexport(["convert", "-q", "--format", "ndjson"] + list(args))
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def outside_strings(line):
    """The bytes of a JSON text that are not inside string literals."""
    out, in_str, esc = bytearray(), False, False
    for b in line:
        if in_str:
            if esc:
                esc = False
            elif b == 0x5C:
                esc = True
            elif b == 0x22:
                in_str = False
        elif b == 0x22:
            in_str = True
        else:
            out.append(b)
    return bytes(out)


def test_ndjson_keys_in_spec_order_and_values_match_ground_truth(waexport):
    objs = read_ndjson(ndjson(waexport, HISTORY))
    expected = [expected_ndjson(m) for m in ordered(HISTORY)]
    assert len(objs) == len(expected) == 13
    for got, exp in zip(objs, expected):
        assert list(got) == COLUMNS                  # no media_file without --media-dir
        assert got == exp


def test_ndjson_types(waexport):
    for obj in read_ndjson(ndjson(waexport, HISTORY + [DRIFT])):
        assert type(obj["unique"]) is str
        if obj["time"]:
            assert type(obj["timestamp"]) is int
        for k in ("direction_code", "state_code"):
            assert obj[k] is None or type(obj[k]) is int, (k, obj)
        for k in ("time", "direction", "state", "from", "to", "type", "message"):
            assert obj[k] is None or type(obj[k]) is str, (k, obj)
        assert obj["direction"] in ("incoming", "outgoing", "unknown")
        assert obj["reason"] is None or type(obj["reason"]) is str


def test_ndjson_number_looking_ids_stay_strings_digit_for_digit(waexport):
    out = ndjson(waexport, HISTORY + [DRIFT])
    objs = {o["unique"]: o for o in read_ndjson(out)}
    assert objs["3EB0000000000000LZ01"]["from"] == "0501234567"
    assert objs["BAE5000000000000NEG1"]["to"] == "972501234567890"
    assert objs["3EB0A1C2D3E4F5061728"]["from"] == "IL.1605856887361213"
    assert objs["DR10"]["from"] == "972501234567"    # sent as a JSON number
    assert b'"from":"0501234567"' in out
    assert b'"from":"972501234567"' in out


def test_ndjson_unknown_fields_follow_the_known_keys_verbatim(waexport):
    objs = {o["unique"]: o for o in read_ndjson(ndjson(waexport, [DRIFT]))}
    dr03 = objs["DR03"]
    assert list(dr03) == COLUMNS + ["is_forwarded", "quoted", "zz_last"]
    assert dr03["is_forwarded"] is True
    assert dr03["quoted"] == {"unique": "X1", "text": "\u05e9\u05dc\u05d5\u05dd", "n": [1, 2.5, None]}
    assert dr03["zz_last"] == "z"
    ctl = read_ndjson(ndjson(waexport, [CONTROLS]))[0]
    assert list(ctl) == COLUMNS + ["note"] and ctl["note"] == "extra \u2028 field"


def test_ndjson_is_compact_lf_terminated_utf8_without_bom(waexport):
    out = ndjson(waexport, HISTORY + [DRIFT, CONTROLS])
    assert not out.startswith(BOM)
    out.decode("utf-8")                              # strict: valid UTF-8 throughout
    assert out.endswith(b"\n") and b"\r\n" not in out
    lines = out.split(b"\n")[:-1]
    assert len(lines) == 13 + 11 + 1
    for line in lines:
        assert line.startswith(b"{") and line.endswith(b"}")
        skeleton = outside_strings(line)
        for ws in b" \t\r\n":
            assert bytes([ws]) not in skeleton, line


def test_ndjson_escapes_u2028_and_u2029(waexport):
    out = ndjson(waexport, [CONTROLS])
    assert "\u2028".encode() not in out and "\u2029".encode() not in out
    assert b"\\u2028" in out and b"\\u2029" in out
    msg = read_ndjson(out)[0]["message"]
    assert msg.count("\u2028") == 2 and msg.count("\u2029") == 2   # raw and escaped inputs alike


def test_ndjson_escapes_the_c1_controls_python_splits_lines_on(waexport, tmp_path):
    """SPEC §4.1: control characters are escaped, for line readers. U+0085 (NEL) is one
    (Unicode's C1 controls, U+0080-U+009F): Python's str.splitlines splits a line at it,
    sent escaped or raw. U+00A0 (no-break space) next to them stays raw UTF-8."""
    head = (b'{"unique":"%s","timestamp":"1732000000","direction":1,"type":"text",'
            b'"from":"972501234567","to":"0501234567","state":1,')
    page = (b"[" + head % b"NEL1" + b'"message":"a\\u0085b \\u0080\\u009f \\u00a0 \\u05e9"},'
            + head % b"NEL2" + b'"message":"c\xc2\x85d","note":"e\xc2\x85f\xc2\x9f"}]\n')
    src = tmp_path / "nel.json"
    src.write_bytes(page)
    out = ndjson(waexport, ["--order", "newest", src])
    for c1 in range(0x80, 0xA0):
        assert chr(c1).encode() not in out, hex(c1)
    lines = out.decode().splitlines()
    assert len(lines) == 2, lines
    objs = [json.loads(line) for line in lines]
    assert objs[0]["message"] == "a\x85b \x80\x9f \xa0 \u05e9"
    assert objs[1]["message"] == "c\x85d" and objs[1]["note"] == "e\x85f\x9f"
    assert "\xa0".encode() in out


def test_ndjson_has_no_raw_control_characters(waexport):
    out = ndjson(waexport, HISTORY + [CONTROLS])
    for line in out.split(b"\n"):
        assert not any(b < 0x20 for b in line), line
    msg = read_ndjson(ndjson(waexport, [CONTROLS]))[0]["message"]
    expected = expected_ndjson(ordered([CONTROLS])[0])["message"]
    assert msg == expected
    for ch in "\x01\x1f\x1b\b\f\n\r\t\x07":
        assert ch in msg, repr(ch)


def test_ndjson_lines_are_one_object_each_in_both_orders(waexport):
    newest = read_ndjson(ndjson(waexport, ["--order", "newest"] + HISTORY))
    oldest = read_ndjson(ndjson(waexport, HISTORY))
    assert oldest == list(reversed(newest))
    assert [o["unique"] for o in newest] == [m["unique"] for m in ordered(HISTORY, "newest")]


def test_ndjson_output_loads_with_json_module_line_by_line(waexport):
    """What a warehouse loader does: every line parses alone, strict JSON."""
    for line in ndjson(waexport, HISTORY + [DRIFT, CONTROLS]).decode("utf-8").split("\n")[:-1]:
        assert isinstance(json.loads(line), dict)
