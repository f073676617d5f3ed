"""convert -o with {chat}: one file per conversation (SPEC §2 output options, §4.5).

The chat of a message is its counterpart: `to` of an outgoing message, `from` of an
incoming one, `to` when the direction is unknown. Names are sanitised so nothing
escapes the target directory."""
import json
import os
import re
import subprocess

from conftest import BIN
from helpers import HISTORY, expected_csv, int_code, ordered, read_csv, tmp_leftovers


def chat_of(msg):
    return msg.get("from") if int_code(msg.get("direction")) == 1 else msg.get("to")


def export_by_chat(waexport, tmp_path, out, msgs, template="{chat}.csv"):
    """convert msgs with -o out/template: the sorted file names, and each file's uniques."""
    out.mkdir()
    f = tmp_path / "page.json"
    f.write_text(json.dumps(msgs))
    p = waexport(["convert", "-q", "-o", out / template, f])
    assert p.returncode == 0, p.stderr.decode()
    got = sorted(os.listdir(out))
    return got, {n: [r[0] for r in read_csv((out / n).read_bytes())[1:]] for n in got}


def test_chat_placeholder_writes_one_file_per_conversation(waexport, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    p = waexport(["convert", "-q", "-o", out / "{chat}.csv"] + HISTORY)
    assert p.returncode == 0, p.stderr.decode()
    chats = {}
    for m in ordered(HISTORY):
        chats.setdefault(chat_of(m), []).append(m)
    assert sorted(os.listdir(out)) == sorted(f"{c}.csv" for c in chats)
    for chat, msgs in chats.items():
        rows = read_csv((out / f"{chat}.csv").read_bytes())
        assert rows[1:] == [expected_csv(m) for m in msgs], chat


def test_chat_placeholder_cannot_escape_the_directory(waexport, tmp_path):
    out = tmp_path / "a" / "b"
    out.mkdir(parents=True)
    evil = ["../../../escaped", "/etc/passwd", "x/../../y", "..", ".", "", "con\nsole", "-rf"]
    msgs = [{"unique": f"E{i}", "timestamp": str(1720000000 - i), "direction": "2",
             "from": "972501234567", "to": to, "type": "text", "state": 1, "message": f"m{i}"}
            for i, to in enumerate(evil)]
    f = tmp_path / "evil.json"
    f.write_text(json.dumps(msgs))
    before = sorted(os.listdir(tmp_path))
    p = waexport(["convert", "-q", "-o", out / "chat-{chat}.csv", f])
    assert p.returncode == 0, p.stderr.decode()
    assert sorted(os.listdir(tmp_path)) == before
    assert os.listdir(tmp_path / "a") == ["b"]
    names = os.listdir(out)
    assert names and all(os.path.isfile(out / n) and "/" not in n for n in names)
    assert tmp_leftovers(out) == []
    written = [r[0] for n in names for r in read_csv((out / n).read_bytes())[1:]]
    assert sorted(written) == sorted(m["unique"] for m in msgs)   # every message, once


def test_long_and_colliding_chat_ids_get_stable_names(waexport, tmp_path):
    """SPEC §5.7: an id too long for a file name is shortened with a hash (never a
    failed night), ids that sanitise alike never share a file, and a chat's file
    name does not depend on which chats came first."""
    ids = ["9" * 300, "IL.1" + "7" * 240, "a/b", "a_b", "a b", "972509876543"]
    msgs = [{"unique": f"L{i}", "timestamp": str(1720000000 - i), "direction": "2",
             "from": "972501234567", "to": to, "type": "text", "state": 1, "message": f"m{i}"}
            for i, to in enumerate(ids)]
    names = []
    for order in (msgs, list(reversed(msgs))):
        out = tmp_path / ("fwd" if order is msgs else "back")
        got, rows = export_by_chat(waexport, tmp_path, out, order)
        assert len(got) == len(ids), got
        assert all(len(n.encode()) < 255 for n in got), got
        assert "972509876543.csv" in got and "a_b.csv" in got  # safe ids keep their name
        names.append(got)
        assert sorted(u for us in rows.values() for u in us) == sorted(m["unique"] for m in msgs)
    assert names[0] == names[1]


def test_a_chat_id_that_looks_like_a_hashed_name_gets_its_own_file(waexport, tmp_path):
    """SPEC §5.7: "a b" is written to a_b-<hash of "a b">; a chat whose id is that very
    name must not share the file (each chat keeps its own rows)."""
    ids = ["a b", "a_b-fe9f23441d8a5fe9", "a_b-FE9F23441D8A5FE9", "x-0123"]
    msgs = [{"unique": f"H{i}", "timestamp": str(1720000000 - i), "direction": "1",
             "from": cid, "to": "972501234567", "type": "text", "state": 1,
             "message": f"from {cid}"} for i, cid in enumerate(ids)]
    got, rows = export_by_chat(waexport, tmp_path, tmp_path / "out", msgs, "c-{chat}.csv")
    assert len(got) == len(ids), got
    assert "c-a_b-FE9F23441D8A5FE9.csv" in got and "c-x-0123.csv" in got  # ordinary ids keep theirs
    assert sorted(rows.values()) == [[f"H{i}"] for i in range(len(ids))], rows


def test_messages_without_a_counterpart_and_the_id_unknown_keep_apart(waexport, tmp_path):
    """Messages with no counterpart (absent, null, "", an object) go to `unknown`; a
    counterpart that is the text "unknown" (also escaped) is a chat of its own."""
    msgs = [{"unique": "N1", "direction": "2"}, {"unique": "N2", "direction": "2", "to": None},
            {"unique": "N3", "direction": "2", "to": ""}, {"unique": "N4", "to": {"x": 1}},
            {"unique": "U1", "direction": "2", "to": "unknown"},
            {"unique": "U2", "direction": "1", "from": "unknown"}]
    got, rows = export_by_chat(waexport, tmp_path, tmp_path / "out", msgs)
    hashed = [n for n in got if n != "unknown.csv"]
    assert len(got) == 2 and len(hashed) == 1 and re.fullmatch(r"unknown-[0-9a-f]{16}\.csv",
                                                               hashed[0]), got
    assert sorted(rows["unknown.csv"]) == ["N1", "N2", "N3", "N4"]
    assert sorted(rows[hashed[0]]) == ["U1", "U2"]


def test_chat_file_time_range_holds_the_lowest_64_bit_time(waexport, tmp_path):
    """SPEC §4.7: first/last_timestamp are the file's min and max; -2^63 is a time a
    message may carry, not a marker for none (it was dropped in {chat} files)."""
    low = -9223372036854775808
    pages = tmp_path / "p.json"
    pages.write_text(json.dumps([{"unique": "a", "timestamp": low, "to": "1"},
                                 {"unique": "b", "timestamp": 5, "to": "1"},
                                 {"unique": "c", "to": "2"}]))
    out = tmp_path / "out"
    out.mkdir()
    p = waexport(["convert", "-q", "-o", out / "{chat}.csv", "--manifest",
                  tmp_path / "m.json", pages])
    assert p.returncode == 0, p.stderr.decode()
    files = {os.path.basename(f["path"]): f for f in
             json.loads((tmp_path / "m.json").read_text())["files"]}
    assert (files["1.csv"]["first_timestamp"], files["1.csv"]["last_timestamp"]) == (low, 5)
    assert (files["2.csv"]["first_timestamp"], files["2.csv"]["last_timestamp"]) == (None, None)


def test_summary_counts_the_chat_files(waexport, tmp_path):
    """The summary names how many files a {chat} run wrote, never the pattern as if it
    were a file (it said "to out/{chat}.csv (0 B)" for an input without messages)."""
    out = tmp_path / "out"
    out.mkdir()
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    p = waexport(["convert", "-o", out / "{chat}.csv", empty])
    assert p.returncode == 0 and os.listdir(out) == []
    assert "to 0 files (%s/{chat}.csv)" % out in p.stderr.decode(), p.stderr.decode()
    one = [m for m in json.loads(HISTORY[0].read_text()) if chat_of(m) == chat_of(
        json.loads(HISTORY[0].read_text())[0])]
    page = tmp_path / "one.json"
    page.write_text(json.dumps(one))
    p = waexport(["convert", "-o", out / "{chat}.csv", page])
    assert p.returncode == 0 and len(os.listdir(out)) == 1
    assert "to 1 file (%s/{chat}.csv)" % out in p.stderr.decode(), p.stderr.decode()


def test_a_chat_file_that_cannot_start_its_gzip_leaves_no_temporary_file(waexport, tmp_path):
    """SPEC §4.4: a failed run leaves no temporary file. The first {chat} file's gzip stream
    cannot be made (zlib out of memory, through an LD_PRELOAD shim): exit 70, and its
    temporary file, opened just before, is gone too (it was left behind, and its sink
    leaked)."""
    shim = tmp_path / "failz.so"
    src = os.path.join(os.path.dirname(__file__), "tools", "failz.c")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(shim), src, "-ldl"], check=True)
    preload = str(shim)
    if b"libasan" in subprocess.run(["ldd", BIN], stdout=subprocess.PIPE).stdout:
        # The sanitizer build (make test runs the suite with it too): its runtime goes
        # first, and it reports the sink that leaked here.
        asan = subprocess.run(["cc", "-print-file-name=libasan.so"], stdout=subprocess.PIPE,
                              check=True).stdout.decode().strip()
        preload = asan + " " + preload
    out = tmp_path / "out"
    out.mkdir()
    p = waexport(["convert", "-q", "-o", out / "{chat}.csv.gz"] + HISTORY,
                 env={"LD_PRELOAD": preload, "FAILZ_AT": "1"})
    assert p.returncode == 70, p.stderr.decode()
    assert p.stderr.decode().splitlines() == ["waexport: out of memory"], p.stderr.decode()
    assert b"out of memory" in p.stderr, p.stderr
    assert os.listdir(out) == [], os.listdir(out)
