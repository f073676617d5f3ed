"""--metrics-file after a good and after a failed night (SPEC §6, §3): the
Prometheus text format node_exporter's textfile collector reads, every metric
SPEC §6 names with HELP and TYPE, labelled by `from`, the exit code of the
run, last_success kept from the good night after a failed one, readable by
another user (0644), replaced atomically.
"""
import fcntl
import os
import stat
import subprocess
import time

import pytest

from conftest import BIN
from fetch_helpers import ACCOUNT, Mock, fetch_env, summary_number
from nightly_helpers import (FETCH, SPEC_METRICS, grow, metric_value, night,
                             parse_prometheus, settle, tmp_leftovers)

LBL = {"from": ACCOUNT}


@pytest.fixture(scope="module")
def metrics_server():
    m = Mock("--messages", 300, "--seed", 12)
    yield m
    m.stop()


@pytest.fixture
def mock(metrics_server):
    settle(metrics_server)
    metrics_server.reset(knobs=True)
    return metrics_server


def read_metrics(path):
    text = path.read_text(encoding="utf-8")
    m = parse_prometheus(text)
    for name in SPEC_METRICS:
        assert name in m, "SPEC §6 metric %s missing:\n%s" % (name, text)
        e = m[name]
        assert e["help"], "%s has no # HELP" % name
        assert e["type"] in ("gauge", "counter"), "%s: # TYPE %r" % (name, e["type"])
        assert len(e["samples"]) == 1, (name, e["samples"])
        labels, value = e["samples"][0]
        assert labels == LBL, (name, labels)
        assert value == value and value not in (float("inf"), float("-inf")), (name, value)
        if e["type"] == "counter":
            assert name.endswith("_total"), "a counter must be named *_total: %s" % name
    for name in m:
        assert name.startswith("waexport_"), name
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, oct(os.stat(path).st_mode)
    assert tmp_leftovers(path.parent) == []
    return m


def val(m, name):
    return metric_value(m, name, **LBL)


def timed_night(mock, state, out, prom, *extra, env=None):
    t0 = time.time()
    r, reqs = night(mock, state, out, "--metrics-file", prom, *extra, env=env)
    t1 = time.time()
    return r, reqs, t0, t1


def test_a_job_that_never_succeeded_says_0_so_the_alert_fires(mock, tmp_path):
    """README's alert, time() - last_success > 26h, must fire for a key wrong since day one."""
    prom, state = tmp_path / "waexport.prom", tmp_path / "state"
    mock.control(fail_5xx="all")
    r, _, _, _ = timed_night(mock, state, tmp_path / "n.csv", prom, "--retries", "0")
    assert r.returncode == 69, r.stderr
    m = read_metrics(prom)
    assert val(m, "waexport_exit_code") == 69
    assert val(m, "waexport_last_success_timestamp_seconds") == 0


def test_metrics_after_good_then_failed_then_good_night(mock, tmp_path):
    d = tmp_path / "textfile"
    d.mkdir()
    prom, state = d / "waexport.prom", tmp_path / "state"

    # Good night 1: everything.
    r, reqs, t0, t1 = timed_night(mock, state, tmp_path / "n1.csv", prom)
    assert r.returncode == 0, r.stderr
    m1 = read_metrics(prom)
    assert val(m1, "waexport_exit_code") == 0
    assert val(m1, "waexport_messages_written") == 300
    assert val(m1, "waexport_messages_written") == summary_number(r, "messages")
    assert val(m1, "waexport_pages_fetched") == summary_number(r, "pages") >= 6
    assert val(m1, "waexport_retries") == 0
    assert val(m1, "waexport_duplicates_dropped") == 0
    assert val(m1, "waexport_warnings") == 0
    assert val(m1, "waexport_media_downloaded") == 0
    last_run1 = val(m1, "waexport_last_run_timestamp_seconds")
    assert t0 - 1 <= last_run1 <= t1 + 1
    assert val(m1, "waexport_last_success_timestamp_seconds") == last_run1
    assert 0 <= val(m1, "waexport_run_duration_seconds") <= (t1 - t0) + 1

    # Failed night 2: page 1 answers 503 every time.
    grow(mock, 7)
    mock.control(fail_5xx="all")
    r, reqs, t0, t1 = timed_night(mock, state, tmp_path / "n2.csv", prom, "--retries", "2")
    assert r.returncode == 69, r.stderr
    m2 = read_metrics(prom)
    assert val(m2, "waexport_exit_code") == 69
    last_run2 = val(m2, "waexport_last_run_timestamp_seconds")
    assert t0 - 1 <= last_run2 <= t1 + 1 and last_run2 >= last_run1
    assert val(m2, "waexport_last_success_timestamp_seconds") == last_run1, \
        "last_success must be kept from the good night"
    assert val(m2, "waexport_messages_written") == 0
    assert val(m2, "waexport_retries") == 2
    assert 0 <= val(m2, "waexport_run_duration_seconds") <= (t1 - t0) + 1

    # Good night 3: 7 messages, one page; last_success moves.
    mock.control(fail_5xx=None)
    r, reqs, t0, t1 = timed_night(mock, state, tmp_path / "n3.csv", prom)
    assert r.returncode == 0, r.stderr
    m3 = read_metrics(prom)
    assert val(m3, "waexport_exit_code") == 0
    assert val(m3, "waexport_messages_written") == 7
    assert val(m3, "waexport_pages_fetched") == 1
    last_run3 = val(m3, "waexport_last_run_timestamp_seconds")
    assert val(m3, "waexport_last_success_timestamp_seconds") == last_run3 >= last_run2


