"""`waexport fetch` transport security and key handling (SPEC §2, §3, §5.6):
loopback-only plain http, no --api-key option, the key never in any output,
TLS verification with --cacert, --api-key-file."""
import gzip
import os
import socket
import threading

import pytest

from fetch_helpers import (ACCOUNT, KEY, SAMPLES, Mock, convert_samples, fetch_env,
                           free_port, make_cert, mock_factory, stderr_lines)  # noqa: F401

FETCH = ["fetch", "--from", ACCOUNT]
SECRET = "Zq9-SECRET-k3y-7f3a9c1e"           # a key that is easy to search for


def assert_no_key(key, *blobs):
    needle = key.encode()
    for i, b in enumerate(blobs):
        if b[:2] == b"\x1f\x8b":
            b = gzip.decompress(b)
        assert needle not in b, "the API key appears in output #%d" % i


def files_in(d):
    out = []
    for root, _, names in os.walk(d):
        out.extend(os.path.join(root, n) for n in names)
    return out


# ------------------------------------------------------------------ plain http

@pytest.mark.parametrize("url", [
    "http://example.invalid/whatsapp/v2/getHistory",
    "HTTP://example.invalid/x",
    "http://127.0.0.1.example.invalid/x",
    "http://localhost.example.invalid/x",
    "http://127.0.0.1@example.invalid/x",
    "http://api.99digital.co.il/whatsapp/v2/getHistory",
])
def test_plain_http_to_remote_host_refused(waexport, tmp_path, url):
    r = waexport(FETCH + ["--url", url, "--retries", "0", "-o", tmp_path / "o.csv"],
                 env=fetch_env(), timeout=20)
    assert r.returncode == 64, r.stderr
    assert len(stderr_lines(r)) == 1, r.stderr
    assert b"http" in r.stderr
    assert os.listdir(tmp_path) == []


def _non_loopback_ip():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))          # no packet is sent for UDP connect
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


def test_plain_http_refused_without_connecting(waexport, tmp_path):
    """A listener on this machine's own non-loopback address sees no connection."""
    ip = _non_loopback_ip()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address to listen on")
    srv = socket.socket()
    srv.bind((ip, 0))
    srv.listen(8)
    srv.settimeout(0.5)
    port = srv.getsockname()[1]
    accepted = []

    def accept():
        try:
            conn, _ = srv.accept()
            accepted.append(conn)
        except OSError:
            pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        r = waexport(FETCH + ["--url", "http://%s:%d/whatsapp/v2/getHistory" % (ip, port),
                              "--retries", "0", "--timeout", "5", "-o", tmp_path / "o.csv"],
                     env=fetch_env(NO_PROXY="*", no_proxy="*"), timeout=30)
        t.join(2)
    finally:
        srv.close()
        for c in accepted:
            c.close()
    assert r.returncode == 64, r.stderr
    assert accepted == [], "waexport connected to a non-loopback host over plain http"


def test_plain_http_to_localhost_allowed(waexport, mock_factory, tmp_path):
    m = mock_factory("--samples", SAMPLES)
    url = "http://localhost:%d/whatsapp/v2/getHistory" % m.port
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", url, "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == convert_samples()


def test_plain_http_to_ipv6_loopback_allowed(waexport, tmp_path):
    """[::1] is loopback: not a usage error (nothing listens there: exit 69)."""
    url = "http://[::1]:%d/whatsapp/v2/getHistory" % free_port()
    r = waexport(FETCH + ["--url", url, "--retries", "0", "-o", tmp_path / "o.csv"],
                 env=fetch_env(NO_PROXY="*", no_proxy="*"))
    assert r.returncode == 69, r.stderr


# ------------------------------------------------------------------ no key on the command line

@pytest.mark.parametrize("args", [["--api-key", SECRET], ["--api-key=" + SECRET]],
                         ids=["separate", "equals"])
def test_no_api_key_option(waexport, tmp_path, args):
    r = waexport(FETCH + ["--url", "http://127.0.0.1:9/x"] + args + ["-o", tmp_path / "o.csv"],
                 env=fetch_env(key=None))
    assert r.returncode == 64, r.stderr
    assert len(stderr_lines(r)) == 1, r.stderr
    assert_no_key(SECRET, r.stdout, r.stderr)
    assert os.listdir(tmp_path) == []


