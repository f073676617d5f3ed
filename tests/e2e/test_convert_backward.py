"""convert --order oldest reads regular files from their last line (no spool to
turn around): the output must be byte for byte what reading forward gives.

Forward reading is forced by piping the same bytes through standard input,
which cannot be read backward. Duplicates are the interesting part: SPEC §5.2
writes a message once, and this tool writes the copy that comes first in the
input, in its place, whichever way it reads.
"""
import gzip
import json
import subprocess

import pytest

from conftest import PY, ROOT
from helpers import assert_error, read_csv, summary


def shifted_history(tmp_path, messages=3000, seed=11):
    """A generated history where pages overlap as when messages arrive during a
    fetch: the last two messages of some pages open the next page again, with
    a newer state, so the copies differ and which one is written shows."""
    lines = subprocess.run([PY, str(ROOT / "scripts" / "gen_history.py"), "--messages",
                            str(messages), "--seed", str(seed), "--out", "-"],
                           check=True, stdout=subprocess.PIPE, timeout=120).stdout.splitlines()
    pages = [json.loads(line) for line in lines]
    for k in range(0, len(pages) - 1, 3):
        repeat = [dict(m) for m in pages[k][-2:]]
        for m in repeat:
            m["state"] = "3" if str(m.get("state")) != "3" else "2"
        pages[k + 1] = repeat + pages[k + 1]
    raw = tmp_path / "shifted.jsonl"
    raw.write_bytes(b"".join(json.dumps(p, ensure_ascii=False).encode() + b"\n" for p in pages))
    return raw, pages


def convert_both(waexport, raw, args):
    """(reading the file backward, reading the same bytes forward from stdin)."""
    back = waexport(["convert"] + args + [raw])
    fwd = waexport(["convert"] + args + ["-"], input=raw.read_bytes())
    assert back.returncode == 0, back.stderr.decode()
    assert fwd.returncode == 0, fwd.stderr.decode()
    return back, fwd


@pytest.mark.parametrize("args", [[], ["--format", "ndjson"], ["--excel"],
                                  ["--format", "ndjson", "--tz", "Asia/Jerusalem"]],
                         ids=["csv", "ndjson", "excel", "ndjson-tz"])
def test_backward_output_equals_forward_output(waexport, tmp_path, args):
    raw, pages = shifted_history(tmp_path)
    back, fwd = convert_both(waexport, raw, args)
    assert back.stdout == fwd.stdout
    assert summary(back.stderr) == summary(fwd.stderr)
    total = sum(len(p) for p in pages)
    assert summary(back.stderr)[0] == 3000 and summary(back.stderr)[2] == total - 3000


def test_first_copy_in_the_input_is_the_one_written(waexport, tmp_path):
    raw, pages = shifted_history(tmp_path)
    back, _ = convert_both(waexport, raw, ["--order", "oldest"])
    rows = read_csv(back.stdout)
    col = {name: i for i, name in enumerate(rows[0])}
    written = {r[col["unique"]]: r[col["state_code"]] for r in rows[1:]}
    assert len(written) == len(rows) - 1 == 3000
    # The repeated copies (second in the input) carry a state the first copy has not.
    seen, repeated = set(), {}
    for page in pages:
        for m in page:
            if m["unique"] in seen:
                repeated[m["unique"]] = str(m["state"])
            seen.add(m["unique"])
    assert len(repeated) == 40
    for u, later_state in repeated.items():
        assert written[u] != later_state, u
    times = [int(r[col["timestamp"]]) for r in rows[1:]]
    assert times == sorted(times), "oldest first"


def test_gzip_output_is_the_same_stream(waexport, tmp_path):
    raw, _ = shifted_history(tmp_path, messages=1200)
    out = tmp_path / "back.csv.gz"
    assert waexport(["convert", "-q", "-o", out, raw]).returncode == 0
    fwd = waexport(["convert", "-q", "-"], input=raw.read_bytes())
    assert gzip.decompress(out.read_bytes()) == fwd.stdout


def test_files_are_read_last_to_first(waexport, tmp_path):
    """Several files: the same as their concatenation read forward."""
    raw, _ = shifted_history(tmp_path, messages=1000)
    lines = raw.read_bytes().splitlines(keepends=True)
    parts = []
    for i, chunk in enumerate((lines[:7], lines[7:8], lines[8:])):
        f = tmp_path / ("part%d.jsonl" % i)
        f.write_bytes(b"".join(chunk))
        parts.append(f)
    back = waexport(["convert", "-q"] + parts)
    fwd = waexport(["convert", "-q", "-"], input=raw.read_bytes())
    assert back.returncode == 0 and back.stdout == fwd.stdout


def test_far_apart_copies_are_still_written_once(waexport, tmp_path):
    """Copies further apart than what is held back (256 to 512 KiB of rows): one copy each,
    the one nearer the end of the input (documented in the README)."""
    raw, pages = shifted_history(tmp_path, messages=20000)
    again = pages[0][:3]
    data = raw.read_bytes() + json.dumps(again).encode() + b"\n"
    raw.write_bytes(data)
    p = waexport(["convert", raw])
    assert p.returncode == 0, p.stderr.decode()
    rows = read_csv(p.stdout)[1:]
    uniques = [r[0] for r in rows]
    assert len(uniques) == len(set(uniques)) == 20000
    fwd = waexport(["convert", "-"], input=data)
    assert sorted(read_csv(fwd.stdout)[1:]) == sorted(rows)


