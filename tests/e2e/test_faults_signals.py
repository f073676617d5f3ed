"""SIGINT / SIGTERM in the middle of a long run (SPEC §3: exit 130 / 143; §4.4: the
previous file untouched, no temporary file left; §5.3: the --state file untouched).

convert reads a ~30 MB history (scripts/gen_history.py --messages 120000, made once
per module) from a pipe that the test feeds slowly, so the signal is sure to land
while input is still arriving; fetch runs against the mock with 200 ms of latency
per page and is signalled after a few pages.
"""
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import BIN, PY, ROOT
from fetch_helpers import ACCOUNT, fetch_env, mock_factory  # noqa: F401
from helpers import assert_no_sanitizer_report, popen

TMP = re.compile(r"^\..*\.tmp\.")


def leftovers(directory):
    """waexport's temporaries (`.NAME.tmp.XXXXXX`, SPEC §4.4), and anything *.tmp*."""
    return [n for n in os.listdir(directory) if TMP.match(n) or ".tmp" in n]


def one_error_line(stderr):
    lines = [ln for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("waexport:"), lines
    return lines[0]


def wait_for(cond, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def big_history(tmp_path_factory):
    f = tmp_path_factory.mktemp("big") / "history.jsonl"
    subprocess.run([PY, str(ROOT / "scripts" / "gen_history.py"), "--messages", "120000",
                    "--seed", "5", "--out", str(f)], check=True, timeout=120)
    assert f.stat().st_size > 25_000_000
    return f


class SlowFeeder(threading.Thread):
    """Writes `data` to a pipe in small chunks with pauses until done or stopped."""

    def __init__(self, pipe, data, chunk=64 * 1024, pause=0.01):
        super().__init__(daemon=True)
        self.pipe, self.data, self.chunk, self.pause = pipe, data, chunk, pause
        self.sent = 0
        self.stop = threading.Event()

    def run(self):
        try:
            while self.sent < len(self.data) and not self.stop.is_set():
                self.pipe.write(self.data[self.sent:self.sent + self.chunk])
                self.pipe.flush()
                self.sent += min(self.chunk, len(self.data) - self.sent)
                time.sleep(self.pause)
        except (BrokenPipeError, ValueError, OSError):
            pass
        finally:
            try:
                self.pipe.close()
            except OSError:
                pass


# Each signal with and without a previous file, over the output kinds.
# SIGALRM, SIGUSR1 and SIGXCPU (a timer, a stray signal, the soft CPU limit) killed the run
# where it stood before, leaving its temporary file: they end it as SIGTERM does.
CASES = [(signal.SIGINT, 130, "chats.csv", True), (signal.SIGTERM, 143, "chats.ndjson.gz", True),
         (signal.SIGINT, 130, "chats.ndjson", False), (signal.SIGTERM, 143, "chats.csv.gz", False),
         (signal.SIGALRM, 142, "chats.csv", True), (signal.SIGUSR1, 138, "chats.ndjson", False),
         (signal.SIGXCPU, 152, "chats.csv.gz", True)]


@pytest.mark.parametrize("sig,code,name,previous", CASES,
                         ids=["INT-csv-previous", "TERM-ndjson.gz-previous", "INT-ndjson-new",
                              "TERM-csv.gz-new", "ALRM-csv-previous", "USR1-ndjson-new",
                              "XCPU-csv.gz-previous"])
def test_convert_interrupted_mid_input(tmp_path, big_history, sig, code, name, previous):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / name
    old = b"previous export\r\n" * 3
    if previous:
        out.write_bytes(old)
    data = big_history.read_bytes()
    p = popen(["convert", "-q", "-o", out], stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    feeder = SlowFeeder(p.stdin, data)
    feeder.start()
    try:
        assert wait_for(lambda: feeder.sent > 2_000_000 and leftovers(out_dir)), \
            "the run never got under way (sent %d bytes)" % feeder.sent
        assert p.poll() is None and feeder.sent < len(data)
        p.send_signal(sig)
        feeder.stop.set()
        feeder.join(30)             # ends at its next chunk, or on EPIPE once waexport exits
        assert not feeder.is_alive()
        p.wait(timeout=60)          # stdin is closed by the feeder; stderr is one line
        stdout, stderr = p.stdout.read(), p.stderr.read()
    finally:
        feeder.stop.set()
        if p.poll() is None:
            p.kill()
            p.wait()
    assert feeder.sent < len(data), "the signal did not land mid-input"
    assert p.returncode == code, (p.returncode, stderr.decode())
    assert_no_sanitizer_report(stderr)
    one_error_line(stderr)
    assert stdout == b""
    if previous:
        assert os.listdir(out_dir) == [name]
        assert out.read_bytes() == old
    else:
        assert os.listdir(out_dir) == []


def state_for_one_contact(waexport, mock, state, tmp_path):
    """A real --state file: a finished fetch of one contact's chat (checkpoint for
    from/to), which a whole-account run must leave alone when it is interrupted."""
    contact = None
    for msg in json.loads(mock.page(1)):
        contact = msg["from"] if str(msg["direction"]) == "1" else msg["to"]
        break
    r = waexport(["fetch", "--from", ACCOUNT, "--to", contact, "--url", mock.url,
                  "--state", state, "-q", "-o", tmp_path / "one-contact.csv"], env=fetch_env())
    assert r.returncode == 0, r.stderr.decode()
    data = state.read_bytes()
    assert data, "the first run wrote no state"
    return data


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["INT", "TERM"])
@pytest.mark.parametrize("previous", [True, False], ids=["previous-file", "no-file"])
def test_fetch_interrupted_mid_walk(waexport, mock_factory, tmp_path, sig, code,  # noqa: F811
                                    previous):
    mock = mock_factory("--messages", 3000, "--seed", 12)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    state = state_dir / "waexport.state"
    state_before = state_for_one_contact(waexport, mock, state, tmp_path)
    mock.reset()
    mock.control(latency_ms=200)

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "history.csv"
    old = (tmp_path / "one-contact.csv").read_bytes()  # a file this run could add to
    if previous:
        out.write_bytes(old)
    env = dict(os.environ)
    env.pop("WAEXPORT_API_KEY", None)
    env.update(fetch_env())
    p = subprocess.Popen([BIN, "fetch", "--from", ACCOUNT, "--url", mock.url,
                          "--concurrency", "2", "--state", str(state), "-q", "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert wait_for(lambda: mock.log()["total"] >= 4), "fetch never asked for pages"
        assert p.poll() is None, p.communicate()[1].decode()
        p.send_signal(sig)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    served = len(mock.requests("page"))
    assert served < 60, "the signal landed after the walk (%d pages served)" % served
    assert p.returncode == code, (p.returncode, stderr.decode())
    assert_no_sanitizer_report(stderr)
    one_error_line(stderr)
    assert stdout == b""
    if previous:
        assert os.listdir(out_dir) == ["history.csv"]
        assert out.read_bytes() == old
    else:
        assert os.listdir(out_dir) == []
    assert state.read_bytes() == state_before
    assert leftovers(state_dir) == []
    # SPEC §5.3 "Resumable runs": the interrupted run's pages stay in its journal.
    assert set(os.listdir(state_dir)) - {"waexport.state.lock"} == {"waexport.state",
                                                                   "waexport.state.journal"}


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["TERM", "INT"])
def test_convert_interrupted_while_writing_oldest_first(tmp_path, big_history, sig, code):
    """Oldest first, the rows are written after the input is read (the spool replayed
    last batch first): a signal then still ends the run with its code, at the next
    batch, not after the whole output. stdout is a pipe nobody reads until the signal
    is sent, so the replay is surely under way and blocked when it arrives."""
    p = popen(["convert", "-q", "--order", "oldest", "-o", "-", big_history],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = p.stdout.read(1)            # the replay has begun writing
        assert first == b"u", first
        time.sleep(0.2)                     # and is blocked on the full pipe
        assert p.poll() is None
        p.send_signal(sig)
        rest = p.stdout.read()
        p.wait(timeout=60)
        stderr = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == code, (p.returncode, stderr.decode())
    assert_no_sanitizer_report(stderr)
    line = one_error_line(stderr)
    assert "what reached standard output is incomplete" in line, line
    whole = subprocess.run([BIN, "convert", "-q", "--order", "oldest", "-o", "-", big_history],
                           stdout=subprocess.PIPE, check=True, timeout=120).stdout
    assert len(first + rest) < len(whole), "the whole output was written after the signal"