def _corrupt_state(mock, tmp_path, state, prom):
    state.write_bytes(b"not a state file\n")
    return {}


def _lock_held(mock, tmp_path, state, prom):
    fd = os.open(str(state) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return {"fd": fd}


def _wrong_key(mock, tmp_path, state, prom):
    return {"env": fetch_env(key="wrong-key")}


def _no_output_dir(mock, tmp_path, state, prom):
    return {"out": tmp_path / "gone" / "n2.csv"}


def _server_down(mock, tmp_path, state, prom):
    mock.control(reset="all")
    return {"extra": ["--retries", "1"]}


FAILURES = {"corrupt-state": (_corrupt_state, 65), "lock-held": (_lock_held, 75),
            "wrong-key": (_wrong_key, 77), "output-dir-missing": (_no_output_dir, 73),
            "connection-reset": (_server_down, 69)}


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_metrics_after_each_kind_of_failed_night(mock, tmp_path, kind):
    prom, state = tmp_path / "waexport.prom", tmp_path / "state"
    r, _, _, _ = timed_night(mock, state, tmp_path / "n1.csv", prom)
    assert r.returncode == 0, r.stderr
    good = val(read_metrics(prom), "waexport_last_success_timestamp_seconds")

    setup, code = FAILURES[kind]
    ctx = setup(mock, tmp_path, state, prom)
    try:
        r, _, _, _ = timed_night(mock, state, ctx.get("out", tmp_path / "n2.csv"), prom,
                                 "-q", *ctx.get("extra", []), env=ctx.get("env"))
    finally:
        if "fd" in ctx:
            os.close(ctx["fd"])
    assert r.returncode == code, r.stderr
    m = read_metrics(prom)
    assert val(m, "waexport_exit_code") == code
    assert val(m, "waexport_last_success_timestamp_seconds") == good
    assert val(m, "waexport_messages_written") == 0
    assert val(m, "waexport_last_run_timestamp_seconds") >= good


def test_metrics_file_readable_under_umask_077_and_replaced_atomically(mock, tmp_path):
    """node_exporter runs as another user: the file is 0644 whatever the umask; an
    old file (even a read-only one) is replaced, never appended to."""
    prom = tmp_path / "waexport.prom"
    prom.write_text("# HELP old_metric stale\n# TYPE old_metric gauge\nold_metric 1\n")
    os.chmod(prom, 0o400)
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    r = subprocess.run([BIN] + FETCH + ["--url", mock.url, "-o", str(tmp_path / "o.csv"),
                                        "--state", str(tmp_path / "state"),
                                        "--metrics-file", str(prom), "-q"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       preexec_fn=lambda: os.umask(0o077), timeout=120)
    assert r.returncode == 0, r.stderr
    m = read_metrics(prom)                       # checks 0644 and no stray names
    assert "old_metric" not in m
    assert val(m, "waexport_messages_written") == 300
    # The export itself stays private.
    assert stat.S_IMODE(os.stat(tmp_path / "o.csv").st_mode) == 0o600


def test_metrics_written_for_a_failed_first_night(mock, tmp_path):
    """No earlier success: the file still appears, with the failure's exit code."""
    prom = tmp_path / "waexport.prom"
    mock.control(fail_5xx="all")
    r, _, _, _ = timed_night(mock, tmp_path / "state", tmp_path / "o.csv", prom,
                             "--retries", "0", "-q")
    assert r.returncode == 69, r.stderr
    text = prom.read_text()
    m = parse_prometheus(text)
    assert val(m, "waexport_exit_code") == 69
    for name in SPEC_METRICS:
        if name != "waexport_last_success_timestamp_seconds":
            assert name in m and m[name]["help"] and m[name]["type"], name
    if "waexport_last_success_timestamp_seconds" in m:
        assert val(m, "waexport_last_success_timestamp_seconds") == 0
    assert stat.S_IMODE(os.stat(prom).st_mode) == 0o644


def test_metrics_file_in_a_missing_directory_is_one_line(mock, tmp_path):
    """The run stops at the missing directory with the line that names it and
    --create-dirs; it does not then try the metrics file and say a second time."""
    prom = tmp_path / "nodir" / "waexport.prom"
    r, reqs = night(mock, tmp_path / "state", tmp_path / "o.csv", "--metrics-file", prom, "-q")
    assert r.returncode == 73, r.stderr
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "--create-dirs" in lines[0], lines
    assert reqs == [] and not prom.parent.exists()
