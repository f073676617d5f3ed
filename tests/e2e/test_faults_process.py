"""How the process ends when it is told to, or started without its standard streams.

- SIGHUP (an ssh session that drops during a manual backfill) ends a run as SIGTERM
  does: exit 129, one error line, nothing left behind, the previous file untouched.
- SIGTERM while a `{chat}` run writes its files out (SPEC §5.7: "within a second")
  stops at the next file, not after every chat's file was written and fsynced.
- A closed stdout or stderr (`>&-`, some supervisors) must not let the CSV or the
  warnings land in whatever file the run opens first (a lock file, the output).
"""
import csv
import io
import json
import os
import re
import signal
import subprocess

import pytest

from conftest import BIN, PY, ROOT
from fetch_helpers import ACCOUNT, fetch_env, mock_factory  # noqa: F401
from helpers import assert_no_sanitizer_report, popen
from test_faults_signals import leftovers, one_error_line, wait_for


def run_closed(fds, args, **kw):
    """waexport with the given standard descriptors closed (as `sh -c '... >&-'`)."""
    closes = " ".join("%d>&-" % fd for fd in fds)
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(kw.pop("env", {}))
    return subprocess.run(["sh", "-c", 'exec "$0" "$@" ' + closes, BIN] + [str(a) for a in args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=120,
                          **kw)


def interrupt(p, ready, sig, never):
    """Send sig to p once ready() holds; p's (stdout, stderr). p never outlives the test."""
    try:
        assert wait_for(ready, timeout=60), never
        assert p.poll() is None, p.communicate()[1].decode()
        p.send_signal(sig)
        return p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_sighup_mid_walk_ends_like_sigterm(mock_factory, tmp_path):  # noqa: F811
    mock = mock_factory("--messages", 3000, "--seed", 12)
    mock.control(latency_ms=200)
    out = tmp_path / "history.csv"
    out.write_bytes(b"previous export\r\n")
    metrics = tmp_path / "m.prom"
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    # SIGHUP at its default, as a terminal or ssh session starts it: under nohup (a test
    # suite started so) the run rightly keeps it ignored (the test below)
    p = subprocess.Popen([BIN, "fetch", "--from", ACCOUNT, "--url", mock.url, "-q",
                          "--metrics-file", str(metrics), "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    stdout, stderr = interrupt(p, lambda: mock.log()["total"] >= 3, signal.SIGHUP,
                               "fetch never asked for pages")
    assert p.returncode == 129, (p.returncode, stderr.decode())
    assert_no_sanitizer_report(stderr)
    assert "SIGHUP" in one_error_line(stderr)
    assert out.read_bytes() == b"previous export\r\n"
    assert leftovers(tmp_path) == []
    assert re.search(r"^waexport_exit_code(\{[^}]*\})? 129$", metrics.read_text(), re.M), \
        metrics.read_text()


def test_a_hangup_the_parent_ignores_stays_ignored(tmp_path, many_chats):
    """nohup (and `&` in a script, for SIGINT) start the run with the signal ignored:
    the run must not take it back, or the backfill nohup protects dies at the hang-up."""
    out = tmp_path / "out.csv"

    def as_nohup():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    p = popen(["convert", "-q", "--threads", "1", "-o", out, many_chats, many_chats,
               many_chats], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              preexec_fn=as_nohup)
    try:
        assert wait_for(lambda: leftovers(tmp_path), timeout=60), "the run never began"
        p.send_signal(signal.SIGHUP)
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, (p.returncode, stderr.decode())
    assert out.exists() and leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def many_chats(tmp_path_factory):
    f = tmp_path_factory.mktemp("chats") / "history.jsonl"
    subprocess.run([PY, str(ROOT / "scripts" / "gen_history.py"), "--messages", "30000",
                    "--contacts", "30000", "--seed", "3", "--out", str(f)],
                   check=True, timeout=120)
    return f


def test_sigterm_while_chat_files_are_written_stops_at_the_next_file(tmp_path, many_chats):
    """Every chat's file is made in a directory of its own (--create-dirs keeps them),
    so the directories count the chats the run went on to after the signal. Before
    the fix the run wrote and fsynced all ~3,500 files first (20 s here), then removed
    them; now it stops at the next one."""
    chats = sum(1 for _ in set(
        (m["from"] if str(m["direction"]) == "1" else m["to"])
        for line in many_chats.read_text().splitlines() for m in json.loads(line)))
    assert chats > 1000
    out = tmp_path / "out"
    p = popen(["convert", "-q", "--create-dirs", "-o", str(out) + "/{chat}/history.csv",
               many_chats], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = interrupt(p, lambda: out.is_dir() and len(os.listdir(out)) >= 3,
                               signal.SIGTERM, "the run never began writing the chats' files")
    assert p.returncode == 143, (p.returncode, stderr.decode())
    assert_no_sanitizer_report(stderr)
    one_error_line(stderr)
    made = os.listdir(out)
    assert len(made) < chats // 2, "%d of %d chats written after the signal" % (len(made), chats)
    for d in made:  # and nothing of them is left
        assert os.listdir(out / d) == [], (d, os.listdir(out / d))


def test_closed_stdout_is_a_write_error_not_a_file(tmp_path):
    """`-o -` with stdout closed: before the fix the CSV went into the first file the
    run opened (with --state, the lock file) and the run said it wrote everything."""
    sample = ROOT / "samples" / "pages"
    pages = sorted(str(p) for p in sample.glob("*.json"))
    r = run_closed([1], ["convert", "-o", "-"] + pages, cwd=tmp_path)
    assert r.returncode == 74, (r.returncode, r.stderr.decode())
    assert_no_sanitizer_report(r.stderr)
    last = r.stderr.decode().splitlines()[-1]  # after the samples' one warning
    assert "standard output: write failed" in last, last
    assert os.listdir(tmp_path) == []


def test_closed_stdout_with_state_moves_no_checkpoint(mock_factory, tmp_path):  # noqa: F811
    mock = mock_factory("--messages", 120, "--seed", 4)
    state = tmp_path / "st"
    r = run_closed([1], ["fetch", "--from", ACCOUNT, "--url", mock.url, "--state", state,
                         "-o", "-"], env=fetch_env(), cwd=tmp_path)
    assert r.returncode == 74, (r.returncode, r.stderr.decode())
    assert not state.exists() or state.stat().st_size == 0
    lock = tmp_path / "st.lock"  # holds the pid, not the CSV
    assert not lock.exists() or lock.stat().st_size < 32
    # The next night, with a stdout, exports every message.
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    r = subprocess.run([BIN, "fetch", "--from", ACCOUNT, "--url", mock.url, "--state",
                        str(state), "-q", "-o", "-"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    rows = list(csv.reader(io.StringIO(r.stdout.decode())))
    assert len(rows) == 121 and len({row[0] for row in rows[1:]}) == 120


def test_closed_stderr_keeps_warnings_out_of_the_output(tmp_path):
    m = {"unique": "U1", "timestamp": "1731000000", "direction": "1", "from": "972509876543",
         "to": "972501234567", "type": "text", "state": 0, "message": "BAD"}
    page = tmp_path / "page.json"
    page.write_text(json.dumps([m]).replace('"BAD"', '"\\ud800"') + "\n")
    out = tmp_path / "out.ndjson"
    r = run_closed([2], ["convert", page, "-o", out], cwd=tmp_path)
    assert r.returncode == 0, r.returncode
    lines = out.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["unique"] == "U1", lines


def test_closed_stdin_is_an_input_that_cannot_be_read(tmp_path):
    r = run_closed([0], ["convert", "-o", tmp_path / "out.csv", "-"], cwd=tmp_path)
    assert r.returncode == 66, (r.returncode, r.stderr.decode())
    assert "standard input" in one_error_line(r.stderr)
    assert os.listdir(tmp_path) == []