def test_missing_key_is_usage_error(waexport, tmp_path):
    r = waexport(FETCH + ["--url", "http://127.0.0.1:%d/x" % free_port(),
                          "-o", tmp_path / "o.csv"], env=fetch_env(key=None))
    assert r.returncode == 64, r.stderr
    line, = stderr_lines(r)
    assert "WAEXPORT_API_KEY" in line or "api-key-file" in line, line


def test_empty_key_is_usage_error(waexport, tmp_path):
    r = waexport(FETCH + ["--url", "http://127.0.0.1:%d/x" % free_port(),
                          "-o", tmp_path / "o.csv"], env=fetch_env(key=""))
    assert r.returncode == 64, r.stderr


# ------------------------------------------------------------------ the key never leaks

@pytest.fixture(scope="module")
def secret_server():
    m = Mock("--samples", SAMPLES, "--api-key", SECRET)
    yield m
    m.stop()


@pytest.fixture
def secret_mock(secret_server):
    secret_server.reset(knobs=True)
    return secret_server


@pytest.mark.parametrize("raw_name", ["raw.ndjson", "raw.ndjson.gz"])
def test_key_absent_from_success_outputs(waexport, secret_mock, tmp_path, raw_name):
    out = tmp_path / "o.ndjson"
    raw = tmp_path / raw_name
    r = waexport(FETCH + ["--url", secret_mock.url, "--progress", "--save-raw", raw,
                          "-o", out], env=fetch_env(key=SECRET))
    assert r.returncode == 0, r.stderr
    assert_no_key(SECRET, r.stdout, r.stderr, *[open(f, "rb").read() for f in files_in(tmp_path)])
    # stdout output too
    r = waexport(FETCH + ["--url", secret_mock.url], env=fetch_env(key=SECRET))
    assert r.returncode == 0, r.stderr
    assert r.stdout == convert_samples()
    assert_no_key(SECRET, r.stdout, r.stderr)


@pytest.mark.parametrize("knobs,code", [
    (dict(fail_5xx="all"), 69),
    (dict(fail_object="1", fail_reason=3), 77),
    (dict(fail_object="2", fail_reason=9), 77),
    (dict(invalid_json="2:100"), 65),
    (dict(truncate="all"), 69),
], ids=["5xx", "fail-3", "fail-9", "invalid-json", "truncate"])
def test_key_absent_from_failure_outputs(waexport, secret_mock, tmp_path, knobs, code):
    secret_mock.control(**knobs)
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", secret_mock.url, "--retries", "1", "--progress",
                          "--save-raw", tmp_path / "raw.ndjson", "-o", out],
                 env=fetch_env(key=SECRET))
    assert r.returncode == code, r.stderr
    assert_no_key(SECRET, r.stdout, r.stderr, *[open(f, "rb").read() for f in files_in(tmp_path)])


def test_wrong_key_not_echoed(waexport, secret_mock, tmp_path):
    wrong = "WRONG-" + SECRET[::-1]
    r = waexport(FETCH + ["--url", secret_mock.url, "-o", tmp_path / "o.csv"],
                 env=fetch_env(key=wrong))
    assert r.returncode == 77, r.stderr
    assert_no_key(wrong, r.stdout, r.stderr)
    assert_no_key(SECRET, r.stdout, r.stderr)


# ------------------------------------------------------------------ TLS

@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = make_cert(d)
    other = tmp_path_factory.mktemp("tls-other")
    other_cert, _ = make_cert(other)
    m = Mock("--samples", SAMPLES, "--tls-cert", cert, "--tls-key", key, tls_ca=cert)
    yield {"mock": m, "cert": cert, "other_cert": other_cert}
    m.stop()


def test_tls_untrusted_certificate_refused(waexport, tls, tmp_path):
    m = tls["mock"]
    r = waexport(FETCH + ["--url", m.url, "--retries", "1", "-o", tmp_path / "o.csv"],
                 env=fetch_env(SSL_CERT_FILE="", CURL_CA_BUNDLE=""))
    assert r.returncode == 69, r.stderr
    line, = stderr_lines(r)
    assert "certificate" in line.lower(), line
    assert os.listdir(tmp_path) == []
    assert not [e for e in m.requests() if e["kind"] == "page"], "no page may be served"


def test_tls_wrong_ca_refused(waexport, tls, tmp_path):
    m = tls["mock"]
    r = waexport(FETCH + ["--url", m.url, "--retries", "1", "--cacert", tls["other_cert"],
                          "-o", tmp_path / "o.csv"], env=fetch_env())
    assert r.returncode == 69, r.stderr
    assert "certificate" in stderr_lines(r)[-1].lower(), r.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tls_with_cacert_succeeds(waexport, tls, tmp_path, host):
    m = tls["mock"]
    url = "https://%s:%d/whatsapp/v2/getHistory" % (host, m.port)
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", url, "--cacert", tls["cert"], "-o", out], env=fetch_env())
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == convert_samples()