def test_pretty_printed_file_falls_back_to_reading_forward(waexport, tmp_path):
    """The last file is one page per line, the first is pretty-printed: backward
    reading gives up on it and the whole run reads forward, with no trace."""
    raw, _ = shifted_history(tmp_path, messages=500)
    lines = raw.read_bytes().splitlines(keepends=True)
    pretty = tmp_path / "first.json"
    pretty.write_text(json.dumps(json.loads(lines[0]), indent=2, ensure_ascii=False))
    rest = tmp_path / "rest.jsonl"
    rest.write_bytes(b"".join(lines[1:]))
    out = tmp_path / "out.csv"
    p = waexport(["convert", "-o", out, pretty, rest])
    assert p.returncode == 0, p.stderr.decode()
    fwd = waexport(["convert", "-"], input=raw.read_bytes())
    assert out.read_bytes() == fwd.stdout
    assert summary(p.stderr) == summary(fwd.stderr)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["first.json", "out.csv", "rest.jsonl",
                                                          "shifted.jsonl"]


def test_damage_is_reported_where_forward_reading_finds_it(waexport, tmp_path):
    """Two damaged lines: the error names the first, with its byte offset in the file."""
    raw, _ = shifted_history(tmp_path, messages=500)
    lines = raw.read_bytes().splitlines(keepends=True)
    lines[3] = b"[{\"unique\": 01}]\n"
    lines[7] = b"[{\"unique\": \"x\",}]\n"
    raw.write_bytes(b"".join(lines))
    out = tmp_path / "out.csv"
    p = waexport(["convert", "-o", out, raw])
    line = assert_error(p, 65)
    offset = sum(len(x) for x in lines[:3]) + len(b"[{\"unique\": ")
    assert "%s: byte %d:" % (raw, offset) in line, line
    assert not out.exists()


def test_standard_output_is_never_read_backward(waexport, tmp_path):
    """Rows reach stdout as they are made, so a pass that might give up is not
    tried there: a pretty-printed page before 59 one-line pages gives one
    header and every row once."""
    raw, _ = shifted_history(tmp_path, messages=3000)
    lines = raw.read_bytes().splitlines(keepends=True)
    mixed = tmp_path / "mixed.json"
    mixed.write_bytes(json.dumps(json.loads(lines[0]), indent=1).encode() + b"\n" + b"".join(lines[1:]))
    p = waexport(["convert", "-q", mixed])
    fwd = waexport(["convert", "-q", "-"], input=raw.read_bytes())
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == fwd.stdout
    assert p.stdout.count(b"unique,timestamp") == 1
    # Damage at the top of a file: nothing at all on stdout, as before.
    damaged = tmp_path / "damaged.json"
    damaged.write_bytes(b"[{\"unique\": \"x\"\n" + b"".join(lines[1:]))
    p = waexport(["convert", damaged])
    assert_error(p, 65)
    assert p.stdout == b""


def test_warnings_match_forward_reading(waexport, tmp_path):
    """A copy replaced in the hold takes its warnings with it, and a pass that
    gives up shows nothing: the same count and the same lines as forward."""
    bad = {"unique": "a", "timestamp": 300, "direction": 1, "from": "1", "to": "2",
           "type": "text", "state": 2}
    pages = [
        [dict(bad, message="bad \ud800 one"), dict(bad, unique="b", timestamp=200, message="x")],
        [dict(bad, message="bad \ud800 two"), dict(bad, unique="c", timestamp=100, message="y")],
    ]
    dup = tmp_path / "dup.json"
    dup.write_bytes(b"".join(json.dumps(p).encode() + b"\n" for p in pages))
    out = tmp_path / "out.csv"
    back = waexport(["convert", "-o", out, dup])
    fwd = waexport(["convert", "-"], input=dup.read_bytes())
    assert back.returncode == 0, back.stderr.decode()
    assert out.read_bytes() == fwd.stdout
    assert summary(back.stderr) == summary(fwd.stderr) == (3, 2, 1, 1)
    warned = [ln for ln in back.stderr.decode().splitlines() if "warning:" in ln]
    assert len(warned) == 1 and "message a:" in warned[0], back.stderr.decode()
    # A pretty-printed first file shows the warning once too; being older than the
    # file after it, it also gets the one warning that the files are not newest first.
    pretty = tmp_path / "first.json"
    pretty.write_text(json.dumps([{"unique": "z", "timestamp": 50, "message": "ok"}], indent=1))
    back = waexport(["convert", "-o", out, pretty, dup])
    warned = [ln for ln in back.stderr.decode().splitlines() if "warning:" in ln]
    assert back.returncode == 0 and len(warned) == 2, back.stderr.decode()
    assert len([ln for ln in warned if "message a:" in ln]) == 1, warned
    assert len([ln for ln in warned if "newest first" in ln]) == 1, warned
    assert summary(back.stderr) == (4, 3, 1, 2)


def test_named_pipe_input_is_read_forward(waexport, tmp_path):
    """A FIFO is not opened to look at it (that would wait for, then cut off, its writer)."""
    import os
    import threading
    raw, _ = shifted_history(tmp_path, messages=500)
    fifo = tmp_path / "pages.fifo"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb") as f:
            f.write(raw.read_bytes())

    t = threading.Thread(target=feed)
    t.start()
    out = tmp_path / "out.csv"
    p = waexport(["convert", "-q", "-o", out, fifo], timeout=60)
    t.join(timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    assert out.read_bytes() == waexport(["convert", "-q", "-"], input=raw.read_bytes()).stdout
