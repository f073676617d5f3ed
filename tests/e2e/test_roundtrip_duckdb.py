"""Round trip through DuckDB (SPEC: NDJSON, optionally gzipped, "with stable keys and
types that ... DuckDB load as-is").

DuckDB comes from the npm registry (@duckdb/node-api, run by tools/duckdb_read.mjs):
an npm prefix that already holds it is used (env DUCKDB_NODE_PREFIX, build/duckdb,
or build/bench where `make bench` puts it); otherwise it is installed into
build/duckdb with npm, and Node.js/npm themselves from Debian's packages if the
machine has none. A missing consumer is installed, never skipped.

Both `chats.ndjson` and `chats.ndjson.gz` are read with
read_json(..., format='newline_delimited') and the schema DuckDB infers by itself;
the types must be the ones a warehouse wants (integers for timestamp and the codes,
VARCHAR for from/to so no digit or leading zero is lost) and every field of every
row must equal the ground truth of helpers.py.
"""
import gzip
import json
import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import ROOT, run
from helpers import COLUMNS, expected_ndjson, ordered
from tools import roundtrip_data as rt

TZ = "Asia/Jerusalem"
DUCKDB_NODE_VERSION = os.environ.get("DUCKDB_NODE_VERSION", "1.5.6-r.1")  # as scripts/bench.sh
SCRIPT = Path(__file__).resolve().parent / "tools" / "duckdb_read.mjs"


def has_duckdb(prefix):
    return (Path(prefix) / "node_modules" / "@duckdb" / "node-api" / "package.json").exists()


def apt_install(*pkgs):
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + list(pkgs),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], timeout=600)
        r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] +
                           list(pkgs), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=600, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    assert r.returncode == 0, "could not install %s: %s" % (pkgs, r.stdout.decode()[-2000:])


@pytest.fixture(scope="module")
def duckdb_prefix():
    for prefix in (os.environ.get("DUCKDB_NODE_PREFIX"), ROOT / "build" / "duckdb",
                   ROOT / "build" / "bench"):
        if prefix and has_duckdb(prefix):
            break
    else:
        # Node.js and npm: the machine's (this kind of machine ships NodeSource's nodejs,
        # which bundles npm and conflicts with Debian's npm package, so they cannot be in
        # scripts/deps.sh); Debian's when there are none.
        if not shutil.which("node") or not shutil.which("npm"):
            apt_install("nodejs", "npm")
        prefix = ROOT / "build" / "duckdb"
        prefix.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                            "--loglevel=error", "@duckdb/node-api@" + DUCKDB_NODE_VERSION],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
        assert r.returncode == 0 and has_duckdb(prefix), \
            "npm install @duckdb/node-api failed: %s" % r.stdout.decode()[-3000:]
    return Path(prefix)


@pytest.fixture(scope="module")
def duck(tmp_path_factory, duckdb_prefix):
    d = tmp_path_factory.mktemp("duckdb")
    paths = rt.inputs(d)
    files = {}
    for name in ("chats.ndjson", "chats.ndjson.gz"):
        p = run(["convert", "-q", "--tz", TZ, "-o", d / name] + paths)
        assert p.returncode == 0, p.stderr.decode()
        files[name] = d / name
    assert gzip.decompress(files["chats.ndjson.gz"].read_bytes()) == files["chats.ndjson"].read_bytes()
    r = subprocess.run(["node", str(SCRIPT), str(duckdb_prefix)] + [str(f) for f in files.values()],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout)
    return {"version": out["version"], "msgs": ordered(paths),
            "files": {name: out["files"][str(f)] for name, f in files.items()}}


FILES = ["chats.ndjson", "chats.ndjson.gz"]


@pytest.mark.parametrize("name", FILES)
def test_inferred_types(duck, name):
    types = dict(duck["files"][name]["columns"])
    assert [c for c, _ in duck["files"][name]["columns"]][:len(COLUMNS)] == COLUMNS
    for c in ("timestamp", "direction_code", "state_code"):
        assert types[c] == "BIGINT", (c, types[c], duck["version"])
    for c in ("unique", "direction", "from", "to", "type", "state", "reason", "message"):
        assert types[c] == "VARCHAR", (c, types[c], duck["version"])
    assert types["time"] in ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "VARCHAR"), types["time"]


@pytest.mark.parametrize("name", FILES)
def test_every_field_of_every_row(duck, name):
    rows = [json.loads(r) for r in duck["files"][name]["rows"]]
    expected = [expected_ndjson(m, tz=TZ) for m in duck["msgs"]]
    assert len(rows) == len(expected) == 350
    time_type = dict(duck["files"][name]["columns"])["time"]
    for i, (got, want) in enumerate(zip(rows, expected)):
        for key, value in got.items():
            if key not in want:
                assert value is None, "row %d: %s=%r not in the NDJSON line" % (i + 1, key, value)
            elif key == "time" and time_type != "VARCHAR" and want["time"]:
                # DuckDB parsed the ISO 8601 text: the same instant (TIMESTAMP is UTC).
                inst = datetime.fromisoformat(want["time"]).astimezone(timezone.utc)
                text = value.replace(" ", "T")
                parsed = datetime.fromisoformat(text)
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=timezone.utc)
                assert parsed == inst, (i + 1, value, want["time"])
            else:
                assert want[key] == value, "row %d %s: %r" % (i + 1, key, value)
        assert set(want) <= set(got), set(want) - set(got)


def test_from_to_no_digit_lost(duck):
    rows = [json.loads(r) for r in duck["files"]["chats.ndjson"]["rows"]]
    by_unique = {r["unique"]: r for r in rows}
    assert by_unique["RT0002C"]["from"] == "0541112233"
    assert by_unique["RT0003D"]["to"] == "00972541112233"
    assert by_unique["RT0004E"]["from"] == "123456789012345678"
    assert by_unique["RT0005F"]["from"] == rt.HIDDEN
    assert all(isinstance(r["from"], str) and isinstance(r["to"], str) for r in rows)
