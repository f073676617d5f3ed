"""Helpers for the `waexport fetch` end-to-end tests (tests/e2e/test_fetch*.py).

The mock API (scripts/mock_api.py) is the server; ground truth is what the mock
serves, read directly with urllib (no proxies), or the sample pages, decoded by
`waexport convert` (SPEC §2: fetch and convert run the same decode/write
pipeline, so a fetch must write exactly what convert writes for the same pages).
"""
import csv
import gzip
import io
import json
import os
import re
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from conftest import BIN, PY, ROOT, run
from helpers import read_csv

SCRIPTS = ROOT / "scripts"
SAMPLES = ROOT / "samples"
SAMPLE_PAGES = sorted((SAMPLES / "pages").glob("page-*.json"))
KEY = "test-key-0123456789"          # the mock's default key
ACCOUNT = "972501234567"             # the mock's default account
API_PATH = "/whatsapp/v2/getHistory"
PAGE_SIZE = 50

# Never go through a proxy to the mock; the retry base makes backoff sleeps tiny.
BASE_ENV = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "WAEXPORT_RETRY_BASE": "0.01"}

_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch_env(key=KEY, **extra):
    """Environment for a fetch run: no proxy to loopback, fast retries, the key."""
    env = dict(BASE_ENV)
    if key is not None:
        env["WAEXPORT_API_KEY"] = key
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Mock:
    """One scripts/mock_api.py process on a free port (binds 127.0.0.1)."""

    def __init__(self, *args, tls_ca=None):
        self.args = [str(a) for a in args]
        self.tls = "--tls-cert" in self.args
        self.proc = subprocess.Popen(
            [PY, str(SCRIPTS / "mock_api.py"), "--port", "0"] + self.args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("line", self.proc.stdout.readline()),
                             daemon=True)
        t.start()
        t.join(60)
        line = box.get("line", b"").decode("ascii", "replace")
        m = re.fullmatch(r"PORT (\d+)\n", line)
        if not m:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError("mock did not start: %r %r" % (line, err[-2000:]))
        self.port = int(m.group(1))
        self.scheme = "https" if self.tls else "http"
        self.ctx = None
        if self.tls:
            self.ctx = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else \
                ssl._create_unverified_context()
        # Drain stderr so a chatty mock never blocks on a full pipe.
        self._err = []
        threading.Thread(target=lambda: self._err.append(self.proc.stderr.read()),
                         daemon=True).start()

    @property
    def base(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    @property
    def url(self):
        return self.base + API_PATH

    def _req(self, method, path, data=None):
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        if self.ctx is not None:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                 urllib.request.HTTPSHandler(context=self.ctx))
        else:
            opener = _NO_PROXY_OPENER
        with opener.open(req, timeout=30) as r:
            return r.status, r.read()

    def log(self):
        """GET /__log: {"requests": [...], "total", "max_in_flight", ...}."""
        return json.loads(self._req("GET", "/__log")[1])

    def requests(self, kind=None):
        reqs = self.log()["requests"]
        return [e for e in reqs if kind is None or e["kind"] == kind]

    def control(self, **knobs):
        return json.loads(self._req("POST", "/__control", json.dumps(knobs).encode())[1])

    def quiesce(self, timeout=10):
        """Wait until no getHistory request is in flight (a finished client may leave
        answers still sleeping in --latency-ms behind it)."""
        import time
        deadline = time.monotonic() + timeout
        while self.log()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.02)

    def reset(self, knobs=True):
        """Clear log and counters, drop grown messages, restore command-line knobs."""
        self.quiesce()
        return json.loads(self._req("POST", "/__reset",
                                    json.dumps({"knobs": bool(knobs)}).encode())[1])

    def page(self, page, to=None, key=KEY, frm=ACCOUNT):
        """The raw body the mock answers for one page (counts in the log)."""
        body = {"apiKey": key, "from": frm, "page": page}
        if to is not None:
            body["to"] = to
        return self._req("POST", API_PATH, json.dumps(body).encode())[1]

    def pages(self, to=None):
        """Every non-empty page of the history (raw bodies, page order), read directly."""
        out = []
        n = 1
        while True:
            raw = self.page(n, to=to)
            arr = json.loads(raw) if raw.strip() else []
            assert isinstance(arr, list), raw[:200]
            if not arr:
                return out
            out.append(raw)
            if len(arr) < PAGE_SIZE:
                return out
            n += 1

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


