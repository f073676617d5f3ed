#!/usr/bin/python3
"""Local mock of the 99digital WhatsApp getHistory endpoint (SPEC section 1).

    /usr/bin/python3 scripts/mock_api.py [--port 0] [--port-file PATH]
        (--samples DIR|FILE | --messages N [--seed S] [--contacts K] | --raw-pages FILE)
        [--account NUM] [--api-key KEY]
        [--latency-ms N] [--fail-5xx SPEC] [--fail-5xx-status 503]
        [--fail-429 SPEC] [--retry-after VALUE] [--reset SPEC]
        [--truncate SPEC] [--cut SPEC] [--invalid-json SPEC] [--empty SPEC]
        [--fail-object SPEC] [--fail-reason N]
        [--grow-every N --grow-by K] [--ignore-page] [--empty-body-at-end]
        [--gzip] [--tls-cert FILE --tls-key FILE] [--log-max N] [--verbose]

On start it prints exactly one line, "PORT <n>", to stdout (and writes "<n>\\n"
to --port-file).  It binds 127.0.0.1 only and stops cleanly on SIGTERM/SIGINT.

API: POST any path ending in "getHistory" with {"apiKey","from","to","page"}.
Pages are 1-based, 50 messages each, newest first; past the end "[]".  With
"to" only the chat with that counterpart is paged (the "to" of an outgoing
message, the "from" of an incoming one).  Refusals are HTTP 200 objects:
malformed JSON or unknown "from" -> {"status":"FAIL","reason":2}, wrong key ->
reason 3, "to" in a wrong format -> reason 4, "page" missing or < 1 -> reason 2.

Growth: with --grow-every N --grow-by K, requests N+1, 2N+1, ... (counted
from the start, the last /__reset or the last change of those knobs) each
first add K new messages at the newest end, so later pages shift by K.
Knob grow_times (control only): T > 0 stops the growth after T such
additions (counted from the same moment); 0, the default: no end.

Fault SPEC: a comma list of PAGE or PAGE:COUNT ("fail this page's first COUNT
requests", COUNT defaults to 1), *:COUNT for every page, or "all".  Each
fault knob keeps its own count per page, and knobs are tried in this order,
so their counts add up: reset, truncate, cut, fail-5xx, fail-429,
invalid-json, empty, fail-object.  reset closes the connection with a TCP RST and no answer;
truncate announces the whole body in Content-Length but sends half of it and
closes; cut announces no length (the body ends where the connection closes, as
HTTP/1.0 does) and closes after half of it; invalid-json answers HTTP 200 with half of the real body (or an HTML
page when the real body is "[]" or empty); empty answers HTTP 200 with an
empty array, "[]" (a proxy or cache that answers before the application).  Faults act before the checks
above (a proxy fails before the application), except on a body that is not
JSON.  --latency-ms delays every getHistory answer, faults included;
--ignore-page answers page 1 whatever page is asked (faults still count by
the page asked); --empty-body-at-end answers past the end with HTTP 200 and
Content-Length 0; --gzip compresses when Accept-Encoding names gzip.

Raw mode: with --raw-pages FILE (one JSON page per line, as written by
tests/e2e/test_convert_random.py's pages_raw or by --save-raw), page N is line N's
bytes verbatim (its "\n" dropped), past the last line "[]": hostile text the
generator would re-encode is served as is.  The checks, faults, latency, --gzip,
--ignore-page, --empty-body-at-end and the control endpoints work as above; a
page's "messages" in the log counts its elements when Python can read it, else 0.
There is no chat index: a request with a non-empty "to" is answered HTTP 400
(kind no-to), and growth (--grow-every, grow_every) and /__restate are refused
(exit 64 at start, HTTP 400 from the control endpoints).

Knob fail_from (control only): N > 0 answers every request for page N or
later with the --fail-5xx-status error, however often it is retried (a first
export that dies at page N); 0 turns it off.  Knob cycle_pages (control
only): K > 0 answers page (N - 1) % K + 1 for page N, a server that goes
round its first K pages whatever 'page' says.

Control (no latency, no faults):
    GET  /__log      {"requests": [...], "total", "max_in_flight", "in_flight",
                      "messages", "grown", "knobs"}; ?since=SEQ for newer only
    POST /__control  a JSON object of knob names (--fail-5xx -> "fail_5xx" or
                     "fail-5xx"); null/""/false turns a knob off.  Setting a
                     fault knob restarts its counts; setting grow_every/grow_by
                     restarts the growth count.  Answers the knobs.
    POST /__restate  {"newest": K, "state": S}: the K newest messages now have
                     delivery state S (a message read since the last night);
                     answers {"changed": [uniques]}.  /__reset undoes it.
    POST /__reset    clears the log and every counter and drops messages the
                     growth knob added; body {"knobs": true} also restores the
                     command-line knobs.
Every log entry: seq, t, page, served_page, to, kind, status, bytes,
messages, gzip, client_port, in_flight, max_in_flight; kind is one of page,
end, fail-2, fail-3, fail-4, no-to, reset, truncate, cut, 5xx, 429, invalid-json,
empty, fail-object.  The apiKey is never logged or printed.
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_history  # noqa: E402

PAGE_SIZE = 50
TO_RE = re.compile(r'(?:[0-9]{8,15}|[A-Z]{2}\.[0-9]+)?')
UNIQUE_RE = re.compile(rb'"unique":"((?:[^"\\]|\\.)*)"')
FAULT_ORDER = ("reset", "truncate", "cut", "fail_5xx", "fail_429", "invalid_json",
               "empty", "fail_object")
KNOB_DEFAULTS = {
    "latency_ms": 0.0, "fail_5xx": None, "fail_5xx_status": 503,
    "fail_429": None, "retry_after": None, "reset": None, "truncate": None, "cut": None,
    "invalid_json": None, "empty": None, "fail_object": None, "fail_reason": 2,
    "grow_every": 0, "grow_by": 1, "ignore_page": False,
    "empty_body_at_end": False, "gzip": False, "fail_from": 0, "cycle_pages": 0,
    "grow_times": 0,
}
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


class FaultSpec:
    """Which requests of which page a fault knob hits (see the module doc)."""

    def __init__(self, text):
        self.text = "" if text in (None, False) else str(text).strip()
        self.always = False
        self.every = 0                  # *:COUNT
        self.pages = {}
        if not self.text:
            return
        for item in self.text.split(","):
            item = item.strip()
            if not item:
                continue
            if item.lower() == "all":
                self.always = True
                continue
            page, _, count = item.partition(":")
            n = int(count) if count else 1
            if n < 0:
                raise ValueError("negative count in %r" % item)
            if page.strip() == "*":
                self.every = max(self.every, n)
            else:
                p = int(page)
                if p < 1:
                    raise ValueError("page must be >= 1 in %r" % item)
                self.pages[p] = max(self.pages.get(p, 0), n)

    def __bool__(self):
        return self.always or self.every > 0 or bool(self.pages)

    def limit(self, page):
        if self.always:
            return float("inf")
        return max(self.every, self.pages.get(page, 0))


def _as_int(v, name):
    if isinstance(v, bool) or v is None:
        return 0 if v in (None, False) else 1
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ValueError("%s: not an integer: %r" % (name, v))


def normalize_knobs(raw):
    """Check and convert a {knob: value} dict; raises ValueError."""
    out = {}
    for key, v in raw.items():
        k = str(key).replace("-", "_")
        if k not in KNOB_DEFAULTS:
            raise ValueError("unknown knob %r" % key)
        if k in FAULT_ORDER:
            if isinstance(v, bool):
                v = "all" if v else None
            out[k] = FaultSpec(v)
        elif k == "latency_ms":
            out[k] = max(0.0, float(v or 0))
        elif k in ("ignore_page", "empty_body_at_end", "gzip"):
            out[k] = bool(v)
        elif k == "retry_after":
            out[k] = None if v in (None, "", False) else str(v)
        elif k == "fail_reason":
            out[k] = v if isinstance(v, int) and not isinstance(v, bool) else (
                int(v) if re.fullmatch(r"-?[0-9]+", str(v)) else str(v))
        else:
            n = _as_int(v, k)
            if n < 0:
                raise ValueError("%s must be >= 0" % k)
            out[k] = n
    return out


def knobs_json(knobs):
    return {k: (v.text or None) if isinstance(v, FaultSpec) else v
            for k, v in knobs.items()}


def counterpart(msg):
    """The chat of a message: `from` of an incoming one, else `to` (SPEC 4.5)."""
    key = "from" if str(msg.get("direction")) == "1" else "to"
    v = msg.get(key)
    return "" if v is None else str(v)


def load_history(path):
    """Yield messages, newest first, from a samples dir, a pages dir or a file."""
    if os.path.isdir(path):
        sub = os.path.join(path, "pages")
        files = sorted(glob.glob(os.path.join(sub if os.path.isdir(sub) else path,
                                              "*.json")))
        if not files:
            raise SystemExit("mock_api: no *.json pages in %s" % path)
    else:
        files = [path]
    for name in files:
        # One JSON array per file, or one per line (gen_history.py output);
        # read line by line so a big file is never held twice.
        with open(name, "r", encoding="utf-8") as f:
            buf = []
            for line in f:
                if not buf and not line.strip():
                    continue
                buf.append(line)
                if not line.rstrip().endswith("]"):
                    continue
                try:
                    page = json.loads("".join(buf))
                except ValueError:
                    continue            # an array spread over several lines
                buf = []
                if not isinstance(page, list):
                    raise ValueError("%s: not a JSON array" % name)
                for m in page:
                    if isinstance(m, dict):
                        yield m
            if buf:
                page = json.loads("".join(buf))     # raises: not valid JSON
                raise ValueError("%s: not a JSON array" % name)


class History:
    """The served history: encoded messages, oldest first, plus a chat index."""

    def __init__(self, msgs_newest_first, gen):
        """msgs_newest_first: any iterable of dicts (consumed once)."""
        self.items = []                 # php_json bytes, oldest first
        self.chats = []                 # counterpart per item
        self.uniques = None             # built on first growth
        self.gen = gen
        self.newest_ts = None
        enc = gen_history.php_json
        for m in msgs_newest_first:     # appended newest first, reversed below
            if self.newest_ts is None:
                try:
                    self.newest_ts = int(m.get("timestamp"))
                except (TypeError, ValueError):
                    self.newest_ts = gen.end_epoch
            self.items.append(enc(m).encode("ascii"))
            self.chats.append(counterpart(m))
        self.items.reverse()
        self.chats.reverse()
        if self.newest_ts is None:
            self.newest_ts = gen.end_epoch
        self.initial = (len(self.items), self.newest_ts)
        self.by_chat = None
        self.cache = {}
        self.grow_idx = 0

    def messages(self):
        return len(self.items)

    def restore(self):
        n, self.newest_ts = self.initial
        del self.items[n:]
        del self.chats[n:]
        for i, item in getattr(self, "restated", {}).items():
            if i < n:
                self.items[i] = item
        self.restated = {}
        self.by_chat = None
        self.cache.clear()

    def grow(self, k):
        if self.uniques is None:
            self.uniques = set()
            for item in self.items:
                found = UNIQUE_RE.search(item)
                if found:
                    self.uniques.add(found.group(1).decode("ascii"))
        for _ in range(k):
            self.newest_ts += self.gen.rng.randrange(1, 30)
            while True:
                self.grow_idx += 1
                msg = self.gen.make(4000000000 + self.grow_idx, self.newest_ts)
                if msg["unique"] not in self.uniques:
                    break
            self.uniques.add(msg["unique"])
            self.items.append(gen_history.php_json(msg).encode("ascii"))
            chat = counterpart(msg)
            self.chats.append(chat)
            if self.by_chat is not None:
                self.by_chat.setdefault(chat, []).append(len(self.items) - 1)
        self.cache.clear()

    def restate(self, k, state):
        """The k newest messages get delivery state `state`; their uniques."""
        if not hasattr(self, "restated"):
            self.restated = {}
        changed = []
        for i in range(len(self.items) - 1, max(-1, len(self.items) - 1 - k), -1):
            msg = json.loads(self.items[i])
            self.restated.setdefault(i, self.items[i])
            msg["state"] = state
            self.items[i] = gen_history.php_json(msg).encode("ascii")
            changed.append(msg.get("unique"))
        self.cache.clear()
        return changed

    def page(self, to, page_no):
        """(body bytes or None past the end, message count)."""
        key = (to, page_no)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        if to:
            if self.by_chat is None:
                self.by_chat = {}
                for i, c in enumerate(self.chats):
                    self.by_chat.setdefault(c, []).append(i)
            idx = self.by_chat.get(to, ())
            n = len(idx)
        else:
            n = len(self.items)
        hi = n - (page_no - 1) * PAGE_SIZE
        if hi <= 0:
            return None, 0
        lo = max(0, hi - PAGE_SIZE)
        if to:
            sel = [self.items[idx[i]] for i in range(hi - 1, lo - 1, -1)]
        else:
            sel = self.items[lo:hi]
            sel.reverse()
        res = (b"[" + b",".join(sel) + b"]", len(sel))
        if len(self.cache) >= 4096:
            self.cache.clear()
        self.cache[key] = res
        return res


class RawPages:
    """--raw-pages: page N is line N of the file, verbatim; past the last line "[]"."""

    raw = True

    def __init__(self, path):
        with open(path, "rb") as f:
            self.lines = f.read().split(b"\n")
        if self.lines and not self.lines[-1]:
            self.lines.pop()            # the file's last newline ends a line
        self.counts = []
        for line in self.lines:
            try:
                page = json.loads(line.decode("utf-8", "surrogateescape"))
            except ValueError:
                page = None
            self.counts.append(len(page) if isinstance(page, list) else 0)

    def messages(self):
        return sum(self.counts)

    def restore(self):
        pass

    def page(self, to, page_no):
        if page_no > len(self.lines):
            return None, 0
        return self.lines[page_no - 1], self.counts[page_no - 1]


class State:
    def __init__(self, args, history):
        self.lock = threading.Lock()
        self.account = args.account
        self.api_key = args.api_key
        self.history = history
        self.raw = getattr(history, "raw", False)
        self.verbose = args.verbose
        self.startup_knobs = dict(KNOB_DEFAULTS)
        self.startup_knobs.update(normalize_knobs({
            "latency_ms": args.latency_ms, "fail_5xx": args.fail_5xx,
            "fail_5xx_status": args.fail_5xx_status,
            "fail_429": args.fail_429, "retry_after": args.retry_after,
            "reset": args.reset, "truncate": args.truncate, "cut": args.cut,
            "invalid_json": args.invalid_json, "empty": args.empty,
            "fail_object": args.fail_object,
            "fail_reason": args.fail_reason, "grow_every": args.grow_every,
            "grow_by": args.grow_by, "ignore_page": args.ignore_page,
            "empty_body_at_end": args.empty_body_at_end, "gzip": args.gzip}))
        for k in FAULT_ORDER:
            if not isinstance(self.startup_knobs[k], FaultSpec):
                self.startup_knobs[k] = FaultSpec(None)
        self.knobs = dict(self.startup_knobs)
        self.log = collections.deque(maxlen=max(1, args.log_max))
        self.reset_counters()

    def reset_counters(self):
        self.seq = 0
        self.requests = 0
        self.grow_count = 0             # requests since growth was (re)configured
        self.grown = 0
        self.grow_events = 0            # additions since growth was (re)configured
        self.fired = {k: {} for k in FAULT_ORDER}
        self.in_flight = getattr(self, "in_flight", 0)
        self.max_in_flight = self.in_flight
        self.log.clear()

    def enter(self):
        with self.lock:
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight
            return self.in_flight, self.max_in_flight

    def leave(self):
        with self.lock:
            self.in_flight -= 1

    def fault_for(self, page):
        """Under the lock: the fault knob that hits this request, or None."""
        for k in FAULT_ORDER:
            spec = self.knobs[k]
            if not spec:
                continue
            lim = spec.limit(page)
            done = self.fired[k].get(page, 0)
            if done < lim:
                self.fired[k][page] = done + 1
                return k
        return None


def fail_body(reason):
    return gen_history.php_json({"status": "FAIL", "reason": reason}).encode("ascii")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "waexport-mock/1"
    sys_version = ""
    timeout = 300

    # -- plumbing -------------------------------------------------------------

    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(30)
            self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *args):
        if self.server.state.verbose:
            sys.stderr.write("mock_api: %s\n" % (fmt % args))

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send_raw(self, status, body, headers=(), declared=None, sent=None):
        """Write status, headers and body in one send (no Nagle stalls)."""
        lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status")),
                 "Server: " + self.server_version,
                 "Date: " + self.date_time_string()]
        if declared != -1:                      # -1: no length, the close ends the body
            lines.append("Content-Length: %d" % (len(body) if declared is None else declared))
        lines.extend("%s: %s" % h for h in headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (body if sent is None else sent))
        if self.server.state.verbose:
            self.log_request(status, len(body))

    def send_json(self, status, obj):
        self.send_raw(status, json.dumps(obj).encode("utf-8"),
                      [("Content-Type", "application/json")])

    def abort_connection(self):
        """Close with a TCP RST: SO_LINGER 0, then close the last reference."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    # -- routing ------------------------------------------------------------------

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/__log":
            since = parse_qs(url.query).get("since", ["0"])[0]
            st = self.server.state
            with st.lock:
                reqs = [e for e in st.log if e["seq"] > int(since or 0)]
                out = {"requests": reqs, "total": st.seq,
                       "max_in_flight": st.max_in_flight,
                       "in_flight": st.in_flight,
                       "messages": st.history.messages(), "grown": st.grown,
                       "knobs": knobs_json(st.knobs)}
            return self.send_json(200, out)
        if url.path.endswith("getHistory"):
            return self.send_raw(405, b"", [("Allow", "POST")])
        return self.send_json(404, {"error": "not found"})

    def do_POST(self):
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return self.send_json(400, {"error": "bad request body"})
        path = urlsplit(self.path).path
        if path.endswith("getHistory"):
            return self.get_history(body)
        if path == "/__control":
            return self.control(body)
        if path == "/__reset":
            return self.reset(body)
        if path == "/__restate":
            return self.restate(body)
        return self.send_json(404, {"error": "not found"})

    def restate(self, body):
        st = self.server.state
        try:
            opts = json.loads(body or b"{}")
            k, state = int(opts["newest"]), opts["state"]
        except (ValueError, TypeError, KeyError) as e:
            return self.send_json(400, {"error": "expected {\"newest\": K, \"state\": S}: %s" % e})
        if st.raw:
            return self.send_json(400, {"error": "no /__restate with --raw-pages"})
        with st.lock:
            changed = st.history.restate(k, state)
        return self.send_json(200, {"changed": changed})

    def control(self, body):
        st = self.server.state
        try:
            raw = json.loads(body or b"{}")
            if not isinstance(raw, dict):
                raise ValueError("expected a JSON object")
            new = normalize_knobs(raw)
            if st.raw and new.get("grow_every"):
                raise ValueError("no growth with --raw-pages")
        except (ValueError, TypeError) as e:
            return self.send_json(400, {"error": str(e)})
        with st.lock:
            for k, v in new.items():
                st.knobs[k] = v
                if k in FAULT_ORDER:
                    st.fired[k] = {}
                elif k in ("grow_every", "grow_by", "grow_times"):
                    st.grow_count = st.grow_events = 0
            out = knobs_json(st.knobs)
        return self.send_json(200, out)

    def reset(self, body):
        st = self.server.state
        try:
            opts = json.loads(body) if body.strip() else {}
        except ValueError:
            opts = {}
        with st.lock:
            st.reset_counters()
            st.history.restore()
            if isinstance(opts, dict) and opts.get("knobs"):
                st.knobs = dict(st.startup_knobs)
            out = knobs_json(st.knobs)
        return self.send_json(200, out)

    # -- the API ------------------------------------------------------------------

    def get_history(self, body):
        st = self.server.state
        in_flight, max_in_flight = st.enter()
        try:
            self._get_history(st, body, in_flight, max_in_flight)
        finally:
            st.leave()

    def _get_history(self, st, body, in_flight, max_in_flight):
        with st.lock:
            latency = st.knobs["latency_ms"]
        if latency:
            time.sleep(latency / 1000.0)

        req = None
        try:
            req = json.loads(body)
        except ValueError:
            pass
        page = to = None
        if isinstance(req, dict):
            page = req.get("page")
            if isinstance(page, str) and re.fullmatch(r"[0-9]+", page.strip()):
                page = int(page)
            if isinstance(page, bool) or not isinstance(page, int):
                page = None
            to = req.get("to")
            to = "" if to is None else str(to)

        with st.lock:
            kn = st.knobs
            st.requests += 1
            st.grow_count += 1
            if (kn["grow_every"] and kn["grow_by"] and st.grow_count > 1
                    and (st.grow_count - 1) % kn["grow_every"] == 0
                    and not (kn["grow_times"] and st.grow_events >= kn["grow_times"])):
                st.history.grow(kn["grow_by"])
                st.grown += kn["grow_by"]
                st.grow_events += 1
            served = 1 if (kn["ignore_page"] and page is not None) else page
            if kn["cycle_pages"] and page is not None:  # page K+1 is page 1 again, and so on
                served = (page - 1) % kn["cycle_pages"] + 1
            fault = None
            if not isinstance(req, dict):
                kind, status, out, count = "fail-2", 200, fail_body(2), 0
            else:
                fault = st.fault_for(page) if page is not None else None
                if kn["fail_from"] and page is not None and page >= kn["fail_from"]:
                    fault = "fail_5xx"      # a run that dies at page N, every try
                if req.get("apiKey") != st.api_key:
                    kind, status, out, count = "fail-3", 200, fail_body(3), 0
                elif str(req.get("from")) != st.account:
                    kind, status, out, count = "fail-2", 200, fail_body(2), 0
                elif not TO_RE.fullmatch(to):
                    kind, status, out, count = "fail-4", 200, fail_body(4), 0
                elif page is None or page < 1:
                    kind, status, out, count = "fail-2", 200, fail_body(2), 0
                elif to and st.raw:
                    kind, status, count = "no-to", 400, 0
                    out = b'{"error":"no \\"to\\" filtering with --raw-pages"}'
                else:
                    out, count = st.history.page(to, served)
                    if out is None:
                        kind, status = "end", 200
                        out = b"" if kn["empty_body_at_end"] else b"[]"
                    else:
                        kind, status = "page", 200
            retry_after = kn["retry_after"]
            status_5xx = kn["fail_5xx_status"]
            fail_reason = kn["fail_reason"]
            use_gzip = kn["gzip"]

        headers = [("Content-Type", "application/json; charset=utf-8")]
        declared = sent = None
        if fault == "reset":
            self.abort_connection()
            return self.record(st, page, served, to, "reset", 0, 0, 0, False,
                               in_flight, max_in_flight)
        if fault == "truncate":
            declared = len(out) if len(out) >= 2 else len(out) + 100
            sent = out[:len(out) // 2]
            self.close_connection = True
            kind = "truncate"
        elif fault == "cut":
            declared, sent = -1, out[:len(out) // 2]
            self.close_connection = True
            kind = "cut"
        elif fault == "fail_5xx":
            kind, status, count = "5xx", status_5xx, 0
            out = b"<html><body><h1>%d</h1>mock upstream failure</body></html>" % status
            headers = [("Content-Type", "text/html")]
        elif fault == "fail_429":
            kind, status, count = "429", 429, 0
            out = b'{"error":"too many requests"}'
            if retry_after is not None:
                headers.append(("Retry-After", retry_after))
        elif fault == "invalid_json":
            kind, count = "invalid-json", 0
            status = 200
            out = out[:len(out) // 2] if len(out) > 2 else \
                b"<html><body>502 Bad Gateway</body></html>"
        elif fault == "empty":
            kind, status, count, out = "empty", 200, 0, b"[]"
        elif fault == "fail_object":
            kind, status, count = "fail-object", 200, 0
            out = fail_body(fail_reason)

        gz = False
        if (use_gzip and out and "gzip" in
                (self.headers.get("Accept-Encoding") or "").lower()):
            out = gzip.compress(out, 6, mtime=0)
            if sent is not None:
                declared = -1 if declared == -1 else len(out)
                sent = out[:len(out) // 2]
            headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
            gz = True
        try:
            self.send_raw(status, out, headers, declared, sent)
        finally:
            nbytes = len(out) if sent is None else len(sent)
            self.record(st, page, served, to, kind, status, nbytes, count, gz,
                        in_flight, max_in_flight)

    def record(self, st, page, served, to, kind, status, nbytes, count, gz,
               in_flight, max_in_flight):
        with st.lock:
            st.seq += 1
            entry = {"seq": st.seq, "t": round(time.time(), 6), "page": page,
                     "served_page": served, "to": to or "", "kind": kind,
                     "status": status, "bytes": nbytes, "messages": count,
                     "gzip": gz, "client_port": self.client_address[1],
                     "in_flight": in_flight, "max_in_flight": max_in_flight}
            st.log.append(entry)
        if st.verbose:
            sys.stderr.write("mock_api: page=%s to=%s kind=%s status=%s bytes=%d "
                             "in_flight=%d\n" % (page, to or "-", kind, status,
                                                 nbytes, in_flight))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if self.state.verbose or not isinstance(exc, (OSError, ssl.SSLError)):
            super().handle_error(request, client_address)


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Local mock of the 99digital getHistory API "
                    "(see the module docstring for the protocol).")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--samples", metavar="DIR|FILE",
                     help="serve samples/pages/*.json (DIR or DIR/pages), or a "
                          "file of JSON arrays (one per line)")
    src.add_argument("--messages", type=int, metavar="N",
                     help="serve N generated messages")
    src.add_argument("--raw-pages", metavar="FILE",
                     help="serve line N of FILE verbatim as page N (see the module doc)")
    ap.add_argument("--seed", type=int, default=1, metavar="S")
    ap.add_argument("--contacts", type=int, default=40, metavar="K")
    ap.add_argument("--account", default=gen_history.DEFAULT_ACCOUNT, metavar="NUM")
    ap.add_argument("--api-key", default="test-key-0123456789", metavar="KEY")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", metavar="PATH")
    ap.add_argument("--latency-ms", type=float, default=0.0, metavar="N")
    for k in ("fail-5xx", "fail-429", "reset", "truncate", "cut", "invalid-json", "empty",
              "fail-object"):
        ap.add_argument("--" + k, metavar="SPEC", type=_spec_arg)
    ap.add_argument("--fail-5xx-status", type=int, default=503, metavar="CODE")
    ap.add_argument("--retry-after", metavar="VALUE",
                    help="Retry-After header of 429 answers (seconds or HTTP date)")
    ap.add_argument("--fail-reason", default="2", metavar="N")
    ap.add_argument("--grow-every", type=int, default=0, metavar="N")
    ap.add_argument("--grow-by", type=int, default=1, metavar="K")
    ap.add_argument("--ignore-page", action="store_true")
    ap.add_argument("--empty-body-at-end", action="store_true")
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--tls-cert", metavar="FILE")
    ap.add_argument("--tls-key", metavar="FILE")
    ap.add_argument("--log-max", type=int, default=100000, metavar="N")
    ap.add_argument("--verbose", action="store_true",
                    help="one line per request on stderr (never the key)")
    a = ap.parse_args(argv)
    if bool(a.tls_cert) != bool(a.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    if a.messages is not None and a.messages < 0:
        ap.error("--messages must be >= 0")
    return a


def _spec_arg(text):
    try:
        FaultSpec(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError("bad SPEC %r: %s" % (text, e))
    return text


def main(argv=None):
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    args = parse_args(argv)
    gen = gen_history.History(args.seed, args.account, args.contacts)
    if args.raw_pages:
        if args.grow_every:
            sys.stderr.write("mock_api: --grow-every cannot go with --raw-pages\n")
            return 64
        try:
            history = RawPages(args.raw_pages)
        except OSError as e:
            sys.stderr.write("mock_api: cannot load --raw-pages %s: %s\n" % (args.raw_pages, e))
            return 2
    elif args.samples:
        try:
            history = History(load_history(args.samples), gen)
        except (OSError, ValueError) as e:
            sys.stderr.write("mock_api: cannot load --samples %s: %s\n" % (args.samples, e))
            return 2
        # Growth adds messages to the chats the samples already have.
        seen = {args.account, ""}
        chats = []
        for c in reversed(history.chats):
            if c not in seen:
                seen.add(c)
                chats.append(c)
        gen.use_contacts(chats)
    else:
        history = History(gen.iter_messages(args.messages), gen)

    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args, history)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        ctx.set_alpn_protocols(["http/1.1"])
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    port = server.server_address[1]

    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()
    sys.stderr.write("mock_api: %d messages for %s on %s://127.0.0.1:%d\n"
                     % (history.messages(), args.account,
                        "https" if args.tls_cert else "http", port))
    sys.stderr.flush()
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
