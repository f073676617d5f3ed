"""convert: output files, gzip, input forms, atomicity, pipes (SPEC §2, §4.4, §4.5 {date})."""
import gzip
import json
import os
import signal
import stat
import subprocess
import threading
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from conftest import BIN
from helpers import (BOM, COLUMNS, FIXTURES, HISTORY, assert_no_sanitizer_report, expected_csv,
                     expected_ndjson, gunzip_single_member, ordered, popen, read_csv, read_ndjson,
                     summary, tmp_leftovers)

PRETTY = FIXTURES / "pretty.json"


def ok(waexport, args, **kw):
    p = waexport(["convert", "-q"] + list(args), **kw)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stderr == b""
    return p.stdout


def history_jsonl(tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(b"".join(p.read_bytes().strip() + b"\n" for p in HISTORY))
    return raw


# ---------------------------------------------------------------- -o PATH

def test_output_file_equals_stdout_output(waexport, tmp_path):
    out = tmp_path / "chats.csv"
    assert ok(waexport, ["-o", out] + HISTORY) == b""
    assert out.read_bytes() == ok(waexport, HISTORY)
    assert ok(waexport, ["-o", "-"] + HISTORY) == out.read_bytes()
    assert tmp_leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["chats.csv", "chats.ndjson", "chats.csv.gz"])