def run_with_a_flood_in_the_retry_wait(mock, args, flood):
    """Run waexport (args after the binary) while the mock answers its next 429: once it has,
    `flood` new messages arrive (within the Retry-After wait).  Returns (exit code, stderr)."""
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    p = subprocess.Popen([BIN] + [str(a) for a in args], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not [x for x in mock.log()["requests"] if x["status"] == 429]:
            assert time.monotonic() < deadline and p.poll() is None, "no 429 served"
            time.sleep(0.02)
        mock.control(grow_every=1, grow_by=flood)  # fires on the next request but one
        mock.page(1)
        mock.page(1)
        mock.control(grow_every=0)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, err


def convert_pages(tmp_path, pages, *args, name="pages.ndjsonl"):
    """`waexport convert` of raw page bodies (one array per line); returns stdout bytes."""
    src = Path(tmp_path) / name
    src.write_bytes(b"".join(p.rstrip(b"\n") + b"\n" for p in pages))
    r = run(["convert", "-q"] + list(args) + [src])
    assert r.returncode == 0, r.stderr
    return r.stdout


def convert_samples(*args):
    """`waexport convert` of samples/pages/*.json (the truth for a full samples fetch)."""
    r = run(["convert", "-q"] + list(args) + SAMPLE_PAGES)
    assert r.returncode == 0, r.stderr
    return r.stdout


def sample_messages():
    """Every sample message, newest first, as Python dicts."""
    out = []
    for p in SAMPLE_PAGES:
        out.extend(json.loads(p.read_text(encoding="utf-8")))
    return out


def messages_of(pages):
    out = []
    for p in pages:
        out.extend(json.loads(p))
    return out


def csv_rows(data):
    """CSV bytes (optionally gzip) as a list of dicts keyed by the header (read_csv's rows)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    rows = read_csv(data)
    return [dict(zip(rows[0], r)) for r in rows[1:]] if rows else []


def csv_table(data):
    """(header, rows) of CSV bytes, each row a list of cells."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return rows[0], rows[1:]


def stderr_lines(r):
    """Non-empty stderr lines; a progress line redrawn with CR counts as its last state."""
    text = r.stderr.decode("utf-8", "replace")
    lines = []
    for ln in text.split("\n"):
        ln = ln.split("\r")[-1].strip()
        if ln:
            lines.append(ln)
    return lines


def summary_number(r, word):
    """The number before `word` in the summary (e.g. '3 retries'), or None."""
    m = re.search(r"(\d+) %s" % word, r.stderr.decode("utf-8", "replace"))
    return int(m.group(1)) if m else None


def read_maybe_gz(path):
    data = Path(path).read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def free_port():
    """A loopback port nothing listens on (bound, then closed)."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_cert(directory, cn="localhost"):
    """A self-signed certificate for localhost/127.0.0.1; returns (cert, key)."""
    d = Path(directory)
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", "/CN=%s" % cn,
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


# ---------------------------------------------------------------- fixtures
# Import these names into a test module to use them there.
import pytest  # noqa: E402


@pytest.fixture(scope="module")
def samples_server():
    """One mock serving samples/ for the whole module."""
    m = Mock("--samples", SAMPLES)
    yield m
    m.stop()


@pytest.fixture
def samples_mock(samples_server):
    """The module's samples mock, with a clean log and the command-line knobs."""
    samples_server.reset(knobs=True)
    return samples_server


def server_fixture(cls, name):
    """A fixture `name` giving start(*args, **kw) -> cls(*args, **kw): a server the
    test starts with its own arguments; every one started is stopped at teardown."""
    def fixture():
        started = []

        def start(*args, **kw):
            s = cls(*args, **kw)
            started.append(s)
            return s

        yield start
        for s in started:
            s.stop()

    return pytest.fixture(name=name)(fixture)


mock_factory = server_fixture(Mock, "mock_factory")
