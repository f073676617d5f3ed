"""A run commits all its files or none (SPEC §4.4, §4.7, §5.3).

A nightly run writes its output, a manifest and the state. If any of them
cannot be written (a full disk is the likeliest), the run fails, and then the
output the night before left must be exactly as it was: a same-day file that
had already been added to while the state did not move would get the same rows
again from the next run. So every file is written beside its target first and
only then renamed into place. Here the manifest's disk is full: the run fails
(74), the day's file, the state and the old manifest are untouched, nothing
temporary is left, and the next run exports every message exactly once.
"""
import gzip
import json
import os

import pytest

from fetch_helpers import ACCOUNT, Mock, csv_rows
from helpers import small_tmpfs
from nightly_helpers import all_messages, grow, night, settle, tmp_leftovers

N = 80


@pytest.fixture(scope="module")
def server():
    m = Mock("--messages", N, "--seed", 31)
    yield m
    m.stop()


@pytest.fixture
def mock(server):
    settle(server)
    server.reset(knobs=True)
    return server


@pytest.fixture
def full_fs():
    """A small tmpfs filled to the last byte: a file can be made there, not written."""
    with small_tmpfs("size=64k") as d:
        fd = os.open(os.path.join(d, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        os.close(fd)
        yield d


def test_temporary_files_a_killed_run_left_go_with_the_next(mock, tmp_path):
    """SIGKILL cannot clean up: the next run under the same --state lock removes the
    temporary state and manifest a killed run left (the outputs' are tested elsewhere)."""
    state, manifest = tmp_path / "state", tmp_path / "manifest.json"
    left = [tmp_path / ".state.tmp.Ab12Cd", tmp_path / ".manifest.json.tmp.Xy34Zw"]
    for p in left:
        p.write_text("half")
    r, _ = night(mock, state, str(tmp_path / "out.csv"), "--manifest", str(manifest))
    assert r.returncode == 0, r.stderr
    assert tmp_leftovers(tmp_path) == []


@pytest.mark.parametrize("ext", ["csv", "ndjson.gz"])
def test_a_manifest_that_cannot_be_written_leaves_every_file_as_it_was(mock, tmp_path, full_fs,
                                                                       ext):
    state = tmp_path / "state"
    pattern = str(tmp_path / ("%s-{date}.%s" % (ACCOUNT, ext)))
    manifest = tmp_path / "manifest.json"
    r1, _ = night(mock, state, pattern, "--manifest", str(manifest))
    assert r1.returncode == 0, r1.stderr
    [out] = list(tmp_path.glob("%s-*.%s" % (ACCOUNT, ext)))
    before = {p: p.read_bytes() for p in (out, state, manifest)}

    grow(mock, 7)
    r2, _ = night(mock, state, pattern, "--manifest", os.path.join(full_fs, "m.json"))
    assert r2.returncode == 74, r2.stderr
    assert b"No space left" in r2.stderr, r2.stderr
    for p, data in before.items():
        assert p.read_bytes() == data, "%s changed by a failed run" % p.name
    assert tmp_leftovers(tmp_path) == []
    assert [p for p in os.listdir(full_fs) if p != "filler"] == []

    r3, _ = night(mock, state, pattern, "--manifest", str(manifest))
    assert r3.returncode == 0, r3.stderr
    if ext == "csv":
        got = [row["unique"] for row in csv_rows(out.read_bytes())]
    else:
        got = [json.loads(line)["unique"]
               for line in gzip.decompress(out.read_bytes()).decode().splitlines()]
    assert sorted(got) == sorted(m["unique"] for m in all_messages(mock))
    assert len(got) == N + 7, "every message exactly once"
