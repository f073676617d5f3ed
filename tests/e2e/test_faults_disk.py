"""Write failures (SPEC §3 exit 74 with one line; §4.4 nothing half-written, the
previous file intact) and a reader that goes away (`| head -1`: a quiet end).

* /dev/full: every write fails with ENOSPC.
* A real full filesystem: a 1 MiB tmpfs mounted for this module (the tests run as
  root on CI; where mount is refused the tmpfs tests are skipped with the reason).
  waexport's output (several MB) cannot fit: the run must fail with exit 74, the
  previous file must keep its bytes, and the temporary file must be gone (the
  space it took is free again).
* stdout closed early: exit 141 (SIGPIPE), nothing on stderr, no sanitizer report; a FIFO
  named by -o is a file: 74 with one line.
"""
import json
import os
import resource
import select
import shutil
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, PY, ROOT, run
from fetch_helpers import ACCOUNT, csv_rows, fetch_env, mock_factory  # noqa: F401
from helpers import COLUMNS, assert_error, assert_no_sanitizer_report, small_tmpfs
from tools import roundtrip_data as rt


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """~6 MB of pages (20,000 messages), one array per line."""
    f = tmp_path_factory.mktemp("hist") / "history.jsonl"
    subprocess.run([PY, str(ROOT / "scripts" / "gen_history.py"), "--messages", "20000",
                    "--seed", "8", "--out", str(f)], check=True, timeout=120)
    return f


# ---------------------------------------------------------------- /dev/full

@pytest.mark.parametrize("extra", [[], ["--format", "ndjson"], ["--gzip"], ["--excel"]],
                         ids=["csv", "ndjson", "gzip", "excel"])
def test_convert_to_dev_full(waexport, extra):
    """-q: the samples' two U+FFFD warnings would be extra lines; the error still shows."""
    line = assert_error(waexport(["convert", "-q", "-o", "/dev/full"] + extra + rt.SAMPLE_PAGES), 74)
    assert "/dev/full" in line, line


def test_fetch_to_dev_full(waexport, mock_factory, tmp_path):  # noqa: F811
    mock = mock_factory("--samples", ROOT / "samples")
    state = tmp_path / "state"
    r = waexport(["fetch", "--from", ACCOUNT, "--url", mock.url, "--state", state,
                  "-q", "-o", "/dev/full"], env=fetch_env())
    line = assert_error(r, 74)
    assert "/dev/full" in line, line
    assert not state.exists() or b"972501234567" not in state.read_bytes(), \
        "a failed run must not advance the checkpoint"


# ---------------------------------------------------------------- a real full filesystem

@pytest.fixture(scope="module")
def small_fs():
    with small_tmpfs("size=1m") as d:
        yield d


@pytest.fixture
def full_dir(small_fs):
    """A fresh directory on the 1 MiB tmpfs, emptied afterwards."""
    d = tempfile.mkdtemp(dir=small_fs)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@pytest.mark.parametrize("name", ["chats.csv", "chats.ndjson", "chats.csv.gz"])
def test_convert_onto_full_filesystem_keeps_previous_file(history, full_dir, name):
    out = os.path.join(full_dir, name)
    old = b"previous export\r\n" * 1000
    with open(out, "wb") as f:
        f.write(old)
    ballast = os.path.join(os.path.dirname(full_dir), "ballast")
    if name.endswith(".gz"):
        # gzip shrinks generated text to ~1 MB at level 1: leave it half that room.
        with open(ballast, "wb") as f:
            f.write(os.urandom(512 * 1024))
    before = free_bytes(full_dir)
    args = ["convert", "-o", out, history]
    if name.endswith(".gz"):
        args = ["convert", "--gzip-level", "1", "-o", out, history]
    try:
        r = run(args)
        line = assert_error(r, 74)
        assert name in line, line
        assert_no_sanitizer_report(r.stderr)
        assert os.listdir(full_dir) == [name], "a temporary file was left behind"
        assert open(out, "rb").read() == old
        assert free_bytes(full_dir) == before, "space still held after the failed run"
    finally:
        if os.path.exists(ballast):
            os.unlink(ballast)


