"""--media-dir in a nightly run (SPEC §5.4): media files saved as <unique>.<ext>,
a dead link (404) is a warning counted in the summary and the metrics, a media
host that fails (5xx, 429) is retried like a page request and, failing every
try, fails the run with the state unchanged (SPEC §5.5), the
media_file column, files already present skipped, and hostile uniques that
cannot write outside the media directory.

The media links point at a small threaded http.server on loopback started by
the test; the API page is crafted here and served by the mock (--samples).
"""
import csv
import json
import os
import re
import resource
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BIN, run
from fetch_helpers import (ACCOUNT, KEY, csv_rows, fetch_env, server_fixture,  # noqa: F401
                           mock_factory, stderr_lines, summary_number)
from nightly_helpers import (FETCH, metric_value, parse_prometheus, snapshot,
                             tmp_leftovers, write_samples)


class MediaServer:
    """Serves FILES[path] with 200, 'redirect:' entries with 302, anything else 404.
    FAULTS[path] = (status, count, retry_after): the first `count` requests of that
    path (None: every one) get `status` instead, with Retry-After if not None.
    Records every request (method, path, headers, body)."""

    def __init__(self, files, faults=None):
        self.files = dict(files)
        self.faults = dict(faults or {})
        self.log = []
        lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with lock:
                    outer.log.append({"method": self.command, "path": self.path,
                                      "headers": str(self.headers), "body": body})
                    seen = sum(1 for e in outer.log if e["path"] == self.path)
                fault = outer.faults.get(self.path.split("?")[0])
                if fault and (fault[1] is None or seen <= fault[1]):
                    out = b"<html><body>busy</body></html>"
                    self.send_response(fault[0])
                    if fault[2] is not None:
                        self.send_header("Retry-After", str(fault[2]))
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                data = outer.files.get(self.path.split("?")[0])
                if isinstance(data, str) and data.startswith("redirect:"):
                    self.send_response(302)
                    self.send_header("Location", data[len("redirect:"):])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if data is None:
                    out = b"<html><body>404 not found</body></html>"
                    self.send_response(404)
                else:
                    out = data
                    self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = _serve
            do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def hits(self, path):
        return sum(1 for e in self.log if e["path"] == path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


media_server = server_fixture(MediaServer, "media_server")


def blob(tag, n=3000):
    """Distinct binary content (all byte values, so no text mangling goes unseen)."""
    return (tag.encode() + bytes(range(256))) * (n // 256 + 1)


# Two days ago: a checkpoint over 350 days old is a warning of its own (SPEC §4.7),
# which would count among the warnings these tests count.
T0 = (int(time.time()) // 86400 - 2) * 86400


def msg(unique, mtype, message, ts, direction="1", state=0, contact="972509876543"):
    frm, to = (contact, ACCOUNT) if direction == "1" else (ACCOUNT, contact)
    return {"unique": unique, "timestamp": str(ts), "direction": direction,
            "from": frm, "to": to, "type": mtype, "state": state, "message": message}


def build(media, outside):
    """(messages newest first, {unique: (served path, bytes or None)})."""
    files = {
        "/files/photo.jpg": blob("IMG"),
        "/files/clip.mp4": blob("VID", 9000),
        "/files/report.pdf": blob("DOC"),
        "/files/out.zip": blob("ZIP"),
        "/files/h1.jpg": blob("H1"),
        "/files/h2.jpg": blob("H2"),
        "/files/h3.png": blob("H3"),
        "/files/h4.jpg": blob("H4"),
        "/files/h5.jpg": blob("H5"),
        "/files/target.jpg": blob("REDIR"),
        "/files/moved.jpg": "redirect:/files/target.jpg",
        "/files/sneaky.jpg": "redirect:file:///etc/hostname",
    }
    srv = media(files)
    u = srv.url
    plan = [
        # unique, type, link path (None: not a link), expected saved name or None
        ("IMG001", "image", "/files/photo.jpg", "IMG001.jpg"),
        ("VID001", "video", "/files/clip.mp4", "VID001.mp4"),
        ("DEAD001", "audio", "/files/gone.ogg", None),           # 404: link expired
        ("DOC001", "document", "/files/report.pdf?token=abc", "DOC001.pdf"),
        ("MOVED01", "image", "/files/moved.jpg", "MOVED01.jpg"),  # 302 to a live file
        ("SNEAKY1", "image", "/files/sneaky.jpg", None),          # 302 to file://
        ("../../x", "image", "/files/h1.jpg", "?"),               # hostile uniques
        (str(outside / "abs"), "image", "/files/h2.jpg", "?"),
        ("..", "image", "/files/h3.png", "?"),
        ("a/../../../y", "image", "/files/h4.jpg", "?"),
        (".", "image", "/files/h5.jpg", "?"),
    ]
    msgs = []
    ts = T0
    expect = {}
    for unique, mtype, path, name in plan:
        ts += 7
        msgs.append(msg(unique, mtype, u(path), ts))
        served = files.get(path.split("?")[0])
        if isinstance(served, str) and served.startswith("redirect:/"):
            served = files.get(served[len("redirect:"):])
        expect[unique] = (path, name, served if isinstance(served, bytes) else None)
    # Outgoing "file" with a link.
    ts += 7
    msgs.append(msg("OUTF001", "file", u("/files/out.zip"), ts, direction="2", state=3))
    expect["OUTF001"] = ("/files/out.zip", "OUTF001.zip", files["/files/out.zip"])
    # Not media: a text that is a bare link, a location, a plain text.
    for unique, mtype, text in (("TXT001", "text", u("/files/text.jpg")),
                                ("CHAT01", "chat", u("/files/chat.jpg")),
                                ("LOC001", "location", "32.0853,34.7818"),
                                ("TXT002", "text", "hello")):
        ts += 7
        msgs.append(msg(unique, mtype, text, ts))
        expect[unique] = (None, None, None)
    msgs.reverse()                                          # newest first
    return srv, msgs, expect


def media_names(out_csv):
    return {row["unique"]: row["media_file"] for row in csv_rows(out_csv.read_bytes())}


def test_media_saved_dead_link_warns_hostile_uniques_stay_inside(
        mock_factory, media_server, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    mdir = tmp_path / "exp" / "a" / "b" / "media"
    mdir.mkdir(parents=True)
    srv, msgs, expect = build(media_server, outside)
    pages = write_samples(tmp_path / "pages.jsonl", msgs)
    mock = mock_factory("--samples", pages)
    out = tmp_path / "exp" / "out.csv"
    prom = tmp_path / "exp" / "waexport.prom"
    state = tmp_path / "exp" / "state"
    before = snapshot(tmp_path)

    r = run(FETCH + ["--url", mock.url, "--state", state, "--media-dir", mdir, "-o", out,
                     "--metrics-file", prom], env=fetch_env())
    assert r.returncode == 0, r.stderr

    # 1. Nothing appeared outside the media dir but the run's own files.
    after = snapshot(tmp_path)
    new = set(after) - set(before)
    own = {"exp/out.csv", "exp/waexport.prom", "exp/state", "exp/state.lock"}
    stray = sorted(p for p in new if p not in own and not p.startswith("exp/a/b/media/"))
    assert stray == [], "files written outside --media-dir: %s" % stray
    assert list(outside.iterdir()) == []
    assert tmp_leftovers(mdir) == []
    # Everything in the media dir is a plain file directly inside it.
    entries = list(mdir.iterdir())
    assert all(p.is_file() and not p.is_symlink() for p in entries), entries

    # 2. The media_file column and the files.
    names = media_names(out)
    assert set(names) == set(expect)
    saved = 0
    for unique, (path, name, data) in expect.items():
        got = names[unique]
        if name is None:
            assert got == "", (unique, got)
            continue
        assert got, "media of %r not saved: %r" % (unique, r.stderr)
        assert "/" not in got and got not in (".", ".."), got
        f = mdir / got
        assert f.is_file(), (unique, got)
        assert f.resolve().parent == mdir.resolve()
        assert f.read_bytes() == data, unique
        assert f.stat().st_mode & 0o077 == 0, "media files are personal data (0600)"
        if name != "?":
            assert got == name, (unique, got)
        saved += 1
    assert saved == 10
    assert len(entries) == saved, sorted(p.name for p in entries)
    # The dead link left no file (a 404 page saved as media would be skipped forever).
    assert not [p for p in entries if p.name.startswith(("DEAD001", "SNEAKY1"))]
    # Not media: never requested.
    assert srv.hits("/files/text.jpg") == 0 and srv.hits("/files/chat.jpg") == 0

    # 3. The dead link is a warning naming the message; the summary counts it.
    lines = stderr_lines(r)
    assert any("DEAD001" in ln for ln in lines), lines
    assert summary_number(r, "media files saved") == saved, lines
    assert summary_number(r, "warnings") == 2, lines        # DEAD001 and SNEAKY1
    m = parse_prometheus(prom.read_text())
    assert metric_value(m, "waexport_media_downloaded", **{"from": ACCOUNT}) == saved
    assert metric_value(m, "waexport_warnings", **{"from": ACCOUNT}) == 2
    assert metric_value(m, "waexport_exit_code", **{"from": ACCOUNT}) == 0

    # 4. The key never travels to a media host; media are plain GETs.
    for e in srv.log:
        assert e["method"] == "GET", e
        blob_ = (e["path"] + e["headers"]).encode() + e["body"]
        assert KEY.encode() not in blob_, e["path"]

    # 5. The rows are the page's rows plus media_file.
    assert csv_rows(out.read_bytes())[0].keys() >= {"unique", "message", "media_file"}


def first_night_with_media(mock_factory, media_server, tmp_path):
    """A first night that saves the media of build()'s messages into tmp_path/media:
    (the media server, the mock, the media directory, the night's output)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    mdir = tmp_path / "media"
    mdir.mkdir()
    srv, msgs, _ = build(media_server, outside)
    mock = mock_factory("--samples", write_samples(tmp_path / "p.jsonl", msgs))
    out1 = tmp_path / "o1.csv"
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "-o", out1], env=fetch_env())
    assert r.returncode == 0, r.stderr
    return srv, mock, mdir, out1


def test_media_already_present_are_skipped_and_still_named(
        mock_factory, media_server, tmp_path):
    srv, mock, mdir, out1 = first_night_with_media(mock_factory, media_server, tmp_path)
    out2 = tmp_path / "o2.csv"
    files1 = snapshot(mdir)
    hits1 = {p: srv.hits(p) for p in ("/files/photo.jpg", "/files/clip.mp4",
                                      "/files/report.pdf?token=abc", "/files/out.zip")}
    assert all(v == 1 for v in hits1.values()), hits1

    prom = tmp_path / "m.prom"
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "-o", out2,
                     "--metrics-file", prom], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert out2.read_bytes() == out1.read_bytes()
    assert snapshot(mdir) == files1
    for p, n in hits1.items():
        assert srv.hits(p) == n, "%s downloaded again although present" % p
    m = parse_prometheus(prom.read_text())
    assert metric_value(m, "waexport_media_downloaded", **{"from": ACCOUNT}) == 0


def test_a_directory_in_place_of_a_media_file_is_not_taken_for_it(mock_factory, media_server,
                                                                    tmp_path):
    """SPEC §5.4 skips files already present: a directory of that name is no file. It was
    counted present and named in media_file, pointing a reader at a directory. Now the
    file is fetched, and cannot be put in place: a failure on this side, 74 (as a full
    disk), so no checkpoint moves past a message whose link will expire."""
    _, mock, mdir, _ = first_night_with_media(mock_factory, media_server, tmp_path)
    out2 = tmp_path / "o2.csv"
    victim = sorted(n for n in os.listdir(mdir) if not n.startswith("."))[0]
    os.unlink(mdir / victim)
    os.mkdir(mdir / victim)
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "-o", out2], env=fetch_env())
    assert r.returncode == 74, r.stderr
    assert b"media not saved: cannot rename into place: Is a directory" in r.stderr, r.stderr
    assert not out2.exists()


def test_downloads_a_killed_run_left_are_removed_once_old(mock_factory, media_server, tmp_path):
    """A run killed with SIGKILL mid-download leaves `.NAME.tmp.XXXXXX` in --media-dir; the
    next run removes those nobody has written for two hours (every live download ends
    within --timeout, an hour at most), and leaves a fresh one (another run's) alone."""
    outside = tmp_path / "outside"
    outside.mkdir()
    mdir = tmp_path / "media"
    mdir.mkdir()
    old, fresh = mdir / ".M000.jpg.tmp.aB3xYz", mdir / ".M001.jpg.tmp.Qq1234"
    for f, age in ((old, 3 * 3600), (fresh, 60)):
        f.write_bytes(b"half a download")
        t = time.time() - age
        os.utime(f, (t, t))
    srv, msgs, expect = build(media_server, outside)
    mock = mock_factory("--samples", write_samples(tmp_path / "p.jsonl", msgs))
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "-o", tmp_path / "o.csv"],
            env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert not old.exists()
    assert fresh.exists()


def test_media_ndjson_media_file_null_or_name(mock_factory, media_server, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    mdir = tmp_path / "media"
    srv, msgs, expect = build(media_server, outside)
    mock = mock_factory("--samples", write_samples(tmp_path / "p.jsonl", msgs))
    out = tmp_path / "o.ndjson"
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "-o", out, "-q"],
            env=fetch_env())
    assert r.returncode == 0, r.stderr
    recs = [json.loads(ln) for ln in out.read_text(encoding="utf-8").splitlines()]
    by = {x["unique"]: x for x in recs}
    assert set(by) == set(expect)
    for unique, (path, name, data) in expect.items():
        assert "media_file" in by[unique]
        if name is None:
            assert by[unique]["media_file"] is None, (unique, by[unique]["media_file"])
        else:
            assert isinstance(by[unique]["media_file"], str)
            assert (mdir / by[unique]["media_file"]).read_bytes() == data
            if name != "?":
                assert by[unique]["media_file"] == name
    assert list(outside.iterdir()) == []


def test_media_on_the_second_night_only_for_new_messages(mock_factory, media_server,
                                                         tmp_path):
    """Night 2 (--state) downloads the media of its new messages only."""
    outside = tmp_path / "outside"
    outside.mkdir()
    mdir = tmp_path / "media"
    mdir.mkdir()
    srv, msgs, expect = build(media_server, outside)
    srv.files["/files/new.jpg"] = blob("NEW")
    newest = int(msgs[0]["timestamp"])
    night2 = [msg("NEW001", "image", srv.url("/files/new.jpg"), newest + 60)] + msgs
    state = tmp_path / "state"
    m1 = mock_factory("--samples", write_samples(tmp_path / "p1.jsonl", msgs))
    r = run(FETCH + ["--url", m1.url, "--state", state, "--media-dir", mdir,
                     "-o", tmp_path / "n1.csv", "-q"], env=fetch_env())
    assert r.returncode == 0, r.stderr
    n_req = len(srv.log)
    m2 = mock_factory("--samples", write_samples(tmp_path / "p2.jsonl", night2))
    out2 = tmp_path / "n2.csv"
    r = run(FETCH + ["--url", m2.url, "--state", state, "--media-dir", mdir,
                     "-o", out2], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert media_names(out2) == {"NEW001": "NEW001.jpg"}
    assert (mdir / "NEW001.jpg").read_bytes() == blob("NEW")
    assert summary_number(r, "media files saved") == 1
    # Messages the checkpoint covers are not exported tonight: their links are not
    # fetched again, and their dead links do not warn again every night.
    assert [e["path"] for e in srv.log[n_req:]] == ["/files/new.jpg"]
    assert summary_number(r, "warnings") == 0, stderr_lines(r)


def test_media_not_fetched_for_messages_outside_since(mock_factory, media_server, tmp_path):
    """--since keeps the newest messages only: the links of the messages it drops
    are not fetched (a year of expired links would be a year of warnings)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    mdir = tmp_path / "media"
    srv, msgs, expect = build(media_server, outside)
    srv.files["/files/new.jpg"] = blob("NEW")
    newest = int(msgs[0]["timestamp"])
    page = [msg("NEW001", "image", srv.url("/files/new.jpg"), newest + 60)] + msgs
    mock = mock_factory("--samples", write_samples(tmp_path / "p.jsonl", page))
    out = tmp_path / "o.csv"
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "-o", out,
                     "--since", str(newest + 30)], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert media_names(out) == {"NEW001": "NEW001.jpg"}
    assert [e["path"] for e in srv.log] == ["/files/new.jpg"]
    assert sorted(p.name for p in mdir.iterdir()) == ["NEW001.jpg"]
    assert summary_number(r, "warnings") == 0, stderr_lines(r)


def test_media_of_uniques_that_sanitise_alike_are_not_mixed_up(mock_factory, media_server,
                                                              tmp_path):
    """Each row's media_file holds that message's own file, even when two uniques
    sanitise to the same name (a/b, a_b, a:b) or share a long prefix."""
    long_a, long_b = "L" * 250 + "1", "L" * 250 + "2"
    ids = ["a/b", "a_b", "a:b", long_a, long_b, "true_972501234567@c.us_3EB0C7"]
    files = {"/files/%d.jpg" % i: blob("F%d" % i) for i in range(len(ids))}
    srv = media_server(files)
    msgs = [msg(u, "image", srv.url("/files/%d.jpg" % i), T0 + 10 * i)
            for i, u in enumerate(ids)]
    msgs.reverse()
    mock = mock_factory("--samples", write_samples(tmp_path / "p.jsonl", msgs))
    mdir = tmp_path / "media"
    out = tmp_path / "o.csv"
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "-o", out, "-q"],
            env=fetch_env())
    assert r.returncode == 0, r.stderr
    names = media_names(out)
    for i, u in enumerate(ids):
        assert names[u], u
        assert (mdir / names[u]).read_bytes() == blob("F%d" % i), \
            "media_file of %r (%s) holds another message's file" % (u[:20], names[u][:40])
    assert len(set(names.values())) == len(ids)


def test_media_of_uniques_that_decode_alike_get_their_own_files(mock_factory, media_server,
                                                               tmp_path):
    """SPEC §5.4: names come from the raw bytes. a\\u0000b, a\\ufffdb, a\\ud800b and
    a\\udbffb all read as a\ufffdb once decoded; they are four messages with four files."""
    ids = ["a\x00b", "a\ufffdb", "a\ud800b", "a\udbffb"]
    files = {"/files/s%d.jpg" % i: blob("S%d" % i) for i in range(len(ids))}
    srv = media_server(files)
    msgs = [msg(u, "image", srv.url("/files/s%d.jpg" % i), T0 + 10 * i)
            for i, u in enumerate(ids)]
    msgs.reverse()
    mock = mock_factory("--samples", write_samples(tmp_path / "p.jsonl", msgs))
    mdir = tmp_path / "media"
    out = tmp_path / "o.csv"
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "-o", out],
            env=fetch_env())
    assert r.returncode == 0, r.stderr
    rows = csv_rows(out.read_bytes())
    assert len(rows) == 4, rows
    by_link = {row["message"]: row["media_file"] for row in rows}
    assert len(set(by_link.values())) == 4, by_link
    for i in range(len(ids)):
        name = by_link[srv.url("/files/s%d.jpg" % i)]
        assert (mdir / name).read_bytes() == blob("S%d" % i), name
    assert b"4 media files saved" in r.stderr, r.stderr


def test_media_of_uniques_of_invalid_bytes_get_names_that_fit_every_night(media_server,
                                                                         tmp_path):
    """SPEC §5.4: a hash where a name would be too long. Each invalid byte of a
    unique escapes to %EF%BF%BD (nine bytes), so 27 of them made a name over
    NAME_MAX: the rename failed and every night exited 74 with the state stuck.
    The names fit, stay one to one (ids that differ only in their last byte),
    and the second night finds the files there."""
    ids = [b"ID-" + b"\xfe" * 27, b"ID-" + b"\xfe" * 26 + b"\xfd", b"\xff" * 60]
    files = {"/files/v%d.jpg" % i: blob("V%d" % i) for i in range(len(ids))}
    srv = media_server(files)
    # The mock re-encodes its samples as ASCII JSON, so this page is served raw:
    # every POST to /api answers it, a short page, the last.
    page = []
    for i, u in enumerate(ids):
        m = json.dumps(msg("@U@", "image", srv.url("/files/v%d.jpg" % i), T0 + 10 * i))
        page.append(m.encode().replace(b"@U@", u))
    srv.files["/api"] = b"[" + b",".join(reversed(page)) + b"]"
    mdir, state = tmp_path / "media", tmp_path / "state"
    for night in (1, 2):
        out = tmp_path / ("o%d.csv" % night)
        r = run(FETCH + ["--url", srv.url("/api"), "--state", state, "--media-dir", mdir,
                         "-o", out, "-q"], env=fetch_env())
        assert r.returncode == 0, (night, r.stderr)
        assert state.exists()
    names = {row["message"]: row["media_file"] for row in csv_rows((tmp_path / "o1.csv")
                                                                   .read_bytes())}
    assert len(names) == len(ids) and len(set(names.values())) == len(ids), names
    for i in range(len(ids)):
        name = names[srv.url("/files/v%d.jpg" % i)]
        assert name and len(name.encode()) <= 255, (len(name.encode()), name)
        assert (mdir / name).read_bytes() == blob("V%d" % i), name
        assert srv.hits("/files/v%d.jpg" % i) == 1, "downloaded again on the second night"
    assert sorted(p.name for p in mdir.iterdir()) == sorted(names.values())


def flaky_night(mock_factory, media_server, tmp_path, faults, *extra):  # noqa: F811
    """Night 1 with one photo; night 2 adds PHOTO2, whose host answers FAULTS."""
    srv = media_server({"/f/p1.jpg": blob("P1"), "/f/p2.jpg": blob("P2")},
                       {"/f/p2.jpg": faults})
    night1 = [msg("PHOTO1", "image", srv.url("/f/p1.jpg"), T0)]
    night2 = [msg("PHOTO2", "image", srv.url("/f/p2.jpg"), T0 + 60)] + night1
    state, mdir = tmp_path / "state", tmp_path / "media"
    m1 = mock_factory("--samples", write_samples(tmp_path / "p1.jsonl", night1))
    r = run(FETCH + ["--url", m1.url, "--state", state, "--media-dir", mdir,
                     "-o", tmp_path / "n1.csv", "-q"], env=fetch_env())
    assert r.returncode == 0, r.stderr
    before = state.read_bytes()
    m2 = mock_factory("--samples", write_samples(tmp_path / "p2.jsonl", night2))
    out = tmp_path / "n2.csv"
    r = run(FETCH + ["--url", m2.url, "--state", state, "--media-dir", mdir, "-o", out]
            + list(extra), env=fetch_env())
    return r, srv, before, state, mdir, out


def test_media_host_failing_once_is_retried_and_the_file_saved(mock_factory, media_server,
                                                              tmp_path):
    r, srv, _, _, mdir, out = flaky_night(mock_factory, media_server, tmp_path,
                                          (500, 1, None))
    assert r.returncode == 0, r.stderr
    assert srv.hits("/f/p2.jpg") == 2
    assert (mdir / "PHOTO2.jpg").read_bytes() == blob("P2")
    assert media_names(out) == {"PHOTO2": "PHOTO2.jpg"}
    assert summary_number(r, "retries") == 1, stderr_lines(r)
    assert summary_number(r, "warnings") == 0, stderr_lines(r)


def test_media_host_asking_to_wait_is_waited_for(mock_factory, media_server, tmp_path):
    """429 with Retry-After: 1 is honoured (the test's backoff base is far shorter)."""
    t = time.monotonic()
    r, srv, _, _, mdir, _ = flaky_night(mock_factory, media_server, tmp_path, (429, 1, 1))
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t >= 1.0
    assert srv.hits("/f/p2.jpg") == 2
    assert (mdir / "PHOTO2.jpg").read_bytes() == blob("P2")


def test_media_host_failing_every_try_is_a_warning_and_lookback_tries_again(
        mock_factory, media_server, tmp_path):
    """Every try answered 503: the file is not saved, which the night says (a warning,
    like a dead link), and the export goes on: one file must not hold back every
    night's messages. With --lookback the next night asks for it again."""
    r, srv, before, state, mdir, out = flaky_night(mock_factory, media_server, tmp_path,
                                                   (503, None, None), "--retries", "1")
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    assert re.search(r"message PHOTO2: media not saved: HTTP 503 on each of 2 tries", err), err
    assert srv.hits("/f/p2.jpg") == 2
    assert summary_number(r, "warnings") == 1, stderr_lines(r)
    assert media_names(out) == {"PHOTO2": ""}
    assert not (mdir / "PHOTO2.jpg").exists()
    assert [p for p in mdir.iterdir() if p.name != "PHOTO1.jpg"] == []
    assert state.read_bytes() != before
    srv.faults.clear()
    m = mock_factory("--samples", tmp_path / "p2.jsonl")
    r = run(FETCH + ["--url", m.url, "--state", state, "--media-dir", mdir, "--lookback", "1d",
                     "-o", tmp_path / "n3.csv", "-q"], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert (mdir / "PHOTO2.jpg").read_bytes() == blob("P2")


@pytest.mark.parametrize("status", [404, 410, 403])
def test_media_dead_link_is_a_warning_not_retried(mock_factory, media_server, tmp_path,
                                                  status):
    r, srv, before, state, mdir, out = flaky_night(mock_factory, media_server, tmp_path,
                                                   (status, None, None), "--retries", "3")
    assert r.returncode == 0, r.stderr
    assert srv.hits("/f/p2.jpg") == 1
    assert b"message PHOTO2: media not saved: HTTP %d" % status in r.stderr, r.stderr
    assert summary_number(r, "warnings") == 1, stderr_lines(r)
    assert media_names(out) == {"PHOTO2": ""}
    assert state.read_bytes() != before


@pytest.mark.parametrize("limit", [48, 36, 22])
def test_media_download_within_a_low_descriptor_limit(mock_factory, media_server, tmp_path,
                                                      limit):
    """ulimit -n 48 (a supervisor's limit) and --concurrency 32: every download needs a
    socket and a file, so 32 at once beside 32 pages ran out of descriptors, and a file
    that cannot be created fails the run (74, SPEC §5.4), every night. Downloads and
    pages now fit what the limit leaves: fewer at once, all saved, down to a limit that
    leaves room for one page and one download."""
    files = {"/files/m%02d.jpg" % i: blob("m%02d" % i, 500) for i in range(40)}
    srv = media_server(files)
    msgs = [msg("LIM%03d" % i, "image", srv.url("/files/m%02d.jpg" % i), T0 + i)
            for i in range(40)]
    mock = mock_factory("--samples", write_samples(tmp_path / "h.jsonl", msgs))
    mdir = tmp_path / "media"

    def few_descriptors():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    r = subprocess.run([BIN] + FETCH + ["--url", mock.url, "--concurrency", "32",
                                        "--media-dir", str(mdir), "-o", str(tmp_path / "o.csv")],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       preexec_fn=few_descriptors)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in mdir.iterdir()) == ["LIM%03d.jpg" % i for i in range(40)]
    assert all((mdir / ("LIM%03d.jpg" % i)).read_bytes() == files["/files/m%02d.jpg" % i]
               for i in range(40))


def test_a_media_host_that_fails_every_try_is_not_asked_for_the_rest(mock_factory,
                                                                     media_server, tmp_path):
    """A media host that is down: each file cost every retry's wait (with the default
    retries, minutes a file), so a night with hundreds of media links on it ran for
    hours. After 3 files in a row failed every try, its other links are not asked this
    run: a warning each, the night goes on (--lookback asks again). Another host's files
    are still fetched."""
    files = {"/d/%02d.jpg" % i: blob("D%02d" % i) for i in range(10)}
    srv = media_server(files, {p: (503, None, None) for p in files})
    good = media_server({"/ok.jpg": blob("OK")})
    # links with a user and password: the warning names the host without them
    msgs = [msg("DOWN%02d" % i, "image",
                "http://cdn:s3cret@127.0.0.1:%d/d/%02d.jpg" % (srv.port, i), T0 + 100 - i)
            for i in range(10)] + [msg("GOOD01", "image", good.url("/ok.jpg"), T0)]
    mock = mock_factory("--samples", write_samples(tmp_path / "h.jsonl", msgs))
    mdir, out = tmp_path / "media", tmp_path / "o.csv"
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "--concurrency", "1",
                     "--retries", "1", "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    asked = [srv.hits(p) for p in sorted(files)]
    # in the page's order (DOWN00 is the newest): the first three, every try each
    assert asked == [2, 2, 2] + [0] * 7, asked
    err = r.stderr.decode()  # five warnings are shown, the rest counted
    assert re.search(r"message DOWN03: media not saved: not tried: http://127\.0\.0\.1:\d+ "
                     r"failed every try for the 3 files before it", err), err
    assert summary_number(r, "warnings") == 10, stderr_lines(r)
    assert "s3cret" not in err, err
    assert (mdir / "GOOD01.jpg").read_bytes() == blob("OK")


def test_a_host_that_redirects_is_not_blamed_for_where_it_sends(mock_factory, media_server,
                                                               tmp_path):
    """Links on host A that redirect to host B, which is down: their failures are B's. A
    answered every request, so its own files after them are still fetched (they were
    'not tried': A was counted as failing every try)."""
    down = media_server({}, {"/x/%d.jpg" % i: (503, None, None) for i in range(3)})
    files = {"/r/%d.jpg" % i: "redirect:" + down.url("/x/%d.jpg" % i) for i in range(3)}
    files.update({"/g/%d.jpg" % i: blob("G%d" % i) for i in range(5)})
    a = media_server(files)
    msgs = ([msg("REDIR%d" % i, "image", a.url("/r/%d.jpg" % i), T0 + 100 - i)
             for i in range(3)] +
            [msg("GOOD%d" % i, "image", a.url("/g/%d.jpg" % i), T0 + 50 - i) for i in range(5)])
    mock = mock_factory("--samples", write_samples(tmp_path / "h.jsonl", msgs))
    mdir = tmp_path / "media"
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "--concurrency", "1",
                     "--retries", "1", "-o", tmp_path / "o.csv"], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in mdir.iterdir()) == ["GOOD%d.jpg" % i for i in range(5)]
    assert b"not tried" not in r.stderr, r.stderr


def test_a_link_too_long_for_libcurl_fails_that_file_not_the_run(mock_factory, media_server,
                                                                  tmp_path):
    """libcurl takes no URL over 8 MB. Such a link ended the run with 70 ("libcurl refused
    a URL"), every night while the message stayed in the history: now that file fails
    with a warning, and the others are saved."""
    files = {"/files/ok.jpg": blob("OK")}
    srv = media_server(files)
    msgs = [msg("LONG01", "image", srv.url("/files/x.jpg?" + "a" * (9 << 20)), T0),
            msg("OK0001", "image", srv.url("/files/ok.jpg"), T0 + 10)]
    mock = mock_factory("--samples", write_samples(tmp_path / "p.jsonl", msgs))
    mdir, out = tmp_path / "media", tmp_path / "o.csv"
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "-o", out, "--state",
                     tmp_path / "state"], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert b"the link is 943" in r.stderr, r.stderr
    csv.field_size_limit(1 << 30)  # the 9 MB link is the message's cell
    names = media_names(out)
    assert names["LONG01"] == "" and (mdir / names["OK0001"]).read_bytes() == blob("OK")


def test_media_type_and_link_are_read_as_the_text_they_stand_for(mock_factory, media_server,
                                                                 tmp_path):
    """SPEC §5.4: a media message is one whose `message` is an http(s) link, and JSON text
    is compared decoded (SPEC §5.7). `"im\\u0061ge"` with `"\\u0068ttp:\\/\\/…"` is an image
    to save; `"t\\u0065xt"` with a link is a text, whose link is never fetched. Both were
    read raw: the image was not saved, and the text's link was downloaded."""
    srv = media_server({"/files/esc.jpg": blob("ESC"), "/files/text.jpg": blob("TXT")})

    def escaped_link(path):
        url = srv.url(path).replace("/", "\\/")
        return "\\u0068" + url[1:]                       # the h of http escaped

    def raw_msg(unique, mtype, message, ts):
        return ('{"unique":"%s","timestamp":"%d","direction":"1","from":"972509876543",'
                '"to":"%s","type":"%s","state":0,"message":"%s"}'
                % (unique, ts, ACCOUNT, mtype, message))

    page = "[%s]\n" % ",".join([
        raw_msg("ESC2", "t\\u0065xt", srv.url("/files/text.jpg"), T0 + 20),
        raw_msg("ESC1", "im\\u0061ge", escaped_link("/files/esc.jpg"), T0 + 10)])
    pages = tmp_path / "raw.jsonl"
    pages.write_text(page)
    mock = mock_factory("--raw-pages", pages)
    mdir = tmp_path / "media"
    out = tmp_path / "o.csv"
    r = run(FETCH + ["--url", mock.url, "--media-dir", mdir, "-o", out, "-q"],
            env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert media_names(out) == {"ESC1": "ESC1.jpg", "ESC2": ""}
    assert (mdir / "ESC1.jpg").read_bytes() == blob("ESC")
    assert srv.hits("/files/text.jpg") == 0
    assert sorted(os.listdir(mdir)) == ["ESC1.jpg"]
