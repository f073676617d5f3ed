"""convert: every failure path provoked on purpose (SPEC §3).

Each error must give its exit code and exactly one stderr line starting 'waexport:'
that says what failed and where (file, byte offset, reason code)."""
import gzip
import json
import os
import re
import subprocess

import pytest

from conftest import BIN
from helpers import HISTORY, assert_error, tmp_leftovers

GOOD = HISTORY[0]


def write(tmp_path, name, data):
    f = tmp_path / name
    f.write_bytes(data if isinstance(data, bytes) else data.encode())
    return f


def python_error_offset(data):
    """Where Python's strict JSON parser (RFC 8259) first fails, as a byte offset."""
    text = data.decode("utf-8")
    dec, pos = json.JSONDecoder(), 0
    try:
        while True:
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            if pos == len(text):
                return None
            _, pos = dec.raw_decode(text, pos)
            if pos < len(text) and text[pos] not in "\r\n":   # one array per line at most
                raise json.JSONDecodeError("extra data", text, pos)
    except json.JSONDecodeError as e:
        return len(text[:e.pos].encode("utf-8"))


# ---------------------------------------------------------------- bad data: 65

INVALID_JSON = {
    "bad-value": b'[{"unique":"A","timestamp":"1"},\n{"unique":"B","timestamp":@}]',
    "bad-literal": b'[{"unique":"A","timestamp":tru}]',
    "trailing-garbage": b'[{"unique":"A","timestamp":"1"}]x',
    "extra-bracket": b'[{"unique":"A","timestamp":"1"}]]',
    "missing-comma-between-members": b'[{"unique":"A" "timestamp":"1"}]',
    "missing-comma-between-objects": b'[{"unique":"A","timestamp":"1"} {"unique":"B","timestamp":"2"}]',
    "trailing-comma-in-object": b'[{"unique":"A","timestamp":"1",}]',
    "trailing-comma-in-array": b'[{"unique":"A","timestamp":"1"},]',
    "double-comma": b'[{"unique":"A","timestamp":"1"},,{"unique":"B","timestamp":"2"}]',
    "error-on-third-line": b'[{"unique":"A","timestamp":"3"}]\n[{"unique":"B","timestamp":"2"}]\n'
                           b'[{"unique":"C","timestamp":"1"},@]\n',
    "after-hebrew": '[{"unique":"A","message":"\u05e9\u05dc\u05d5\u05dd"} x]'.encode(),
}


@pytest.mark.parametrize("case", sorted(INVALID_JSON))
def test_invalid_json_names_the_file_and_the_byte_offset(waexport, tmp_path, case):
    data = INVALID_JSON[case]
    expected = python_error_offset(data)
    assert expected is not None
    f = write(tmp_path, "pages.json", data)
    line = assert_error(waexport(["convert", GOOD, f]), 65)
    assert "pages.json" in line
    m = re.search(r"byte (?:offset )?(\d+)", line)
    assert m, f"no byte offset in: {line}"
    # 0- or 1-based, or pointing at the blank just before the offending token
    assert abs(int(m.group(1)) - expected) <= 1, f"{line!r}: expected byte {expected}"


def test_invalid_json_in_a_gz_input_names_the_file(waexport, tmp_path):
    f = write(tmp_path, "pages.json.gz", gzip.compress(INVALID_JSON["bad-value"]))
    line = assert_error(waexport(["convert", f]), 65)
    assert "pages.json.gz" in line


def test_key_without_value_is_rejected(waexport, tmp_path):
    f = write(tmp_path, "pages.json", b'[{"unique":"A","timestamp"}]')
    line = assert_error(waexport(["convert", f]), 65)
    assert "pages.json" in line and re.search(r"byte \d+", line)


@pytest.mark.parametrize("data", [
    b'[{"unique":"A","timestamp":"1"},{"unique":"B","times',
    b'[{"unique":"A","timestamp":"1"},{"unique":"B","timestamp":"2"}',
    b'[{"unique":"A","message":"unterminated',
])
def test_truncated_file(waexport, tmp_path, data):
    f = write(tmp_path, "cut.json", data)
    line = assert_error(waexport(["convert", f]), 65)
    assert "cut.json" in line


