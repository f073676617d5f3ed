"""Round trip through the sqlite3 command-line shell (SPEC §4.1, §4.2).

The plain CSV goes in with `.import --csv` (the header row names the columns); the
NDJSON goes in one line per row (`.import` in ascii mode with LF as the record
separator, into a one-column table) and is read with SQLite's JSON functions
(json_extract, json_type, json_each). Every field of every row is compared with the
ground truth of helpers.py. Input: samples/pages plus the crafted pages of
tools/roundtrip_data.py (Hebrew, ZWJ emoji, multi-line, quotes, formulas, numbers as
text, media links).
"""
import json
import shutil
import sqlite3
import subprocess

import pytest

from conftest import run
from helpers import COLUMNS, expected_csv, expected_ndjson, ordered
from tools import roundtrip_data as rt

TZ = "Asia/Jerusalem"


def sqlite_cli():
    exe = shutil.which("sqlite3")
    if not exe:
        pytest.fail("sqlite3 is missing: `scripts/deps.sh test` installs it")
    return exe


def shell(db, *commands, stdin=None):
    r = subprocess.run([sqlite_cli(), "-batch", "-bail", str(db)] + list(commands),
                       input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode()
    return r.stdout


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("sqlite")
    paths = rt.inputs(d)
    out = {"dir": d, "msgs": ordered(paths)}
    for name, args in (("plain.csv", []), ("chats.ndjson", ["--tz", TZ])):
        p = run(["convert", "-q", "-o", d / name] + args + paths)
        assert p.returncode == 0, p.stderr.decode()
        out[name] = d / name
    return out


def test_csv_import_every_field(data):
    db = data["dir"] / "csv.db"
    shell(db, ".import --csv %s m" % data["plain.csv"])
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(m)")]
    assert cols == COLUMNS
    rows = [list(r) for r in con.execute("SELECT * FROM m ORDER BY rowid")]
    expected = [expected_csv(m) for m in data["msgs"]]
    assert len(rows) == len(expected) == 350
    for i, (got, want) in enumerate(zip(rows, expected)):
        assert got == want, "row %d (%s)" % (i + 1, want[0])
    # Spot checks of what a careless CSV writer or reader gets wrong.
    by_unique = {r[0]: dict(zip(COLUMNS, r)) for r in rows}
    assert by_unique["RT0007B"]["message"] == "crlf one\r\ncrlf two\r\n"
    assert by_unique["RT0004E"]["from"] == "123456789012345678"
    assert by_unique["RT0002C"]["from"] == "0541112233"
    assert by_unique["RT0003D"]["to"] == "00972541112233"
    assert by_unique["RT0015D"]["message"] == "=SUM(A1)"   # plain CSV: no ' prefix


def test_ndjson_lines_json_extract_every_field(data):
    db = data["dir"] / "ndjson.db"
    shell(db, "CREATE TABLE lines(line TEXT)", ".mode ascii", '.separator "\\037" "\\n"',
          ".import %s lines" % data["chats.ndjson"])
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*), sum(json_valid(line)) FROM lines").fetchone() == (350, 350)
    expected = [expected_ndjson(m, tz=TZ) for m in data["msgs"]]

    # The known keys, one json_extract each, with their JSON types.
    sel = ", ".join("json_extract(line, '$.\"%s\"'), json_type(line, '$.\"%s\"')" % (c, c)
                    for c in COLUMNS)
    rows = con.execute("SELECT %s FROM lines ORDER BY rowid" % sel).fetchall()
    json_types = {str: "text", int: "integer", type(None): "null"}
    for i, (row, want) in enumerate(zip(rows, expected)):
        for k, c in enumerate(COLUMNS):
            value, jtype = row[2 * k], row[2 * k + 1]
            assert want[c] == value, "row %d %s: %r" % (i + 1, c, value)
            assert jtype == json_types[type(value)], "row %d %s: json_type %s" % (i + 1, c, jtype)

    # Every key, in order, extras included (json_each keeps the object's order).
    got = {}
    for rowid, key, jtype, atom, value in con.execute(
            "SELECT lines.rowid, j.key, j.type, j.atom, j.value "
            "FROM lines, json_each(lines.line) AS j ORDER BY lines.rowid, j.id"):
        got.setdefault(rowid, []).append(
            (key, json.loads(value) if jtype in ("object", "array") else
             (bool(atom) if jtype in ("true", "false") else atom)))
    assert len(got) == len(expected)
    for i, want in enumerate(expected):
        assert [k for k, _ in got[i + 1]] == list(want), "row %d: keys" % (i + 1)
        assert dict(got[i + 1]) == want, "row %d" % (i + 1)
    extras = [dict(got[i + 1]) for i, w in enumerate(expected) if "context" in w]
    assert extras and extras[0]["isForwarded"] is True and isinstance(extras[0]["context"], dict)