def test_a_workbook_onto_a_full_filesystem_says_why_in_one_line(history, full_dir):
    """libxlsxwriter printed its own [ERROR] lines (under -q too) and our line said only
    'Zip generic error ZIP_ERRNO', not that the disk was full."""
    import json
    import random
    rnd = random.Random(1)      # text that deflate cannot shrink much: the zip outgrows the disk
    page = [{"unique": str(i), "timestamp": str(1700000000 + i), "direction": "1", "from": "1",
             "to": "2", "type": "text", "state": 0,
             "message": "".join(rnd.choice("abcdefgh0123") for _ in range(300))}
            for i in range(1500)]
    src = os.path.join(os.path.dirname(history), "wide.json")
    with open(src, "w") as f:
        json.dump(page, f)
    out = os.path.join(full_dir, "chats.xlsx")
    r = run(["convert", "-q", "--order", "newest", "-o", out, src])
    line = assert_error(r, 74)
    assert "No space left on device" in line and "free some space" in line, line
    assert os.listdir(full_dir) == []


@pytest.mark.parametrize("order", ["oldest", "newest"])
def test_a_file_size_limit_is_an_io_error_that_leaves_nothing(history, tmp_path, order):
    """ulimit -f (systemd's LimitFSIZE=): the kernel's SIGXFSZ killed the run silently
    (exit 153, no line, no metrics) and left its temporary file, or its spool, behind.
    Ignored, the write fails with EFBIG: 74, one line that says what limit, nothing left."""
    out = tmp_path / "night.csv"
    out.write_bytes(b"previous export\r\n")
    limit = 256 * 1024

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE,
                           (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    r = subprocess.run([BIN, "convert", "--order", order, "-o", str(out), str(history)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       preexec_fn=small_files)
    line = assert_error(r, 74)
    assert "File too large" in line, line
    assert out.read_bytes() == b"previous export\r\n"
    assert os.listdir(tmp_path) == ["night.csv"]


def test_one_file_a_chat_onto_a_full_filesystem_says_how_much_room(history, full_dir):
    """{chat} spools the rows before it writes each chat's file: gzip outputs need about
    the uncompressed size free meanwhile, which the failure now says (SPEC §3: what to do)."""
    r = run(["convert", "-o", os.path.join(full_dir, "{chat}.ndjson.gz"), history])
    line = assert_error(r, 74)
    assert "No space left on device" in line, line
    assert "as much free space as the output uncompressed" in line, line
    assert os.listdir(full_dir) == []


def test_convert_onto_full_filesystem_creates_nothing(history, full_dir):
    out = os.path.join(full_dir, "new.ndjson")
    r = run(["convert", "--order", "newest", "-o", out, history])
    assert_error(r, 74)
    assert os.listdir(full_dir) == []


def test_fetch_onto_full_filesystem_keeps_previous_file_and_state(mock_factory, full_dir,  # noqa: F811
                                                                  tmp_path):
    mock = mock_factory("--messages", 12000, "--seed", 4)
    out = os.path.join(full_dir, "history.ndjson")
    state = os.path.join(full_dir, "run.state")
    old = (json.dumps({k: "previous" if k == "unique" else None for k in COLUMNS},
                      separators=(",", ":")) + "\n").encode()  # a line of this run's keys
    with open(out, "wb") as f:
        f.write(old)
    # A real checkpoint first: one contact's chat, fetched in full (it fits).
    msg = json.loads(mock.page(1))[0]
    contact = msg["from"] if str(msg["direction"]) == "1" else msg["to"]
    first = run(["fetch", "--from", ACCOUNT, "--url", mock.url, "--to", contact,
                 "--state", state, "-q", "-o", tmp_path / "one-contact.csv"], env=fetch_env())
    assert first.returncode == 0, first.stderr.decode()
    state_before = open(state, "rb").read()
    assert state_before
    r = run(["fetch", "--from", ACCOUNT, "--url", mock.url, "--concurrency", "8",
             "--state", state, "-o", out], env=fetch_env())
    line = assert_error(r, 74)
    # The output or, with --state, the journal of resumable runs beside it (SPEC §5.3): the
    # first file the full disk refuses is named.
    assert "history.ndjson" in line or "run.state.journal" in line, line
    assert_no_sanitizer_report(r.stderr)
    assert open(out, "rb").read() == old
    assert open(state, "rb").read() == state_before
    assert sorted(n for n in os.listdir(full_dir) if not n.startswith("run.state")) == \
        ["history.ndjson"], os.listdir(full_dir)


# ---------------------------------------------------------------- | head -1

def pipe_to_head(args, env=None):
    full_env = dict(os.environ)
    full_env.pop("WAEXPORT_API_KEY", None)
    full_env.update(env or {})
    with tempfile.TemporaryFile() as err:
        p1 = subprocess.Popen([BIN] + [str(a) for a in args], stdout=subprocess.PIPE,
                              stderr=err, env=full_env)
        p2 = subprocess.Popen(["head", "-1"], stdin=p1.stdout, stdout=subprocess.PIPE)
        p1.stdout.close()
        first, _ = p2.communicate(timeout=120)
        rc = p1.wait(timeout=120)
        err.seek(0)
        return rc, first, err.read()


@pytest.mark.parametrize("extra", [[], ["--format", "ndjson", "--order", "newest"], ["--excel"],
                                   ["--format", "xlsx"]],
                         ids=["csv", "ndjson-newest", "excel", "xlsx"])
def test_convert_into_head_ends_quietly(history, extra):
    rc, first, err = pipe_to_head(["convert"] + extra + [history])
    assert first.endswith(b"\n") and len(first) > 10
    assert_no_sanitizer_report(err)
    assert rc in (141, -13), (rc, err.decode())
    assert err == b"", err.decode()


def test_fetch_with_raw_pages_into_head_ends_quietly(mock_factory, tmp_path):  # noqa: F811
    """--save-raw - is standard output too: its reader going away is the quiet 141, not the
    74 of a pipe named as a file (which stream broke decides, not what -o says)."""
    mock = mock_factory("--messages", 4000, "--seed", 6)
    rc, first, err = pipe_to_head(["fetch", "--from", ACCOUNT, "--url", mock.url, "-q",
                                   "-o", tmp_path / "o.csv", "--save-raw", "-"], env=fetch_env())
    assert first.startswith(b"[")
    assert_no_sanitizer_report(err)
    assert rc in (141, -13), (rc, err.decode())
    assert err == b"", err.decode()


def test_fetch_into_head_ends_quietly(mock_factory):  # noqa: F811
    mock = mock_factory("--messages", 4000, "--seed", 6)
    rc, first, err = pipe_to_head(["fetch", "--from", ACCOUNT, "--url", mock.url, "-q"],
                                  env=fetch_env())
    assert first.startswith(b"unique,")
    assert_no_sanitizer_report(err)
    assert rc in (141, -13), (rc, err.decode())
    assert err == b"", err.decode()


def test_a_pipe_given_as_the_output_file_whose_reader_goes_away_is_74(history, tmp_path):
    """SPEC §3: 74 for a "broken pipe to a file". -o names a FIFO whose reader reads a
    little and goes away: one line naming the file and saying what it means (it ended
    quietly with 141, as a closed standard output does)."""
    fifo = tmp_path / "out-pipe"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)   # never blocks, whatever the writer does
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen([BIN, "convert", "-o", str(fifo), history],
                             stdout=subprocess.DEVNULL, stderr=err)
        got, deadline = b"", time.monotonic() + 60
        while len(got) < 100 and p.poll() is None and time.monotonic() < deadline:
            select.select([fd], [], [], 0.1)
            try:
                got += os.read(fd, 100)
            except BlockingIOError:
                pass
        os.close(fd)
        assert got, "nothing came through the pipe"
        rc = p.wait(timeout=120)
        err.seek(0)
        text = err.read().decode()
    assert_no_sanitizer_report(text.encode())
    assert rc == 74, (rc, text)
    assert text.splitlines() == [
        "waexport: %s: write failed: Broken pipe (its reader went away before the end: what "
        "it read is incomplete)" % fifo], text
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)   # not replaced by a file


