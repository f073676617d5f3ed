"""The --state file checks itself and is never written through a link (SPEC §5.3, §5.6;
issue 13 item 2, issue 14 rows "a symlink at STATE.lock" and "a state path that is a
symlink").

A state file that was cut at any byte, extended or edited is an error (65) that names
the file, asks no page and leaves the file byte for byte as it was; a state file of
the earlier format (`waexport-state 1`) is still read and is rewritten in the current
one after a successful night.  A symlink at STATE.lock is refused and its target kept;
a state path that is a symlink is followed: the real file is read, locked beside and
replaced, and the link stays a link.
"""
import os
import time

import pytest

from fetch_helpers import ACCOUNT, Mock, csv_rows, fetch_env, mock_factory  # noqa: F401
from nightly_helpers import (STATE_MAGIC, STATE_MAGIC_V1, all_messages, checkpoint_line, grow,
                             night, one_error_line, settle, spaced_history, tmp_leftovers, truth,
                             ts_of, write_samples)

N_MESSAGES = 120


@pytest.fixture(scope="module")
def state_server():
    m = Mock("--messages", N_MESSAGES, "--seed", 23)
    yield m
    m.stop()


@pytest.fixture
def mock(state_server):
    settle(state_server)
    state_server.reset(knobs=True)
    return state_server


def uniques(data):
    return [row["unique"] for row in csv_rows(data)]


def first_night(mock, tmp_path, state=None):
    state = state or tmp_path / "state"
    out = tmp_path / "night1.csv"
    msgs = all_messages(mock)
    r, _ = night(mock, state, out, "--concurrency", "1")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == truth(tmp_path, msgs)
    return state, msgs


def refused(mock, tmp_path, state, raw):
    """One night on a damaged state: 65 naming it, nothing asked, nothing changed."""
    state.write_bytes(raw)
    os.chmod(state, 0o600)
    out = tmp_path / "out.csv"
    r, reqs = night(mock, state, out, "-q")
    assert r.returncode == 65, (len(raw), r.returncode, r.stderr)
    line = one_error_line(r)
    assert str(state) in line, line
    assert "remove it" in line, line
    assert state.read_bytes() == raw, "a corrupt state file must be left as it was"
    assert reqs == [], "the state is checked before the API is called"
    assert not out.exists(), "never a silent full re-export"
    return line


# ------------------------------------------------------------------ a state file that checks itself

