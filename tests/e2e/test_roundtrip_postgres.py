"""Round trip through PostgreSQL (SPEC: "NDJSON ... that PostgreSQL ... load as-is";
§4.1 U+0000 never reaches jsonb; §4.2 CSV).

A throwaway cluster is made per module in a temporary directory (initdb as the
`postgres` user when running as root, since the server refuses root), listening on
a Unix socket in that directory only (listen_addresses=''), so nothing can clash
with another server. Then:
  * the NDJSON lines are COPYed into a jsonb column. COPY's text format would eat
    the backslashes of JSON escapes, so the lines go through FORMAT csv with a quote
    and a delimiter that never occur in waexport's NDJSON (0x01, 0x02: control
    characters are always escaped there);
  * the CSV is COPYed with FORMAT csv, HEADER into typed columns, where an unquoted
    empty field is NULL and a quoted one ("") is the empty string.
Every field of every row is compared with the ground truth of helpers.py.
"""
import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import pytest

from conftest import run
from helpers import COLUMNS, expected_csv, expected_ndjson, ordered
from tools import roundtrip_data as rt

TZ = "Asia/Jerusalem"


def pg_bindir():
    def version(p):
        return [int(x) for x in re.findall(r"\d+", p.split("/postgresql/")[-1])[:1]] or [0]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=version)
    if found:
        return Path(found[-1]).parent
    exe = shutil.which("pg_ctl")
    if exe:
        return Path(os.path.realpath(exe)).parent
    pytest.fail("PostgreSQL server is missing: `scripts/deps.sh test` installs postgresql")


class Cluster:
    def __init__(self):
        self.bin = pg_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="waexport-pg-"))
        self.data = self.dir / "data"
        self.user = {}
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root but there is no `postgres` user to run the "
                            "server as (the Debian postgresql package creates it)")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        os.chmod(self.dir, 0o700)
        self._server(["initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--no-locale", "--no-sync"])
        opts = "-k %s -p 5432 -c listen_addresses='' -c fsync=off" % self.dir
        self._server(["pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
                      "-t", "60", "-o", opts, "start"])

    def _server(self, argv):
        argv = [str(self.bin / argv[0])] + argv[1:]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                           cwd=self.dir, **self.user)
        if r.returncode != 0:
            log = self.dir / "log"
            raise AssertionError("%s failed: %s %s %s" % (
                argv[0], r.stdout.decode(), r.stderr.decode(),
                log.read_text() if log.exists() else ""))

    def psql(self, sql, stdin=None):
        psql = self.bin / "psql"
        if not psql.exists():
            psql = shutil.which("psql")
        env = dict(os.environ, PGCLIENTENCODING="UTF8")
        r = subprocess.run([str(psql), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", str(self.dir), "-p", "5432", "-U", "postgres", "-d", "postgres",
                            "-c", sql], input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120, env=env)
        assert r.returncode == 0, r.stderr.decode()
        return r.stdout.decode("utf-8")

    def stop(self):
        try:
            self._server(["pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pg():
    c = Cluster()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("postgres")
    paths = rt.inputs(d)
    out = {"msgs": ordered(paths)}
    for name in ("chats.csv", "chats.ndjson"):
        p = run(["convert", "-q", "--tz", TZ, "-o", d / name] + paths)
        assert p.returncode == 0, p.stderr.decode()
        out[name] = (d / name).read_bytes()
    return out


def test_ndjson_into_jsonb_every_field(pg, data):
    pg.psql("CREATE TABLE j (n bigserial PRIMARY KEY, line jsonb NOT NULL)")
    pg.psql("COPY j(line) FROM STDIN WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')",
            stdin=data["chats.ndjson"])
    expected = [expected_ndjson(m, tz=TZ) for m in data["msgs"]]
    assert pg.psql("SELECT count(*) FROM j").strip() == str(len(expected)) == "350"

    # Each known key with ->> (text) and its jsonb type.
    cols = ", ".join("line->>'%s', jsonb_typeof(line->'%s')" % (c, c) for c in COLUMNS)
    rows = json.loads(pg.psql("SELECT json_agg(json_build_array(%s) ORDER BY n) FROM j" % cols))
    types = {str: "string", int: "number", type(None): "null"}
    for i, (row, want) in enumerate(zip(rows, expected)):
        for k, c in enumerate(COLUMNS):
            text, jtype = row[2 * k], row[2 * k + 1]
            w = want[c]
            assert want[c] == (int(text) if jtype == "number" else text), \
                "row %d %s: ->> gave %r (%s)" % (i + 1, c, text, jtype)
            if type(w) in types:                  # not a OneOf: the type is known too
                assert jtype == types[type(w)], (i + 1, c, jtype)

    # The whole objects, extra keys included (jsonb does not keep key order).
    whole = json.loads(pg.psql("SELECT json_agg(line ORDER BY n) FROM j"))
    assert len(whole) == len(expected)
    for i, (got, want) in enumerate(zip(whole, expected)):
        assert set(got) == set(want) and got == want, "row %d" % (i + 1)


def test_csv_copy_header_null_versus_empty(pg, data):
    names = ", ".join('"%s"' % c for c in COLUMNS)
    pg.psql('CREATE TABLE c (n bigserial PRIMARY KEY, "unique" text, "timestamp" bigint, '
            '"time" timestamptz, direction text, direction_code integer, "from" text, "to" text, '
            'type text, state text, state_code integer, reason text, message text)')
    pg.psql("COPY c(%s) FROM STDIN WITH (FORMAT csv, HEADER true)" % names,
            stdin=data["chats.csv"])
    msgs = data["msgs"]
    got = json.loads(pg.psql(
        'SELECT json_agg(json_build_array("unique", "timestamp", extract(epoch FROM "time")::bigint, '
        'direction, direction_code, "from", "to", type, state, state_code, reason, message) '
        "ORDER BY n) FROM c"))
    assert len(got) == len(msgs) == 350
    for i, (row, m) in enumerate(zip(got, msgs)):
        want = dict(zip(COLUMNS, expected_csv(m, tz=TZ)))
        row = dict(zip(COLUMNS, row))
        ts = datetime.fromisoformat(want["time"]).timestamp() if want["time"] else None
        assert row["time"] == ts, (i + 1, row["time"], want["time"])
        for c in ("timestamp", "direction_code", "state_code"):
            assert row[c] == (int(want[c]) if want[c] != "" else None), (i + 1, c)
        # SPEC §4.1: reason is "empty when absent" -> NULL; a reason the API sent as ""
        # is a value -> ''. The same for message.
        for c in ("reason", "message"):
            if m.get(c) is None:
                assert row[c] is None, "row %d %s: absent must be NULL, got %r" % (i + 1, c, row[c])
            else:
                assert row[c] == want[c], "row %d %s" % (i + 1, c)
        for c in ("unique", "direction", "from", "to", "type", "state"):
            assert want[c] == (row[c] if row[c] is not None else ""), (i + 1, c, row[c])
    by_unique = {r[0]: dict(zip(COLUMNS, r)) for r in got}
    assert by_unique["RT0012A"]["reason"] == ""          # sent as "": empty string
    assert by_unique["RT0013B"]["reason"] == "number not on WhatsApp"
    assert by_unique["RT0014C"]["message"] == ""
    assert by_unique["RT0000A"]["reason"] is None        # absent: NULL
    assert by_unique["RT0007B"]["message"] == "crlf one\r\ncrlf two\r\n"
    assert by_unique["RT0002C"]["from"] == "0541112233"
