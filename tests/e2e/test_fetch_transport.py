"""The transport under fetch (SPEC §5.4, §5.5, §5.6): a proxy from the
environment never sees a plain-http request, page transfers go on while media
download (a slow media host never times out a page), and a signal ends every
wait (Retry-After, media) within a second.

The API is the mock (scripts/mock_api.py); media links point at a small
threaded server started here that answers after a chosen delay; the "proxy" is
a loopback listener that only records who connects.
"""
import os
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import BIN
from fetch_helpers import (ACCOUNT, csv_rows, fetch_env, mock_factory, server_fixture,  # noqa: F401
                           summary_number)
from nightly_helpers import write_samples

FETCH = ["fetch", "--from", ACCOUNT]
T0 = 1731990000


class DelayedFiles:
    """Answers every GET with 200 and a few bytes after `delay` seconds."""

    def __init__(self, delay):
        self.delay = delay
        self.hits = 0
        lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with lock:
                    outer.hits += 1
                time.sleep(outer.delay)
                body = b"media:" + self.path.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name):
        return "http://127.0.0.1:%d/files/%s" % (self.port, name)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Listener:
    """A loopback port that accepts, records the first bytes, and hangs up."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                self.seen.append(conn.recv(4096))
            except OSError:
                self.seen.append(b"")
            conn.close()

    def stop(self):
        self.sock.close()


delayed_files = server_fixture(DelayedFiles, "delayed_files")


def message(i, mtype="text", text=None):
    return {"unique": "M%05d" % i, "timestamp": str(T0 - 60 * i), "direction": "1",
            "from": "972509876543", "to": ACCOUNT, "type": mtype, "state": 0,
            "message": text if text is not None else "hello %d" % i}


def history(n, media=None):
    """n text messages, newest first; media: {index: url} makes those images."""
    media = media or {}
    return [message(i, "image", media[i]) if i in media else message(i) for i in range(n)]


def run_env(extra, drop=()):
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(extra)
    for k in drop:
        env.pop(k, None)
    return env


def test_env_proxy_never_sees_a_plain_http_request(mock_factory, delayed_files, tmp_path):
    proxy = Listener()
    files = delayed_files(0)
    try:
        msgs = history(60, {3: files.url("a.jpg"), 55: files.url("b.jpg")})
        mock = mock_factory("--samples", write_samples(tmp_path / "h.txt", msgs))
        purl = "http://127.0.0.1:%d" % proxy.port
        env = run_env(dict(fetch_env(), http_proxy=purl, HTTP_PROXY=purl, ALL_PROXY=purl,
                           all_proxy=purl),
                      drop=("NO_PROXY", "no_proxy"))
        out = tmp_path / "out.csv"
        r = subprocess.run([BIN] + FETCH + ["--url", mock.url, "--media-dir", str(tmp_path / "m"),
                                            "-o", str(out)],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    finally:
        proxy.stop()
    assert proxy.seen == [], "the proxy received: %r" % proxy.seen[:1]
    assert r.returncode == 0, r.stderr
    assert len(csv_rows(out.read_bytes())) == 60
    assert {e["page"] for e in mock.requests("page")} == {1, 2}
    assert files.hits == 2
    assert sorted(os.listdir(tmp_path / "m")) == ["M00003.jpg", "M00055.jpg"]


def test_slow_media_host_never_times_out_a_page(mock_factory, delayed_files, tmp_path):
    # Page 2 links to media that take 1.5 s each, two at a time: 4.5 s of media
    # while page 3 is in flight with a 3 s timeout. Page 3 must not time out.
    files = delayed_files(1.5)
    media = {i: files.url("f%d.jpg" % i) for i in range(50, 56)}
    msgs = history(120, media)
    mock = mock_factory("--samples", write_samples(tmp_path / "h.txt", msgs), "--latency-ms", 300)
    out = tmp_path / "out.csv"
    r = subprocess.run([BIN] + FETCH + ["--url", mock.url, "--timeout", "3", "--retries", "0",
                                        "--concurrency", "2", "--media-dir",
                                        str(tmp_path / "m"), "-o", str(out)],
                       env=run_env(fetch_env()), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    rows = csv_rows(out.read_bytes())
    assert len(rows) == 120
    assert sum(1 for row in rows if row["media_file"]) == 6
    assert summary_number(r, "retries") in (0, None)
    assert files.hits == 6


def signalled_within_a_second(cmd, env, settle):
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(settle)
    assert p.poll() is None, p.communicate()
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    return p.returncode, time.monotonic() - t, err


def test_sigterm_ends_a_retry_after_wait_within_a_second(mock_factory, tmp_path):
    mock = mock_factory("--messages", 120, "--fail-429", "*:5", "--retry-after", 300)
    cmd = [BIN] + FETCH + ["--url", mock.url, "-o", str(tmp_path / "o.csv")]
    rc, took, err = signalled_within_a_second(cmd, run_env(fetch_env()), 1.5)
    assert rc == 143, err
    assert took < 1.5, "SIGTERM took %.2f s to end a Retry-After wait" % took
    assert not (tmp_path / "o.csv").exists()


def test_sigterm_ends_a_slow_media_download_within_a_second(mock_factory, delayed_files,
                                                             tmp_path):
    files = delayed_files(30)
    msgs = history(10, {2: files.url("slow.jpg")})
    mock = mock_factory("--samples", write_samples(tmp_path / "h.txt", msgs))
    cmd = [BIN] + FETCH + ["--url", mock.url, "--timeout", "60", "--media-dir",
                           str(tmp_path / "m"), "-o", str(tmp_path / "o.csv")]
    rc, took, err = signalled_within_a_second(cmd, run_env(fetch_env()), 1.5)
    assert rc == 143, err
    assert took < 1.5, "SIGTERM took %.2f s to end a media download" % took
    assert files.hits == 1
    assert os.listdir(tmp_path / "m") == [], "no partial media file stays behind"