def test_truncated_gzip_input(waexport, tmp_path):
    whole = gzip.compress(b"".join(h.read_bytes() for h in HISTORY))
    f = write(tmp_path, "cut.jsonl.gz", whole[: len(whole) // 2])
    line = assert_error(waexport(["convert", f]), 65)
    assert "cut.jsonl.gz" in line


@pytest.mark.parametrize("data", [b"42", b"null", b'"x"', b'{"status":"OK","data":[]}', b"true"])
def test_input_that_is_not_an_array_of_messages(waexport, tmp_path, data):
    f = write(tmp_path, "odd.json", data)
    line = assert_error(waexport(["convert", f]), 65)
    assert "odd.json" in line
    assert "array" in line, f"the message should say an array was expected: {line}"


@pytest.mark.parametrize("reason,words", [(3, ("key",)), (2, ("account", "exist")), (4, ("to",))])
def test_fail_object_as_input_explains_the_reason(waexport, tmp_path, reason, words):
    f = write(tmp_path, "refused.json", '{"status":"FAIL","reason":%d}' % reason)
    p = waexport(["convert", f])
    assert p.returncode in (65, 77)
    line = assert_error(p, p.returncode)
    assert str(reason) in line and "refused.json" in line
    assert any(w in line.lower() for w in words), line


def test_fail_object_with_unknown_reason_shows_the_code(waexport, tmp_path):
    f = write(tmp_path, "refused.json", '{"status":"FAIL","reason":"99","extra":1}')
    p = waexport(["convert", f])
    assert p.returncode in (65, 77)
    assert "99" in assert_error(p, p.returncode)


def test_fail_object_after_good_pages_fails_the_run(waexport, tmp_path):
    data = GOOD.read_bytes().strip() + b'\n{"status":"FAIL","reason":3}\n'
    f = write(tmp_path, "raw.jsonl", data)
    out = tmp_path / "out.csv"
    p = waexport(["convert", "-o", out, f])
    assert p.returncode in (65, 77)
    assert_error(p, p.returncode)
    assert not out.exists() and tmp_leftovers(tmp_path) == []


# ---------------------------------------------------------------- usage: 64

def test_missing_input_file_is_66_and_nothing_is_written(waexport, tmp_path):
    """SPEC §3: an input that cannot be opened is 66, named, before any output."""
    out = tmp_path / "out.csv"
    line = assert_error(waexport(["convert", "-o", out, GOOD, tmp_path / "no-such-page.json"]), 66)
    assert "no-such-page.json" in line
    assert not out.exists()


def test_directory_as_input_is_66_naming_it(waexport, tmp_path):
    line = assert_error(waexport(["convert", tmp_path]), 66)
    assert str(tmp_path) in line and "directory" in line


def test_unreadable_input_is_66(waexport, tmp_path):
    import os
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    f = tmp_path / "secret.json"
    f.write_text("[]")
    f.chmod(0)
    assert_error(waexport(["convert", f]), 66)


def test_empty_input_file_is_a_warning(waexport, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    p = waexport(["convert", empty, GOOD])
    assert p.returncode == 0, p.stderr.decode()
    err = p.stderr.decode()
    assert "warning:" in err and "empty.json" in err and "empty" in err


def test_byte_order_mark_is_skipped_with_a_warning(waexport, tmp_path):
    """SPEC §5.7: a leading UTF-8 BOM is skipped with a warning, the pages are read."""
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + open(GOOD, "rb").read())
    p = waexport(["convert", bom])
    q = waexport(["convert", GOOD])
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == q.stdout
    assert "byte-order mark" in p.stderr.decode()


@pytest.mark.parametrize("args", [
    ["--bogus"], ["-x"], ["--format", "xml"], ["--format", "CSV2"], ["--format"],
    ["--order", "random"], ["--gzip-level", "0"], ["--gzip-level", "10"], ["--gzip-level", "fast"],
    ["-o"], ["--columns"], ["--tz"],
])
def test_bad_option_is_a_usage_error(waexport, args):
    needs_value_at_end = args[-1] in ("-o", "--format", "--columns", "--tz")
    argv = ["convert", GOOD] + args if needs_value_at_end else ["convert"] + args + [GOOD]
    line = assert_error(waexport(argv), 64)
    assert args[0] in line, line


def test_unknown_or_missing_command(waexport):
    assert_error(waexport(["export"]), 64)
    assert_error(waexport([]), 64)


@pytest.mark.parametrize("opt,value", [
    ("--from", "972501234567"), ("--to", "972502222222"), ("--since", "2024-01-01"),
    ("--until", "7d"), ("--url", "http://127.0.0.1:9/"), ("--api-key-file", "/dev/null"),
    ("--concurrency", "4"), ("--retries", "2"), ("--timeout", "5"), ("--state", "st.json"),
    ("--lookback", "1d"), ("--max-pages", "3"), ("--save-raw", "raw.jsonl"),
    ("--media-dir", "media"), ("--cacert", "ca.pem"), ("--metrics-file", "m.prom"),
])
def test_fetch_only_options_are_refused_by_convert(waexport, tmp_path, opt, value):
    p = waexport(["convert", opt, value, GOOD], cwd=tmp_path)
    line = assert_error(p, 64)
    assert opt in line, f"the message should name {opt}: {line}"
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- output: 73, 74

def test_output_in_a_missing_directory(waexport, tmp_path):
    line = assert_error(waexport(["convert", "-o", tmp_path / "no" / "such" / "out.csv", GOOD]), 73)
    assert "no/such" in line


def test_output_path_is_a_directory(waexport, tmp_path):
    assert_error(waexport(["convert", "-o", tmp_path, GOOD]), 73)
    assert os.listdir(tmp_path) == []


def test_output_to_a_full_device(waexport):
    line = assert_error(waexport(["convert", "-o", "/dev/full"] + HISTORY), 74)
    assert "/dev/full" in line or "space" in line.lower()


def test_gzip_output_to_a_full_device(waexport):
    assert_error(waexport(["convert", "--gzip", "-o", "/dev/full"] + HISTORY), 74)


@pytest.mark.parametrize("args", [["--help"], ["fetch", "--help"], ["--version"],
                                  ["schema", "--dialect", "sqlite"], ["convert", GOOD]])
def test_help_version_and_schema_to_a_full_device_say_why(args):
    """SPEC §3: every non-zero exit prints one line, these too (they write only stdout),
    and a conversion to standard output too (which has no previous file to speak of)."""
    with open("/dev/full", "wb") as full:
        p = subprocess.run([BIN] + args, stdout=full, stderr=subprocess.PIPE)
    line = assert_error(p, 74)
    assert "standard output" in line and "No space left" in line, line
    assert "previous file" not in line, line  # standard output has none


# ---------------------------------------------------------------- quiet does not hide errors

def test_errors_are_printed_even_with_quiet(waexport, tmp_path):
    f = write(tmp_path, "bad.json", INVALID_JSON["bad-value"])
    assert_error(waexport(["convert", "-q", f]), 65)
    assert_error(waexport(["convert", "-q", "--format", "yaml", GOOD]), 64)
    assert_error(waexport(["convert", "-q", "-o", "/dev/full", GOOD]), 74)