def test_tls_missing_cacert_file(waexport, tls, tmp_path):
    r = waexport(FETCH + ["--url", tls["mock"].url, "--cacert", tmp_path / "nope.pem",
                          "-o", tmp_path / "o.csv"], env=fetch_env())
    assert r.returncode in (64, 69), r.stderr
    assert "nope.pem" in r.stderr.decode(), r.stderr


# ------------------------------------------------------------------ 13. --api-key-file

def test_api_key_file_0600(waexport, secret_mock, tmp_path):
    kf = tmp_path / "key"
    kf.write_text(SECRET + "\n")
    os.chmod(kf, 0o600)
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", secret_mock.url, "--api-key-file", kf, "-o", out],
                 env=fetch_env(key=None))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == convert_samples()
    assert not [ln for ln in stderr_lines(r) if str(kf) in ln], "no warning for a 0600 key file"
    assert_no_key(SECRET, r.stdout, r.stderr, out.read_bytes())


def test_api_key_file_readable_by_others_warns_but_works(waexport, secret_mock, tmp_path):
    kf = tmp_path / "key"
    kf.write_text(SECRET + "\n")
    os.chmod(kf, 0o644)
    out = tmp_path / "o.csv"
    r = waexport(FETCH + ["--url", secret_mock.url, "--api-key-file", kf, "-o", out],
                 env=fetch_env(key=None))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == convert_samples()
    warn = [ln for ln in stderr_lines(r) if "warning" in ln and str(kf) in ln]
    assert warn, "no warning naming the key file: %r" % r.stderr
    assert_no_key(SECRET, r.stdout, r.stderr)


def test_api_key_file_crlf_and_no_newline(waexport, secret_mock, tmp_path):
    for i, content in enumerate([SECRET, SECRET + "\r\n"]):
        kf = tmp_path / ("key%d" % i)
        kf.write_text(content, newline="")
        os.chmod(kf, 0o600)
        r = waexport(FETCH + ["--url", secret_mock.url, "--api-key-file", kf, "-q"],
                     env=fetch_env(key=None))
        assert r.returncode == 0, (content, r.stderr)
        assert r.stdout == convert_samples()


@pytest.mark.parametrize("content", [None, ""], ids=["missing", "empty"])
def test_api_key_file_missing_or_empty(waexport, tmp_path, content):
    kf = tmp_path / "key"
    if content is not None:
        kf.write_text(content)
        os.chmod(kf, 0o600)
    r = waexport(FETCH + ["--url", "http://127.0.0.1:%d/x" % free_port(),
                          "--api-key-file", kf, "-o", tmp_path / "o.csv"],
                 env=fetch_env(key=None))
    assert r.returncode == 64, r.stderr
    line, = stderr_lines(r)
    assert str(kf) in line, line


def test_fetch_holds_the_key_without_core_dumps(tmp_path):
    """SPEC §5.6: a crash while the key is in memory leaves no core file holding it:
    fetch runs with a core size limit of 0 even when its parent allowed cores."""
    import resource
    import subprocess

    from conftest import BIN

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(20)
    port = srv.getsockname()[1]

    def allow_cores():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    p = subprocess.Popen([BIN, "fetch", "--from", ACCOUNT, "--timeout", "20", "--retries", "0",
                          "--url", "http://127.0.0.1:%d/getHistory" % port,
                          "-o", str(tmp_path / "o.csv")],
                         env=fetch_env(SECRET), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=allow_cores)
    try:
        conn, _ = srv.accept()           # the request is sent: the key is in memory
        with open("/proc/%d/limits" % p.pid) as f:
            core = [ln for ln in f if ln.startswith("Max core file size")][0].split()
        assert core[4:6] == ["0", "0"], core
        conn.close()
    finally:
        p.kill()
        p.wait(timeout=10)
        srv.close()


def test_api_key_file_that_is_a_directory_says_so(waexport, tmp_path):
    r = waexport(FETCH + ["--url", "http://127.0.0.1:%d/x" % free_port(),
                          "--api-key-file", tmp_path, "-o", tmp_path / "o.csv"],
                 env=fetch_env(key=None))
    assert r.returncode == 64, r.stderr
    line, = stderr_lines(r)
    assert "%s is a directory" % tmp_path in line, line