def test_a_state_cut_at_any_byte_is_exit_65_naming_it_and_left_as_it_was(mock, tmp_path):
    state, _ = first_night(mock, tmp_path)
    good = state.read_bytes()
    assert good.startswith((STATE_MAGIC + "\n").encode())
    # Every byte of the header and of the checksum line, and a spread in between; the unit
    # test (tests/unit/test_state.c) cuts a real file at every single byte, in-process.
    cuts = set(range(0, min(len(good), 96))) | set(range(max(0, len(good) - 96), len(good)))
    cuts |= set(range(0, len(good), 17))
    for k in sorted(cuts):
        refused(mock, tmp_path, state, good[:k])
    # The case: the first half, then a stray byte.
    refused(mock, tmp_path, state, good[:len(good) // 2] + b"7")
    state.write_bytes(good)
    assert tmp_leftovers(tmp_path) == []


def test_an_extended_or_edited_state_is_exit_65(mock, tmp_path):
    state, msgs = first_night(mock, tmp_path)
    good = state.read_bytes()
    refused(mock, tmp_path, state, good + b"\n")
    refused(mock, tmp_path, state, good + good)
    # An older checkpoint typed in by hand (the time lowered by one day).
    ts = str(max(ts_of(m) for m in msgs)).encode()
    refused(mock, tmp_path, state, good.replace(ts, str(int(ts) - 86400).encode(), 1))
    for i in range(0, len(good), 29):
        refused(mock, tmp_path, state, good[:i] + bytes([good[i] ^ 1]) + good[i + 1:])
    # Put back, the file is good again.
    state.write_bytes(good)
    r, _ = night(mock, state, tmp_path / "n2.csv")
    assert r.returncode == 0, r.stderr
    assert uniques((tmp_path / "n2.csv").read_bytes()) == []


def test_a_version_1_state_is_read_and_rewritten_as_version_2(mock, tmp_path):
    """Yesterday's binary wrote `waexport-state 1`: tonight reads it, writes exactly
    what is new, and leaves a self-checking file."""
    state, msgs = first_night(mock, tmp_path)
    cp = checkpoint_line(state)
    v1 = (STATE_MAGIC_V1 + "\n" + "\t".join(cp) + "\n").encode()
    state.write_bytes(v1)
    new = grow(mock, 7)
    out2 = tmp_path / "n2.csv"
    r, _ = night(mock, state, out2)
    assert r.returncode == 0, r.stderr
    assert out2.read_bytes() == truth(tmp_path, new)
    rewritten = state.read_bytes()
    assert rewritten.startswith((STATE_MAGIC + "\n").encode())
    assert rewritten.split(b"\n")[-2].startswith(b"crc32 ")
    assert int(checkpoint_line(state)[2]) == max(ts_of(m) for m in new)
    assert os.stat(state).st_mode & 0o077 == 0
    # And the rewritten file is cut-proof like any other.
    refused(mock, tmp_path, state, rewritten[:-3])


def test_a_version_1_state_on_a_quiet_night_keeps_its_checkpoint_in_version_2(mock, tmp_path):
    state, _ = first_night(mock, tmp_path)
    cp = checkpoint_line(state)
    state.write_bytes((STATE_MAGIC_V1 + "\n" + "\t".join(cp) + "\n").encode())
    out2 = tmp_path / "n2.csv"
    r, _ = night(mock, state, out2)
    assert r.returncode == 0, r.stderr
    assert uniques(out2.read_bytes()) == []
    assert state.read_bytes().startswith((STATE_MAGIC + "\n").encode())
    assert checkpoint_line(state) == cp


# ------------------------------------------------------------------ links and locks

def test_a_symlink_at_the_lock_is_refused_and_its_target_kept(mock, tmp_path):
    state, _ = first_night(mock, tmp_path)
    before = state.read_bytes()
    victim = tmp_path / "precious.txt"
    victim.write_bytes(b"do not touch\n")
    lock = tmp_path / "state.lock"
    lock.unlink()
    lock.symlink_to(victim)
    grow(mock, 3)
    out = tmp_path / "n2.csv"
    r, reqs = night(mock, state, out, "-q")
    assert r.returncode == 74, r.stderr
    line = one_error_line(r)
    assert str(lock) in line and "symbolic link" in line, line
    assert victim.read_bytes() == b"do not touch\n"
    assert lock.is_symlink()
    assert state.read_bytes() == before
    assert reqs == [] and not out.exists()
    # Dangling, it creates nothing either.
    victim.unlink()
    r, reqs = night(mock, state, out, "-q")
    assert r.returncode == 74, r.stderr
    assert not victim.exists() and reqs == []


def test_a_symlinked_state_is_followed_and_stays_a_link(mock, tmp_path):
    """The state lives in a backed-up directory and a link points to it: every night
    reads and updates the real file, and the link keeps pointing to it."""
    real_dir = tmp_path / "backed-up"
    real_dir.mkdir()
    real = real_dir / "waexport.state"
    link = tmp_path / "state"
    link.symlink_to(os.path.relpath(real, tmp_path))   # dangling until the first night
    state, msgs = first_night(mock, tmp_path, state=link)
    assert link.is_symlink() and real.is_file() and not real.is_symlink()
    assert real.read_bytes().startswith((STATE_MAGIC + "\n").encode())
    assert int(checkpoint_line(real)[2]) == max(ts_of(m) for m in msgs)
    # Locked and replaced beside the real file, nothing left beside the link.
    assert (real_dir / "waexport.state.lock").exists()
    assert not (tmp_path / "state.lock").exists()
    assert tmp_leftovers(real_dir) == [] and tmp_leftovers(tmp_path) == []

    new = grow(mock, 5)
    out2 = tmp_path / "n2.csv"
    r, _ = night(mock, link, out2)
    assert r.returncode == 0, r.stderr
    assert out2.read_bytes() == truth(tmp_path, new)
    assert link.is_symlink()
    assert os.readlink(link) == os.path.relpath(real, tmp_path)
    assert int(checkpoint_line(real)[2]) == max(ts_of(m) for m in new)
    assert os.stat(real).st_mode & 0o077 == 0


def test_a_run_through_the_link_and_one_on_the_real_file_share_the_lock(mock, tmp_path):
    import fcntl
    real_dir = tmp_path / "d"
    real_dir.mkdir()
    real = real_dir / "st"
    link = tmp_path / "state"
    link.symlink_to(real)
    first_night(mock, tmp_path, state=link)
    before = real.read_bytes()
    fd = os.open(str(real) + ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r, reqs = night(mock, link, tmp_path / "n2.csv", "-q")
        assert r.returncode == 75, r.stderr
        assert str(link) in one_error_line(r)
        assert reqs == [] and real.read_bytes() == before
    finally:
        os.close(fd)


def test_a_state_not_rewritten_for_over_350_days_warns(mock, tmp_path):
    """SPEC §4.7: the API keeps a year; a nightly job that stopped for 11 months
    is told so. The state file's age is the last success (a quiet account whose
    newest message is old is not accused: the night before checks that)."""
    state, _ = first_night(mock, tmp_path)
    r, _ = night(mock, state, tmp_path / "quiet.csv")
    assert r.returncode == 0, r.stderr
    assert b"days ago" not in r.stderr, r.stderr
    old = os.stat(state).st_mtime - 360 * 86400
    os.utime(state, (old, old))
    r, _ = night(mock, state, tmp_path / "late.csv")
    assert r.returncode == 0, r.stderr
    warned = [ln for ln in r.stderr.decode().splitlines() if "days ago" in ln]
    assert len(warned) == 1 and "360 days" in warned[0] and "one year" in warned[0], r.stderr


def test_a_checkpoint_whose_newest_message_is_over_350_days_old_warns(mock, tmp_path):
    """SPEC §4.7 "A checkpoint older than 350 days prints a warning": also when the
    state file itself is new (restored from a backup, copied to a new machine). The
    mock's history ends in November 2024."""
    state, _ = first_night(mock, tmp_path)
    r, _ = night(mock, state, tmp_path / "n2.csv")
    assert r.returncode == 0, r.stderr
    warned = [ln for ln in r.stderr.decode().splitlines() if "days old" in ln]
    assert len(warned) == 1 and "the checkpoint is" in warned[0] and "one year" in warned[0], \
        r.stderr


def test_a_recent_checkpoint_gives_no_age_warning(mock_factory, tmp_path):
    now = int(time.time())
    msgs = spaced_history(120, 60, end_epoch=now - 3600)
    m = mock_factory("--samples", write_samples(tmp_path / "p.jsonl", msgs))
    state = tmp_path / "state"
    for name in ("n1.csv", "n2.csv"):
        r, _ = night(m, state, tmp_path / name)
        assert r.returncode == 0, r.stderr
        assert b"days old" not in r.stderr and b"days ago" not in r.stderr, r.stderr