# ---------------------------------------------------------------- 73 or 74

def test_a_read_only_state_directory_needs_a_person_73(tmp_path):
    """SPEC §3: 73 when a file cannot be created, 74 for I/O errors; the README tells a
    scheduler that 74 is worth retrying and 73 needs a person. A --state on a read-only
    file system (or a lock file left by root for a service user) can never succeed by
    waiting: 73, where it was 74."""
    with small_tmpfs("ro,size=64k") as d:
        r = run(["fetch", "--from", ACCOUNT, "--url", "http://127.0.0.1:9/none",
                 "--state", os.path.join(d, "st"), "-o", tmp_path / "out.csv"],
                env=fetch_env())
        line = assert_error(r, 73)
        assert "Read-only file system" in line and "lock file" in line, line
    assert os.listdir(tmp_path) == []


def test_no_inode_left_is_an_io_error_74(history):
    """The opposite: a file system out of inodes (ENOSPC at create) is a full disk, worth
    another try once space is freed: 74 and a hint about space, not 73's "check that the
    directory exists and is writable"."""
    with small_tmpfs("size=1m,nr_inodes=2") as d:
        with open(os.path.join(d, "previous.csv"), "wb") as f:
            f.write(b"previous\r\n")
        r = run(["convert", "-o", os.path.join(d, "previous.csv"), history])
        line = assert_error(r, 74)
        assert "No space left on device" in line and "free some space" in line, line
        assert os.listdir(d) == ["previous.csv"]


