"""Warehouse hand-off (SPEC §4.7 manifest, §4.8 `waexport schema`, README "Loading into a
warehouse"; issue 16).

The README's commands are taken out of its fenced blocks marked `# waexport-test: NAME`
and run as written (bash, in a directory holding the night's file), so the docs cannot
rot: three nights of `fetch --state --lookback 2d` against the mock, with messages read
(their delivery state changed) between nights, and a second run on the third day that
adds to its files (so they hold some messages twice), each loaded and merged into
PostgreSQL (the throwaway cluster of test_roundtrip_postgres), DuckDB (@duckdb/node-api
behind a `duckdb` stand-in, tools/duckdb_sql.mjs) and SQLite. The merged tables must equal
the mock's final history message by message, with the declared types. Every night's
manifest is checked against the files; a failed night writes none; NDJSON lines are
checked against `waexport schema --dialect jsonschema`.
"""
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from conftest import BIN, ROOT, run
from fetch_helpers import ACCOUNT, KEY, Mock
from nightly_helpers import all_messages, grow, settle
from test_roundtrip_duckdb import duckdb_prefix  # noqa: F401 (fixture)
from test_roundtrip_postgres import Cluster

TOOLS = Path(__file__).resolve().parent / "tools"
FORMATS = ("csv", "ndjson", "csv.gz", "ndjson.gz")
LOADS = {  # README block -> the night file it reads
    "postgres-csv": "csv", "postgres-csv-gz": "csv.gz", "postgres-ndjson": "ndjson",
    "duckdb-csv": "csv.gz", "duckdb-ndjson": "ndjson.gz",
    "sqlite-csv": "csv", "sqlite-ndjson": "ndjson",
}


def readme_blocks():
    text = (ROOT / "README.md").read_text()
    blocks = dict(re.findall(r"```sh\n# waexport-test: (\S+)\n(.*?)```", text, re.S))
    assert set(LOADS) | {"export", "postgres-create", "duckdb-create", "sqlite-create"} <= \
        set(blocks), sorted(blocks)
    return blocks


BLOCKS = readme_blocks()


@pytest.fixture(scope="module")
def pg():
    c = Cluster()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def mock():
    m = Mock("--messages", 130, "--seed", 16, "--account", ACCOUNT)
    yield m
    m.stop()


@pytest.fixture(scope="module")
def tools(tmp_path_factory, duckdb_prefix):  # noqa: F811
    """A PATH directory: waexport, and `duckdb` as the README's shell would have it."""
    d = tmp_path_factory.mktemp("bin")
    (d / "waexport").symlink_to(os.path.abspath(BIN))
    (d / "duckdb").write_text('#!/bin/sh\nexec node "%s" "%s" "$@"\n' %
                              (TOOLS / "duckdb_sql.mjs", duckdb_prefix))
    (d / "duckdb").chmod(0o755)
    return d


def sh(block, cwd, env):
    r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", BLOCKS[block]], cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert r.returncode == 0, "%s: %s %s" % (block, r.stdout.decode(), r.stderr.decode())
    return r


def shell_env(tools, home, mock, pg, database):
    env = dict(os.environ, PATH="%s:%s" % (tools, os.environ.get("PATH", "")), HOME=str(home),
               WAEXPORT_URL=mock.url, WAEXPORT_API_KEY=KEY, NO_PROXY="127.0.0.1,localhost",
               PGHOST=str(pg.dir), PGPORT="5432", PGUSER="postgres", PGDATABASE=database,
               PGCLIENTENCODING="UTF8")
    env.pop("http_proxy", None)
    env.pop("HTTP_PROXY", None)
    return env


def restate(mock, k, state):
    import urllib.request
    req = urllib.request.Request(mock.base + "/__restate", method="POST",
                                 data=json.dumps({"newest": k, "state": state}).encode())
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=30) as r:
        return json.loads(r.read())["changed"]


def file_rows(path):
    raw = Path(path).read_bytes()
    text = (gzip.decompress(raw) if str(path).endswith(".gz") else raw).decode("utf-8")
    if ".ndjson" in str(path):
        return [json.loads(line) for line in text.splitlines()]
    import csv
    import io
    return list(csv.DictReader(io.StringIO(text, newline="")))