def test_new_output_file_has_mode_0600(tmp_path, name):
    """Even with umask 0 a chat history is created private (SPEC §4.4)."""
    out = tmp_path / name
    p = subprocess.run([BIN, "convert", "-q", "-o", str(out)] + [str(h) for h in HISTORY],
                       preexec_fn=lambda: os.umask(0), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert tmp_leftovers(tmp_path) == []


def test_date_placeholder_expands_to_today_in_utc(waexport, tmp_path):
    before = datetime.now(timezone.utc).date().isoformat()
    ok(waexport, ["-o", tmp_path / "chats-{date}.csv"] + HISTORY)
    after = datetime.now(timezone.utc).date().isoformat()
    names = sorted(os.listdir(tmp_path))
    assert names in (["chats-%s.csv" % before], ["chats-%s.csv" % after]), names


def test_date_placeholder_uses_tz(waexport, tmp_path):
    # At any instant one of these zones (UTC+14, UTC-11) is on a different date from UTC.
    now = datetime.now(timezone.utc)
    zone = next(z for z in ("Pacific/Kiritimati", "Pacific/Pago_Pago")
                if now.astimezone(ZoneInfo(z)).date() != now.date())
    before = datetime.now(ZoneInfo(zone)).date().isoformat()
    ok(waexport, ["--tz", zone, "-o", tmp_path / "{date}.ndjson"] + HISTORY)
    after = datetime.now(ZoneInfo(zone)).date().isoformat()
    names = sorted(os.listdir(tmp_path))
    assert names in ([before + ".ndjson"], [after + ".ndjson"]), (zone, names)
    assert (tmp_path / names[0]).read_bytes().startswith(b'{"unique":')


@pytest.mark.parametrize("name,fmt,gz", [
    ("out.csv", "csv", False), ("out.ndjson", "ndjson", False), ("out.jsonl", "ndjson", False),
    ("out.csv.gz", "csv", True), ("out.ndjson.gz", "ndjson", True), ("out.jsonl.gz", "ndjson", True),
    ("out", "csv", False), ("out.gz", "csv", True),
])
def test_format_and_gzip_follow_the_extension(waexport, tmp_path, name, fmt, gz):
    out = tmp_path / name
    ok(waexport, ["-o", out] + HISTORY)
    data = out.read_bytes()
    if gz:
        assert data[:2] == b"\x1f\x8b"
        data = gunzip_single_member(data)
    assert data == ok(waexport, ["--format", fmt] + HISTORY)


def test_format_option_wins_over_the_extension(waexport, tmp_path):
    out = tmp_path / "really-ndjson.csv"
    ok(waexport, ["--format", "ndjson", "-o", out] + HISTORY)
    assert read_ndjson(out.read_bytes()) == [expected_ndjson(m) for m in ordered(HISTORY)]


def test_output_through_a_dev_stdout_style_symlink(tmp_path):
    """`-o /dev/stdout` is a symlink to /proc/self/fd/1: the rows must reach stdout and the
    link must stay a link (replacing it with a regular file would clobber /dev/stdout)."""
    link = tmp_path / "stdout-link"
    link.symlink_to("/proc/self/fd/1")
    captured = tmp_path / "captured.csv"
    with open(captured, "wb") as fh:
        p = subprocess.run([BIN, "convert", "-q", "-o", str(link)] + [str(h) for h in HISTORY],
                           stdout=fh, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    assert link.is_symlink(), "the symlink was replaced by a regular file"
    assert read_csv(captured.read_bytes())[1:] == [expected_csv(m) for m in ordered(HISTORY)]


def test_output_into_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    p = subprocess.run([BIN, "convert", "-q", "-o", str(fifo)] + [str(h) for h in HISTORY],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    reader.join(60)
    assert p.returncode == 0, p.stderr.decode()
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert read_csv(got[0])[1:] == [expected_csv(m) for m in ordered(HISTORY)]


# ---------------------------------------------------------------- atomicity (SPEC §4.4)

BROKEN_INPUTS = {
    "invalid-json": b'[{"unique":"A","timestamp":"1"},{"unique":"B","timestamp":@}]',
    "truncated": b'[{"unique":"A","timestamp":"1"},{"unique":"B","times',
    "fail-object": b'{"status":"FAIL","reason":3}',
    "bad-third-line": b'[{"unique":"A","timestamp":"3"}]\n[{"unique":"B","timestamp":"2"}]\n[{"unique":"C"]\n',
}


@pytest.mark.parametrize("name", ["old.csv", "old.ndjson", "old.csv.gz"])
@pytest.mark.parametrize("broken", sorted(BROKEN_INPUTS))
def test_failed_run_leaves_previous_file_untouched(waexport, tmp_path, broken, name):
    out = tmp_path / name
    previous = b"previous export, must survive\r\n"
    out.write_bytes(previous)
    bad = tmp_path / "in" / "bad.json"
    bad.parent.mkdir()
    bad.write_bytes(BROKEN_INPUTS[broken])
    p = waexport(["convert", "-o", out] + HISTORY + [bad])
    assert p.returncode in (65, 77), p.stderr.decode()
    assert out.read_bytes() == previous
    assert tmp_leftovers(tmp_path) == [], os.listdir(tmp_path)


def test_failed_run_creates_no_file(waexport, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(BROKEN_INPUTS["truncated"])
    p = waexport(["convert", "-o", tmp_path / "new-{date}.csv", HISTORY[0], bad])
    assert p.returncode == 65
    assert os.listdir(tmp_path) == ["bad.json"]


def test_output_appears_only_when_complete(tmp_path):
    """While input is still arriving the target keeps its old bytes; then it is whole."""
    out = tmp_path / "chats.csv"
    out.write_bytes(b"old\r\n")
    p = popen(["convert", "-q", "-o", out], stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pages = [h.read_bytes().strip() + b"\n" for h in HISTORY]
    p.stdin.write(pages[0] + pages[1])
    p.stdin.flush()
    time.sleep(0.5)                                # give a wrong implementation its chance
    assert out.read_bytes() == b"old\r\n"
    p.stdin.write(pages[2])
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 0, stderr.decode()
    assert read_csv(out.read_bytes())[1:] == [expected_csv(m) for m in ordered(HISTORY)]
    assert tmp_leftovers(tmp_path) == []


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_run_leaves_previous_file_and_no_temporary(tmp_path, sig, code):
    out = tmp_path / "chats.ndjson"
    out.write_bytes(b"{}\n")
    p = popen(["convert", "-o", out], stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(HISTORY[0].read_bytes().strip() + b"\n")
    p.stdin.flush()
    deadline = time.monotonic() + 20              # wait (bounded) until the run is under way
    while not tmp_leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == code, stderr.decode()
    assert out.read_bytes() == b"{}\n"
    assert tmp_leftovers(tmp_path) == []
    lines = stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("waexport:"), lines
    assert_no_sanitizer_report(stderr)


# ---------------------------------------------------------------- --gzip, --gzip-level

def test_gzip_flag_to_stdout_is_one_valid_member(waexport):
    plain = ok(waexport, HISTORY)
    data = ok(waexport, ["--gzip"] + HISTORY)
    assert data[:2] == b"\x1f\x8b"
    assert gunzip_single_member(data) == plain
    ndjson = ok(waexport, ["--gzip", "--format", "ndjson"] + HISTORY)
    assert gunzip_single_member(ndjson) == ok(waexport, ["--format", "ndjson"] + HISTORY)


def test_gzip_flag_to_a_file_without_gz_extension(waexport, tmp_path):
    out = tmp_path / "chats.csv"
    ok(waexport, ["--gzip", "-o", out] + HISTORY)
    assert gzip.decompress(out.read_bytes()) == ok(waexport, HISTORY)


def test_gzip_levels(waexport, tmp_path):
    plain = ok(waexport, HISTORY)
    for level in range(1, 10):
        data = ok(waexport, ["--gzip", "--gzip-level", level] + HISTORY)
        assert gunzip_single_member(data) == plain, level
    # The level is really applied, and the default is 6 (SPEC §2). The gzip header's MTIME
    # field (bytes 4-7) is masked: it is allowed to differ between runs.
    big = big_input(tmp_path)
    big_plain = ok(waexport, [big])
    streams = {}
    for level in ("1", "6", "9", None):
        out = tmp_path / f"l{level}.csv.gz"
        ok(waexport, (["--gzip-level", level] if level else []) + ["-o", out, big])
        data = out.read_bytes()
        assert gunzip_single_member(data) == big_plain
        streams[level] = data[:4] + bytes(4) + data[8:]
    assert streams[None] == streams["6"]
    assert len(streams["9"]) < len(streams["1"])


def test_gzip_level_alone_gzips(waexport):
    data = ok(waexport, ["--gzip-level", "3"] + HISTORY)
    assert gunzip_single_member(data) == ok(waexport, HISTORY)


# ---------------------------------------------------------------- input forms

def test_one_array_per_line_reads_like_separate_files(waexport, tmp_path):
    raw = history_jsonl(tmp_path)
    assert ok(waexport, [raw]) == ok(waexport, HISTORY)
    p = waexport(["convert", raw])
    assert summary(p.stderr) == (13, 3, 0, 0)


def test_pretty_printed_multiline_array(waexport):
    rows = read_csv(ok(waexport, [PRETTY]))
    assert rows[1:] == [expected_csv(m) for m in ordered([PRETTY])]
    assert [r[0] for r in rows[1:]] == ["3EB08F941940DDCFGF58", "3EB08F941940DDC30F58"]
    first = dict(zip(COLUMNS, rows[2]))
    assert first["time"] == "2021-02-24T20:32:57Z"       # SPEC §4.1's own example
    assert (first["direction"], first["state"]) == ("outgoing", "sent")


def test_pretty_printed_arrays_one_after_another(waexport, tmp_path):
    """`jq . page-1.json page-2.json ...`: every array on lines of its own. The first
    one ending at a line break once made the file read as one array per line."""
    pretty = tmp_path / "jq.json"
    pretty.write_text("".join(json.dumps(json.loads(h.read_bytes()), indent=2) + "\n"
                              for h in HISTORY))
    assert ok(waexport, [pretty]) == ok(waexport, HISTORY)


def test_files_named_oldest_night_first_are_warned_about(waexport, tmp_path):
    """convert reads its files as one history, newest first: `raw-*.jsonl.gz` in the
    shell's order (oldest night first) would write --order oldest out of time order and
    keep the older copy of a message. One warning says so and how to name them."""
    p = waexport(["convert", "-o", tmp_path / "out.csv"] + HISTORY[::-1])
    assert p.returncode == 0, p.stderr.decode()
    warnings = [ln for ln in p.stderr.decode().splitlines() if "warning:" in ln]
    assert len(warnings) == 1, warnings
    assert "name them newest first" in warnings[0] and HISTORY[1].name in warnings[0]
    p = waexport(["convert", "-o", tmp_path / "out.csv"] + HISTORY)
    assert summary(p.stderr)[3] == 0, p.stderr.decode()


def test_an_empty_unique_is_written_like_a_missing_one(waexport, tmp_path):
    """Two messages with "unique": "" are two messages, not one and a duplicate."""
    m = {"timestamp": "1700000002", "direction": "1", "from": "972509876543",
         "to": "972501234567", "type": "text"}
    page = tmp_path / "page.json"
    page.write_text(json.dumps([dict(m, unique="", message="first"),
                                dict(m, unique="", message="second"),
                                dict(m, unique="X", message="third")]))
    p = waexport(["convert", "--columns", "unique,message", page])
    assert p.returncode == 0, p.stderr.decode()
    assert [r[1] for r in read_csv(p.stdout)[1:]] == ["third", "second", "first"]
    assert summary(p.stderr) == (3, 1, 0, 2)


def test_gz_inputs_are_decompressed(waexport, tmp_path):
    raw = history_jsonl(tmp_path)
    gz = tmp_path / "raw.jsonl.gz"
    gz.write_bytes(gzip.compress(raw.read_bytes()))
    pages_gz = []
    for h in HISTORY:
        g = tmp_path / (h.name + ".gz")
        g.write_bytes(gzip.compress(h.read_bytes()))
        pages_gz.append(g)
    expected = ok(waexport, HISTORY)
    assert ok(waexport, [gz]) == expected
    assert ok(waexport, pages_gz) == expected
    assert ok(waexport, [pages_gz[0], HISTORY[1], pages_gz[2]]) == expected


def test_multi_member_gz_input_reads_every_member(waexport, tmp_path):
    gz = tmp_path / "appended.jsonl.gz"
    gz.write_bytes(b"".join(gzip.compress(h.read_bytes().strip() + b"\n") for h in HISTORY))
    assert ok(waexport, [gz]) == ok(waexport, HISTORY)


@pytest.mark.parametrize("args", [[], ["-"]])
def test_stdin_input(waexport, tmp_path, args):
    raw = history_jsonl(tmp_path).read_bytes()
    assert ok(waexport, args, input=raw) == ok(waexport, HISTORY)
    assert ok(waexport, args, input=PRETTY.read_bytes()) == ok(waexport, [PRETTY])


def test_empty_inputs(waexport, tmp_path):
    empty_array, empty_file = tmp_path / "empty.json", tmp_path / "nothing.json"
    empty_array.write_bytes(b"[]\n")
    empty_file.write_bytes(b"")
    for f in (empty_array, empty_file):
        assert ok(waexport, [f]) == ",".join(COLUMNS).encode() + b"\r\n"
        assert ok(waexport, ["--format", "ndjson", f]) == b""
        assert ok(waexport, ["--excel", f]) == BOM + ",".join(COLUMNS).encode() + b"\r\n"
    assert ok(waexport, [empty_array] + HISTORY + [empty_file]) == ok(waexport, HISTORY)


# ---------------------------------------------------------------- stdout closed early

def big_input(tmp_path):
    """~2 MB: 100 pages of 50 messages, one array per line, newest first."""
    import json
    lines, n = [], 0
    for _ in range(100):
        page = []
        for _ in range(50):
            n += 1
            page.append({"unique": "BIG%06d" % n, "timestamp": str(1720000000 - n), "direction": "1",
                         "from": "972505492890", "to": "972501234567", "type": "text", "state": 0,
                         "message": "\u05e9\u05dc\u05d5\u05dd, line %d " % n + "x" * 300})
        lines.append(json.dumps(page))
    f = tmp_path / "big.jsonl"
    f.write_text("\n".join(lines) + "\n")
    assert 1_500_000 < f.stat().st_size < 3_000_000
    return f


@pytest.mark.parametrize("extra", [[], ["--order", "newest"], ["--format", "ndjson"], ["--gzip"]])
def test_stdout_closed_early_like_head(tmp_path, extra):
    big = big_input(tmp_path)
    errf = tmp_path / "stderr.txt"
    with open(errf, "wb") as err:
        p = popen(["convert"] + extra + [big], stdout=subprocess.PIPE, stderr=err)
        first = p.stdout.read(64)
        p.stdout.close()
        p.wait(timeout=120)
    assert first
    stderr = errf.read_bytes()
    assert_no_sanitizer_report(stderr)
    assert p.returncode in (141, -signal.SIGPIPE), (p.returncode, stderr.decode())


def test_large_input_every_row_once_in_order(waexport, tmp_path):
    """5,000 messages on 100 pages: the spooled oldest-first order and newest order hold."""
    big = big_input(tmp_path)
    oldest = read_csv(ok(waexport, [big]))[1:]
    expected = [expected_csv(m) for m in ordered([big])]
    assert len(oldest) == 5000 and oldest == expected
    newest = read_ndjson(ok(waexport, ["--order", "newest", "--format", "ndjson", big]))
    assert [o["unique"] for o in newest] == ["BIG%06d" % n for n in range(1, 5001)]
