#!/usr/bin/python3
"""Tests of the test tools themselves: scripts/gen_history.py, the samples
(scripts/make_samples.py) and the mock API (scripts/mock_api.py).

    /usr/bin/python3 -m pytest tests/e2e/test_mock_api.py
    /usr/bin/python3 -m unittest tests/e2e/test_mock_api.py   (also works)

Standard library only; servers bind 127.0.0.1 and use a free port.
"""

import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPTS = os.path.join(ROOT, "scripts")
SAMPLES = os.path.join(ROOT, "samples")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
KEY = "test-key-0123456789"
ACCOUNT = "972501234567"
PATH = "/whatsapp/v2/getHistory"

sys.path.insert(0, SCRIPTS)
import gen_history  # noqa: E402


def start_mock(*args, timeout=60):
    """Start mock_api.py; return (process, port) once it printed PORT."""
    proc = subprocess.Popen([PY, os.path.join(SCRIPTS, "mock_api.py"), "--port", "0"]
                            + [str(a) for a in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    box = {}

    def read_first_line():
        box["line"] = proc.stdout.readline()

    t = threading.Thread(target=read_first_line, daemon=True)
    t.start()
    t.join(timeout)
    line = box.get("line", b"").decode()
    m = re.fullmatch(r"PORT (\d+)\n", line)
    if not m:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("mock did not start: %r %r" % (line, err[-2000:]))
    return proc, int(m.group(1))


def stop_mock(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


def body(page=1, to=None, key=KEY, frm=ACCOUNT):
    d = {"apiKey": key, "from": frm, "page": page}
    if to is not None:
        d["to"] = to
    return json.dumps(d)


class Client:
    """One keep-alive connection."""

    def __init__(self, port, tls_context=None):
        if tls_context is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        else:
            self.conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=20,
                                                    context=tls_context)

    def post(self, data, path=PATH, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        self.conn.request("POST", path, body=data, headers=h)
        r = self.conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()

    def get(self, path):
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()

    def close(self):
        self.conn.close()


def once(port, data, path=PATH, headers=None):
    c = Client(port)
    try:
        return c.post(data, path, headers)
    finally:
        c.close()


def control(port, **knobs):
    status, _, out = once(port, json.dumps(knobs), "/__control")
    assert status == 200, out
    return json.loads(out)


def get_log(port):
    c = Client(port)
    try:
        status, _, out = c.get("/__log")
    finally:
        c.close()
    assert status == 200
    return json.loads(out)


def logged_log(port, total, timeout=10.0):
    """The log once it counts `total` requests: the mock logs a request after its
    answer is sent, so a client can read the answer first (only a wait; the caller
    still asserts the exact figures)."""
    deadline = time.monotonic() + timeout
    log = get_log(port)
    while log["total"] < total and time.monotonic() < deadline:
        time.sleep(0.02)
        log = get_log(port)
    return log


def chat_of(m):
    return m["from"] if str(m["direction"]) == "1" else m["to"]


# ---------------------------------------------------------------------------

class TestGenHistory(unittest.TestCase):

    def test_php_json_escapes_like_php(self):
        pj = gen_history.php_json
        self.assertEqual(pj("שלום"), '"\\u05e9\\u05dc\\u05d5\\u05dd"')
        self.assertEqual(pj("\U0001F600"), '"\\ud83d\\ude00"')
        self.assertEqual(pj("a/b"), '"a\\/b"')
        self.assertEqual(pj("\\/"), '"\\\\\\/"')
        self.assertEqual(pj("\x01\b\f\n\r\t\"\x1f"),
                         '"\\u0001\\b\\f\\n\\r\\t\\"\\u001f"')
        self.assertEqual(pj("del\x7f"), '"del\x7f"')
        self.assertEqual(pj("\\u007f"), '"\\\\u007f"')      # literal text stays
        self.assertEqual(pj("\u2028\u00e9"), '"\\u2028\\u00e9"')
        self.assertEqual(pj({"a": [1, "x"], "b": None, "c": True}),
                         '{"a":[1,"x"],"b":null,"c":true}')

    def test_deterministic(self):
        a = gen_history.php_json(gen_history.messages(300, seed=3))
        b = gen_history.php_json(gen_history.messages(300, seed=3))
        c = gen_history.php_json(gen_history.messages(300, seed=4))
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        env = dict(os.environ, PYTHONHASHSEED="123")
        cmd = [PY, os.path.join(SCRIPTS, "gen_history.py"), "--messages", "120",
               "--seed", "3"]
        out1 = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
        out2 = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=env).stdout
        self.assertEqual(out1, out2)
        lines = out1.decode("ascii").split("\n")
        self.assertEqual(lines[-1], "")
        self.assertEqual([len(json.loads(ln)) for ln in lines[:-1]], [50, 50, 20])
        expect = "".join(gen_history.php_json(p) + "\n" for p in
                         gen_history.pages(gen_history.messages(120, seed=3)))
        self.assertEqual(out1.decode("ascii"), expect)

    def test_shape_and_mix(self):
        msgs = gen_history.messages(20000, seed=11, contacts=30)
        self.assertEqual(len(msgs), 20000)
        uniques = [m["unique"] for m in msgs]
        self.assertEqual(len(set(uniques)), len(uniques))
        self.assertTrue(all(re.fullmatch(r"[0-9A-F]{20}", u) for u in uniques))
        ts = [int(m["timestamp"]) for m in msgs]
        self.assertTrue(all(a >= b for a, b in zip(ts, ts[1:])), "newest first")
        self.assertLessEqual(ts[0], gen_history.DEFAULT_END_EPOCH)
        self.assertGreater(ts[0] - ts[-1], 300 * 86400)
        self.assertLess(ts[0] - ts[-1], 366 * 86400)
        incoming = sum(1 for m in msgs if str(m["direction"]) == "1")
        self.assertTrue(0.51 < incoming / len(msgs) < 0.59, incoming)
        for m in msgs:
            if str(m["direction"]) == "1":
                self.assertEqual(m["to"], ACCOUNT)
            else:
                self.assertEqual(m["from"], ACCOUNT)
            self.assertRegex(chat_of(m), r"^(9725\d{8}|IL\.\d{16})$")
        hidden = sum(1 for m in msgs if chat_of(m).startswith("IL."))
        self.assertTrue(0.01 < hidden / len(msgs) < 0.03, hidden)
        texts = [m["message"] for m in msgs if m["type"] in ("chat", "text")]
        he = sum(1 for t in texts if re.search("[\u05d0-\u05ea]", t))
        self.assertTrue(0.38 < he / len(texts) < 0.48, he / len(texts))
        self.assertTrue(any("\u200d" in t for t in texts), "ZWJ sequences")
        self.assertTrue(any("\U0001F3FD" in t or "\U0001F3FB" in t for t in texts))
        self.assertTrue(any("\n" in t for t in texts))
        self.assertTrue(any('"' in t and "," in t for t in texts))
        media = [m for m in msgs if m["type"] in ("image", "video", "file")]
        self.assertTrue(all(m["message"].startswith("https://media.99digital.co.il/files/")
                            for m in media))
        for m in msgs:
            if m["type"] == "location":
                self.assertRegex(m["message"], r"^\d+\.\d+,\d+\.\d+$")
        odd = sum(1 for m in msgs if not isinstance(m["timestamp"], str)
                  or not isinstance(m["direction"], str)
                  or "state" not in m or isinstance(m["state"], str)
                  or "edited" in m or "quoted" in m)
        self.assertTrue(0.004 < odd / len(msgs) < 0.02, odd)
        out_states = [m["state"] for m in msgs if str(m["direction"]) == "2"
                      and isinstance(m.get("state"), int)]
        self.assertTrue(set(out_states) <= {0, 1, 2, 3})
        self.assertTrue(any(m.get("reason") for m in msgs))

    def test_pages(self):
        p = gen_history.pages(list(range(120)))
        self.assertEqual([len(x) for x in p], [50, 50, 20])
        self.assertEqual(gen_history.pages([]), [])


class TestSamples(unittest.TestCase):

    def load(self):
        files = sorted(f for f in os.listdir(os.path.join(SAMPLES, "pages"))
                       if f.endswith(".json"))
        msgs = []
        for f in files:
            with open(os.path.join(SAMPLES, "pages", f), "rb") as fh:
                data = fh.read()
            self.assertTrue(data.endswith(b"]\n"))
            data.decode("ascii")        # PHP-encoded: pure ASCII
            msgs.append(json.loads(data))
        return files, msgs

    def test_up_to_date(self):
        r = subprocess.run([PY, os.path.join(SCRIPTS, "make_samples.py"), "--check"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_layout_and_edge_cases(self):
        files, pages = self.load()
        self.assertEqual(files, ["page-%03d.json" % i for i in range(1, 8)])
        self.assertEqual([len(p) for p in pages], [50] * 6 + [20])
        msgs = [m for p in pages for m in p]
        self.assertEqual(len({m["unique"] for m in msgs}), 320)
        ts = [int(m["timestamp"]) for m in msgs]
        self.assertTrue(all(a >= b for a, b in zip(ts, ts[1:])))
        texts = [m["message"] for m in msgs]
        for start in ("=SUM(A1)", "+972", "-5", "@home", "\t"):
            self.assertTrue(any(t.startswith(start) for t in texts), start)
        self.assertTrue(any("\r\n" in t for t in texts))
        self.assertTrue(any("\u2028" in t for t in texts))
        self.assertTrue(any("\ud800" in t for t in texts))
        self.assertTrue(any("\u0000" in t for t in texts))
        self.assertTrue(any('"' in t and "," in t for t in texts))
        self.assertTrue(any(re.search("[\u05d0-\u05ea]", t) and "\U0001F600" in t
                            for t in texts))
        self.assertTrue(any(len(t.encode("utf-8", "surrogatepass")) > 4500 for t in texts))
        self.assertTrue(any(m["from"] == "IL.1605856887361213" for m in msgs))
        self.assertTrue(any(m.get("state") == 0 and m.get("reason") == "number not on WhatsApp"
                            for m in msgs))
        self.assertTrue(any(m.get("reason") == 131026 for m in msgs))
        self.assertTrue(any(isinstance(m["timestamp"], int) for m in msgs))
        self.assertTrue(any(m["direction"] == 2 for m in msgs))
        self.assertTrue(any(m.get("state") == "3" for m in msgs))
        self.assertTrue(any(m["type"] == "poll" for m in msgs))
        self.assertTrue(any("state" not in m for m in msgs))
        self.assertTrue(any("context" in m for m in msgs))


# ---------------------------------------------------------------------------

class MockCase(unittest.TestCase):
    """One samples-backed mock for the class; knobs reset before each test."""
    args = ("--samples", SAMPLES)

    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_mock(*cls.args)

    @classmethod
    def tearDownClass(cls):
        stop_mock(cls.proc)

    def setUp(self):
        status, _, _ = once(self.port, json.dumps({"knobs": True}), "/__reset")
        self.assertEqual(status, 200)

    def page(self, n, **kw):
        status, headers, out = once(self.port, body(n, **kw))
        self.assertEqual(status, 200)
        return json.loads(out)


class TestMockPaging(MockCase):

    def test_pages_are_the_sample_files(self):
        c = Client(self.port)
        for n in range(1, 8):
            status, headers, out = c.post(body(n))
            self.assertEqual(status, 200)
            self.assertEqual(int(headers["content-length"]), len(out))
            with open(os.path.join(SAMPLES, "pages", "page-%03d.json" % n), "rb") as f:
                self.assertEqual(out + b"\n", f.read())
        s8, _, out8 = c.post(body(8))
        self.assertEqual((s8, out8), (200, b"[]"))
        self.assertEqual(c.post(body(1000))[2], b"[]")
        c.close()
        ports = {e["client_port"] for e in get_log(self.port)["requests"]}
        self.assertEqual(len(ports), 1, "one keep-alive connection")

    def test_to_filters_one_chat(self):
        everything = [m for n in range(1, 8) for m in self.page(n)]
        chats = {}
        for m in everything:
            chats.setdefault(chat_of(m), []).append(m)
        top = max(chats, key=lambda c: len(chats[c]))
        self.assertGreater(len(chats[top]), 50, "top chat spans pages")
        got, n = [], 1
        while True:
            p = self.page(n, to=top)
            got += p
            if len(p) < 50:
                break
            n += 1
        self.assertEqual([m["unique"] for m in got], [m["unique"] for m in chats[top]])
        hidden = self.page(1, to="IL.1605856887361213")
        self.assertEqual(len(hidden), 1)
        self.assertEqual(self.page(1, to=""), self.page(1))
        self.assertEqual(self.page(1, to="972500000001"), [])

    def test_fail_codes(self):
        cases = [
            (body(1, key="wrong"), 3),
            (body(1, frm="972500000000"), 2),
            ('{"apiKey":"%s","from":"%s","page":1' % (KEY, ACCOUNT), 2),
            ("", 2),
            ("[1,2]", 2),
            (body(1, to="+972501234567"), 4),
            (body(1, to="9725"), 4),
            (body(1, to="il.1605856887361213"), 4),
            (body(1, to="972501234567\n"), 4),
            (json.dumps({"apiKey": KEY, "from": ACCOUNT}), 2),
            (body(0), 2),
        ]
        for data, reason in cases:
            status, headers, out = once(self.port, data)
            self.assertEqual((status, json.loads(out)), (200, {"status": "FAIL", "reason": reason}),
                             data)
        status, _, out = once(self.port, body(1), path="/anything/getHistory")
        self.assertEqual(len(json.loads(out)), 50)
        status, _, out = once(self.port, body(1), path="/nothing")
        self.assertEqual(status, 404)
        status, _, out = once(self.port, json.dumps({"apiKey": KEY, "from": ACCOUNT,
                                                     "page": "2"}))
        self.assertEqual(len(json.loads(out)), 50)

    def test_log_and_control_endpoints(self):
        once(self.port, body(3, to="972500000001"))
        log = logged_log(self.port, 1)
        self.assertEqual(log["total"], 1)
        e = log["requests"][0]
        for k in ("seq", "t", "page", "to", "kind", "status", "bytes",
                  "in_flight", "max_in_flight"):
            self.assertIn(k, e)
        self.assertEqual((e["page"], e["to"], e["kind"], e["status"]), (3, "972500000001", "end", 200))
        self.assertNotIn(KEY, json.dumps(log))
        status, _, out = once(self.port, json.dumps({"no_such_knob": 1}), "/__control")
        self.assertEqual(status, 400)
        status, _, out = once(self.port, json.dumps({"fail_5xx": "x:y"}), "/__control")
        self.assertEqual(status, 400)
        once(self.port, "", "/__reset")
        self.assertEqual(get_log(self.port)["total"], 0)


class TestMockKnobs(MockCase):

    def test_latency(self):
        control(self.port, latency_ms=300)
        t0 = time.monotonic()
        self.assertEqual(len(self.page(1)), 50)
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)

    def test_fail_5xx_counts(self):
        control(self.port, fail_5xx="2:2,4")
        c = Client(self.port)
        self.assertEqual(c.post(body(1))[0], 200)
        s1, h1, b1 = c.post(body(2))
        self.assertEqual(s1, 503)
        self.assertEqual(int(h1["content-length"]), len(b1))
        self.assertEqual(c.post(body(2))[0], 503)
        self.assertEqual(c.post(body(2))[0], 200)
        self.assertEqual(c.post(body(4))[0], 503)
        self.assertEqual(c.post(body(4))[0], 200)
        control(self.port, fail_5xx="*:1", fail_5xx_status=502)
        self.assertEqual(c.post(body(2))[0], 502)
        self.assertEqual(c.post(body(2))[0], 200)
        self.assertEqual(c.post(body(9))[0], 502)
        control(self.port, fail_5xx="all")
        for _ in range(3):
            self.assertEqual(c.post(body(1))[0], 502)
        c.close()

    def test_fail_429_retry_after(self):
        control(self.port, fail_429="1:2", retry_after="7")
        s, h, _ = once(self.port, body(1))
        self.assertEqual((s, h.get("retry-after")), (429, "7"))
        date = "Wed, 21 Oct 2015 07:28:00 GMT"
        control(self.port, retry_after=date)
        s, h, _ = once(self.port, body(1))
        self.assertEqual((s, h.get("retry-after")), (429, date))
        self.assertEqual(once(self.port, body(1))[0], 200)
        control(self.port, fail_429="1", retry_after=None)
        s, h, _ = once(self.port, body(1))
        self.assertEqual(s, 429)
        self.assertNotIn("retry-after", h)

    def test_reset(self):
        control(self.port, reset="1")
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            once(self.port, body(1))
        self.assertEqual(once(self.port, body(1))[0], 200)
        self.assertEqual(get_log(self.port)["requests"][0]["kind"], "reset")

    def test_truncate(self):
        control(self.port, truncate="1")
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            data = body(1).encode()
            s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (PATH.encode(), len(data), data))
            raw = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
        head, _, rest = raw.partition(b"\r\n\r\n")
        declared = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        self.assertTrue(head.startswith(b"HTTP/1.1 200"))
        self.assertLess(len(rest), declared)
        control(self.port, truncate="1:1")
        with self.assertRaises(http.client.IncompleteRead):
            once(self.port, body(1))
        self.assertEqual(once(self.port, body(1))[0], 200)

    def test_invalid_json(self):
        control(self.port, invalid_json="1,8")
        s, h, out = once(self.port, body(1))
        self.assertEqual(s, 200)
        self.assertEqual(int(h["content-length"]), len(out))
        with self.assertRaises(ValueError):
            json.loads(out)
        s, h, out = once(self.port, body(8))     # past the end: "[]" -> HTML
        with self.assertRaises(ValueError):
            json.loads(out)
        self.assertEqual(len(json.loads(once(self.port, body(1))[2])), 50)

    def test_fail_object(self):
        control(self.port, fail_object="2", fail_reason=77)
        self.assertEqual(json.loads(once(self.port, body(2))[2]),
                         {"status": "FAIL", "reason": 77})
        self.assertEqual(len(json.loads(once(self.port, body(2))[2])), 50)
        control(self.port, fail_object="all", fail_reason="weird")
        self.assertEqual(json.loads(once(self.port, body(5))[2]),
                         {"status": "FAIL", "reason": "weird"})

    def test_knobs_stack_in_order(self):
        control(self.port, reset="3", fail_5xx="3:2", fail_object="3")
        kinds = []
        for _ in range(5):
            try:
                s, _, out = once(self.port, body(3))
                kinds.append(s if s != 200 else json.loads(out).__class__.__name__)
            except (ConnectionError, http.client.HTTPException):
                kinds.append("reset")
        self.assertEqual(kinds, ["reset", 503, 503, "dict", "list"])

    def test_grow_shifts_pages(self):
        before1, before2 = self.page(1), self.page(2)
        self.assertEqual(get_log(self.port)["messages"], 320)
        once(self.port, "", "/__reset")
        control(self.port, grow_every=2, grow_by=3)
        p1a = self.page(1)                          # request 1
        p1b = self.page(1)                          # request 2
        self.assertEqual(p1a, before1)
        self.assertEqual(p1b, before1)
        p2 = self.page(2)                           # request 3: +3 messages
        self.assertEqual(p2[:3], before1[-3:])
        self.assertEqual(p2[3:], before2[:47])
        p1 = self.page(1)
        self.assertEqual(p1[3:], before1[:47])
        new = p1[:3]
        self.assertEqual(len({m["unique"] for m in new} | {m["unique"] for m in before1 + before2}),
                         103)
        for m in new:
            self.assertRegex(m["unique"], r"^[0-9A-F]{20}$")
            self.assertGreaterEqual(int(m["timestamp"]), int(before1[0]["timestamp"]))
        ts = [int(m["timestamp"]) for m in p1]
        self.assertTrue(all(a >= b for a, b in zip(ts, ts[1:])))
        log = get_log(self.port)
        self.assertEqual((log["messages"], log["grown"]), (323, 3))
        once(self.port, "", "/__reset")              # the growth is dropped
        self.assertEqual(self.page(1), before1)
        self.assertEqual(get_log(self.port)["messages"], 320)

    def test_grow_keeps_chat_index(self):
        top = chat_of(self.page(1)[0])
        n0 = sum(len(self.page(n, to=top)) for n in range(1, 8))
        control(self.port, grow_every=1, grow_by=40)
        for _ in range(3):
            self.page(1)
        control(self.port, grow_every=0)            # stop growing, then walk
        self.assertEqual(get_log(self.port)["grown"], 80)
        msgs = [m for n in range(1, 12) for m in self.page(n, to=top)]
        self.assertTrue(all(chat_of(m) == top for m in msgs))
        self.assertGreaterEqual(len(msgs), n0)
        self.assertEqual(len({m["unique"] for m in msgs}), len(msgs))

    def test_ignore_page(self):
        control(self.port, ignore_page=True)
        first = self.page(1)
        self.assertEqual(self.page(5), first)
        self.assertEqual(self.page(99), first)
        self.assertEqual(get_log(self.port)["requests"][-1]["served_page"], 1)

    def test_empty_body_at_end(self):
        control(self.port, empty_body_at_end=True)
        s, h, out = once(self.port, body(8))
        self.assertEqual((s, h["content-length"], out), (200, "0", b""))
        self.assertEqual(len(self.page(7)), 20)

    def test_gzip(self):
        control(self.port, gzip=True)
        s, h, out = once(self.port, body(1), headers={"Accept-Encoding": "gzip, deflate"})
        self.assertEqual(h.get("content-encoding"), "gzip")
        self.assertEqual(int(h["content-length"]), len(out))
        plain = gzip.decompress(out)
        s, h, out2 = once(self.port, body(1))
        self.assertNotIn("content-encoding", h)
        self.assertEqual(plain, out2)


class TestMockGenerated(unittest.TestCase):

    def test_messages_source_matches_generator(self):
        proc, port = start_mock("--messages", 260, "--seed", 5, "--contacts", 9)
        try:
            want = gen_history.pages(gen_history.messages(260, seed=5, contacts=9))
            c = Client(port)
            for n, p in enumerate(want, 1):
                self.assertEqual(c.post(body(n))[2], gen_history.php_json(p).encode())
            self.assertEqual(c.post(body(len(want) + 1))[2], b"[]")
            c.close()
        finally:
            stop_mock(proc)

    def test_cli_knobs_key_account_port_file_and_signals(self):
        key = "s3cret-KEY-never-printed"
        tmp = tempfile.mkdtemp()
        try:
            port_file = os.path.join(tmp, "port")
            proc, port = start_mock(
                "--messages", 120, "--account", "972541112223", "--api-key", key,
                "--port-file", port_file, "--latency-ms", 5, "--fail-5xx", "1",
                "--fail-429", "2", "--retry-after", "3", "--reset", "9",
                "--truncate", "9", "--invalid-json", "9", "--fail-object", "9",
                "--fail-reason", "5", "--grow-every", "100", "--grow-by", "2",
                "--empty-body-at-end", "--gzip", "--log-max", "10")
            with open(port_file) as f:
                self.assertEqual(f.read(), "%d\n" % port)
            knobs = get_log(port)["knobs"]
            self.assertEqual(knobs["fail_5xx"], "1")
            self.assertEqual(knobs["retry_after"], "3")
            self.assertEqual(knobs["fail_reason"], 5)
            self.assertTrue(knobs["gzip"] and knobs["empty_body_at_end"])
            self.assertEqual(once(port, body(1, key=key, frm="972541112223"))[0], 503)
            self.assertEqual(once(port, body(1, key=key, frm="972541112223"))[0], 200)
            self.assertEqual(json.loads(once(port, body(1, key=key))[2])["reason"], 2)
            self.assertEqual(json.loads(once(port, body(1, frm="972541112223"))[2])["reason"], 3)
            for _ in range(15):
                once(port, body(50, key=key, frm="972541112223"))
            log = logged_log(port, 19)
            self.assertEqual((len(log["requests"]), log["total"]), (10, 19))
            t0 = time.monotonic()
            rc, out, err = stop_mock(proc)
            self.assertLess(time.monotonic() - t0, 3)
            self.assertEqual(rc, 0)
            self.assertEqual(out, b"")      # stdout: nothing after the PORT line
            self.assertNotIn(key.encode(), out + err)
        finally:
            shutil.rmtree(tmp)

    def test_sigint_stops(self):
        proc, port = start_mock("--messages", 10)
        self.assertEqual(len(json.loads(once(port, body(1))[2])), 10)
        proc.send_signal(signal.SIGINT)
        rc, _, _ = stop_mock(proc)
        self.assertEqual(rc, 0)

    def test_concurrency_16_clients_50ms(self):
        proc, port = start_mock("--samples", SAMPLES, "--latency-ms", 50)
        try:
            # Best of two rounds, so a busy CI machine does not make it flaky.
            for attempt in range(2):
                once(port, "", "/__reset")
                rate, errors = self.hammer(port, 16, 1.5)
                log = get_log(port)
                if rate >= 150:
                    break
            self.assertEqual(errors, [])
            self.assertGreaterEqual(rate, 150, "requests/s")
            self.assertGreaterEqual(log["max_in_flight"], 12)
            self.assertEqual(len({e["client_port"] for e in log["requests"]}), 16)
        finally:
            stop_mock(proc)

    @staticmethod
    def hammer(port, clients, seconds):
        done = [0] * clients
        errors = []
        stop_at = time.monotonic() + seconds

        def worker(i):
            c = Client(port)
            n = i
            try:
                while time.monotonic() < stop_at:
                    s, _, _ = c.post(body(n % 8 + 1))
                    if s != 200:
                        errors.append(s)
                    done[i] += 1
                    n += 1
            finally:
                c.close()

        t0 = time.monotonic()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(done) / (time.monotonic() - t0), errors


@unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
class TestMockTLS(unittest.TestCase):

    def test_https_with_private_ca(self):
        tmp = tempfile.mkdtemp()
        try:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cert, "-days", "2",
                            "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            proc, port = start_mock("--samples", SAMPLES, "--tls-cert", cert, "--tls-key", key)
            try:
                ctx = ssl.create_default_context(cafile=cert)
                c = Client(port, ctx)
                s, _, out = c.post(body(7))
                self.assertEqual((s, len(json.loads(out))), (200, 20))
                c.close()
                with self.assertRaises(ssl.SSLError):
                    Client(port, ssl.create_default_context()).post(body(1))
                if shutil.which("curl"):
                    r = subprocess.run(["curl", "-sS", "--cacert", cert, "-X", "POST",
                                        "--data", body(1),
                                        "https://127.0.0.1:%d%s" % (port, PATH)],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       env=dict(os.environ, NO_PROXY="127.0.0.1,localhost"))
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(len(json.loads(r.stdout)), 50)
                    r = subprocess.run(["curl", "-sS", "-X", "POST", "--data", body(1),
                                        "https://127.0.0.1:%d%s" % (port, PATH)],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    self.assertEqual(r.returncode, 60)     # unknown CA
            finally:
                stop_mock(proc)
        finally:
            shutil.rmtree(tmp)


@unittest.skipUnless(shutil.which("curl"), "curl not installed")
class TestMockWithCurl(MockCase):

    def test_curl_keepalive_and_compressed(self):
        control(self.port, gzip=True)
        url = "http://127.0.0.1:%d%s" % (self.port, PATH)
        args = ["curl", "-sS"]
        for n in (1, 2):
            args += ["--compressed", "-o", os.devnull, "-X", "POST",
                     "-H", "Content-Type: application/json", "--data", body(n), url]
            if n == 1:
                args.append("--next")
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, NO_PROXY="127.0.0.1,localhost"))
        self.assertEqual(r.returncode, 0, r.stderr)
        log = get_log(self.port)["requests"]
        self.assertEqual([e["page"] for e in log], [1, 2])
        self.assertTrue(all(e["gzip"] for e in log))
        self.assertEqual(len({e["client_port"] for e in log}), 1)


if __name__ == "__main__":
    unittest.main()