def check_manifest(manifest, night_dir):
    m = json.loads((night_dir / "night.json").read_text())
    assert (os.stat(night_dir / "night.json").st_mode & 0o777) == 0o600
    assert m["tool"] == "waexport" and m["command"] == "fetch" and m["from"] == ACCOUNT
    assert m["format"] == "csv" and m["gzip"] is False and m["tz"] == "Asia/Jerusalem"
    (f,) = m["files"]
    raw = (night_dir / f["path"]).read_bytes()
    rows = file_rows(night_dir / f["path"])
    ts = [int(r["timestamp"]) for r in rows]
    assert f["sha256"] == hashlib.sha256(raw).hexdigest() and f["bytes"] == len(raw)
    assert f["rows"] == len(rows) == m["messages_written"]
    assert (f["first_timestamp"], f["last_timestamp"]) == ((min(ts), max(ts)) if ts else
                                                          (None, None))
    assert f["chat"] is None and f["appended"] is False
    for k in ("started", "finished"):
        datetime.strptime(m[k], "%Y-%m-%dT%H:%M:%SZ")
    return m


def night(n, mock, tools, base, pg):
    """Night n: the README's export (CSV), and the same window in every other format."""
    home = base / "home"
    home.mkdir(exist_ok=True)
    d = base / ("night%d" % n)
    d.mkdir()
    state = home / ".waexport.state"
    before = state.read_bytes() if state.exists() else None
    settle(mock)
    sh("export", d, shell_env(tools, home, mock, pg, "postgres"))
    manifest = check_manifest(None, d)
    for fmt in FORMATS[1:]:
        alt = base / ("alt-%d-%s.state" % (n, fmt))
        if before is not None:
            alt.write_bytes(before)
        r = run(["fetch", "--from", ACCOUNT, "--url", mock.url, "--state", alt, "--lookback",
                 "2d", "--tz", "Asia/Jerusalem", "-q", "-o", d / ("night." + fmt)],
                env={"WAEXPORT_API_KEY": KEY, "NO_PROXY": "127.0.0.1,localhost"})
        assert r.returncode == 0, r.stderr.decode()
    assert [r["unique"] for r in file_rows(d / "night.ndjson")] == \
        [r["unique"] for r in file_rows(d / "night.csv")]
    return d, manifest


def rerun(n, mock, tools, base, pg):
    """A second run on night n's day: it adds to that night's files (SPEC §4.4), so a
    message exported again (--lookback) is in a file twice, the newer copy last."""
    d = base / ("night%d" % n)
    settle(mock)
    sh("export", d, shell_env(tools, base / "home", mock, pg, "postgres"))
    for fmt in FORMATS[1:]:
        r = run(["fetch", "--from", ACCOUNT, "--url", mock.url, "--state",
                 base / ("alt-%d-%s.state" % (n, fmt)), "--lookback", "2d", "--tz",
                 "Asia/Jerusalem", "-q", "-o", d / ("night." + fmt)],
                env={"WAEXPORT_API_KEY": KEY, "NO_PROXY": "127.0.0.1,localhost"})
        assert r.returncode == 0, r.stderr.decode()
    for fmt in FORMATS:
        uniques = [r["unique"] for r in file_rows(d / ("night." + fmt))]
        assert len(uniques) > len(set(uniques)), fmt
    return d


def load(block, night_dir, workdir, env):
    """Run a README load block in workdir, holding the night's file under its README name."""
    fmt = LOADS[block]
    shutil.copy(night_dir / ("night." + fmt), workdir / ("night." + fmt))
    sh(block, workdir, env)