@pytest.mark.parametrize("name", ["all.csv", "{chat}.csv"], ids=["oldest-spool", "chat-spool"])
def test_no_inode_left_for_a_spool_is_74_too(history, name):
    """The spools (--order oldest's, {chat}'s) on a file system out of inodes: the same full
    disk, 74, not 73's "needs a person" (an adversarial pass saw 73 there, 74 for the output
    itself on the same disk)."""
    with small_tmpfs("size=1m,nr_inodes=2") as d:
        r = run(["convert", "-o", os.path.join(d, name), history])
        line = assert_error(r, 74)
        assert "No space left on device" in line, line
        assert os.listdir(d) == []


def test_a_journal_the_disk_cannot_hold_is_dropped_not_a_failed_night(mock_factory,  # noqa: F811
                                                                      tmp_path):
    """--state keeps the raw pages of a run in a journal beside the state (SPEC §5.3), about
    1.5 times the CSV. On a disk with room for the output but not for the journal, the run
    failed (74) and left a cut journal, from which every next night resumed only to fail at
    the same page again: a stuck job. The journal is an aid, not the export: the run drops
    it with a warning, removes what it wrote, and succeeds."""
    mock = mock_factory("--messages", 2000, "--seed", 9)
    with small_tmpfs("size=2m") as d:
        with open(os.path.join(d, "other"), "wb") as f:
            f.write(b"\0" * (1340 * 1024))          # about 700 KB left
        out, state = os.path.join(d, "h.csv"), os.path.join(d, "st")
        r = run(["fetch", "--from", ACCOUNT, "--url", mock.url, "--state", state, "-o", out],
                env=fetch_env())
        assert r.returncode == 0, r.stderr
        err = r.stderr.decode()
        assert "No space left on device; this run's pages were not journaled" in err, err
        assert sorted(os.listdir(d)) == ["h.csv", "other", "st", "st.lock"]
        assert len(csv_rows(open(out, "rb").read())) == 2000


def test_a_resumed_run_that_cannot_journal_keeps_the_earlier_pages(mock_factory,  # noqa: F811
                                                                   tmp_path):
    """A resumed run whose own pages do not fit beside the state (SPEC §5.3): the journal it
    resumed from was deleted with them, and a first export of 20,000 pages started over.
    The earlier run's pages stay, as they were read: the next run still resumes from them."""
    mock = mock_factory("--messages", 4000, "--seed", 9)
    with small_tmpfs("size=2m") as d:
        state, journal = os.path.join(d, "st"), os.path.join(d, "st.journal")
        args = ["fetch", "--from", ACCOUNT, "--url", mock.url, "--state", state,
                "--retries", "1", "--concurrency", "1", "-o", tmp_path / "out.csv"]
        mock.control(fail_from=40)
        r = run(args, env=fetch_env())
        assert r.returncode == 69, r.stderr
        size = os.path.getsize(journal)
        st = os.statvfs(d)
        with open(os.path.join(d, "fill"), "wb") as f:   # 8 KB left
            f.write(b"\0" * (st.f_bavail * st.f_frsize - 8192))
        mock.control(fail_from=70)
        r = run(args, env=fetch_env())
        assert r.returncode == 69, r.stderr
        assert os.path.getsize(journal) == size, "the earlier run's pages must stay"
        os.unlink(os.path.join(d, "fill"))
        mock.control(fail_from=0)
        r = run(args, env=fetch_env())
        assert r.returncode == 0, r.stderr
        assert b"resumed: 39 pages from the journal" in r.stderr, r.stderr
        assert len(csv_rows((tmp_path / "out.csv").read_bytes())) == 4000