@pytest.fixture(scope="module")
def nights(tmp_path_factory, mock, tools, pg):
    base = tmp_path_factory.mktemp("warehouse")
    work = {b: base / ("db-" + b) for b in LOADS}
    envs = {}
    for b, w in work.items():
        w.mkdir()
        db = b.replace("-", "_")
        envs[b] = shell_env(tools, base, mock, pg, db)
        if b.startswith("postgres"):
            pg.psql("CREATE DATABASE %s" % db)
        sh(b.split("-")[0] + "-create", w, envs[b])
    out = {"base": base, "work": work, "envs": envs, "manifests": [], "changed": []}
    for n in (1, 2, 3):
        if n == 2:
            grow(mock, 6)
        if n == 3:
            # Read after night 2 (state 3 = read) and six new ones: --lookback re-exports them.
            out["changed"] = restate(mock, 4, 3)
            grow(mock, 5)
        d, m = night(n, mock, tools, base, pg)
        out["manifests"].append(m)
        out["night%d" % n] = d
        for b in LOADS:
            load(b, d, work[b], envs[b])
    # The same day again, after some of night 3's messages changed state: the night's
    # files now hold them twice, and each load must keep the later copy.
    out["rechanged"] = restate(mock, 3, 0)
    d = rerun(3, mock, tools, base, pg)
    for b in LOADS:
        load(b, d, work[b], envs[b])
    out["truth"] = all_messages(mock)
    return out


def expected(msgs):
    return {m["unique"]: m for m in msgs}


def labels(m):
    """SPEC §4.3: the direction's label, and the state's (empty for an incoming message)."""
    d = int(m["direction"])
    state = {0: "failed", 1: "sent", 2: "delivered", 3: "read"}.get(int(m["state"]), "unknown")
    return {1: "incoming", 2: "outgoing"}.get(d, "unknown"), "" if d == 1 else state


def check_rows(rows, truth):
    """rows: dicts from a table; every field of the mock's final history."""
    got = {r["unique"]: r for r in rows}
    assert set(got) == set(truth), (len(got), len(truth))
    for u, m in truth.items():
        r = got[u]
        assert r["timestamp"] == int(m["timestamp"]), u
        assert r["state_code"] == int(m["state"]), (u, r["state_code"], m["state"])
        assert r["direction_code"] == int(m["direction"]), u
        assert r["from"] == str(m["from"]) and r["to"] == str(m["to"]), u
        assert (r["message"] or "") == (m.get("message") or ""), u
        # an incoming message's state label is "" in CSV as in NDJSON (it was null from CSV)
        assert (r["direction"], r["state"]) == labels(m), (u, r["direction"], r["state"])
        assert r["type"] == m["type"], u


def test_restated_messages_land_on_night_three(nights):
    assert nights["changed"], "the mock changed no state"
    assert nights["rechanged"], "the mock changed no state before the rerun"
    n3 = {r["unique"]: r for r in file_rows(nights["night3"] / "night.csv")}
    for u in nights["changed"]:
        assert u in n3 and n3[u]["state_code"] == "3", u


def postgres_rows(nights, block):
    db = block.replace("-", "_")
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                          "-c", "SELECT json_agg(t) FROM (SELECT *, pg_typeof(\"time\")::text AS tt,"
                          " pg_typeof(\"timestamp\")::text AS tst, extract(epoch FROM \"time\")::bigint"
                          " AS te FROM whatsapp_messages) t"],
                         env=nights["envs"][block], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)


@pytest.mark.parametrize("block", [b for b in LOADS if b.startswith("postgres")])
def test_postgres_table_equals_the_final_history(nights, pg, block):
    rows = postgres_rows(nights, block)
    check_rows(rows, expected(nights["truth"]))
    for r in rows:
        assert r["tt"] == "timestamp with time zone" and r["tst"] == "bigint"
        assert r["te"] == r["timestamp"]


def duckdb_rows(nights, tools, block):
    w = nights["work"][block]
    q = ("SELECT *, typeof(\"time\") AS tt, typeof(\"timestamp\") AS tst, "
         "epoch(\"time\")::BIGINT AS te FROM whatsapp_messages")
    r = subprocess.run([str(tools / "duckdb"), "warehouse.duckdb", q], cwd=w,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr.decode()
    return [json.loads(j) for j in json.loads(r.stdout)]


@pytest.mark.parametrize("block", [b for b in LOADS if b.startswith("duckdb")])
def test_duckdb_table_equals_the_final_history(nights, tools, block):
    rows = duckdb_rows(nights, tools, block)
    check_rows(rows, expected(nights["truth"]))
    for row in rows:
        assert row["tt"] == "TIMESTAMP WITH TIME ZONE" and row["tst"] == "BIGINT"
        assert row["te"] == row["timestamp"]


@pytest.mark.parametrize("block", [b for b in LOADS if b.startswith("duckdb")])
def test_a_duckdb_load_that_fails_changes_nothing(tools, tmp_path, block):
    """README: a row whose timestamp is no number stops the load; load the night again
    once it is corrected. The load's DELETE must not outlive its failed INSERT: both
    messages of the night were in the warehouse before, and still are, as they were."""
    env = dict(os.environ, PATH="%s:%s" % (tools, os.environ.get("PATH", "")))
    page = tmp_path / "p.json"

    def night(first_ts, text):
        page.write_text(json.dumps([
            {"unique": "U2", "timestamp": first_ts, "direction": 1, "from": "972500000001",
             "to": ACCOUNT, "type": "chat", "state": 0, "message": text},
            {"unique": "U1", "timestamp": 1764900000, "direction": 1, "from": "972500000001",
             "to": ACCOUNT, "type": "chat", "state": 0, "message": text}]))
        fmt = LOADS[block]
        r = run(["convert", "-q", "--tz", "UTC", "-o", tmp_path / ("night." + fmt), page])
        assert r.returncode == 0, r.stderr.decode()

    def table():
        r = subprocess.run([str(tools / "duckdb"), "warehouse.duckdb",
                            'SELECT "unique", message FROM whatsapp_messages ORDER BY 1'],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert r.returncode == 0, r.stderr.decode()
        return [json.loads(j) for j in json.loads(r.stdout)]

    sh("duckdb-create", tmp_path, env)
    night(1764900100, "first")
    sh(block, tmp_path, env)
    before = table()
    assert before == [{"unique": "U1", "message": "first"}, {"unique": "U2", "message": "first"}]
    night("abc", "second")
    r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", BLOCKS[block]], cwd=tmp_path,
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert r.returncode != 0, "a timestamp that is no number was loaded"
    assert b"abc" in r.stderr, r.stderr
    assert table() == before


@pytest.mark.parametrize("block", [b for b in LOADS if b.startswith("sqlite")])
def test_sqlite_loads_read_absent_values_alike_and_refuse_a_missing_key(tools, tmp_path, block):
    """The SQLite CSV and NDJSON loads give one table: a reason the API did not send is
    NULL from either. A message without `unique` stops the load as it does PostgreSQL's
    and DuckDB's (a NULL key would never merge: every night would add it again), and the
    load changes nothing."""
    import sqlite3
    env = dict(os.environ, PATH="%s:%s" % (tools, os.environ.get("PATH", "")))
    page = tmp_path / "p.json"
    fmt = LOADS[block]

    def night(msgs):
        page.write_text(json.dumps(msgs))
        r = run(["convert", "-q", "--tz", "UTC", "-o", tmp_path / ("night." + fmt), page])
        assert r.returncode == 0, r.stderr.decode()

    def table():
        con = sqlite3.connect(tmp_path / "warehouse.db")
        try:
            return con.execute('SELECT "unique", reason IS NULL, message FROM whatsapp_messages '
                               'ORDER BY 1').fetchall()
        finally:
            con.close()

    def message(unique, text):
        m = {"timestamp": 1764900000, "direction": 1, "from": "972500000001", "to": ACCOUNT,
             "type": "chat", "state": 0, "message": text}
        if unique is not None:
            m["unique"] = unique
        return m

    sh("sqlite-create", tmp_path, env)
    night([message("U1", "first")])
    sh(block, tmp_path, env)
    assert table() == [("U1", 1, "first")]
    night([dict(message("U2", "empty reason"), reason="")])
    sh(block, tmp_path, env)
    assert table() == [("U1", 1, "first"), ("U2", 1, "empty reason")]
    for key in (None, ""):  # absent, or sent empty: the same from a CSV
        night([message(key, "no key"), message("U1", "second")])
        r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", BLOCKS[block]], cwd=tmp_path,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        assert r.returncode != 0, "a message without unique was loaded"
        assert b"NOT NULL" in r.stderr, r.stderr
        assert table() == [("U1", 1, "first"), ("U2", 1, "empty reason")]


@pytest.mark.parametrize("block", [b for b in LOADS if b.startswith("sqlite")])
def test_sqlite_table_equals_the_final_history(nights, block):
    import sqlite3
    con = sqlite3.connect(nights["work"][block] / "warehouse.db")
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute(
        'SELECT *, typeof("timestamp") AS tst, typeof(state_code) AS tsc, typeof("from") AS tf, '
        'unixepoch("time") AS te FROM whatsapp_messages')]
    check_rows(rows, expected(nights["truth"]))
    for r in rows:
        assert (r["tst"], r["tsc"], r["tf"]) == ("integer", "integer", "text")
        assert r["te"] == r["timestamp"]


def test_csv_and_ndjson_loads_give_the_same_table(nights, pg, tools):
    """Every column, null and empty string told apart: the same night through the README's
    CSV and NDJSON recipes gives the same rows (SQLite's CSV import has no null)."""
    for rows_of, blocks in ((lambda b: postgres_rows(nights, b), ("postgres-csv",
                                                                   "postgres-ndjson")),
                            (lambda b: duckdb_rows(nights, tools, b), ("duckdb-csv",
                                                                       "duckdb-ndjson"))):
        a, b = ({r["unique"]: r for r in rows_of(x)} for x in blocks)
        assert a.keys() == b.keys(), blocks
        for u in a:
            assert a[u] == b[u], (blocks, u, {k: (a[u][k], b[u][k]) for k in a[u]
                                               if a[u][k] != b[u].get(k)})


def test_every_night_wrote_a_manifest_with_the_checkpoints(nights):
    m1, m2, m3 = nights["manifests"]
    assert m1["checkpoint_before"] is None and m1["checkpoint_after"] is not None
    assert m2["checkpoint_before"] == m1["checkpoint_after"]
    assert m3["checkpoint_before"] == m2["checkpoint_after"] < m3["checkpoint_after"]


def test_a_failed_night_writes_no_manifest_and_keeps_the_previous(nights, mock, tools, pg):
    d = nights["night3"]
    before = (d / "night.json").read_bytes()
    env = shell_env(tools, nights["base"] / "home", mock, pg, "postgres")
    grow(mock, 3)
    mock.control(fail_5xx="all")
    try:
        r = subprocess.run(["bash", "-e", "-c", BLOCKS["export"].replace(
            "waexport fetch", "waexport fetch --retries 0")], cwd=d, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        mock.control(fail_5xx=None)
    assert r.returncode == 69, r.stderr.decode()
    assert (d / "night.json").read_bytes() == before
    assert not [p for p in os.listdir(d) if ".tmp." in p]


def test_ndjson_lines_validate_against_the_jsonschema_dialect(nights):
    r = run(["schema", "--dialect", "jsonschema"])
    assert r.returncode == 0, r.stderr.decode()
    schema = json.loads(r.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    lines = file_rows(nights["night1"] / "night.ndjson")
    assert lines
    for line in lines:
        validate(line, schema)


def test_lines_of_drifted_messages_validate_too(tmp_path):
    """SPEC §4.8 "exactly what is written": a message sent without an id, and codes and a
    timestamp that are no integers, are written as they came; the schema must say so."""
    src = tmp_path / "p.json"
    src.write_text(json.dumps([{"timestamp": "soon", "direction": "x", "state": "y",
                                "message": "m"},
                               {"unique": "u", "timestamp": 1, "direction": 1, "state": 2}]))
    r = run(["convert", "--format", "ndjson", src])
    assert r.returncode == 0, r.stderr.decode()
    schema = json.loads(run(["schema", "--dialect", "jsonschema"]).stdout)
    lines = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert sorted(x["unique"] or "" for x in lines) == ["", "u"]    # the id-less one is null
    for line in lines:
        validate(line, schema)


JSON_TYPES = {"string": str, "integer": int, "null": type(None), "object": dict}


def validate(value, schema):
    """The subset of JSON Schema that `waexport schema --dialect jsonschema` emits."""
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        assert any(isinstance(value, JSON_TYPES[t]) and not isinstance(value, bool)
                   for t in types), (value, types)
    if "enum" in schema:
        assert value in schema["enum"], value
    if schema.get("format") == "date-time" and isinstance(value, str):
        assert datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None, value
    if isinstance(value, dict):
        for k in schema.get("required", []):
            assert k in value, k
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                validate(v, props[k])
            else:
                assert schema.get("additionalProperties", True) is not False, k
